from __future__ import annotations

import csv
import io

import pytest

from kiosk.roster import (
    ATTENDANCE_COLUMNS,
    RosterEntry,
    RosterError,
    attendance,
    attendance_counts,
    import_roster,
    read_roster_csv,
    roster,
    write_attendance_csv,
)
from tests.kiosk.fakes import random_embedding


def write(tmp_path, data: bytes, name: str = "roster.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


CHINESE = "工号,姓名\r\nA001,张伟\r\nA002,王芳\r\n"


@pytest.mark.parametrize(("data", "expected"), [
    (b"external_id,name\nE1,Alice\nE2,Bob\n", [("E1", "Alice"), ("E2", "Bob")]),
    ("\ufeffexternal_id,name\r\nE1,Zoë\r\n".encode(), [("E1", "Zoë")]),  # Excel "CSV UTF-8"
    (CHINESE.encode("utf-8-sig"), [("A001", "张伟"), ("A002", "王芳")]),
    (CHINESE.encode("gbk"), [("A001", "张伟"), ("A002", "王芳")]),  # Excel "CSV" on Chinese Windows
    (CHINESE.encode("gb18030"), [("A001", "张伟"), ("A002", "王芳")]),
    (b"name\nAlice\nBob\n", [(None, "Alice"), (None, "Bob")]),
    (b"Name,External_ID,Department\n Alice  Smith ,E1,Sales\n", [("E1", "Alice Smith")]),
    (b'external_id,name\nE1,"Smith, John"\n\n\nE2,Bob,,\n', [("E1", "Smith, John"), ("E2", "Bob")]),
    (b"external_id,name\n,Alice\nE2,Alice\n", [(None, "Alice"), ("E2", "Alice")]),
    (b"external_id,name\n", []),  # header only: an empty roster
])
def test_reads_common_roster_files(tmp_path, data, expected):
    entries = read_roster_csv(write(tmp_path, data))
    assert [(e.external_id, e.name) for e in entries] == expected


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"E1,Alice\nE2,Bob\n", "line 1: the first line must be a header"),
    (b"external_id,name\nE1,Alice\nE2,\n", "line 3: the name is empty"),
    (b"external_id,name\nE1,Alice\nE2,Bob\nE1,Carol\n", "line 4: .*'E1' is already used on line 2"),
    (b"external_id,name\nE1,Alice\nE2\n", "line 3: 1 columns where the header has 2"),
    (b"external_id,name\nE1,Alice,Sales\n", "line 2: 3 columns"),
    (b"name\nAlice\nalice\n", "line 3: 'alice' is already on line 2"),
    (b'external_id,name\nE1,"Alice\n', "not valid CSV"),
    (b"external_id,name\nE1,Al\x00ice\n", "binary data"),
    (b"\xff\xfe\x00\x00\xc3\x28\x81", "neither UTF-8 nor GBK"),
    (b"external_id,name\nE1," + b"x" * 300 + b"\n", "line 2: the name is longer"),
])
def test_bad_rosters_are_refused_with_the_line(tmp_path, data, message):
    with pytest.raises(RosterError, match=message):
        read_roster_csv(write(tmp_path, data))


def test_missing_file(tmp_path):
    with pytest.raises(RosterError, match="cannot read"):
        read_roster_csv(tmp_path / "missing.csv")


def test_import_replaces_the_event_roster_in_one_transaction(gallery):
    event_id = gallery.create_event("Meeting")
    other_event = gallery.create_event("Other")
    import_roster(gallery, other_event, [RosterEntry("X1", "Xavier")])
    assert import_roster(gallery, event_id, [RosterEntry("E1", "Alice"), RosterEntry("E2", "Bob")], "admin") == 2
    assert import_roster(gallery, event_id, [RosterEntry("E3", "Carol")], actor="cli") == 1
    assert roster(gallery, event_id) == [RosterEntry("E3", "Carol")]
    assert roster(gallery, other_event) == [RosterEntry("X1", "Xavier")]
    entry = gallery.audit_log()[0]
    assert (entry["actor"], entry["action"]) == ("cli", "import roster")
    assert '"entries": 1' in entry["details"] and '"replaced": 2' in entry["details"]
    # a bad import changes nothing
    with pytest.raises(ValueError, match="duplicate external id"):
        import_roster(gallery, event_id, [RosterEntry("E4", "Dan"), RosterEntry("E4", "Eve")])
    with pytest.raises(ValueError, match="name is empty"):
        import_roster(gallery, event_id, [RosterEntry("E4", "  ")])
    with pytest.raises(ValueError, match="no event"):
        import_roster(gallery, 999, [RosterEntry("E4", "Dan")])
    assert roster(gallery, event_id) == [RosterEntry("E3", "Carol")]


