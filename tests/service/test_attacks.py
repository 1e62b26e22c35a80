"""The service against strangers and against its own doors: one test (or more) per finding of
the attack on the service as it was (each of these failed then)."""

from __future__ import annotations

import socket
import sqlite3
import time
import uuid

import cv2
import httpx
import numpy as np
import pytest

from kiosk.gallery import Gallery
from kiosk.store.base import now_iso
from kiosk.store.outbox import Outbox
from kiosk.store.sqlite import SQLiteStore
from kiosk.sync import SyncClient, attach_outbox
from service.app import create_app
from service.limits import BODY_LIMIT_BYTES
from service.store.keys import create_key
from service.store.postgres import PostgresStore
from tests.kiosk.fakes import person_embedding
from tests.service.serving import ServiceThread

READ_TIMEOUT_S = 1.0
HEADER_TIMEOUT_S = 1.0


class Running:
    def __init__(self, pg_url, settings, encoder):
        self.pg_url = pg_url
        with PostgresStore(pg_url) as store:
            self.keys = {"admin": create_key(store, "office", "admin")[1],
                         "door-1": create_key(store, "door-1", "kiosk")[1],
                         "door-2": create_key(store, "door-2", "kiosk")[1]}
        app = create_app(pg_url, settings, encoder_factory=lambda: encoder, pool_size=3,
                         body_read_timeout_s=READ_TIMEOUT_S)
        self.thread = ServiceThread(app, header_timeout_s=HEADER_TIMEOUT_S).start()
        self.url = self.thread.url
        self.settings = settings

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.keys[who]}"})

    def server_settings(self, who: str):
        return self.settings.server.__class__(url=self.url, api_key=self.keys[who],
                                              connect_timeout_s=2.0, request_timeout_s=30.0)

    def count(self, sql: str, *params) -> int:
        with PostgresStore(self.pg_url, migrate=False) as store:
            return int(store.query_one(sql, params)[0])


@pytest.fixture
def service(pg_url, settings, encoder):
    running = Running(pg_url, settings, encoder)
    yield running
    running.thread.stop()


def person_and_event(service) -> tuple[int, int]:
    with PostgresStore(service.pg_url, migrate=False) as store:
        person = Gallery(store=store, model_id="m").add_person("Alice", [person_embedding(1)])
    with service.client("admin") as admin:
        event = admin.post("/api/v1/events", json={"name": "Board"}).json()["id"]
    return person, event


def checkin(person: int, event: int, **fields) -> dict:
    return {"uuid": str(uuid.uuid4()), "event_id": event, "person_id": person,
            "at": now_iso(), **fields}


# -- 1. one outbox item stopped a door for good -------------------------------------------

def test_a_refused_item_leaves_the_outbox_with_its_reason_and_the_pull_goes_on(service,
                                                                               tmp_path):
    person, event = person_and_event(service)
    with PostgresStore(service.pg_url, migrate=False) as store:
        doomed = Gallery(store=store, model_id="m").add_person("Bob", [person_embedding(2)])
    path = tmp_path / "door-1.sqlite"
    door = Gallery(path, "m")
    attach_outbox(door.checkins_table)
    client = SyncClient(service.server_settings("door-1"), SQLiteStore(path))
    try:
        assert client.run_once().people == 2
        # an undo queued by an older kiosk with a pasted 1,500-character reason, then a check-in
        raw = sqlite3.connect(path)
        raw.execute("INSERT INTO outbox (uuid, event_id, person_id, at, method, operator, "
                    "reason) VALUES (?, ?, ?, ?, 'undo', 'desk', ?)",
                    (str(uuid.uuid4()), event, person, now_iso(), "x" * 1500))
        raw.commit()
        raw.close()
        door.check_in(person, event, "manual", operator="desk", reason="badge")
        with service.client("admin") as admin:  # deleted on the service meanwhile
            assert admin.delete(f"/api/v1/people/{doomed}").status_code == 200
        report = client.run_once()
        assert report.rejected == 1 and report.uploaded == 1 and report.deleted_people == 1
        assert client.pending() == 0
        rejected = Outbox(client.store).rejected()
        assert len(rejected) == 1 and "longer than 1000 characters" in rejected[0]["rejection"]
        assert door.person(doomed) is None  # the deletion reached the door
        assert service.count("SELECT count(*) FROM checkins") == 1
    finally:
        client.close()
        client.store.close()
        door.close()


