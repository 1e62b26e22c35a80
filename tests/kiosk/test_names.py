"""One rule for names (kiosk/names.py), applied by enrolment, renames and rosters alike."""

from __future__ import annotations

import pytest

from kiosk.names import MAX_NAME_CHARS, clean_name, one_line, printable
from kiosk.roster import RosterEntry, RosterError, import_roster, parse_roster_text
from tests.kiosk.fakes import random_embedding

BAD_NAMES = [
    ("", "is empty"),
    ("   ", "is empty"),
    ("x" * (MAX_NAME_CHARS + 1), "longer than 200"),
    ("x" * 100_000, "longer than 200"),
    ("Ann\nSmith", "control character"),
    ("Ann\rSmith", "control character"),
    ("Ann\x1b[31mSmith", "control character"),
    ("Ann\u2028Smith", "control character"),
    ("Ann\udcffSmith", "not valid UTF-8"),
]


@pytest.mark.parametrize(("name", "expected"), [
    ("Ann Smith", "Ann Smith"), ("  张伟 ", "张伟"), ("x" * MAX_NAME_CHARS, "x" * MAX_NAME_CHARS),
    ("O'Brien-Łukasz", "O'Brien-Łukasz"),
])
def test_good_names_are_stripped(name, expected):
    assert clean_name(name) == expected


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
def test_bad_names_are_refused_with_the_reason(name, message):
    with pytest.raises(ValueError, match=message):
        clean_name(name)


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
def test_enrolment_and_rename_apply_the_rule(gallery, name, message):
    with pytest.raises(ValueError, match=message):
        gallery.add_person(name, [random_embedding(1)])
    person_id = gallery.add_person("Ann", [random_embedding(1)])
    with pytest.raises(ValueError, match=message):
        gallery.rename_person(person_id, name)
    assert [p.name for p in gallery.people()] == ["Ann"]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES[2:4] + [("Ann\x07Smith", "control character")])
def test_rosters_apply_the_same_rule(gallery, name, message):
    text = 'external_id,name\nE1,Bob\nE2,"' + name + '"\n'
    with pytest.raises(RosterError, match=f"line 3: .*{message}"):
        parse_roster_text(text, "r.csv")
    event_id = gallery.create_event("Meeting")
    with pytest.raises(ValueError, match=message):
        import_roster(gallery, event_id, [RosterEntry("E1", name)])


def test_a_newline_in_a_roster_cell_becomes_a_space():
    assert parse_roster_text('name\n"Ann\nSmith"\n')[0].name == "Ann Smith"


def test_listing_forms_keep_one_line_per_item():
    assert one_line("Ann\nSmith\t\udcff") == "Ann\\nSmith\\t\\xff"
    assert printable("E\udcff1") == "E\\xff1"
    assert one_line("张伟") == "张伟"
