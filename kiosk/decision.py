"""The check-in rules, in one place: who is checked in, when, and once per event.

An attendee in front of the kiosk is checked in when all of these hold:

1. **Live**: the liveness verdict (:mod:`kiosk.liveness`) is LIVE. A SPOOF verdict refuses the
   attendee and records the attempt; UNDECIDED waits (and prompts).
2. **Recognised** (:class:`MatchPolicy`): the last ``agree_frames`` embeddings all matched the
   same person, each accepted by the open-set rule (:mod:`kiosk.matching.rule`: a distance
   under the threshold in force and a margin of at least ``min_margin`` to the next person).
   When as many embeddings all matched nobody, the attendee is UNKNOWN ("please see staff").
3. **The event is open** (:func:`window_problem`): now is inside the event's check-in window.
   An event with only ``opens_at`` is open from then on, one with only ``closes_at`` until
   then; an event with **no window** is open on the local calendar day it was created, and
   closed before and after. :func:`current_event_id` uses the same rule to choose the kiosk's
   event when none is given: the newest event open now.
4. **Once per event**: the first check-in of a person for an event is stored; later sightings
   answer "already checked in at HH:MM" and store nothing (a database constraint,
   :mod:`kiosk.store.checkins`). The answer is shown only after the check-in is committed; when
   it cannot be stored the attendee sees "could not be saved".
5. **Rolling update**: after a new, live check-in the best face of the attendee is offered to
   their images (:meth:`kiosk.gallery.Gallery.record_match`); it is added only when it is within
   the threshold of at least ``[gallery] min_pass_rate`` of them
   (:class:`kiosk.matching.rule.RollingUpdateGate`).

Each attendee (one face track) gets one decision. After it, the pipeline checks about once a
second whether the face is still the same person: an embedding farther than
``new_attendee_distance`` from the decided one means the next attendee stepped in.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kiosk.config import RecognitionSettings
from kiosk.matching import rule
from kiosk.matching.rule import Match
from kiosk.store.base import StoreError, parse_time
from kiosk.types import Embedding

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    """A decision about the attendee in front of the kiosk."""

    CHECKED_IN = "checked_in"
    ALREADY_CHECKED_IN = "already_checked_in"
    RECOGNISED_NO_EVENT = "recognised_no_event"
    OUTSIDE_WINDOW = "outside_window"
    UNKNOWN = "unknown"
    SPOOF = "spoof"
    STORAGE_ERROR = "storage_error"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one attendee (one face track), made once.

    Attributes:
        outcome: what happened.
        person_id: the recognised person (None when unknown or spoof).
        name: their name.
        at: ISO time of the check-in (the first one, for ALREADY_CHECKED_IN).
        distance: match distance.
        message: detail for STORAGE_ERROR and OUTSIDE_WINDOW.
    """

    outcome: Outcome
    person_id: int | None = None
    name: str | None = None
    at: str | None = None
    distance: float | None = None
    message: str = ""


class MatchIndex(Protocol):
    """What the match policy needs of a gallery index."""

    def nearest(self, embedding: Any, threshold: float, min_margin: float) -> Match:
        """``embedding``: a vector, or ``{model id: vector}`` for a fused matcher."""


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """The open-set match rule (rule 2 of the module docstring), built once from the settings.

    Attributes:
        distance_threshold: the threshold in force (:func:`kiosk.matching.rule.match_threshold`:
            the fused distance's with ``[recognition] fusion`` on).
        min_margin: the accept test's margin to the next person
            (:func:`kiosk.matching.rule.accepts`).
        agree_frames: this many consecutive embeddings must agree.
        new_attendee_distance: after a decision, a face this far from the decided one is the
            next attendee.
    """

    distance_threshold: float
    min_margin: float
    agree_frames: int
    new_attendee_distance: float

    @classmethod
    def from_settings(cls, recognition: RecognitionSettings, fused: bool | None = None) -> MatchPolicy:
        """The policy of the ``[recognition]`` settings.

        Args:
            fused: whether matches are on the fused distance (the gallery's
                :attr:`~kiosk.gallery.Gallery.fused`); default ``recognition.fusion``.
        """
        return cls(rule.match_threshold(recognition, fused), recognition.min_margin,
                   recognition.agree_frames, recognition.new_attendee_distance)

    def match(self, index: MatchIndex, embedding: Any) -> Match:
        """The nearest person and whether this one embedding is accepted."""
        return index.nearest(embedding, self.distance_threshold, self.min_margin)

    def match_dlib_first(self, index: Any, dlib_embedding: Embedding) -> Match | None:
        """The decision on dlib's embedding alone where the index's
        :class:`~kiosk.matching.rule.DlibFirstBand` is sure of it, else None (FaceNet's
        embedding is needed: :meth:`match`). None for an index without a band."""
        settle = getattr(index, "nearest_dlib_first", None)
        return None if settle is None else settle(dlib_embedding)

    def agreed(self, matches: Sequence[Match]) -> Match | None:
        """The best match when the last ``agree_frames`` matches are accepted and of one
        person, else None."""
        return rule.agreed(matches, self.agree_frames)

    def all_unknown(self, matches: Sequence[Match]) -> bool:
        """Whether the last ``agree_frames`` matches all matched nobody (an unknown visitor)."""
        return rule.all_unknown(matches, self.agree_frames)

    def is_new_attendee(self, embedding: Embedding, decided_embedding: Embedding) -> bool:
        """Whether a face belongs to someone other than the decided attendee."""
        distance = float(np.linalg.norm(np.asarray(embedding) - np.asarray(decided_embedding)))
        return distance > self.new_attendee_distance


# --------------------------------------------------------------------------- event windows


