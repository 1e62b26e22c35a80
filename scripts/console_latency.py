"""Time from a kiosk's upload to the console's live board showing it, in a real browser.

    python scripts/console_latency.py [--checkins 100] [--kiosks 0] [--rate 2] [--database URL]

The service runs as ``python main.py serve`` (its own process) over a throw-away PostgreSQL
cluster unless ``--database`` names an empty database. Chromium (headless, the system's)
signs in as staff and opens the board of the event; a watcher in the page notes the wall-clock
time at which each name first appears in the arrived list. One probe kiosk then uploads
``--checkins`` check-ins one at a time (``POST /api/v1/checkins`` with its key), 0.3 s apart;
the latency of each is (time shown) - (time just before the upload was sent). With
``--kiosks N``, N more kiosk threads upload to the same event all along, ``--rate`` check-ins
per second each, from a process of their own (the board of a meeting with N busy doors).
Prints median, p95 and max, from when the upload was sent and from when it was answered.
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from typing import Any

import numpy as np

from console_setup import STAFF, browser, database, prepare, service, sign_in, upload, wait_live

WATCH = """
window.shownAt = {};
const scan = () => document.querySelectorAll('#arrived td.name').forEach(cell => {
  if (!(cell.textContent in window.shownAt)) { window.shownAt[cell.textContent] = Date.now(); }
});
new MutationObserver(scan).observe(document.getElementById('board'),
                                   {childList: true, subtree: true});
scan();
"""


def now_at() -> str:
    """The time of a check-in as a kiosk writes it (local, to the second)."""
    from kiosk.store.base import now_iso

    return now_iso()


def background_kiosk(base: str, key: str, event_id: int, people: list[int], rate: float,
                     stop: Any, sent: Any) -> None:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as client:
        for person in people:
            if stop.is_set():
                return
            started = time.monotonic()
            upload(client, event_id, person, now_at())
            with sent.get_lock():
                sent.value += 1
            time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - started)))


def background_kiosks(base: str, keys: list[str], event_id: int, people: list[list[int]],
                      rate: float, stop: Any, sent: Any) -> None:
    """The busy doors, in a process of their own (their threads do not slow the probe)."""
    threads = [threading.Thread(target=background_kiosk, daemon=True, args=(
        base, key, event_id, mine, rate, stop, sent)) for key, mine in zip(keys, people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkins", type=int, default=100, help="probe check-ins measured")
    parser.add_argument("--kiosks", type=int, default=0, help="more kiosks uploading meanwhile")
    parser.add_argument("--rate", type=float, default=2.0, help="check-ins/s of each of those")
    parser.add_argument("--database", default=None, help="an empty PostgreSQL database")
    args = parser.parse_args()
    import httpx

    per_kiosk = int(args.rate * (args.checkins * 0.6 + 60)) + 10
    people = [(f"Probe {i:03d}", f"P{i}") for i in range(args.checkins)]
    people += [(f"Guest {k}-{i}", f"G{k}-{i}") for k in range(args.kiosks)
               for i in range(per_kiosk)]
    with database(args.database) as url:
        setup = prepare(url, args.kiosks + 1, people)
        event_id, ids = setup["event_id"], setup["people"]
        with service(url) as base, browser() as driver:
            sign_in(driver, base, STAFF, f"/console/events/{event_id}")
            wait_live(driver)
            driver.execute_script(WATCH)
            spawn = multiprocessing.get_context("spawn")
            stop, sent = spawn.Event(), spawn.Value("i", 0)
            busy = spawn.Process(target=background_kiosks, daemon=True, args=(
                base, setup["keys"][1:], event_id,
                [[ids[f"Guest {k}-{i}"] for i in range(per_kiosk)] for k in range(args.kiosks)],
                args.rate, stop, sent))
            if args.kiosks:
                busy.start()
                time.sleep(3.0)
            sent_at: dict[str, float] = {}
            answered_at: dict[str, float] = {}
            with httpx.Client(base_url=base, timeout=30, headers={
                    "Authorization": f"Bearer {setup['keys'][0]}"}) as probe:
                for i in range(args.checkins):
                    name = f"Probe {i:03d}"
                    sent_at[name] = time.time()
                    upload(probe, event_id, ids[name], now_at())
                    answered_at[name] = time.time()
                    time.sleep(0.3)
            deadline = time.monotonic() + 30
            shown: dict[str, float] = {}
            while time.monotonic() < deadline:
                shown = driver.execute_script("return window.shownAt;")
                if all(name in shown for name in sent_at):
                    break
                time.sleep(0.2)
            stop.set()
            if args.kiosks:
                busy.join(timeout=60)
            arrived = driver.execute_script(
                "return document.getElementById('count-arrived').textContent;")
    latencies_ms = [shown[name] - sent_at[name] * 1000 for name in sent_at if name in shown]
    after_answer_ms = [shown[name] - answered_at[name] * 1000 for name in sent_at if name in shown]
    missing = len(sent_at) - len(latencies_ms)
    print(f"probe check-ins {len(sent_at)}, shown {len(latencies_ms)}, never shown {missing}")
    if args.kiosks:
        print(f"background: {args.kiosks} kiosks at {args.rate}/s each, {sent.value} check-ins "
              f"uploaded; the board's arrived count at the end: {arrived}")
    for label, values in (("upload sent -> board", latencies_ms),
                          ("upload answered -> board", after_answer_ms)):
        if values:
            p50, p95 = np.percentile(values, [50, 95])
            print(f"{label}: median {p50:.0f} ms, p95 {p95:.0f} ms, max {max(values):.0f} ms")
    return 0 if not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
