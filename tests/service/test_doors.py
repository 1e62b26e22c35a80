"""Several doors at the kiosk side: undo through the outbox, enrolment through the service, every
door's attendance in the staff panel, the service's state in the GUI's status line (a real
PostgreSQL, the service on 127.0.0.1, kiosks with their own SQLite replicas)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import cv2
import httpx
import pytest

from kiosk.gallery import Gallery
from service.app import create_app
from service.store.keys import create_key
from service.store.postgres import PostgresStore
from kiosk.store.sqlite import SQLiteStore
from kiosk.store.base import now_iso
from kiosk.store.outbox import Outbox
from kiosk.sync import EnrollmentRefused, SyncClient, SyncError, attach_outbox, enroll_on_server
from tests.conftest import PROJECT_ROOT
from tests.service.serving import ServiceThread


class Service:
    """The service on a fixed port that a test can stop and start again."""

    def __init__(self, pg_url, settings, encoder):
        self.pg_url = pg_url
        self.settings = settings
        self.encoder = encoder
        with PostgresStore(pg_url) as store:
            self.admin_key = create_key(store, "office", "admin")[1]
            self.keys = {name: create_key(store, name, "kiosk")[1]
                         for name in ("door-1", "door-2")}
        self.thread = self._new(None).start()
        self.port = self.thread.port
        self.url = self.thread.url
        self.admin = httpx.Client(base_url=self.url, timeout=60,
                                  headers={"Authorization": f"Bearer {self.admin_key}"})

    def _new(self, port):
        return ServiceThread(create_app(self.pg_url, self.settings, lambda: self.encoder,
                                        pool_size=2), port=port)

    def stop(self):
        self.thread.stop()

    def start(self):
        self.thread = self._new(self.port).start()

    def close(self):
        self.admin.close()
        self.thread.stop()

    def server_settings(self, key):
        return self.settings.server.__class__(url=self.url, api_key=key, connect_timeout_s=2.0,
                                              request_timeout_s=30.0, sync_interval_s=0.5,
                                              retry_initial_s=0.2, retry_max_s=1.0)

    def query(self, sql, *params):
        with PostgresStore(self.pg_url, migrate=False) as store:
            return store.query(sql, params)


@pytest.fixture
def service(pg_url, settings, encoder):
    running = Service(pg_url, settings, encoder)
    yield running
    running.close()


class Kiosk:
    """A kiosk's replica file, its gallery (with the outbox) and its sync client."""

    def __init__(self, path, server_settings, model_id):
        self.path = path
        self.gallery = Gallery(path, model_id)
        attach_outbox(self.gallery.checkins_table)
        self.client = SyncClient(server_settings, SQLiteStore(path))

    def close(self):
        self.client.close()
        self.client.store.close()
        self.gallery.close()


@pytest.fixture
def make_kiosk(service, settings, tmp_path):
    kiosks = []

    def make(name, key=None):
        kiosk = Kiosk(tmp_path / f"{name}.sqlite",
                      service.server_settings(key or service.keys[name]),
                      settings.recognition.model_id)
        kiosks.append(kiosk)
        return kiosk

    yield make
    for kiosk in kiosks:
        kiosk.close()