def window_state(event: dict[str, Any] | None, now_s: float) -> tuple[str, str | None]:
    """Where ``now_s`` lies in an event's check-in window (rule 3).

    Args:
        event: the event row (``opens_at``, ``closes_at``, ``created_at`` as ISO times).
        now_s: the time, seconds since the epoch.

    Returns:
        ("open", None), ("before", the ISO time it opens) or ("closed", the ISO time it closed;
        for an event without a window, the end of the day it was created).
    """
    if event is None:
        return "closed", None
    opens, closes = event.get("opens_at"), event.get("closes_at")
    if opens or closes:
        if opens and now_s < parse_time(opens).timestamp():
            return "before", str(opens)
        if closes and now_s >= parse_time(closes).timestamp():
            return "closed", str(closes)
        return "open", None
    created = parse_time(str(event.get("created_at") or "")).astimezone()
    day_start = created.replace(hour=0, minute=0, second=0, microsecond=0)
    day_end = day_start + dt.timedelta(days=1)
    if now_s < day_start.timestamp():
        return "before", day_start.isoformat()
    if now_s >= day_end.timestamp():
        return "closed", day_end.isoformat()
    return "open", None


def window_problem(event: dict[str, Any] | None, now_s: float) -> str:
    """Why check-in to ``event`` is not open at ``now_s`` (rule 3), or "" when it is open.

    Args:
        event: the event row (``opens_at``, ``closes_at``, ``created_at`` as ISO times), or None.
        now_s: the time, seconds since the epoch.
    """
    if event is None:
        return "the event no longer exists"
    state, at = window_state(event, now_s)
    if state == "before":
        return f"check-in opens at {at}"
    if state == "closed":
        if not (event.get("opens_at") or event.get("closes_at")):
            created = parse_time(str(event.get("created_at"))).astimezone().date()
            return f"the event has no check-in window and was open on {created} only"
        return f"check-in closed at {at}"
    return ""


def current_event_id(events: Sequence[dict[str, Any]], now_s: float) -> int | None:
    """The newest event open at ``now_s`` (rule 3), or None.

    Args:
        events: event rows, newest first (as :meth:`kiosk.gallery.Gallery.events` gives them).
        now_s: the time, seconds since the epoch.
    """
    for event in events:
        if not window_problem(event, now_s):
            return int(event["id"])
    return None


# --------------------------------------------------------------------------- the check-in


class CheckInStore(Protocol):
    """What the check-in desk needs of the gallery."""

    def person(self, person_id: int) -> Any: ...

    def event(self, event_id: int) -> dict[str, Any] | None: ...

    def check_in(self, person_id: int, event_id: int, method: str = ..., distance: float | None = ...,
                 liveness: float | None = ...) -> tuple[bool, str]: ...

    def record_match(self, person_id: int, embedding: Any, crop_jpeg: bytes | None = ...,
                     quality: float | None = ..., gate: Any = ...) -> int | None: ...


class CheckInDesk:
    """Rules 3-5: turns an agreed, live match into a stored check-in and its answer.

    Args:
        gallery: where people, events and check-ins are stored.
        clock: wall-clock seconds since the epoch (tests inject one).
        rolling_update_gate: what the attendee's face must pass to join their images (rule 5).
    """

    def __init__(self, gallery: CheckInStore, clock: Callable[[], float],
                 rolling_update_gate: rule.RollingUpdateGate) -> None:
        self.gallery = gallery
        self.clock = clock
        self.rolling_update_gate = rolling_update_gate

    def check_in(
        self,
        match: Match,
        event_id: int | None,
        liveness_score: float | None,
        best_embedding: Embedding | dict[str, Embedding] | None = None,
        best_crop_jpeg: bytes | None = None,
    ) -> Decision:
        """Check the matched person in to ``event_id`` (once) and return what to show.

        Args:
            match: the agreed match (accepted, with a person).
            event_id: the kiosk's event, or None (recognise only).
            liveness_score: the liveness score to store with the check-in.
            best_embedding: the attendee's closest embedding (``{model id: embedding}`` with
                fusion), for the rolling update.
            best_crop_jpeg: its aligned crop (JPEG).
        """
        assert match.person_id is not None
        try:
            person = self.gallery.person(match.person_id)
        except StoreError as exc:
            return self._storage_error(match, None, exc)
        if person is None:  # deleted by another process since the index was read
            return Decision(Outcome.UNKNOWN, distance=match.distance,
                            message="the matched person was deleted")
        name = person.name
        if event_id is None:
            return Decision(Outcome.RECOGNISED_NO_EVENT, match.person_id, name,
                            distance=match.distance)
        try:
            problem = window_problem(self.gallery.event(event_id), self.clock())
        except StoreError as exc:
            return self._storage_error(match, name, exc)
        if problem:
            return Decision(Outcome.OUTSIDE_WINDOW, match.person_id, name,
                            distance=match.distance, message=problem)
        try:
            new, at = self.gallery.check_in(
                match.person_id, event_id, "auto", match.distance, liveness_score
            )
        except (StoreError, ValueError) as exc:
            return self._storage_error(match, name, exc)
        if new and best_embedding is not None:
            try:
                self.gallery.record_match(match.person_id, best_embedding, best_crop_jpeg,
                                          gate=self.rolling_update_gate)
            except StoreError as exc:  # the check-in is stored; only the update is lost
                log.error("rolling update not saved: %s", exc)
        outcome = Outcome.CHECKED_IN if new else Outcome.ALREADY_CHECKED_IN
        return Decision(outcome, match.person_id, name, at, match.distance)

    @staticmethod
    def _storage_error(match: Match, name: str | None, exc: Exception) -> Decision:
        log.error("check-in not saved: %s", exc)
        return Decision(Outcome.STORAGE_ERROR, match.person_id, name, distance=match.distance,
                        message=str(exc))
