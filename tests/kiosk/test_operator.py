"""The operator's day on the command line: roles, settings layers, relative paths, Excel,
walk-ins, safe exports and autostart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import sys

import numpy as np
import pytest

from kiosk.cli import main


def _person(db: str, name: str, external_id: str | None = None) -> int:
    from kiosk.gallery import Gallery

    with Gallery(db, model_id="facenet-20180408-102900/flip") as gallery:
        return gallery.add_person(name, [np.ones(512, np.float32) / np.sqrt(512)],
                                  external_id=external_id)


# -- roles ---------------------------------------------------------------------------------

def test_admin_password_and_staff_pin_from_stdin(tmp_path, monkeypatch, capsys):
    from kiosk.auth import Role, authenticate, has_admin_password, has_staff_pin
    from kiosk.gallery import Gallery

    db = str(tmp_path / "f.sqlite")
    monkeypatch.setattr(sys, "stdin", io.StringIO("abc\n"))
    assert main(["--db", db, "admin", "set-password"]) == 1
    assert "at least 6 characters" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret-admin\n"))
    assert main(["--db", db, "admin", "set-password"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("2468\n"))
    assert main(["--db", db, "staff", "set-pin"]) == 0
    assert capsys.readouterr().out.splitlines() == ["admin password set", "staff PIN set"]
    with Gallery(db, model_id="facenet-20180408-102900/flip") as gallery:
        assert has_admin_password(gallery) and has_staff_pin(gallery)
        assert authenticate(gallery, "2468", Role.STAFF) is Role.STAFF
        assert authenticate(gallery, "2468", Role.ADMIN) is None  # staff cannot open admin
        assert authenticate(gallery, "s3cret-admin", Role.STAFF) is Role.ADMIN  # admin can all
        assert authenticate(gallery, "wrong", Role.STAFF) is None
        actions = [e["action"] for e in gallery.audit_log()]
        assert actions[:2] == ["set staff pin", "set admin password"]
        assert "2468" not in str(gallery.audit_log())
    monkeypatch.setattr(sys, "stdin", io.StringIO("new-admin-pass\n"))
    assert main(["--db", db, "admin", "set-password"]) == 0  # the reset, without SQL
    assert capsys.readouterr().out.strip() == "admin password changed"


def test_password_prompt_on_a_terminal_asks_twice_without_echo():
    from kiosk.commands.common import UserError
    from kiosk.commands.operator import read_secret

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["pin-1", "pin-1"])
    assert read_secret("staff PIN", Terminal(), lambda prompt: next(answers)) == "pin-1"
    answers = iter(["pin-1", "pin-2"])
    with pytest.raises(UserError, match="differ"):
        read_secret("staff PIN", Terminal(), lambda prompt: next(answers))


def test_wrong_attempts_wait_longer_and_longer():
    from kiosk.auth import AttemptThrottle

    now = [100.0]
    throttle = AttemptThrottle(free_attempts=2, max_wait_s=8.0, clock=lambda: now[0])
    assert [throttle.failed() for _ in range(2)] == [0.0, 0.0]
    waits = [throttle.failed() for _ in range(5)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    now[0] += 8.0
    assert throttle.wait_s() == 0.0
    throttle.succeeded()
    assert throttle.failed() == 0.0


# -- settings layers -----------------------------------------------------------------------

BASE = """# Shipped defaults.
[camera]
# where frames come from
source = "0"
loop_file = false

