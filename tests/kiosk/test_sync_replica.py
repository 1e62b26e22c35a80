"""The kiosk side without a server: the outbox migration, the outbox written with the check-in,
and the headless kiosk command."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import cv2

from kiosk.gallery import Gallery
from kiosk.store.sqlite import SCHEMA_VERSION, SQLiteStore
from kiosk.sync import attach_outbox
from tests.conftest import PROJECT_ROOT
from tests.kiosk.fakes import person_embedding as vec


def test_a_version_2_gallery_gets_the_outbox_and_keeps_its_people(tmp_path):
    path = tmp_path / "faces.sqlite"
    with Gallery(path, "m") as gallery:
        person_id = gallery.add_person("Alice", [vec(1)])
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE outbox")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    assert store.migrated_from == 2 and store.backup_path.is_file()
    assert store.query_one("SELECT count(*) FROM outbox") == (0,)
    assert store.query_one("PRAGMA user_version") == (SCHEMA_VERSION,) == (4,)
    assert store.query_one("SELECT name FROM people WHERE id = ?", (person_id,)) == ("Alice",)
    store.close()


def test_each_new_checkin_is_queued_once_in_the_same_transaction(tmp_path):
    with Gallery(tmp_path / "faces.sqlite", "m") as gallery:
        attach_outbox(gallery.checkins_table)
        person_id = gallery.add_person("Alice", [vec(1)])
        event_id = gallery.create_event("Meeting")
        assert gallery.check_in(person_id, event_id)[0]
        assert not gallery.check_in(person_id, event_id)[0]
        rows = gallery.store.query("SELECT uuid, event_id, person_id, method FROM outbox")
        assert len(rows) == 1 and rows[0][1:] == (event_id, person_id, "auto")
        assert len(rows[0][0]) == 36


def test_headless_kiosk_logs_its_decision_on_a_clip(tmp_path, encoder, data_dir):
    clip = data_dir / "clips" / "live_selfie_blinks.mp4"
    capture = cv2.VideoCapture(str(clip))
    frames = [capture.read()[1] for _ in range(200)]
    capture.release()
    db = tmp_path / "door.sqlite"
    # enrolled as before fusion (FaceNet alone, with its crop): the headless kiosk re-embeds
    # the crop at start-up and recognises the person on the fused distance
    with Gallery(db, encoder.settings.recognition.model_id) as gallery:
        sample = encoder.encode_photo(frames[-1])
        person_id = gallery.add_person("Selfie Person", [sample.embedding], [sample.crop_jpeg()])
        event_id = gallery.create_event("Meeting")
    result = subprocess.run(
        [sys.executable, "main.py", "--db", str(db), "run", "--headless", "--source", str(clip),
         "--event", str(event_id), "--exit-at-end"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "start-up migration: 1 of 1 stored images re-embedded" in result.stderr
    assert f"outcome=checked_in person={person_id} name=Selfie Person" in result.stdout
    with Gallery(db, "m") as gallery:
        assert len(gallery.checkins(event_id)) == 1


def test_the_kiosk_applies_the_services_limits_before_it_queues_anything(tmp_path):
    """A reason pasted into the staff panel that the service would refuse is refused here,
    before anything is stored or queued (it would otherwise wait in the outbox for ever)."""
    import pytest

    from kiosk.store.checkins import MAX_REASON_CHARS
    from kiosk.store.outbox import Outbox

    with Gallery(tmp_path / "faces.sqlite", "m") as gallery:
        attach_outbox(gallery.checkins_table)
        person_id = gallery.add_person("Alice", [vec(1)])
        event_id = gallery.create_event("Board")
        with pytest.raises(ValueError, match="longer than 1000 characters"):
            gallery.check_in(person_id, event_id, "manual", operator="desk",
                             reason="x" * (MAX_REASON_CHARS + 1))
        with pytest.raises(ValueError, match="control character"):
            gallery.undo_check_in(person_id, event_id, "desk\x00", "wrong person")
        with pytest.raises(ValueError, match="control character"):
            gallery.create_event("Board\x1b[2J")
        assert gallery.checkins(event_id) == [] and Outbox(gallery.store).pending() == 0
        assert gallery.check_in(person_id, event_id, "manual", operator="desk",
                                reason="x" * MAX_REASON_CHARS)[0]
        assert Outbox(gallery.store).pending() == 1
