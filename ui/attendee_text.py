"""What the attendee screen says: the banner's text and colour for a prompt, a decision or a
state of the kiosk, as pure functions of plain values (no widget, no database, no clock).

Texts are tables keyed by the pipeline's values (``Prompt.value``, ``Outcome.value``): a new
prompt of the pipeline (a liveness challenge such as "turn your head left") is one row of
:data:`PROMPT_TEXTS` and one translation in ``ui/translations`` (context ``AttendeeText``).
A value without a row still gets a sensible banner (the "checking" text), never an error.

Every function takes ``tr``, the translation of an English source text (by default Qt's, in
the context ``AttendeeText``), so tests call them without a running translator as well.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from PyQt5.QtCore import QCoreApplication

from kiosk.decision import window_state
from ui.text import short_time

CONTEXT = "AttendeeText"  # the translations' context of every text below

GREEN, AMBER, RED, NEUTRAL = "#1b5e20", "#e69500", "#b71c1c", "#263238"

Translate = Callable[[str], str]


def translate(text: str) -> str:
    """The text in the user's language (Qt's installed translator, context ``AttendeeText``)."""
    return QCoreApplication.translate(CONTEXT, text)


@dataclass(frozen=True, slots=True)
class Banner:
    """One banner: its text and background colour (``#rrggbb``)."""

    text: str
    colour: str


# Prompt.value -> (English text, colour). One row per prompt of kiosk.pipeline.Prompt (a test
# checks that none is missing); "none" has no row: the idle or "checking" text depends on the
# face (prompt_banner).
PROMPT_TEXTS: dict[str, tuple[str, str]] = {
    "move_closer": ("Please move closer", AMBER),
    "too_dark": ("Too dark - please face the light", AMBER),
    "look_at_camera": ("Please look at the camera", AMBER),
    "hold_on": ("Hold on, checking...", AMBER),
    "turn_left": ("Please turn your head to your left", AMBER),
    "turn_right": ("Please turn your head to your right", AMBER),
    "challenge_timed_out": (
        "Time is up - please step back, then come forward again (or ask the staff)", AMBER),
    "challenge_failed": (
        "Not confirmed - please step back, then come forward again (or ask the staff)", AMBER),
}
CHECKING_TEXT = "Hold on, checking..."
IDLE_TEXT = "Please look at the camera to check in"

# Outcome.value -> (English text with {name}, {time} or {detail}, colour).
DECISION_TEXTS: dict[str, tuple[str, str]] = {
    "checked_in": ("Welcome, {name} - checked in {time}", GREEN),
    "already_checked_in": ("Welcome, {name} - already checked in at {time}", GREEN),
    "recognised_no_event": ("Hello, {name} - no event is open for check-in", AMBER),
    "outside_window": ("{name}: check-in is not open now ({detail})", AMBER),
    "unknown": ("Not recognised - please see staff", RED),
    "spoof": ("Photo or screen detected - check-in refused", RED),
    "storage_error": ("Check-in could not be saved - please see staff", RED),
}
UNLISTED_DECISION_TEXT = "Please see staff"

# Where now lies in the event's check-in window -> the detail of an OUTSIDE_WINDOW decision.
WINDOW_DETAILS = {
    "before": "check-in opens at {time}",
    "closed": "check-in closed at {time}",
    "open": "no event is open",
}

STATE_TEXTS = {
    "models_failed": ("Face recognition could not start - please see staff", RED),
    "closed": ("Check-in closed (closed at {time})", NEUTRAL),
    "before": ("Check-in opens at {time}", NEUTRAL),
    "loading": ("Starting... face recognition is loading", NEUTRAL),
    "idle": (IDLE_TEXT, NEUTRAL),
}


def _value(member: object) -> str:
    return str(member.value) if isinstance(member, enum.Enum) else str(member)


def prompt_banner(prompt: object, face: bool, tr: Translate = translate) -> Banner:
    """The banner for a prompt of the pipeline.

    Args:
        prompt: a :class:`kiosk.pipeline.Prompt` (or its value).
        face: whether a face is in view.
        tr: the translation of an English text.
    """
    row = PROMPT_TEXTS.get(_value(prompt))
    if row is not None:
        return Banner(tr(row[0]), row[1])
    if face:
        return Banner(tr(CHECKING_TEXT), AMBER)
    return Banner(tr(IDLE_TEXT), NEUTRAL)


def decision_banner(decision: object, window: tuple[str, str] = ("open", ""),
                    tr: Translate = translate) -> Banner:
    """The banner for a decision.

    Args:
        decision: a :class:`kiosk.decision.Decision` (``outcome``, ``name``, ``at``).
        window: where now lies in the event's check-in window and the local time it opens or
            closed (:func:`event_window_state`), for an OUTSIDE_WINDOW decision.
        tr: the translation of an English text.
    """
    name = getattr(decision, "name", None) or ""
    at = short_time(getattr(decision, "at", None))
    row = DECISION_TEXTS.get(_value(getattr(decision, "outcome", "")))
    if row is None:
        return Banner(tr(UNLISTED_DECISION_TEXT), RED)
    state, when = window
    detail = tr(WINDOW_DETAILS.get(state, WINDOW_DETAILS["open"])).format(time=when)
    return Banner(tr(row[0]).format(name=name, time=at, detail=detail), row[1])


def state_banner(
    camera_problem: str | None, models_error: str | None, window: tuple[str, str],
    models_ready: bool, face_in_view: bool, tr: Translate = translate,
) -> Banner | None:
    """The banner of the kiosk's state, which outranks prompts; None when a prompt may show.

    In order: a camera problem (its text, already translated), the models failing, the check-in
    window closed or not yet open, the models still loading, nobody in view.

    Args:
        camera_problem: what is wrong with the camera, or None.
        models_error: why the models failed to load, or None.
        window: (``"open"`` / ``"before"`` / ``"closed"``, the local time) of the event.
        models_ready: whether recognition runs.
        face_in_view: whether the last processed frame had a face.
        tr: the translation of an English text.
    """
    if camera_problem is not None:
        return Banner(camera_problem, RED)
    key = None
    if models_error is not None:
        key = "models_failed"
    elif window[0] in ("closed", "before"):
        key = window[0]
    elif not models_ready:
        key = "loading"
    elif not face_in_view:
        key = "idle"
    if key is None:
        return None
    text, colour = STATE_TEXTS[key]
    return Banner(tr(text).format(time=window[1]), colour)


def event_window_state(event: dict | None, now_s: float | None = None) -> tuple[str, str]:
    """Where now lies in an event's check-in window (the rule of :mod:`kiosk.decision`):
    ("open" | "before" | "closed", the local short time it opens or closed); an unknown or
    unreadable event counts as open (recognition only)."""
    if event is None:
        return "open", ""
    try:
        state, at = window_state(event, time.time() if now_s is None else now_s)
    except ValueError:
        return "open", ""
    return state, short_time(at)


def every_source_text() -> list[str]:
    """Every English text of this module (what ``ui/translations`` must translate)."""
    rows = [*PROMPT_TEXTS.values(), *DECISION_TEXTS.values(), *STATE_TEXTS.values()]
    return sorted({text for text, _ in rows} | {CHECKING_TEXT, IDLE_TEXT, UNLISTED_DECISION_TEXT}
                  | set(WINDOW_DETAILS.values()))
