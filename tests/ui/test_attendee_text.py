"""What the attendee screen says, as a table: every prompt, decision and state, the empty case
(nobody in view) included, in English and Chinese."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.decision import Decision, Outcome
from kiosk.pipeline import Prompt
from ui.attendee_text import (
    AMBER, CONTEXT, DECISION_TEXTS, GREEN, NEUTRAL, PROMPT_TEXTS, RED, Banner, decision_banner,
    event_window_state, every_source_text, prompt_banner, state_banner,
)
from ui.i18n import TRANSLATIONS_DIR, load_ts


def english(text: str) -> str:
    return text


ZH = load_ts(TRANSLATIONS_DIR / "kiosk_zh_CN.ts")


def chinese(text: str) -> str:
    return ZH[(CONTEXT, text)]


@pytest.mark.parametrize(("prompt", "face", "expected"), [
    (Prompt.NONE, False, Banner("Please look at the camera to check in", NEUTRAL)),  # nobody
    (Prompt.NONE, True, Banner("Hold on, checking...", AMBER)),
    (Prompt.STEP_CLOSER, True, Banner("Please move closer", AMBER)),
    (Prompt.TOO_DARK, True, Banner("Too dark - please face the light", AMBER)),
    (Prompt.LOOK_AT_CAMERA, True, Banner("Please look at the camera", AMBER)),
    (Prompt.TURN_LEFT, True, Banner("Please turn your head to your left", AMBER)),
    (Prompt.TURN_RIGHT, True, Banner("Please turn your head to your right", AMBER)),
    (Prompt.HOLD_ON, True, Banner("Hold on, checking...", AMBER)),
    ("a_prompt_without_a_row", True, Banner("Hold on, checking...", AMBER)),
    ("a_prompt_without_a_row", False, Banner("Please look at the camera to check in", NEUTRAL)),
])
def test_prompt_banner(prompt, face, expected):
    assert prompt_banner(prompt, face, tr=english) == expected


def test_every_prompt_of_the_pipeline_has_a_row():
    """A prompt added to the pipeline (a liveness challenge) needs one row here."""
    assert {p.value for p in Prompt} - {Prompt.NONE.value} == set(PROMPT_TEXTS)


def test_every_outcome_has_a_row():
    assert {o.value for o in Outcome} == set(DECISION_TEXTS)


TODAY_0902 = dt.datetime.now().astimezone().replace(hour=9, minute=2, second=0, microsecond=0)


@pytest.mark.parametrize(("decision", "window", "expected"), [
    (Decision(Outcome.CHECKED_IN, 1, "Li Wei 李伟", TODAY_0902.isoformat()), ("open", ""),
     Banner("Welcome, Li Wei 李伟 - checked in 09:02", GREEN)),
    (Decision(Outcome.ALREADY_CHECKED_IN, 1, "Li Wei", TODAY_0902.isoformat()), ("open", ""),
     Banner("Welcome, Li Wei - already checked in at 09:02", GREEN)),
    (Decision(Outcome.RECOGNISED_NO_EVENT, 1, "Li Wei"), ("open", ""),
     Banner("Hello, Li Wei - no event is open for check-in", AMBER)),
    (Decision(Outcome.OUTSIDE_WINDOW, 1, "Li Wei"), ("closed", "10:00"),
     Banner("Li Wei: check-in is not open now (check-in closed at 10:00)", AMBER)),
    (Decision(Outcome.OUTSIDE_WINDOW, 1, "Li Wei"), ("before", "08:30"),
     Banner("Li Wei: check-in is not open now (check-in opens at 08:30)", AMBER)),
    (Decision(Outcome.OUTSIDE_WINDOW, 1, "Li Wei"), ("open", ""),
     Banner("Li Wei: check-in is not open now (no event is open)", AMBER)),
    (Decision(Outcome.UNKNOWN), ("open", ""), Banner("Not recognised - please see staff", RED)),
    (Decision(Outcome.SPOOF), ("open", ""),
     Banner("Photo or screen detected - check-in refused", RED)),
    (Decision(Outcome.STORAGE_ERROR, message="read-only"), ("open", ""),
     Banner("Check-in could not be saved - please see staff", RED)),
])
def test_decision_banner(decision, window, expected):
    assert decision_banner(decision, window, tr=english) == expected


@pytest.mark.parametrize(("camera", "models_error", "window", "ready", "face", "expected"), [
    (None, None, ("open", ""), True, True, None),  # a prompt may show
    (None, None, ("open", ""), True, False,
     Banner("Please look at the camera to check in", NEUTRAL)),  # nobody in view
    ("Camera not found: /dev/video57", None, ("closed", "10:00"), False, False,
     Banner("Camera not found: /dev/video57", RED)),  # the camera outranks everything
    (None, "no dlib", ("closed", "10:00"), True, True,
     Banner("Face recognition could not start - please see staff", RED)),
    (None, None, ("closed", "10:00"), True, True, Banner("Check-in closed (closed at 10:00)", NEUTRAL)),
    (None, None, ("before", "08:30"), False, False, Banner("Check-in opens at 08:30", NEUTRAL)),
    (None, None, ("open", ""), False, True, Banner("Starting... face recognition is loading", NEUTRAL)),
])
def test_state_banner(camera, models_error, window, ready, face, expected):
    assert state_banner(camera, models_error, window, ready, face, tr=english) == expected


def test_the_same_banners_in_chinese():
    assert prompt_banner(Prompt.NONE, False, tr=chinese).text == "请看摄像头进行签到"
    welcome = decision_banner(Decision(Outcome.CHECKED_IN, 1, "李伟", TODAY_0902.isoformat()),
                              tr=chinese)
    assert "李伟" in welcome.text and "09:02" in welcome.text and welcome.colour == GREEN
    closed = state_banner(None, None, ("closed", "10:00"), True, True, tr=chinese)
    assert closed == Banner("签到已结束（10:00 截止）", NEUTRAL)


def test_every_text_is_translated_in_its_context():
    assert [text for text in every_source_text() if (CONTEXT, text) not in ZH] == []


@pytest.mark.parametrize(("event", "now", "expected"), [
    (None, TODAY_0902, ("open", "")),  # no event: recognition only
    ({"opens_at": None, "closes_at": (TODAY_0902 - dt.timedelta(minutes=2)).isoformat()},
     TODAY_0902, ("closed", "09:00")),
    ({"opens_at": (TODAY_0902 + dt.timedelta(minutes=28)).isoformat(), "closes_at": None},
     TODAY_0902, ("before", "09:30")),
    ({"opens_at": "not a time", "closes_at": None}, TODAY_0902, ("open", "")),
])
def test_event_window_state(event, now, expected):
    assert event_window_state(event, now.timestamp()) == expected