def enroll_obama(service, known_faces):
    answer = service.admin.post("/api/v1/people", data={"name": "Barack Obama"},
                                files={"images": ("o.jpg", (known_faces / "obama.jpg").read_bytes())})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_the_undo_endpoint_is_idempotent_and_audited(service, known_faces):
    person_id = enroll_obama(service, known_faces)
    event_id = service.admin.post("/api/v1/events", json={"name": "Board"}).json()["id"]
    door = httpx.Client(base_url=service.url, timeout=30,
                        headers={"Authorization": f"Bearer {service.keys['door-1']}"})
    try:
        checkin = {"uuid": str(uuid.uuid4()), "event_id": event_id, "person_id": person_id,
                   "at": now_iso()}
        assert door.post("/api/v1/checkins", json={"checkins": [checkin]}).json()[
            "results"][0]["result"] == "stored"
        undo = {"uuid": str(uuid.uuid4()), "event_id": event_id, "person_id": person_id,
                "at": now_iso(), "operator": "staff:desk", "reason": "wrong person"}
        results = [door.post("/api/v1/checkins/undo", json={"undos": [undo]}).json()["results"][0]
                   for _ in range(2)]
        assert [r["result"] for r in results] == ["undone", "duplicate"]
        assert service.admin.get(f"/api/v1/events/{event_id}/checkins").json() == []
        # checked in again at another door: the door shown is the new one
        again = dict(checkin, uuid=str(uuid.uuid4()))
        door2 = httpx.Client(base_url=service.url, timeout=30,
                             headers={"Authorization": f"Bearer {service.keys['door-2']}"})
        with door2:
            assert door2.post("/api/v1/checkins", json={"checkins": [again]}).json()[
                "results"][0]["result"] == "stored"
        rows = service.admin.get(f"/api/v1/events/{event_id}/checkins").json()
        assert [(r["person_id"], r["door"]) for r in rows] == [(person_id, "door-2")]
        # the old undo sent once more changes nothing
        assert door.post("/api/v1/checkins/undo", json={"undos": [undo]}).json()[
            "results"][0]["result"] == "duplicate"
        assert len(service.admin.get(f"/api/v1/events/{event_id}/checkins").json()) == 1
        # without a key: refused, nothing changed
        refused = httpx.post(f"{service.url}/api/v1/checkins/undo",
                             json={"undos": [dict(undo, uuid=str(uuid.uuid4()))]})
        assert refused.status_code == 401
        assert len(service.admin.get(f"/api/v1/events/{event_id}/checkins").json()) == 1
    finally:
        door.close()
    audit = service.query("SELECT actor, details FROM audit_log WHERE action = 'undo check-in'")
    assert len(audit) == 1 and audit[0][0] == "key:door-1"
    assert '"reason": "wrong person"' in audit[0][1] and '"operator": "staff:desk"' in audit[0][1]


def test_an_undo_made_offline_arrives_once(service, make_kiosk, known_faces):
    person_id = enroll_obama(service, known_faces)
    event_id = service.admin.post("/api/v1/events", json={"name": "Board"}).json()["id"]
    kiosk = make_kiosk("door-1")
    assert kiosk.client.run_once().people == 1

    service.stop()
    assert kiosk.gallery.check_in(person_id, event_id, "manual", operator="desk", reason="badge")[0]
    assert kiosk.gallery.undo_check_in(person_id, event_id, "desk", "wrong event")
    with pytest.raises(SyncError, match="cannot be reached") as failed:
        kiosk.client.run_once()
    assert failed.value.unreachable
    assert kiosk.client.pending() == 2  # the check-in and its undo, in order

    service.start()
    report = kiosk.client.run_once()
    assert report.results == {"stored": 1, "undone": 1}
    assert (report.uploaded, report.undos, report.pending) == (1, 1, 0)
    assert kiosk.client.run_once().results == {}  # nothing sent twice
    assert service.admin.get(f"/api/v1/events/{event_id}/checkins").json() == []
    assert len(service.query("SELECT 1 FROM audit_log WHERE action = 'undo check-in'")) == 1