def test_attendance_joins_by_external_id_then_name(gallery):
    event_id = gallery.create_event("Meeting")
    alice = gallery.add_person("Alice", [random_embedding(1)], external_id="E1")
    bob = gallery.add_person("bob", [random_embedding(2)])  # enrolled without an id: joined by name
    gallery.add_person("Carol", [random_embedding(3)], external_id="E3")  # on the roster, not arrived
    walk_in = gallery.add_person("Walk In", [random_embedding(4)], external_id="W9")
    namesake = gallery.add_person("Dan", [random_embedding(5)], external_id="OTHER")  # same name, other id
    import_roster(gallery, event_id, [
        RosterEntry("E1", "Alice Renamed"), RosterEntry("E2", "Bob"), RosterEntry("E3", "Carol"),
        RosterEntry("E4", "Dan"),
    ])
    gallery.check_in(alice, event_id, distance=0.61234, liveness=0.9)
    gallery.check_in(bob, event_id, method="manual", operator="desk", reason="glasses")
    gallery.check_in(walk_in, event_id)
    gallery.check_in(namesake, event_id)
    rows = attendance(gallery, event_id)
    summary = [(r["external_id"], r["name"], r["status"], r["on_roster"]) for r in rows]
    assert summary == [
        ("E1", "Alice Renamed", "arrived", True),
        ("E2", "Bob", "arrived", True),
        ("E3", "Carol", "missing", True),
        ("E4", "Dan", "missing", True),  # the checked-in Dan has another external id
        ("W9", "Walk In", "arrived", False),
        ("OTHER", "Dan", "arrived", False),
    ]
    assert rows[0]["person_id"] == alice and rows[0]["distance"] == pytest.approx(0.61234)
    assert rows[1]["method"] == "manual" and rows[1]["reason"] == "glasses"
    assert rows[2]["at"] is None and rows[2]["person_id"] is None
    assert attendance_counts(rows) == {"expected": 4, "arrived": 4, "arrived_expected": 2,
                                       "missing": 2, "walk_ins": 2}


def test_attendance_without_roster_lists_checkins_and_empty_event_is_empty(gallery):
    event_id = gallery.create_event("Meeting")
    assert attendance(gallery, event_id) == []
    assert attendance_counts([]) == {"expected": 0, "arrived": 0, "arrived_expected": 0,
                                     "missing": 0, "walk_ins": 0}
    gallery.check_in(gallery.add_person("Alice", [random_embedding(1)]), event_id)
    assert [(r["name"], r["status"], r["on_roster"]) for r in attendance(gallery, event_id)] == [
        ("Alice", "arrived", False)]


def test_attendance_csv_opens_in_excel_with_chinese_names(tmp_path, gallery):
    event_id = gallery.create_event("会议")
    zhang = gallery.add_person("张伟", [random_embedding(1)], external_id="A001")
    import_roster(gallery, event_id, [RosterEntry("A001", "张伟"), RosterEntry("A002", "王芳"),
                                      RosterEntry("=1+2", "@SUM(A1)")])
    gallery.check_in(zhang, event_id, distance=0.5, liveness=0.875)
    path = tmp_path / "attendance.csv"
    assert write_attendance_csv(path, attendance(gallery, event_id)) == 3
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == list(ATTENDANCE_COLUMNS)
    assert rows[1][:3] == ["A001", "张伟", "arrived"] and rows[1][4:] == ["auto", "0.500", "0.875"]
    assert rows[1][3].startswith(gallery.checkins(event_id)[0]["at"][:10])
    assert rows[2] == ["A002", "王芳", "missing", "", "", "", ""]
    assert rows[3][:2] == ["'=1+2", "'@SUM(A1)"]  # never run as formulas by Excel
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".attendance")] == []


def test_attendance_csv_empty_and_unwritable(tmp_path):
    path = tmp_path / "empty.csv"
    assert write_attendance_csv(path, []) == 0
    assert path.read_bytes() == b"\xef\xbb\xbf" + ",".join(ATTENDANCE_COLUMNS).encode() + b"\r\n"
    with pytest.raises(OSError):
        write_attendance_csv(tmp_path / "missing" / "a.csv", [])


def test_failed_export_keeps_the_previous_file(tmp_path):
    path = tmp_path / "a.csv"
    write_attendance_csv(path, [{"name": "Alice", "status": "arrived"}])
    before = path.read_bytes()

    def rows():
        yield {"name": "Bob", "status": "arrived"}
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        write_attendance_csv(path, rows())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]
