"""Load benchmark of the central service: N simulated doors posting check-ins and syncing.

    python scripts/load_test.py [--kiosks 100] [--seconds 60] [--batch 5] [--instances 2]
                                [--kill-at 0.5] [--identify-clients 2] [--database URL]

Without ``--database`` a throw-away PostgreSQL cluster is started in a temporary folder (the
Debian packages of .ci/server-packages.txt). The service runs as ``--instances`` processes of
``python main.py serve`` on 127.0.0.1, behind nginx (Debian's package) as the reverse proxy of
docs/DEPLOYMENT.md when there are two or more. Each simulated door is a thread that posts a
batch of new check-ins (each a new person and event pair, so every one must be stored) and asks
``sync?since=`` its last revision, in a loop; like a real door it keeps a batch that got no
answer and sends it again (same UUIDs) until answered. Meanwhile ``--identify-clients`` threads
call ``identify`` with an ordinary photo. At ``--kill-at`` (a fraction of the run) the last
instance is killed (SIGKILL) and started again.

Prints requests per second, check-in batch p50/p95 before, during and after the kill, sync
p50/p95, identify calls, errors, and per door: UUIDs sent against receipts and check-ins in
PostgreSQL (0 lost, 0 twice). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NGINX_CONFIG = """
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # bodies and answers stay in memory (this benchmark's folder is not the workers' to write)
    client_body_buffer_size 16m;
    proxy_buffering off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
"""


def nginx_site(listen: str, ports: list[int]) -> str:
    """The reverse proxy of docs/DEPLOYMENT.md (without TLS) for these instances."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;"
                        for p in ports)
    return f"""
    upstream kiosk_service {{
{servers}
        keepalive 64;
    }}
    server {{
        listen {listen};
        client_max_body_size 81m;
        client_header_timeout 10s;
        client_body_timeout 10s;
        keepalive_timeout 15s;
        location / {{
            proxy_pass http://kiosk_service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            # check-ins carry UUIDs (done once), so a POST may go to the next instance
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 2;
        }}
    }}"""


def prepare(url: str, kiosks: int, people: int) -> tuple[list[str], list[int]]:
    """``people`` random people with an embedding of each model of the settings, an event
    per door, an admin key and a key per door."""
    from kiosk.cli import DEFAULT_SETTINGS
    from kiosk.settings_files import LOCAL_SETTINGS, load_layered_settings
    from kiosk.matching.rule import DlibFirstBand, fusion_weights_of
    from kiosk.gallery import Gallery, model_dim
    from service.store.keys import create_key
    from service.store.postgres import PostgresStore

    settings = load_layered_settings(ROOT / DEFAULT_SETTINGS, ROOT / LOCAL_SETTINGS)
    with PostgresStore(url) as store:
        gallery = Gallery(store=store, model_id=settings.recognition.model_id,
                          fusion_weights=fusion_weights_of(settings.recognition),
                          dlib_first=DlibFirstBand.from_settings(settings.recognition))
        rng = np.random.default_rng(0)
        per_model = {}
        for model_id in gallery.model_ids:
            vectors = rng.normal(size=(people, model_dim(model_id))).astype(np.float32)
            per_model[model_id] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        gallery.people_table.add_many([
            (f"P{i}", f"X{i}", {m: v[i:i + 1] for m, v in per_model.items()})
            for i in range(people)])
        events = [gallery.create_event(f"Room {k}") for k in range(kiosks)]
        admin = create_key(store, "load-admin", "admin")[1]
        keys = [create_key(store, f"door-{k}", "kiosk")[1] for k in range(kiosks)]
    return [admin, *keys], events