def test_enrolment_at_a_kiosk_reaches_another_kiosk(service, make_kiosk, known_faces, encoder,
                                                     settings):
    desk = make_kiosk("desk", key=service.admin_key)
    door = make_kiosk("door-2")
    photo = (known_faces / "obama.jpg").read_bytes()
    person_id, report = enroll_on_server(desk.client, "Barack Obama", [("obama.jpg", photo)], "E1")
    assert report is not None and report.people == 1
    assert desk.gallery.person(person_id).external_id == "E1"  # the server's id, here too

    assert door.client.run_once().people == 1
    sample = encoder.encode_file(known_faces / "obama.jpg")
    recognition = settings.recognition
    match = door.gallery.match(sample.embedding, recognition.distance_threshold,
                               recognition.min_margin)
    assert match.accepted and match.person_id == person_id

    # the same face again under another name: the look-alike refusal, nothing enrolled
    with pytest.raises(EnrollmentRefused) as refused:
        enroll_on_server(desk.client, "Someone Else", [("again.jpg", photo)])
    assert refused.value.kind == "lookalike"
    assert str(refused.value).startswith(
        f"again.jpg looks like person {person_id} (Barack Obama), distance ")
    assert str(refused.value).endswith("; nothing was enrolled")
    # a kiosk key may not enrol
    with pytest.raises(EnrollmentRefused, match="this kiosk's key may not enrol") as refused:
        enroll_on_server(door.client, "Someone Else", [("again.jpg", photo)], allow_duplicate=True)
    assert refused.value.kind == "not_admin"
    assert len(service.query("SELECT 1 FROM people")) == 1

    # the service away: nothing is enrolled anywhere, and the message says why
    service.stop()
    with pytest.raises(EnrollmentRefused, match="cannot be reached, so nothing was enrolled"):
        enroll_on_server(desk.client, "Michelle", [("m.jpg", photo)], allow_duplicate=True)
    assert len(desk.gallery.people()) == 1
    service.start()


def test_cli_enroll_goes_to_the_service(service, known_faces, tmp_path):
    """``enroll --server`` (no models are loaded at the kiosk: the service encodes)."""
    photo = str(known_faces / "obama.jpg")

    def enroll(db, key, *extra):
        return subprocess.run(
            [sys.executable, "main.py", "--db", str(db), "enroll", "--name", "Barack Obama",
             "--server", service.url, "--api-key", key, *extra, photo],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)

    done = enroll(tmp_path / "desk.sqlite", service.admin_key)
    assert done.returncode == 0, done.stderr[-2000:]
    person_id = int(done.stdout.strip())
    with Gallery(tmp_path / "desk.sqlite", "m") as gallery:
        assert gallery.person(person_id).name == "Barack Obama"
    again = enroll(tmp_path / "desk.sqlite", service.admin_key)
    assert again.returncode != 0
    assert f"obama.jpg looks like person {person_id} (Barack Obama)" in again.stderr
    assert "nothing was enrolled. If Barack Obama is another person, enrol again with " \
           "--allow-duplicate" in again.stderr
    kiosk_key = enroll(tmp_path / "door.sqlite", service.keys["door-1"], "--allow-duplicate")
    assert kiosk_key.returncode != 0
    assert "this kiosk's key may not enrol" in kiosk_key.stderr


