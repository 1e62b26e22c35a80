"""The central service over a real PostgreSQL: keys and roles, uploads, check-in batches, sync."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from kiosk.store.base import now_iso
from service.store.keys import create_key, list_keys, revoke_key
from service.store.postgres import PostgresStore


@pytest.fixture
def service(pg_url, encoder, settings):
    import httpx

    from service.app import create_app
    from tests.service.serving import ServiceThread

    app = create_app(pg_url, settings, encoder_factory=lambda: encoder, pool_size=2)
    with PostgresStore(pg_url) as store:
        keys = {role: create_key(store, f"{role}-1", role)[1] for role in ("kiosk", "admin")}
    running = ServiceThread(app).start()
    try:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            yield client, keys, pg_url
    finally:
        running.stop()


SERVICE = ("service.commands",)  # main.py adds the service's commands this way


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def count(url: str, table: str) -> int:
    with PostgresStore(url, migrate=False) as store:
        return int(store.query_one(f"SELECT count(*) FROM {table}")[0])


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer kk_wrong"}, 401), ({"Authorization": "Basic x"}, 401),
     ("kiosk", 403)],
)
def test_admin_endpoints_refuse_without_an_admin_key(service, headers, status, known_faces):
    client, keys, url = service
    headers = auth(keys["kiosk"]) if headers == "kiosk" else headers
    photo = (known_faces / "obama.jpg").read_bytes()
    answers = [
        client.post("/api/v1/people", headers=headers, data={"name": "X"},
                    files={"images": ("a.jpg", photo, "image/jpeg")}),
        client.delete("/api/v1/people/1", headers=headers),
        client.post("/api/v1/events", headers=headers, json={"name": "M"}),
    ]
    assert [a.status_code for a in answers] == [status] * 3
    assert all(a.json()["error"] for a in answers)
    assert count(url, "people") == 0 and count(url, "events") == 0


def test_no_key_cannot_sync_and_a_revoked_key_stops_at_once(service):
    client, keys, url = service
    assert client.get("/api/v1/sync").status_code == 401
    assert client.get("/api/v1/sync", headers=auth(keys["kiosk"])).status_code == 200
    with PostgresStore(url, migrate=False) as store:
        kiosk_id = next(k.id for k in list_keys(store) if k.role == "kiosk")
        assert revoke_key(store, kiosk_id)
    answer = client.get("/api/v1/sync", headers=auth(keys["kiosk"]))
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]


def test_oversized_and_malformed_uploads_are_refused_and_change_nothing(service, known_faces):
    client, keys, url = service
    admin = auth(keys["admin"])
    big = b"\xff\xd8" + b"0" * (8 * 1024 * 1024)
    answers = [
        client.post("/api/v1/people", headers=admin, data={"name": "Big"},
                    files={"images": ("big.jpg", big, "image/jpeg")}),
        client.post("/api/v1/people", headers=admin, data={"name": "Junk"},
                    files={"images": ("junk.jpg", b"not an image", "image/jpeg")}),
        client.post("/api/v1/people", headers=admin, data={"name": "Empty"},
                    files={"images": ("empty.jpg", b"", "image/jpeg")}),
        client.post("/api/v1/people", headers=admin, data={"name": ""},
                    files={"images": ("a.jpg", (known_faces / "obama.jpg").read_bytes())}),
        client.post("/api/v1/people", headers=admin, data={"name": "No images"}),
        client.post("/api/v1/checkins", headers=admin, content=b"{not json",
                    ),
    ]
    statuses = [a.status_code for a in answers]
    assert statuses[0] == 413 and all(400 <= s < 500 for s in statuses), statuses
    assert "not an image" in answers[1].json()["error"]
    assert "empty" in answers[2].json()["error"]
    item = client.post("/api/v1/checkins", headers=admin, json={"checkins": [{"uuid": "x"}]})
    assert item.status_code == 200 and item.json()["results"][0]["result"] == "rejected"
    assert count(url, "people") == 0 and count(url, "checkins") == 0


def test_enrol_identify_lookalike_and_delete(service, known_faces: Path):
    client, keys, url = service
    admin = auth(keys["admin"])
    photo = lambda name: ("images", (name, (known_faces / name).read_bytes(), "image/jpeg"))  # noqa: E731
    answer = client.post("/api/v1/people", headers=admin, data={"name": "Obama", "external_id": "E1"},
                         files=[photo("obama.jpg"), photo("obama2.jpg")])
    assert answer.status_code == 201, answer.text
    obama = answer.json()["id"]
    twin = client.post("/api/v1/people", headers=admin, data={"name": "Twin"},
                       files=[photo("obama3.jpg")])
    assert twin.status_code == 409 and "looks like person" in twin.json()["error"]
    found = client.post("/api/v1/identify", headers=auth(keys["kiosk"]),
                        files={"image": ("q.jpg", (known_faces / "obama3.jpg").read_bytes())})
    match = found.json()["matches"][0]
    assert match["person_id"] == obama and match["name"] == "Obama" and match["distance"] < 1.0
    other = client.post("/api/v1/identify", headers=auth(keys["kiosk"]),
                        files={"image": ("q.jpg", (known_faces / "biden.jpg").read_bytes())})
    assert other.json()["matches"][0]["person_id"] is None
    assert client.delete(f"/api/v1/people/{obama}", headers=admin).status_code == 200
    assert client.delete(f"/api/v1/people/{obama}", headers=admin).status_code == 404
    assert count(url, "faces") == 0 and count(url, "face_embeddings") == 0
    changes = client.get("/api/v1/sync?since=0", headers=auth(keys["kiosk"])).json()
    assert changes["deleted_people"] == [obama] and changes["people"] == []


def test_checkin_batches_are_idempotent_and_once_per_event(service):
    client, keys, url = service
    kiosk, admin = auth(keys["kiosk"]), auth(keys["admin"])
    with PostgresStore(url, migrate=False) as store:
        from kiosk.gallery import Gallery
        from tests.service.test_store_backends import vec

        person = Gallery(store=store, model_id="m").add_person("Alice", [vec(1)])
    event = client.post("/api/v1/events", headers=admin, json={"name": "Meeting"}).json()["id"]
    first = {"uuid": str(uuid.uuid4()), "event_id": event, "person_id": person, "at": now_iso()}
    second = {**first, "uuid": str(uuid.uuid4()), "at": now_iso()}
    stranger = {**first, "uuid": str(uuid.uuid4()), "person_id": person + 99}
    answer = client.post("/api/v1/checkins", headers=kiosk, json={"checkins": [first, second, stranger]})
    assert [r["result"] for r in answer.json()["results"]] == ["stored", "already", "unknown_person"]
    again = client.post("/api/v1/checkins", headers=kiosk, json={"checkins": [first]})
    assert again.json()["results"][0]["result"] == "duplicate"
    rows = client.get(f"/api/v1/events/{event}/checkins", headers=kiosk).json()
    assert len(rows) == 1 and rows[0]["door"] == "kiosk-1" and rows[0]["name"] == "Alice"
    assert client.get("/api/v1/events/999/checkins", headers=kiosk).status_code == 404
    changes = client.get("/api/v1/sync?since=0", headers=kiosk).json()
    assert [p["name"] for p in changes["people"]] == ["Alice"]
    assert len(base64.b64decode(changes["faces"][0]["embeddings"][0]["embedding"])) == 512 * 4
    assert [e["id"] for e in changes["events"]] == [event]
    later = client.get(f"/api/v1/sync?since={changes['revision']}", headers=kiosk).json()
    assert later["people"] == [] and later["revision"] == changes["revision"]


def test_openapi_and_docs_are_served(service):
    client, _, _ = service
    assert "/api/v1/checkins" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200


def test_keys_commands_create_list_and_revoke(pg_url, capsys):
    from kiosk.cli import main

    assert main(["keys", "create", "--database", pg_url, "--name", "door-9", "--role", "kiosk"],
                extra=SERVICE) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("kk_")
    with PostgresStore(pg_url, migrate=False) as store:
        stored = store.query_one("SELECT key_hash FROM api_keys")[0]
    assert key not in stored  # only the hash is kept
    assert main(["keys", "list", "--database", pg_url], extra=SERVICE) == 0
    assert "door-9" in capsys.readouterr().out
    assert main(["keys", "revoke", "--database", pg_url, "1"], extra=SERVICE) == 0
    assert main(["keys", "revoke", "--database", pg_url, "1"], extra=SERVICE) == 1
    assert "no active key" in capsys.readouterr().err


def test_sync_once_prints_what_moved_and_keeps_the_outbox_when_unreachable(service, tmp_path, capsys):
    from kiosk.cli import main
    from tests.service.pgcluster import free_port

    client, keys, _ = service
    client.post("/api/v1/events", headers=auth(keys["admin"]), json={"name": "Meeting"})
    db = str(tmp_path / "door.sqlite")
    base = str(client.base_url).rstrip("/")
    assert main(["--db", db, "sync", "--once", "--server", base, "--api-key", keys["kiosk"]]) == 0
    assert "received 0 people, 0 faces, 1 events" in capsys.readouterr().out
    down = f"http://127.0.0.1:{free_port()}"
    assert main(["--db", db, "sync", "--once", "--server", down, "--api-key", keys["kiosk"]]) == 1
    assert "cannot be reached" in capsys.readouterr().err


def test_service_start_migrates_images_stored_before_fusion(pg_url, encoder, settings,
                                                            known_faces: Path):
    """A database enrolled under FaceNet alone (with crops): the updated service re-embeds the
    crops when it starts, so identify (fused) names the person and kiosks get both models."""
    import httpx

    from kiosk.gallery import Gallery
    from kiosk.face_encoder import FaceEncoder
    from service.app import create_app
    from tests.service.serving import ServiceThread

    facenet_only = FaceEncoder(encoder.models, settings.replace("recognition", fusion=False))
    sample = facenet_only.encode_file(known_faces / "obama.jpg")
    with Gallery(store=PostgresStore(pg_url), model_id=settings.recognition.model_id) as old:
        old.add_person("Barack Obama", [sample.embedding], [sample.crop_jpeg()])
    assert count(pg_url, "face_embeddings") == 1
    app = create_app(pg_url, settings, encoder_factory=lambda: encoder, pool_size=2)
    with PostgresStore(pg_url) as store:
        admin = create_key(store, "admin-1", "admin")[1]
    running = ServiceThread(app).start()
    try:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            assert count(pg_url, "face_embeddings") == 2  # dlib's added from the crop
            with open(known_faces / "obama2.jpg", "rb") as photo:
                answer = client.post("/api/v1/identify", headers=auth(admin),
                                     files={"image": ("obama2.jpg", photo, "image/jpeg")})
            assert answer.status_code == 200, answer.text
            assert "Barack Obama" in answer.text
    finally:
        running.stop()