class Shared:
    """What the threads report (under one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batches: list[tuple[float, float]] = []  # (start time, latency ms) answered
        self.sync_ms: list[float] = []
        self.identify: dict[str, int] = {}
        self.errors = 0
        self.sent: dict[str, set[str]] = {}  # door -> UUIDs answered
        self.results: dict[str, int] = {}


def door_loop(base: str, name: str, key: str, event_id: int, person_ids: list[int], batch: int,
              stop: threading.Event, drain_until: list[float], shared: Shared) -> None:
    import httpx

    from kiosk.store.base import now_iso

    next_person = 0
    pending: list[dict] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=30) as client:
        # a door in service already holds the gallery: it asks for what changed since
        revision = int(client.get("/api/v1/health").json()["revision"])
        while True:
            if stop.is_set() and (not pending or time.monotonic() > drain_until[0]):
                return
            if not pending and not stop.is_set():
                for _ in range(batch):
                    person = person_ids[next_person % len(person_ids)]
                    next_person += 1
                    pending.append({"uuid": str(uuid.uuid4()), "event_id": event_id,
                                    "person_id": person, "at": now_iso()})
            started = time.monotonic()
            try:
                answer = client.post("/api/v1/checkins", json={"checkins": pending})
                ok = answer.status_code == 200
            except httpx.HTTPError:
                ok, answer = False, None
            elapsed_ms = (time.monotonic() - started) * 1000
            with shared.lock:
                if ok:
                    shared.batches.append((started, elapsed_ms))
                    answered = shared.sent.setdefault(name, set())
                    for result in answer.json()["results"]:
                        answered.add(result["uuid"])
                        shared.results[result["result"]] = shared.results.get(
                            result["result"], 0) + 1
                else:
                    shared.errors += 1
            if ok:
                pending = []  # every item is answered (stored, duplicate, ...)
            else:
                time.sleep(0.2)  # a door's retry wait; the batch is sent again as it is
                continue
            started = time.monotonic()
            try:
                answer = client.get("/api/v1/sync", params={"since": revision})
                ok = answer.status_code == 200
            except httpx.HTTPError:
                ok = False
            with shared.lock:
                if ok:
                    shared.sync_ms.append((time.monotonic() - started) * 1000)
                    revision = int(answer.json()["revision"])
                else:
                    shared.errors += 1


def identify_loop(base: str, key: str, photo: bytes, stop: threading.Event,
                  shared: Shared) -> None:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                      timeout=120) as client:
        while not stop.is_set():
            try:
                status = str(client.post("/api/v1/identify",
                                         files={"image": ("p.jpg", photo)}).status_code)
            except httpx.HTTPError:
                status = "error"
            with shared.lock:
                shared.identify[status] = shared.identify.get(status, 0) + 1
            if status != "200":
                time.sleep(0.5)


def start_instance(url: str, port: int, log_folder: Path) -> subprocess.Popen:
    log = open(log_folder / f"serve-{port}.log", "w")  # noqa: SIM115 - kept for the process
    return subprocess.Popen(
        [sys.executable, "main.py", "serve", "--database", url, "--port", str(port),
         "--behind-proxy"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env=os.environ.copy())


def wait_healthy(base: str, process: subprocess.Popen | None, timeout_s: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or (process is not None and process.poll() is not None):
            raise SystemExit(f"{base} did not start")
        time.sleep(0.2)


def percentiles(values: list[float]) -> str:
    if not values:
        return "no requests"
    p50, p95 = np.percentile(values, [50, 95])
    return f"{len(values)} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiosks", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=5, help="check-ins per request")
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="when to kill and restart the last instance, as a fraction of "
                             "the run (0: never)")
    parser.add_argument("--identify-clients", type=int, default=2)
    parser.add_argument("--photo", default=None,
                        help="identify's photo (default: known-faces/obama.jpg of the test data)")
    parser.add_argument("--database", default=None, help="an empty PostgreSQL database")
    args = parser.parse_args()

    from tests.conftest import shared_data_dir
    from tests.service.pgcluster import PostgresCluster, free_port

    photo = Path(args.photo or shared_data_dir() / "known-faces" / "obama.jpg").read_bytes()
    cluster = None
    if args.database is None:
        cluster = PostgresCluster()
        cluster.start()
        url = cluster.url
    else:
        url = args.database
    folder = Path(tempfile.mkdtemp(prefix="kiosk-load-"))
    instances: dict[int, subprocess.Popen] = {}
    proxy = None
    try:
        keys, events = prepare(url, args.kiosks, args.people)
        admin_key, door_keys = keys[0], keys[1:]
        ports = [free_port() for _ in range(args.instances)]
        for port in ports:
            instances[port] = start_instance(url, port, folder)
        for port in ports:
            wait_healthy(f"http://127.0.0.1:{port}", instances[port])
        if args.instances > 1:
            proxy_port = free_port()
            (folder / "nginx.conf").write_text(NGINX_CONFIG.format(
                folder=folder, site=nginx_site(f"127.0.0.1:{proxy_port}", ports)))
            proxy = subprocess.Popen(["nginx", "-c", str(folder / "nginx.conf"), "-p",
                                      str(folder)], stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{proxy_port}"
            wait_healthy(base, proxy)
        else:
            base = f"http://127.0.0.1:{ports[0]}"
        shared = Shared()
        stop = threading.Event()
        drain_until = [0.0]
        people = list(range(1, args.people + 1))
        threads = [threading.Thread(target=door_loop, args=(
            base, f"door-{k}", door_keys[k], events[k], people, args.batch, stop, drain_until,
            shared)) for k in range(args.kiosks)]
        threads += [threading.Thread(target=identify_loop, args=(base, admin_key, photo, stop,
                                                                 shared))
                    for _ in range(args.identify_clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        killed_at = restarted_at = None
        if args.kill_at > 0:
            time.sleep(args.seconds * args.kill_at)
            victim = ports[-1]
            instances[victim].send_signal(signal.SIGKILL)
            instances[victim].wait()
            killed_at = time.monotonic()
            instances[victim] = start_instance(url, victim, folder)
            wait_healthy(f"http://127.0.0.1:{victim}", instances[victim])
            restarted_at = time.monotonic()
        time.sleep(max(0.0, started + args.seconds - time.monotonic()))
        drain_until[0] = time.monotonic() + 60
        stop.set()
        for thread in threads:
            thread.join()
        elapsed_s = time.monotonic() - started

        from service.store.postgres import PostgresStore

        with PostgresStore(url, migrate=False) as store:
            receipts = {str(door): int(n) for door, n in store.query(
                "SELECT door, count(*) FROM checkin_receipts GROUP BY door")}
            stored = {str(door): int(n) for door, n in store.query(
                "SELECT r.door, count(*) FROM checkins c JOIN checkin_receipts r ON "
                "r.event_id = c.event_id AND r.person_id = c.person_id AND r.result = 'stored' "
                "GROUP BY r.door")}
            total_checkins = int(store.query_one("SELECT count(*) FROM checkins")[0])
        sent = {door: len(uuids) for door, uuids in shared.sent.items()}
        lost = sum(max(0, n - receipts.get(door, 0)) for door, n in sent.items())
        twice = sum(max(0, receipts.get(door, 0) - n) for door, n in sent.items())
        requests = len(shared.batches) + len(shared.sync_ms) + sum(shared.identify.values())
        print(f"doors {args.kiosks}, instances {args.instances}"
              f"{' behind nginx' if proxy else ''}, {elapsed_s:.1f} s, batch {args.batch}, "
              f"identify clients {args.identify_clients}")
        print(f"requests {requests} ({requests / elapsed_s:.1f}/s), errors (retried) "
              f"{shared.errors}")
        phases = {"all": lambda t: True}
        if killed_at is not None:
            phases = {"before the kill": lambda t: t < killed_at,
                      "during (killed -> restarted)": lambda t: killed_at <= t < restarted_at,
                      "after the restart": lambda t: t >= restarted_at}
            print(f"instance killed at {killed_at - started:.1f} s, serving again at "
                  f"{restarted_at - started:.1f} s")
        for phase, within in phases.items():
            print(f"  check-in batches {phase}: "
                  f"{percentiles([ms for t, ms in shared.batches if within(t)])}")
        print(f"  sync: {percentiles(shared.sync_ms)}")
        print(f"  identify answers: {dict(sorted(shared.identify.items()))}")
        print(f"check-ins answered {sum(sent.values())} ({dict(sorted(shared.results.items()))})"
              f"; in PostgreSQL: receipts {sum(receipts.values())}, check-ins {total_checkins}")
        print(f"per door (sent = receipts = stored): "
              f"{sum(1 for d in sent if sent[d] == receipts.get(d) == stored.get(d))} of "
              f"{len(sent)} doors; lost {lost}, twice {twice}")
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=30)
        for process in instances.values():
            process.terminate()
            process.wait(timeout=30)
        if cluster is not None:
            cluster.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