def test_cli_enroll_folder_goes_to_the_service(service, known_faces, tmp_path):
    """``enroll-folder --server``: one enrolment per external id; a look-alike is refused with
    its reason and the batch goes on."""
    import json
    import shutil

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(known_faces / "obama.jpg", folder / "E1.jpg")
    shutil.copy(known_faces / "obama2.jpg", folder / "E1_2.jpg")
    shutil.copy(known_faces / "biden.jpg", folder / "E2.jpg")
    shutil.copy(known_faces / "obama3.jpg", folder / "E3.jpg")  # Obama again, another id
    done = subprocess.run(
        [sys.executable, "main.py", "--db", str(tmp_path / "desk.sqlite"), "enroll-folder",
         str(folder), "--json", "--server", service.url, "--api-key", service.admin_key],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert [(e["external_id"], e["images"]) for e in report["enrolled"]] == [("E1", 2), ("E2", 1)]
    assert [r["file"] for r in report["refused"]] == ["E3.jpg"]
    assert "looks like person" in report["refused"][0]["reason"]
    rows = service.query("SELECT external_id FROM people ORDER BY id")
    assert rows == [("E1",), ("E2",)]
    with Gallery(tmp_path / "desk.sqlite", "m") as gallery:  # synced after each enrolment
        assert sorted(p.external_id for p in gallery.people()) == ["E1", "E2"]


# -- the GUI -------------------------------------------------------------------------------

def test_staff_panel_shows_every_door_with_the_door(qtbot, service, make_kiosk, settings,
                                                     models, selfie_frames, tmp_path):
    from kiosk.decision import Outcome
    from kiosk.pipeline import Pipeline
    from ui.server_link import ServerLink
    from ui.staff_panel import StaffPanelWidget

    frames = selfie_frames
    ok, jpeg = cv2.imencode(".jpg", frames[-1])
    answer = service.admin.post("/api/v1/people", data={"name": "Selfie Person",
                                                         "external_id": "S1"},
                                files={"images": ("s.jpg", jpeg.tobytes(), "image/jpeg")})
    person_id = answer.json()["id"]
    event_id = service.admin.post("/api/v1/events", json={"name": "Board"}).json()["id"]

    # door 2 is a headless kiosk: the pipeline on the clip, then an upload
    door2 = make_kiosk("door-2")
    door2.client.run_once()
    pipeline = Pipeline(settings, models, door2.gallery, event_id)
    outcomes = [r.decision.outcome for r in (pipeline.process(f, i / 30.0, i)
                                             for i, f in enumerate(frames)) if r.decision]
    assert outcomes[:1] == [Outcome.CHECKED_IN]
    assert door2.client.run_once().results == {"stored": 1}

    # door 1's staff panel shows it, with the door
    kiosk_settings = settings.replace("gallery", db_path=str(tmp_path / "door-1.sqlite"))
    kiosk_settings = kiosk_settings.replace("server", **vars_of(service.server_settings(
        service.keys["door-1"])))
    door1 = Gallery(kiosk_settings.gallery.db_path, settings.recognition.model_id)
    attach_outbox(door1.checkins_table)
    link = ServerLink(kiosk_settings)
    link.start()
    try:
        panel = StaffPanelWidget(door1, event_id, operator="desk-1", server_link=link)
        qtbot.addWidget(panel)
        qtbot.waitUntil(lambda: panel.all_doors and panel.arrived_table.rowCount() == 1,
                        timeout=20_000)
        assert panel.doors_label.text() == "All doors (from the service)"
        headers = [panel.arrived_table.horizontalHeaderItem(i).text()
                   for i in range(panel.arrived_table.columnCount())]
        cells = {h: panel.arrived_table.item(0, i).text() for i, h in enumerate(headers)}
        assert (cells["Name"], cells["ID"], cells["Door"]) == ("Selfie Person", "S1", "door-2")
        assert door1.checkins(event_id) == []  # not this door's own check-in

        def act(action, *args):  # the panel changes the gallery on a task thread
            with qtbot.waitSignal(panel.action_finished, timeout=20_000) as finished:
                action(*args)
            return finished.args[0]

        out = tmp_path / "all-doors.csv"
        assert act(panel.export_file, out) == 1
        lines = out.read_text(encoding="utf-8-sig").splitlines()
        assert lines[0].endswith(",door") and lines[1].endswith(",door-2")

        # undo at door 1 of door 2's check-in: the service refuses it (a door's key undoes
        # only its own door's check-ins); the item leaves door 1's outbox with the reason
        assert act(panel.undo_check_in, person_id, "wrong event")
        assert panel.arrived_table.rowCount() == 0  # at once, before the upload
        qtbot.waitUntil(lambda: Outbox(door1.store).rejected() != [], timeout=20_000)
        assert "made at door door-2" in Outbox(door1.store).rejected()[0]["rejection"]
        assert Outbox(door1.store).pending() == 0
        assert len(service.admin.get(f"/api/v1/events/{event_id}/checkins").json()) == 1
        qtbot.waitUntil(lambda: panel.arrived_table.rowCount() == 1, timeout=20_000)

        # the service away: this door only, said clearly
        service.stop()
        qtbot.waitUntil(lambda: not panel.all_doors, timeout=20_000)
        assert panel.doors_label.text().startswith("Offline, this door only")
        service.start()
        panel.close()
    finally:
        link.stop()
        door1.close()
    assert not link.syncer.is_alive()


def vars_of(server_settings):
    import dataclasses

    return {f.name: getattr(server_settings, f.name) for f in dataclasses.fields(server_settings)}


def test_status_line_follows_the_service(qtbot, service, settings, models, selfie_clip,
                                         tmp_path):
    from ui.app import build_window

    clip = selfie_clip
    kiosk_settings = settings.replace("gallery", db_path=str(tmp_path / "door-1.sqlite"))
    kiosk_settings = kiosk_settings.replace("camera", source=str(clip), loop_file=True,
                                            pace_file=True)
    kiosk_settings = kiosk_settings.replace("server", **vars_of(service.server_settings(
        service.keys["door-1"])))
    event_id = service.admin.post("/api/v1/events", json={"name": "Board"}).json()["id"]
    window = build_window(kiosk_settings, models)
    qtbot.addWidget(window)
    window.show()
    window.start()
    try:
        status = window.status_label.text
        qtbot.waitUntil(lambda: "server: connected, last sync" in status(), timeout=20_000)
        # the first sync brought the event: the kiosk checks people in to it
        assert window.event_id == event_id and window.event_label.text() == "Board"
        service.stop()
        qtbot.waitUntil(lambda: "offline: 0 check-ins waiting" in status(), timeout=20_000)
        service.start()
        qtbot.waitUntil(lambda: "server: connected" in status(), timeout=20_000)
    finally:
        window.close()
    assert not window.server_link.syncer.is_alive()
    assert window.thread is None or window.thread.isFinished()


def test_enrolment_dialog_enrols_on_the_service(qtbot, monkeypatch, service, make_kiosk, settings,
                                                encoder, known_faces, tmp_path):
    from PyQt5.QtWidgets import QMessageBox

    from ui.enroll_dialog import EnrollDialog
    from ui.server_link import ServerLink

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: shown.append(text))
    photo_path = known_faces / "obama.jpg"
    photo = (photo_path.name, photo_path.read_bytes())
    sample = encoder.encode_file(photo_path)

    def dialog_for(key, name):
        desk_settings = settings.replace("gallery", db_path=str(tmp_path / f"{name}.sqlite"))
        desk_settings = desk_settings.replace("server", **vars_of(service.server_settings(key)))
        gallery = Gallery(desk_settings.gallery.db_path, settings.recognition.model_id)
        link = ServerLink(desk_settings)
        dialog = EnrollDialog(desk_settings, gallery, lambda: encoder, None, server_link=link)
        qtbot.addWidget(dialog)
        dialog.add_sample(sample, photo)
        return dialog, gallery

    def save(dialog, **options):  # the dialog enrols on a task thread, the answer by signal
        with qtbot.waitSignal(dialog.save_finished, timeout=30_000) as saved:
            dialog.save(**options)
        return saved.args[0]

    desk, desk_gallery = dialog_for(service.admin_key, "desk")
    desk.name_edit.setText("Barack Obama")
    desk.external_id_edit.setText("E44")
    person_id = save(desk)
    assert person_id is not None, desk.error_message
    assert desk_gallery.person(person_id).external_id == "E44"  # synced with the server's id
    door = make_kiosk("door-1")
    assert door.client.run_once().people == 1 and door.gallery.person(person_id) is not None

    again, _ = dialog_for(service.admin_key, "desk2")
    again.name_edit.setText("Someone Else")
    assert save(again) is None
    assert again.error_message == (f"Warning: this face already matches Barack Obama (id "
                                   f"{person_id}, distance 0.00). Nothing was enrolled.")
    assert again.duplicate is not None and again.duplicate[0] == person_id  # Save asks next

    by_door, door_gallery = dialog_for(service.keys["door-2"], "door2")
    by_door.name_edit.setText("Someone Else")
    assert save(by_door, allow_duplicate=True) is None
    assert by_door.error_message.startswith("This kiosk's key may not enrol")
    assert shown == [again.error_message, by_door.error_message]
    assert len(service.query("SELECT 1 FROM people")) == 1
    for gallery in (desk_gallery, door_gallery):
        gallery.close()