def test_the_service_answers_each_item_of_a_batch_on_its_own(service):
    person, event = person_and_event(service)
    items = [checkin(person, event, reason="r" * 1001), checkin(person, event),
             checkin(person, event, operator="desk\x00"), {"uuid": "not-a-uuid"}]
    with service.client("door-1") as door:
        answer = door.post("/api/v1/checkins", json={"checkins": items})
    assert answer.status_code == 200
    results = [r["result"] for r in answer.json()["results"]]
    assert results == ["rejected", "stored", "rejected", "rejected"]
    reasons = [r.get("reason", "") for r in answer.json()["results"]]
    assert "1000 characters" in reasons[0] and "control character" in reasons[2]


# -- 2. bodies were read before the key, and the limit trusted Content-Length ---------------

def raw_request(url: str, head: str, body_parts=(), timeout_s: float = 10.0) -> tuple[str, int]:
    """Send a request by hand; returns (the status line, body bytes sent before the answer).
    The body parts are sent until the service answers or closes the connection."""
    import select

    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(head.encode("latin-1"))
        for part in body_parts:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer (or the close) came first
            try:
                sock.sendall(part)
            except OSError:  # closed by the service
                break
            sent += len(part)
        answer = b""
        while b"\r\n" not in answer:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode("latin-1"), sent


