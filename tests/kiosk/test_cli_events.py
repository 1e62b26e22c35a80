"""CLI: events, roster import, checkins list/export, and kiosk.enroll_folder (used by the CLI)."""

from __future__ import annotations

import json
import shutil

import pytest

from kiosk.cli import main


def test_events_roster_checkins(tmp_path, capsys):
    db = str(tmp_path / "f.sqlite")
    assert main(["--db", db, "events", "create", "--name", "晨会"]) == 0
    event_id = int(capsys.readouterr().out.strip())
    assert main(["--db", db, "events", "create", "--name", "Later", "--opens",
                 "2999-01-01T09:00", "--closes", "2999-01-01T10:00"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "events", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"*    {event_id}  晨会" in listing

    from kiosk.gallery import Gallery
    import numpy as np

    gallery = Gallery(db, model_id="facenet-20180408-102900/flip")
    person = gallery.add_person("李伟", [np.ones(512, np.float32) / np.sqrt(512)], external_id="E001")
    gallery.check_in(person, event_id, "manual", operator="desk", reason="no face")
    gallery.close()
    roster = tmp_path / "roster.csv"
    roster.write_text("工号,姓名\nE001,李伟\nE002,王芳\n", encoding="utf-8")
    assert main(["--db", db, "roster", "import", str(roster), "--event", str(event_id)]) == 0
    capsys.readouterr()
    assert main(["--db", db, "checkins", "list", "--event", str(event_id), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["person_id"], r["name"], r["event_id"], r["method"]) for r in rows] == [
        (person, "李伟", event_id, "manual")]
    assert set(rows[0]) == {"person_id", "name", "event_id", "at", "method", "distance", "liveness"}
    out = tmp_path / "a.csv"
    assert main(["--db", db, "checkins", "export", "--event", str(event_id), "--csv", str(out)]) == 0
    text = out.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff") and "王芳,missing" in text
    assert main(["--db", db, "checkins", "list", "--event", "99"]) == 1


@pytest.fixture
def gallery(settings, tmp_path):
    from kiosk.gallery import Gallery

    g = Gallery(tmp_path / "faces.sqlite", settings.recognition.model_id)
    yield g
    g.close()


def test_enroll_folder_reports_refused_photos(tmp_path, known_faces, encoder, gallery, settings):
    from kiosk.enroll_folder import enroll_folder

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(known_faces / "obama.jpg", folder / "E001.jpg")
    shutil.copy(known_faces / "obama2.jpg", folder / "E001_2.jpg")
    shutil.copy(known_faces / "biden.jpg", folder / "E002.jpg")
    (folder / "E003.jpg").write_bytes(b"not a photo")
    calls = []
    report = enroll_folder(gallery, encoder, folder,
                           recognition=settings.replace("recognition", fusion=False).recognition,
                           progress=lambda done, total, name: calls.append((done, total)))
    assert calls[-1] == (4, 4)
    assert sorted((e, n) for e, _, n in report.enrolled) == [("E001", 2), ("E002", 1)]
    assert [name for name, _ in report.refused] == ["E003.jpg"]
    assert gallery.person_by_external_id("E001").images == 2
