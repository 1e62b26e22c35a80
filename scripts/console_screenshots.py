"""Screenshots of the web console for docs/: the board, the people page and the doors page,
at desktop and phone width, in English and Simplified Chinese, from the system's Chromium.

    python scripts/console_screenshots.py [--out docs]

Starts a throw-away PostgreSQL cluster and ``python main.py serve``, fills them with a demo
meeting (made-up people with drawn avatars, three doors uploading through the real API, a
manual check-in), and writes ``console_{board,people,doors}_{desktop,phone}_{en,zh_CN}.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
import uuid
from pathlib import Path

import numpy as np

from console_setup import ADMIN, ROOT, STAFF, browser, database, prepare, service, sign_in, wait_live

NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra",
         "Barbara Liskov", "张伟", "王芳", "李娜", "刘洋", "陈静", "Donald Knuth", "Frances Allen",
         "John McCarthy", "Margaret Hamilton", "Tim Berners-Lee", "赵磊", "黄敏", "周杰",
         "Radia Perlman", "Leslie Lamport", "Hedy Lamarr", "孙丽", "吴强"]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
LANGUAGES = {"en": "en-US", "zh_CN": "zh-CN"}


def avatar_jpeg(index: int, name: str) -> bytes:
    """A drawn placeholder picture (a coloured disc with initials; no one's face)."""
    import cv2

    image = np.full((112, 112, 3), 235, np.uint8)
    hue = np.uint8([[[index * 37 % 180, 120, 200]]])
    colour = tuple(int(c) for c in cv2.cvtColor(hue, cv2.COLOR_HSV2BGR)[0, 0])
    cv2.circle(image, (56, 56), 50, colour, -1)
    initials = "".join(p[0] for p in name.split()[:2]).upper() if name.isascii() else f"#{index}"
    cv2.putText(image, initials, (26, 68), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 2)
    return cv2.imencode(".jpg", image)[1].tobytes()


def demo(url: str, base_url: str, setup: dict) -> None:
    """Three doors upload arrivals of the last 40 minutes; one manual check-in; doors report in."""
    import httpx

    from service.console.backend import PostgresStore

    with PostgresStore(url, migrate=False) as store, store.transaction() as tx:
        for index, name in enumerate(NAMES):
            tx.execute("UPDATE faces SET crop_jpeg = ? WHERE person_id = ?",
                       (avatar_jpeg(index, name), setup["people"][name]))
    rng = np.random.default_rng(1)
    arrivals = [name for name in NAMES if rng.random() < 0.7]
    now = dt.datetime.now().astimezone().replace(microsecond=0)
    for k, key in enumerate(setup["keys"]):
        with httpx.Client(base_url=base_url, headers={
                "Authorization": f"Bearer {key}", "X-Kiosk-Outbox": str(k * 2),
                "X-Kiosk-Model": "openvino-mixed"}, timeout=30) as client:
            mine = arrivals[k::len(setup["keys"])]
            items = [{"uuid": str(uuid.uuid4()), "event_id": setup["event_id"],
                      "person_id": setup["people"][name],
                      "at": (now - dt.timedelta(seconds=int(rng.integers(60, 2400)))).isoformat()}
                     for name in mine]
            client.post("/api/v1/checkins", json={"checkins": items}).raise_for_status()
            client.get("/api/v1/sync", params={"since": 0}).raise_for_status()
    late = next(name for name in NAMES if name not in arrivals)
    with httpx.Client(base_url=base_url, timeout=30) as staff:
        staff.post("/console/login", data={"username": STAFF[0], "password": STAFF[1]})
        page = staff.get(f"/console/events/{setup['event_id']}").text
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        staff.post(f"/console/events/{setup['event_id']}/checkin", data={
            "csrf": token, "person_id": setup["people"][late], "reason": "badge forgotten",
            "uuid": str(uuid.uuid4())})


def shoot(driver, path: Path, full_height: bool = True) -> None:  # noqa: ANN001
    width = driver.get_window_size()["width"]
    if full_height:
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(width, min(int(height) + 20, 2600))
        time.sleep(0.3)
    driver.save_screenshot(str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    out = Path(args.out)
    people = [(name, f"E{100 + i}") for i, name in enumerate(NAMES)]
    with database(None) as url:
        setup = prepare(url, 3, people, event_name="Annual meeting 2026")
        with service(url) as base:
            demo(url, base, setup)
            for language, accept in LANGUAGES.items():
                for size, (width, height) in SIZES.items():
                    with browser(width, height, accept) as driver:
                        board = f"/console/events/{setup['event_id']}"
                        sign_in(driver, base, ADMIN, board)
                        wait_live(driver)
                        shoot(driver, out / f"console_board_{size}_{language}.png")
                        for page in ("people", "doors"):
                            driver.set_window_size(width, height)
                            driver.get(f"{base}/console/{page}")
                            shoot(driver, out / f"console_{page}_{size}_{language}.png")
                        print("written:", *sorted(p.name for p in out.glob(
                            f"console_*_{size}_{language}.png")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