def test_events_of_a_connected_kiosk_are_created_on_the_service(qtbot, service, settings,
                                                                 make_kiosk, tmp_path, capsys):
    """A local event could take an id the service gives to another event (the next sync would
    overwrite it): `events create` and the Events dialog of a connected kiosk go to the service."""
    from kiosk.cli import main
    from ui.server_link import ServerLink
    from ui.settings_dialog import EventsDialog

    service.admin.post("/api/v1/events", json={"name": "Taken on the service"})
    desk = tmp_path / "desk.sqlite"
    assert main(["--db", str(desk), "events", "create", "--name", "Board",
                 "--server", service.url, "--api-key", service.admin_key]) == 0
    event_id = int(capsys.readouterr().out.strip())
    served = {e["id"]: e["name"] for e in service.admin.get("/api/v1/events").json()}
    assert served[event_id] == "Board" and len(served) == 2
    with Gallery(desk, "m") as gallery:  # synced here with the service's id
        assert gallery.event(event_id)["name"] == "Board"
    assert main(["--db", str(tmp_path / "door.sqlite"), "events", "create", "--name", "X",
                 "--server", service.url, "--api-key", service.keys["door-1"]]) == 1
    assert "no event was created" in capsys.readouterr().err

    dialog_settings = settings.replace("gallery", db_path=str(desk))
    dialog_settings = dialog_settings.replace("server", **vars_of(service.server_settings(
        service.admin_key)))
    with Gallery(desk, settings.recognition.model_id) as gallery:
        dialog = EventsDialog(gallery, event_id, server_link=ServerLink(dialog_settings))
        qtbot.addWidget(dialog)
        dialog.create_event("Lunch", None, None)  # on a task thread, the answer by signal
        assert dialog.tasks.wait(30_000)
        created = dialog.created_event_id
        assert dialog.chosen_event_id() == created
        assert gallery.event(created)["name"] == "Lunch"
    assert {e["name"] for e in service.admin.get("/api/v1/events").json()} >= {"Board", "Lunch"}
    door = make_kiosk("door-1")
    door.client.run_once()
    assert door.gallery.event(created)["name"] == "Lunch"


