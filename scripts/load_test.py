"""Load benchmark of the central service: N simulated kiosks posting check-ins and syncing.

    python scripts/load_test.py [--kiosks 20] [--seconds 60] [--batch 5] [--database URL]

Without ``--database`` a throw-away PostgreSQL cluster is started in a temporary folder (the
Debian packages of .ci/server-packages.txt). The service runs as ``python main.py serve`` in
its own process on 127.0.0.1; each simulated kiosk is a thread that posts a batch of new
check-ins (each a new person and event pair, so every one must be stored) and then asks for
``sync?since=`` its last revision, in a loop. Prints requests per second, p50/p95 latency per
request kind, errors, and check-ins stored against sent. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prepare(url: str, kiosks: int, people: int) -> tuple[list[str], list[int]]:
    from kiosk.gallery import Gallery
    from service.store.keys import create_key
    from service.store.postgres import PostgresStore

    with PostgresStore(url) as store:
        gallery = Gallery(store=store, model_id="facenet-20180408-102900/flip")
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(people, 512)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        gallery.people_table.add_many([(f"P{i}", f"X{i}", vectors[i:i + 1]) for i in range(people)])
        events = [gallery.create_event(f"Room {k}") for k in range(kiosks)]
        keys = [create_key(store, f"door-{k}", "kiosk")[1] for k in range(kiosks)]
    return keys, events


def kiosk_loop(base: str, key: str, event_id: int, person_ids: list[int], batch: int,
               stop: threading.Event, latencies: dict[str, list[float]], counts: dict[str, int],
               lock: threading.Lock) -> None:
    import httpx

    from kiosk.store.base import now_iso

    next_person = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as client:
        # a kiosk in service already holds the gallery: it asks for what changed since
        revision = int(client.get("/api/v1/health").json()["revision"])
        while not stop.is_set():
            items = []
            for _ in range(batch):
                person = person_ids[next_person % len(person_ids)]
                next_person += 1
                items.append({"uuid": str(uuid.uuid4()), "event_id": event_id,
                              "person_id": person, "at": now_iso()})
            for kind, call in (
                ("checkins", lambda: client.post("/api/v1/checkins", json={"checkins": items})),
                ("sync", lambda: client.get("/api/v1/sync", params={"since": revision})),
            ):
                started = time.perf_counter()
                try:
                    answer = call()
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok, answer = False, None
                elapsed_ms = (time.perf_counter() - started) * 1000
                with lock:
                    latencies[kind].append(elapsed_ms)
                    if not ok:
                        counts["errors"] += 1
                    elif kind == "checkins":
                        counts["sent"] += len(items)
                        for result in answer.json()["results"]:
                            counts[result["result"]] = counts.get(result["result"], 0) + 1
                if ok and kind == "sync":
                    revision = int(answer.json()["revision"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=5, help="check-ins per request")
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--database", default=None, help="an empty PostgreSQL database")
    args = parser.parse_args()

    cluster = None
    if args.database is None:
        from tests.service.pgcluster import PostgresCluster

        cluster = PostgresCluster()
        cluster.start()
        url = cluster.url
    else:
        url = args.database
    from tests.service.pgcluster import free_port

    service = None
    try:
        keys, events = prepare(url, args.kiosks, args.people)
        port = free_port()
        service = subprocess.Popen(
            [sys.executable, "main.py", "serve", "--database", url, "--port", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
        )
        import httpx

        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or service.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.2)
        people = list(range(1, args.people + 1))
        latencies: dict[str, list[float]] = {"checkins": [], "sync": []}
        counts: dict[str, int] = {"errors": 0, "sent": 0}
        lock = threading.Lock()
        stop = threading.Event()
        threads = [threading.Thread(target=kiosk_loop, args=(
            base, keys[k], events[k], people, args.batch, stop, latencies, counts, lock))
            for k in range(args.kiosks)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed_s = time.monotonic() - started
        from service.store.postgres import PostgresStore

        with PostgresStore(url, migrate=False) as store:
            stored = int(store.query_one("SELECT count(*) FROM checkins")[0])
            receipts = int(store.query_one("SELECT count(*) FROM checkin_receipts")[0])
        total = sum(len(v) for v in latencies.values())
        print(f"kiosks {args.kiosks}, {elapsed_s:.1f} s, batch {args.batch}")
        print(f"requests {total} ({total / elapsed_s:.1f}/s), errors {counts['errors']}")
        for kind, values in latencies.items():
            if values:
                p50, p95 = np.percentile(values, [50, 95])
                print(f"  {kind}: {len(values)} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        results = {k: v for k, v in counts.items() if k not in ("errors", "sent")}
        print(f"check-ins sent {counts['sent']}, answers {results}, "
              f"receipts in PostgreSQL {receipts}, check-ins in PostgreSQL {stored}")
        print("stored = sent:", stored == counts["sent"] == receipts)
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=30)
        if cluster is not None:
            cluster.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