def chunks(total_bytes: int, size: int = 256 * 1024):
    piece = b"0" * size
    for _ in range(total_bytes // size):
        yield f"{size:x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def test_no_key_is_refused_before_any_of_the_body_is_read(service):
    head = ("POST /api/v1/checkins HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n")
    status, sent = raw_request(service.url, head)  # not one byte of the body
    assert " 401 " in status
    head = ("POST /api/v1/people HTTP/1.1\r\nHost: x\r\nContent-Length: 80000000\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    assert " 401 " in raw_request(service.url, head)[0]


def test_a_chunked_body_is_cut_at_the_limit_of_the_keys_role(service):
    limit = BODY_LIMIT_BYTES["kiosk"]
    head = (f"POST /api/v1/checkins HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            f"{service.keys['door-1']}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    status, sent = raw_request(service.url, head, chunks(4 * limit))
    assert " 413 " in status
    assert sent < 2 * limit  # the rest was never read
    both = head.replace("Transfer-Encoding", "Content-Length: 10\r\nTransfer-Encoding")
    assert " 400 " in raw_request(service.url, both)[0]
    oversized = head.replace("Transfer-Encoding: chunked", f"Content-Length: {limit + 1}")
    assert " 413 " in raw_request(service.url, oversized)[0]


def test_a_body_that_stops_arriving_is_answered_408(service):
    head = (f"POST /api/v1/checkins HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            f"{service.keys['door-1']}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n")
    status, _ = raw_request(service.url, head, [b'{"checkins": ['],
                            timeout_s=10 * READ_TIMEOUT_S)
    assert " 408 " in status


def trickle_headers(url: str, give_up_s: float) -> tuple[bool, int]:
    """Open a connection and send a request's headers a byte every 0.1 s, never ending them
    (slowloris). Returns (whether the service closed the connection, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=give_up_s) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sock.settimeout(0.1)
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            try:
                if sock.recv(1024) == b"":
                    return True, sent  # closed by the service
            except socket.timeout:
                pass
            except ConnectionResetError:
                return True, sent
            try:
                sock.sendall(b"a")
            except OSError:
                return True, sent
            sent += 1
    return False, sent


def test_headers_sent_a_byte_at_a_time_are_cut_off(service):
    """uvicorn alone kept such a connection open for as long as bytes kept coming (its idle
    time-out starts only after a response): a few hundred of them would exhaust the service."""
    closed, sent = trickle_headers(service.url, give_up_s=15 * HEADER_TIMEOUT_S)
    assert closed and sent > 0
    # an ordinary request on a fresh connection is still answered
    assert httpx.get(service.url + "/api/v1/health", timeout=10).status_code == 200


# -- 3. CPU work ran on the event loop -----------------------------------------------------

def test_a_huge_photo_is_refused_from_its_header_before_decoding(service):
    flat = np.zeros((6300, 6300, 3), np.uint8)
    ok, png = cv2.imencode(".png", flat, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok and len(png) < 1_000_000
    with service.client("door-1") as door:
        answer = door.post("/api/v1/identify",
                           files={"image": ("huge.png", png.tobytes(), "image/png")})
    assert answer.status_code == 422 and "pixels" in answer.json()["error"]


def test_sync_is_answered_while_identify_works(service, known_faces):
    """identify decodes and runs the models in the CPU pool: a sync sent while three photos
    wait or are worked on is answered before they are all done (on the event loop, as they
    were, each identify held every other request back)."""
    import threading

    photo = cv2.imread(str(known_faces / "obama.jpg"))
    big = cv2.resize(photo, None, fx=3.5, fy=3.5)  # 12.7 Mpx, under the pixel limit
    ok, jpeg = cv2.imencode(".jpg", big)
    finished: list[str] = []

    def identify() -> None:
        with service.client("door-2") as door:
            answer = door.post("/api/v1/identify", files={"image": ("big.jpg", jpeg.tobytes())})
        finished.append(f"identify {answer.status_code}")

    workers = [threading.Thread(target=identify) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # the uploads are on their way or being worked on
    with service.client("door-1") as door:
        assert door.get("/api/v1/sync").status_code == 200
    finished.append("sync")
    for worker in workers:
        worker.join(120)
    assert finished[-1].startswith("identify") and "sync" in finished
    assert set(finished) - {"sync"} <= {"identify 200", "identify 503"}


def test_a_full_cpu_pool_answers_503_with_retry_after():
    import asyncio
    import threading

    from fastapi import HTTPException

    from service.state import CpuPool

    pool = CpuPool(workers=1, queue_limit=1)
    release = threading.Event()

    async def scenario() -> list:
        jobs = [asyncio.ensure_future(pool.run(release.wait)) for _ in range(2)]
        await asyncio.sleep(0.05)
        try:
            await pool.run(release.wait)
        except HTTPException as exc:
            refused = exc
        release.set()
        await asyncio.gather(*jobs)
        return [refused]

    [refused] = asyncio.run(scenario())
    pool.close()
    assert refused.status_code == 503 and refused.headers["Retry-After"]


# -- 4. a kiosk key was a master key --------------------------------------------------------

def test_a_door_undoes_only_its_own_check_ins(service):
    person, event = person_and_event(service)
    with service.client("door-1") as door1, service.client("door-2") as door2:
        assert door1.post("/api/v1/checkins", json={"checkins": [checkin(person, event)]}
                          ).json()["results"][0]["result"] == "stored"
        undo = checkin(person, event, operator="forged", reason="not here")
        answer = door2.post("/api/v1/checkins/undo", json={"undos": [undo]}).json()["results"][0]
        assert answer["result"] == "rejected" and "door door-1" in answer["reason"]
        assert service.count("SELECT count(*) FROM checkins") == 1
        mine = door1.post("/api/v1/checkins/undo", json={"undos": [dict(undo, uuid=str(
            uuid.uuid4()))]}).json()["results"][0]
        assert mine["result"] == "undone"


@pytest.mark.parametrize("at", ["'; DROP TABLE checkins;--", "2026-11-23T09:00:00",
                                "2099-01-01T00:00:00+00:00", "2001-01-01T00:00:00+00:00"])
def test_check_in_times_must_be_near_the_service_clock(service, at):
    person, event = person_and_event(service)
    with service.client("door-1") as door:
        answer = door.post("/api/v1/checkins",
                           json={"checkins": [checkin(person, event, at=at)]}).json()
    assert answer["results"][0]["result"] == "rejected"
    assert service.count("SELECT count(*) FROM checkins") == 0


def test_doors_receive_embeddings_and_never_face_crops(service, known_faces):
    with service.client("admin") as admin:
        assert admin.post("/api/v1/people", data={"name": "Obama"}, files={
            "images": ("o.jpg", (known_faces / "obama.jpg").read_bytes())}).status_code == 201
        to_admin = admin.get("/api/v1/sync").json()["faces"]
    with service.client("door-1") as door:
        to_door = door.get("/api/v1/sync").json()["faces"]
    assert to_admin[0]["crop_jpeg"] and to_door[0]["crop_jpeg"] is None
    assert to_door[0]["embeddings"] == to_admin[0]["embeddings"]


# -- 5. invalid ids and control characters ---------------------------------------------------

def test_invalid_ids_and_control_characters_answer_4xx(service):
    person, event = person_and_event(service)
    with service.client("admin") as admin, service.client("door-1") as door:
        huge = 2**63
        assert admin.delete(f"/api/v1/people/{huge}").status_code == 422
        assert door.get(f"/api/v1/events/{huge}/checkins").status_code == 422
        assert door.get(f"/api/v1/sync?since={huge}").status_code == 422
        answer = door.post("/api/v1/checkins", json={"checkins": [
            checkin(huge, event), checkin(person, event, operator="a\x00b")]})
        assert answer.status_code == 200
        assert {r["result"] for r in answer.json()["results"]} == {"rejected"}
        for name in ("Board\nmeeting", "Board\x1b[31m"):
            refused = admin.post("/api/v1/events", json={"name": name})
            assert refused.status_code == 422 and "control character" in refused.json()["error"]
    assert service.count("SELECT count(*) FROM events") == 1


# -- 6. one process -------------------------------------------------------------------------

def test_a_change_notifies_every_listening_instance(pg_url):
    import threading

    from service.store.notifications import ChangeListener

    PostgresStore(pg_url).close()
    heard = threading.Event()
    listener = ChangeListener(pg_url, heard.set)
    listener.start()
    try:
        assert listener.connected.wait(10)
        heard.clear()  # the call after connecting
        with PostgresStore(pg_url, migrate=False) as store:
            Gallery(store=store, model_id="m").add_person("Alice", [person_embedding(1)])
        assert heard.wait(10)
    finally:
        listener.stop()


def test_serve_with_two_workers_keeps_each_gallery_current(pg_url, known_faces, tmp_path):
    """``serve --workers 2``: a person enrolled through one worker is identified by both
    (each worker's gallery follows the database's notifications)."""
    import subprocess
    import sys

    from tests.conftest import PROJECT_ROOT
    from tests.service.pgcluster import free_port

    with PostgresStore(pg_url) as store:
        admin_key = create_key(store, "office", "admin")[1]
    port = free_port()
    with open(tmp_path / "serve.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "main.py", "serve", "--database", pg_url, "--port", str(port),
             "--workers", "2"], cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120,
                          headers={"Authorization": f"Bearer {admin_key}"}) as admin:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if admin.get("/api/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
            # both workers have read their (empty) gallery before the enrolment
            for _ in range(6):
                admin.post("/api/v1/identify", files={
                    "image": ("b.jpg", (known_faces / "biden.jpg").read_bytes())})
            assert admin.post("/api/v1/people", data={"name": "Obama"}, files={
                "images": ("o.jpg", (known_faces / "obama.jpg").read_bytes())}).status_code == 201
            time.sleep(1.0)
            names = {admin.post("/api/v1/identify", files={
                "image": ("q.jpg", (known_faces / "obama2.jpg").read_bytes())}
            ).json()["matches"][0]["name"] for _ in range(8)}
            assert names == {"Obama"}
    finally:
        process.terminate()
        process.wait(30)