def test_checkins_add_and_undo_on_the_command_line_go_through_the_outbox(service, known_faces,
                                                                         tmp_path, capsys):
    from kiosk.cli import main

    person_id = enroll_obama(service, known_faces)
    event_id = service.admin.post("/api/v1/events", json={"name": "Board"}).json()["id"]
    db = str(tmp_path / "door-1.sqlite")
    door = ["--server", service.url, "--api-key", service.keys["door-1"]]
    assert main(["--db", db, "sync", "--once", *door]) == 0
    assert main(["--db", db, "checkins", "add", "--event", str(event_id), "--person",
                 str(person_id), "--reason", "badge", "--operator", "desk", *door]) == 0
    rows = service.admin.get(f"/api/v1/events/{event_id}/checkins").json()
    assert [(r["person_id"], r["method"], r["reason"], r["door"]) for r in rows] == [
        (person_id, "manual", "badge", "door-1")]
    assert main(["--db", db, "checkins", "undo", "--event", str(event_id), "--person",
                 str(person_id), "--reason", "x" * 1001, *door]) == 1
    assert "longer than 1000 characters" in capsys.readouterr().err
    assert main(["--db", db, "checkins", "undo", "--event", str(event_id), "--person",
                 str(person_id), "--reason", "wrong person", *door]) == 0
    assert service.admin.get(f"/api/v1/events/{event_id}/checkins").json() == []
    audit = service.query("SELECT details FROM audit_log WHERE action = 'undo check-in'")
    assert len(audit) == 1 and "wrong person" in audit[0][0]
