"""Several doors, one attendance list: a real PostgreSQL, the service on 127.0.0.1 and three
kiosks running the real pipeline on a video clip, each with its own SQLite replica."""

from __future__ import annotations

import threading

import cv2
import httpx
import pytest

from kiosk.gallery import Gallery
from kiosk.decision import Outcome
from kiosk.pipeline import Pipeline
from service.app import create_app
from service.store.keys import create_key
from service.store.postgres import PostgresStore
from kiosk.store.sqlite import SQLiteStore
from kiosk.sync import SyncClient, SyncError, SyncReport, attach_outbox
from tests.service.serving import ServiceThread

CLIP_FPS = 30.0


class Door:
    """One headless kiosk: its SQLite replica, its sync client, its pipeline."""

    def __init__(self, name, path, url, key, settings, models):
        self.name = name
        self.path = path
        self.settings = settings.replace("server", url=url, api_key=key)
        self.gallery = Gallery(path, settings.recognition.model_id)
        attach_outbox(self.gallery.checkins_table)
        self.client = SyncClient(self.settings.server, SQLiteStore(path))
        self.models = models

    def walk_past(self, frames, event_id, start_s):
        pipeline = Pipeline(self.settings, self.models, self.gallery, event_id)
        decisions = []
        for index, frame in enumerate(frames):
            result = pipeline.process(frame, start_s + index / CLIP_FPS, index)
            if result.decision is not None:
                decisions.append(result.decision)
        return decisions

    def count(self, sql, *params):
        with SQLiteStore(self.path) as store:
            return int(store.query_one(sql, params)[0])

    def close(self):
        self.client.close()
        self.client.store.close()
        self.gallery.close()


def test_three_doors_one_attendance_list(pg_cluster, pg_url, settings, models, encoder,
                                         selfie_frames, known_faces, tmp_path):
    with PostgresStore(pg_url) as store:
        admin_key = create_key(store, "office", "admin")[1]
        door_keys = [create_key(store, f"door-{i}", "kiosk")[1] for i in (1, 2, 3)]
    service = ServiceThread(create_app(pg_url, settings, lambda: encoder, pool_size=4)).start()
    port = service.port
    admin = httpx.Client(base_url=service.url, timeout=60,
                         headers={"Authorization": f"Bearer {admin_key}"})
    doors = []
    try:
        # enrol through the API: the attendee of the clip, and someone else
        ok, jpeg = cv2.imencode(".jpg", selfie_frames[-1])
        answer = admin.post("/api/v1/people", data={"name": "Selfie Person"},
                            files={"images": ("door.jpg", jpeg.tobytes(), "image/jpeg")})
        assert answer.status_code == 201, answer.text
        person_id = answer.json()["id"]
        obama = admin.post("/api/v1/people", data={"name": "Barack Obama"},
                           files={"images": ("o.jpg", (known_faces / "obama.jpg").read_bytes())})
        assert obama.status_code == 201, obama.text
        morning = admin.post("/api/v1/events", json={"name": "Morning"}).json()["id"]
        afternoon = admin.post("/api/v1/events", json={"name": "Afternoon"}).json()["id"]

        doors = [Door(f"door-{i + 1}", tmp_path / f"door{i + 1}.sqlite", service.url, key,
                      settings, models) for i, key in enumerate(door_keys)]
        for door in doors:  # every kiosk gets the gallery with the server's ids
            report = door.client.run_once()
            assert report.people == 2 and report.events == 2
            assert door.gallery.person(person_id).name == "Selfie Person"

        # doors 1 and 2 recognise the attendee, then upload at the same moment: one check-in
        for i, door in enumerate(doors[:2]):
            decisions = door.walk_past(selfie_frames, morning, start_s=10.0 * i)
            assert [d.outcome for d in decisions][:1] == [Outcome.CHECKED_IN]
            assert decisions[0].person_id == person_id
        reports = [SyncReport(), SyncReport()]
        barrier = threading.Barrier(2)

        def upload(door, report):
            barrier.wait()
            door.client.push(report)

        threads = [threading.Thread(target=upload, args=(d, r)) for d, r in zip(doors, reports)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(k for r in reports for k in r.results) == ["already", "stored"]
        rows = admin.get(f"/api/v1/events/{morning}/checkins").json()
        assert len(rows) == 1 and rows[0]["door"] in ("door-1", "door-2")

        # the service is stopped: door 3 keeps checking people in, and catches up later
        service.stop()
        decisions = doors[2].walk_past(selfie_frames, afternoon, start_s=50.0)
        assert decisions[0].outcome is Outcome.CHECKED_IN
        with pytest.raises(SyncError, match="cannot be reached"):
            doors[2].client.run_once()
        assert doors[2].client.pending() == 1
        service = ServiceThread(create_app(pg_url, settings, lambda: encoder), port=port).start()
        report = doors[2].client.run_once()
        assert report.results == {"stored": 1} and report.pending == 0
        assert doors[2].client.run_once().uploaded == 0  # nothing sent twice
        rows = admin.get(f"/api/v1/events/{afternoon}/checkins").json()
        assert [(r["person_id"], r["door"]) for r in rows] == [(person_id, "door-3")]

        # PostgreSQL restarts under the service: a clear 503 meanwhile, then it recovers
        pg_cluster.stop()
        down = admin.get("/api/v1/events")
        assert down.status_code == 503 and "database" in down.json()["error"]
        pg_cluster.start()
        assert admin.get("/api/v1/events").status_code == 200

        # a person deleted through the API is gone from every kiosk's file at its next sync
        assert admin.delete(f"/api/v1/people/{person_id}").status_code == 200
        for door in doors:
            assert door.client.run_once().deleted_people == 1
            assert door.count("SELECT count(*) FROM people WHERE id = ?", person_id) == 0
            assert door.count("SELECT count(*) FROM faces WHERE person_id = ?", person_id) == 0
            assert door.count("SELECT count(DISTINCT face_id) FROM face_embeddings") == 1  # Obama's
            assert door.count("SELECT count(*) FROM checkins WHERE person_id = ?", person_id) == 0
    finally:
        admin.close()
        for door in doors:
            door.close()
        service.stop()