[ui]
language = "en"
"""


def test_site_settings_override_the_shipped_file_and_save_keeps_comments(tmp_path, monkeypatch):
    from kiosk.cli import build_parser, resolve_settings
    from kiosk.settings_files import load_layered_settings, save_settings_changes

    monkeypatch.chdir(tmp_path)
    (tmp_path / "settings.toml").write_text(BASE, encoding="utf-8")
    (tmp_path / "data").mkdir()
    local = tmp_path / "data" / "settings.local.toml"
    local.write_text("# our door camera\n[camera]\nsource = \"rtsp://10.0.0.5/s\"  # PoE\n",
                     encoding="utf-8")
    settings = resolve_settings(build_parser().parse_args(["people", "list"]))
    assert settings.camera.source == "rtsp://10.0.0.5/s" and settings.ui.language == "en"

    edited = settings.replace("ui", language="zh_CN").replace("camera", loop_file=True)
    assert save_settings_changes(local, edited, settings) == ["camera.loop_file", "ui.language"]
    text = local.read_text(encoding="utf-8")
    assert text.startswith("# our door camera\n[camera]\nsource = \"rtsp://10.0.0.5/s\"  # PoE\n")
    assert "loop_file = true" in text and "[ui]\nlanguage = \"zh_CN\"" in text
    assert "stream_analyze_ms" not in text  # only what changed
    assert (tmp_path / "settings.toml").read_text(encoding="utf-8") == BASE  # shipped untouched
    assert sorted(p.name for p in local.parent.iterdir()) == ["settings.local.toml"]  # atomic
    again = load_layered_settings(tmp_path / "settings.toml", local)
    assert (again.ui.language, again.camera.loop_file, again.camera.source) == (
        "zh_CN", True, "rtsp://10.0.0.5/s")

    # --settings FILE: that file alone, and the GUI saves into it
    mine = tmp_path / "mine.toml"
    mine.write_text("[ui]\nlanguage = \"zh_CN\"\n", encoding="utf-8")
    args = build_parser().parse_args(["--settings", str(mine), "people", "list"])
    assert resolve_settings(args).camera.source == "0"


def test_a_bad_site_value_names_the_site_file(tmp_path):
    from kiosk.config import SettingsError
    from kiosk.settings_files import load_layered_settings

    local = tmp_path / "settings.local.toml"
    local.write_text("[ui]\nlanguage = \"fr\"\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="settings.local.toml.*language"):
        load_layered_settings(None, local)


# -- relative paths ------------------------------------------------------------------------

def test_relative_paths_resolve_against_the_callers_folder(tmp_path, monkeypatch, capsys):
    caller = tmp_path / "desk"
    caller.mkdir()
    repository = tmp_path / "repo"
    repository.mkdir()
    monkeypatch.chdir(repository)  # what run.sh does
    monkeypatch.setenv("KIOSK_CALLER_DIR", str(caller))
    (caller / "my.csv").write_text("external_id,name\nE1,张伟\n", encoding="utf-8")
    assert main(["--db", "mine.sqlite", "events", "create", "--name", "Day"]) == 0
    event_id = capsys.readouterr().out.strip()
    assert main(["--db", "mine.sqlite", "roster", "import", "my.csv", "--event", event_id]) == 0
    assert (caller / "mine.sqlite").is_file() and not (repository / "mine.sqlite").exists()
    assert main(["--db", "mine.sqlite", "checkins", "export", "--event", event_id,
                 "--out", "out.xlsx"]) == 0
    assert (caller / "out.xlsx").is_file()


# -- Excel, CSV and walk-ins ---------------------------------------------------------------

def test_xlsx_roster_and_attendance_round_trip_with_chinese_names(tmp_path, capsys):
    import openpyxl

    db = str(tmp_path / "f.sqlite")
    assert main(["--db", db, "events", "create", "--name", "年会"]) == 0
    event_id = int(capsys.readouterr().out)
    book = openpyxl.Workbook()
    book.active.append(["工号", "姓名"])
    book.active.append([1001, "张伟"])
    book.active.append(["E1002", "李娜 Li Na"])
    book.save(tmp_path / "roster.xlsx")
    assert main(["--db", db, "roster", "import", str(tmp_path / "roster.xlsx"),
                 "--event", str(event_id)]) == 0

    from kiosk.gallery import Gallery

    person = _person(db, "张伟", "1001")
    with Gallery(db, model_id="facenet-20180408-102900/flip") as gallery:
        gallery.check_in(person, event_id, "auto", distance=0.61, liveness=0.42)
        at = gallery.checkins(event_id)[0]["at"]
    out = tmp_path / "attendance.xlsx"
    assert main(["--db", db, "checkins", "export", "--event", str(event_id),
                 "--out", str(out)]) == 0
    rows = list(openpyxl.load_workbook(out).active.iter_rows(values_only=True))
    assert rows[0] == ("external_id", "name", "status", "at", "method", "distance", "liveness")
    assert rows[1][:3] == ("1001", "张伟", "arrived") and rows[2][1:3] == ("李娜 Li Na", "missing")
    local = dt.datetime.fromisoformat(at).astimezone().replace(tzinfo=None, microsecond=0)
    assert isinstance(rows[1][3], dt.datetime) and rows[1][3] == local  # a real date-time cell
    assert rows[1][5:] == (pytest.approx(0.61), pytest.approx(0.42))
    cell = openpyxl.load_workbook(out).active["D2"]
    assert cell.is_date and cell.number_format == "yyyy-mm-dd hh:mm:ss"

    csv_out = tmp_path / "attendance.csv"
    assert main(["--db", db, "checkins", "export", "--event", str(event_id),
                 "--csv", str(csv_out)]) == 0
    first = list(csv.DictReader(csv_out.read_text(encoding="utf-8-sig").splitlines()))[0]
    assert first["at"] == local.strftime("%Y-%m-%d %H:%M:%S") and "+00:00" not in first["at"]


def test_a_walk_in_joins_the_roster_once(tmp_path):
    from kiosk.gallery import Gallery
    from kiosk.roster import RosterEntry, attendance, attendance_counts, import_roster

    db = str(tmp_path / "f.sqlite")
    with Gallery(db, model_id="facenet-20180408-102900/flip") as gallery:
        event_id = gallery.create_event("Day")
        import_roster(gallery, event_id, [RosterEntry("E1", "A"), RosterEntry("E2", "B"),
                                          RosterEntry("E3", "C")])
        walk_in = gallery.add_person("王芳", [np.ones(512, np.float32) / np.sqrt(512)],
                                     external_id="W1")
        gallery.check_in(walk_in, event_id, "manual", operator="desk", reason="walk-in")
        counts = attendance_counts(attendance(gallery, event_id))
        assert (counts["expected"], counts["arrived_expected"], counts["walk_ins"]) == (3, 0, 1)
        assert gallery.add_to_roster(event_id, "王芳", "W1", actor="test")
        assert not gallery.add_to_roster(event_id, "王芳", "W1", actor="test")
        counts = attendance_counts(attendance(gallery, event_id))
        assert (counts["expected"], counts["arrived_expected"], counts["walk_ins"]) == (4, 1, 0)
        assert gallery.audit_log()[0]["action"] == "add to roster"
        with pytest.raises(ValueError, match="no event"):
            gallery.add_to_roster(999, "X")


def test_enroll_with_event_puts_the_person_on_the_roster(tmp_path, known_faces, capsys):
    db = str(tmp_path / "f.sqlite")
    assert main(["--db", db, "events", "create", "--name", "Day"]) == 0
    event_id = capsys.readouterr().out.strip()
    assert main(["--db", db, "enroll", "--name", "Barack Obama", "--external-id", "E44",
                 "--event", event_id, str(known_faces / "obama.jpg")]) == 0
    captured = capsys.readouterr()
    assert f"added to the roster of event {event_id}" in captured.err
    from kiosk.gallery import Gallery
    from kiosk.roster import roster

    with Gallery(db, model_id="facenet-20180408-102900/flip") as gallery:
        assert [(e.external_id, e.name) for e in roster(gallery, int(event_id))] == [
            ("E44", "Barack Obama")]


# -- exports never destroy the kiosk (reliability item 2) ----------------------------------

def test_exports_never_replace_the_gallery_settings_or_foreign_files(tmp_path, monkeypatch):
    from kiosk.gallery import Gallery
    from kiosk.roster import ExportRefused, export_event_attendance

    monkeypatch.chdir(tmp_path)
    (tmp_path / "settings.toml").write_text(BASE, encoding="utf-8")
    db = tmp_path / "faces.sqlite"
    foreign = tmp_path / "budget.csv"
    foreign.write_text("item,cost\nchairs,100\n", encoding="utf-8")
    with Gallery(str(db), model_id="facenet-20180408-102900/flip") as gallery:
        event_id = gallery.create_event("Day")
        targets = [db, db.with_name("faces.sqlite-wal"), db.with_name("faces.sqlite-shm"),
                   tmp_path / "settings.toml", foreign, tmp_path / "faces.csv.bak"]
        files = [db, tmp_path / "settings.toml", foreign]  # (WAL/SHM change as SQLite works)
        before = {p: p.read_bytes() for p in files}
        for target in targets:
            with pytest.raises(ExportRefused):
                export_event_attendance(gallery, event_id, target, "staff", replace=True)
        assert {p: p.read_bytes() for p in files} == before
        assert gallery.events()[0]["name"] == "Day"  # the gallery still works
        out = tmp_path / "attendance.csv"
        assert export_event_attendance(gallery, event_id, out, "staff") == 0
        with pytest.raises(FileExistsError):  # the GUI asks, the CLI wants --replace
            export_event_attendance(gallery, event_id, out, "staff")
        assert export_event_attendance(gallery, event_id, out, "staff", replace=True) == 0
        xlsx = tmp_path / "attendance.xlsx"
        export_event_attendance(gallery, event_id, xlsx, "staff")
        export_event_attendance(gallery, event_id, xlsx, "staff", replace=True)
        assert gallery.audit_log()[0]["action"] == "export attendance"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_cli_export_refuses_the_gallery(tmp_path, capsys):
    db = str(tmp_path / "f.sqlite")
    assert main(["--db", db, "events", "create", "--name", "Day"]) == 0
    event_id = capsys.readouterr().out.strip()
    size = os.path.getsize(db)
    assert main(["--db", db, "checkins", "export", "--event", event_id, "--csv", db]) == 1
    assert "nothing was written" in capsys.readouterr().err
    assert os.path.getsize(db) == size


# -- autostart and small things ------------------------------------------------------------

def test_install_and_uninstall_autostart(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["install-autostart"]) == 0
    entry = tmp_path / "config" / "autostart" / "face-checkin-kiosk.desktop"
    text = entry.read_text(encoding="utf-8")
    assert "run.sh run --fullscreen" in text and "until " in text and "sleep 5" in text
    assert main(["install-autostart", "--systemd"]) == 0
    unit = (tmp_path / "config" / "systemd" / "user" / "face-checkin-kiosk.service")
    assert "Restart=on-failure" in unit.read_text() and "run --fullscreen" in unit.read_text()
    capsys.readouterr()
    assert main(["uninstall-autostart"]) == 0
    assert not entry.exists() and not unit.exists()
    assert "removed" in capsys.readouterr().out
    assert not (tmp_path / "home").exists()


def test_people_list_has_a_header_and_says_1_image(tmp_path, capsys):
    db = str(tmp_path / "f.sqlite")
    _person(db, "张伟", "E1")
    assert main(["--db", db, "people", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "id\tname\texternal_id\timages"
    assert lines[1].endswith("\t张伟\tE1\t1 image")
