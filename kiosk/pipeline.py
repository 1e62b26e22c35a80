"""The per-frame pipeline of the kiosk: face gate, landmarks, liveness, recognition, check-in.

:class:`Pipeline` owns every piece of state (the face track, the liveness window, the recent
matches) and is meant to live in one thread (the GUI's worker, or a benchmark loop). Each call of
:meth:`Pipeline.process` returns an immutable :class:`FrameResult` that can be handed to another
thread.

Work per frame is kept small: the Haar gate runs every ``detect_every_n_frames`` frames (or when
the track is lost); in between, the landmarks are tracked with pyramidal Lucas-Kanade and refined
by the dlib predictor on the box they give. FaceNet runs only while a face needs a decision,
at most once per ``EMBED_INTERVAL_S``; once the attendee is decided, once per
``RECHECK_INTERVAL_S`` to notice the next attendee stepping in before the face was lost.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.align import align_face
from kiosk.config import Settings
from kiosk.detect import GateProblem, to_gray
from kiosk.gallery import Gallery, GalleryError, now_iso, parse_time
from kiosk.liveness import LiveReason, LiveState, LivenessTracker, LivenessVerdict, track_points
from kiosk.match import Match
from kiosk.recognize import Models
from kiosk.types import BoxXYXY, FrameBGR, Landmarks

log = logging.getLogger(__name__)

EMBED_INTERVAL_S = 0.15  # at most one FaceNet call per this interval while a face is undecided
RECHECK_INTERVAL_S = 1.0  # after a decision: is the face in front still the same attendee?
TRACK_LOST_S = 1.0  # a face missing this long ends the track (the next face is a new attendee)
MIN_TRACKED_FRACTION = 0.6  # LK must keep this share of the landmarks, or the gate runs again
THUMBNAIL_SIDE_PX = 96
STAGES = ("gate", "landmarks", "liveness", "align", "embed", "match")


class Prompt(enum.Enum):
    """What the attendee is asked to do (the GUI translates these)."""

    NONE = "none"
    STEP_CLOSER = "move_closer"
    TOO_DARK = "too_dark"
    LOOK_AT_CAMERA = "look_at_camera"
    BLINK = "blink"
    MOVE_A_LITTLE = "move_a_little"
    HOLD_ON = "hold_on"


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


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything the screen needs about one processed frame.

    Attributes:
        frame_id: the camera frame id.
        t_monotonic: its capture time.
        box_xyxy: the attendee's face box, or None.
        landmarks: (68, 2) landmarks, or None.
        prompt: what to ask the attendee.
        liveness: the liveness verdict (None without a face).
        decision: set on the frame where the attendee's outcome was decided, else None.
        timings_ms: milliseconds spent per stage in this frame (stages that ran).
        embedded: whether FaceNet ran on this frame.
    """

    frame_id: int
    t_monotonic: float
    box_xyxy: BoxXYXY | None
    landmarks: Landmarks | None
    prompt: Prompt
    liveness: LivenessVerdict | None
    decision: Decision | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    embedded: bool = False


def box_from_landmarks(landmarks: Landmarks, width: int, height: int) -> BoxXYXY:
    """A Haar-like face box around tracked landmarks (clipped to the frame)."""
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 - 0.05 * side
    half = 0.55 * side
    box = np.array([cx - half, cy - half, cx + half, cy + half])
    box = np.clip(box, 0, [width, height, width, height])
    return box.astype(np.int32)


def _prompt_for_gate(problem: GateProblem | None) -> Prompt:
    return {
        GateProblem.TOO_SMALL: Prompt.STEP_CLOSER,
        GateProblem.TOO_DARK: Prompt.TOO_DARK,
        GateProblem.NO_EYES: Prompt.LOOK_AT_CAMERA,
    }.get(problem, Prompt.NONE) if problem else Prompt.NONE


def _prompt_for_liveness(verdict: LivenessVerdict) -> Prompt:
    return {
        LiveReason.BLINK: Prompt.BLINK,
        LiveReason.MOVE_A_LITTLE: Prompt.MOVE_A_LITTLE,
        LiveReason.CONFLICT: Prompt.LOOK_AT_CAMERA,
    }.get(verdict.reason, Prompt.HOLD_ON)


class Pipeline:
    """Frames in, :class:`FrameResult` out (see the module docstring).

    Args:
        settings: all settings.
        models: the loaded models (shared; only this thread may call them).
        gallery: the gallery (only this thread may use its connection).
        event_id: the event to check people in to, or None (recognise only).
        clock: wall-clock for event windows (tests inject one).
    """

    def __init__(
        self,
        settings: Settings,
        models: Models,
        gallery: Gallery,
        event_id: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.models = models
        self.gallery = gallery
        self.event_id = event_id
        self.clock = clock
        self.liveness = LivenessTracker(settings.liveness)
        self._reset_track()

    def _reset_track(self) -> None:
        self._prev_gray: np.ndarray | None = None
        self._landmarks: Landmarks | None = None
        self._frames_since_detect = 0
        self._last_face_t: float | None = None
        self._matches: deque[Match] = deque(maxlen=self.settings.recognition.agree_frames)
        self._last_embed_t = -np.inf
        self._decided: Decision | None = None
        self._decided_embedding: np.ndarray | None = None
        self._last_embedding: np.ndarray | None = None
        self._best_embedding: np.ndarray | None = None
        self._best_crop: np.ndarray | None = None
        self.liveness.reset()

    def set_event(self, event_id: int | None) -> None:
        """Check people in to another event from now on."""
        self.event_id = event_id
        self._reset_track()

    # -- per frame ---------------------------------------------------------------------------

    def process(self, frame_bgr: FrameBGR, t_monotonic: float, frame_id: int = 0) -> FrameResult:
        """Run the pipeline on one frame."""
        timings: dict[str, float] = {}
        if frame_bgr is None or frame_bgr.ndim not in (2, 3) or frame_bgr.size == 0:
            return FrameResult(frame_id, t_monotonic, None, None, Prompt.NONE, None, None, timings)
        gray = to_gray(frame_bgr)
        landmarks, problem = self._find_landmarks(frame_bgr, gray, timings)
        if landmarks is None:
            lost = self._last_face_t is None or t_monotonic - self._last_face_t > TRACK_LOST_S
            if lost and (self._decided is not None or self._matches):
                self._reset_track()
            started = time.perf_counter()
            self.liveness.update(gray, None, t_monotonic)
            timings["liveness"] = _ms(started)
            self._prev_gray = gray
            return FrameResult(
                frame_id, t_monotonic, None, None, _prompt_for_gate(problem), None, None, timings
            )
        self._last_face_t = t_monotonic
        self._prev_gray = gray
        self._landmarks = landmarks
        height, width = gray.shape[:2]
        box = box_from_landmarks(landmarks, width, height)

        started = time.perf_counter()
        verdict = self.liveness.update(gray, landmarks, t_monotonic, frame_bgr)
        timings["liveness"] = _ms(started)

        if self._decided is not None:  # this attendee already has their answer
            embedded = False
            if t_monotonic - self._last_embed_t >= RECHECK_INTERVAL_S and self._someone_else(
                frame_bgr, landmarks, timings
            ):
                # The next attendee stepped in before the face was lost: start afresh.
                self._reset_track()
                return FrameResult(
                    frame_id, t_monotonic, box, landmarks, Prompt.HOLD_ON, None, None, timings, True
                )
            if "embed" in timings:
                self._last_embed_t = t_monotonic
                embedded = True
            return FrameResult(
                frame_id, t_monotonic, box, landmarks, Prompt.NONE, verdict, None, timings, embedded
            )

        embedded = False
        needs_identity = self._agreed() is None and verdict.state is not LiveState.SPOOF
        if needs_identity and t_monotonic - self._last_embed_t >= EMBED_INTERVAL_S:
            self._embed_and_match(frame_bgr, landmarks, timings)
            self._last_embed_t = t_monotonic
            embedded = True
        decision = self._decide(verdict, frame_bgr, box)
        if decision is not None:
            self._decided = decision
            self._decided_embedding = self._last_embedding
            prompt = Prompt.NONE
        else:
            prompt = _prompt_for_liveness(verdict) if verdict.state is LiveState.UNDECIDED else Prompt.HOLD_ON
        return FrameResult(
            frame_id, t_monotonic, box, landmarks, prompt, verdict, decision, timings, embedded
        )

    def _find_landmarks(
        self, frame_bgr: FrameBGR, gray: np.ndarray, timings: dict[str, float]
    ) -> tuple[Landmarks | None, GateProblem | None]:
        """Tracked landmarks between detections; the gate every few frames or when tracking fails."""
        every = self.settings.detection.detect_every_n_frames
        if (
            self._landmarks is not None
            and self._prev_gray is not None
            and self._prev_gray.shape == gray.shape
            and self._frames_since_detect < every - 1
        ):
            started = time.perf_counter()
            tracked, ok = track_points(self._prev_gray, gray, self._landmarks.astype(np.float32))
            if ok.mean() >= MIN_TRACKED_FRACTION:
                height, width = gray.shape[:2]
                box = box_from_landmarks(tracked[ok], width, height)
                landmarks = self.models.landmarks.predict(gray, box)
                timings["landmarks"] = _ms(started)
                self._frames_since_detect += 1
                return landmarks, None
        started = time.perf_counter()
        near = None
        if self._landmarks is not None and self._prev_gray is not None:
            height, width = gray.shape[:2]
            near = box_from_landmarks(self._landmarks, width, height)
        gate = self.models.detector.detect(frame_bgr, near_xyxy=near)
        box = gate.face.box_xyxy if gate.face is not None else None
        timings["gate"] = _ms(started)
        self._frames_since_detect = 0
        if box is None:
            self._landmarks = None
            return None, gate.problem
        started = time.perf_counter()
        landmarks = self.models.landmarks.predict(gray, box)
        timings["landmarks"] = _ms(started)
        return landmarks, None

    def _embed(
        self, frame_bgr: FrameBGR, landmarks: Landmarks, timings: dict[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Aligned face (RGB) and its embedding; remembered as the latest embedding."""
        started = time.perf_counter()
        face_rgb = align_face(frame_bgr, landmarks, self.settings.recognition.crop_margin)
        timings["align"] = _ms(started)
        started = time.perf_counter()
        embedding = self.models.embedder.embed(face_rgb)
        timings["embed"] = _ms(started)
        self._last_embedding = embedding
        return face_rgb, embedding

    def _someone_else(
        self, frame_bgr: FrameBGR, landmarks: Landmarks, timings: dict[str, float]
    ) -> bool:
        """After a decision: whether the face now in front belongs to another person (its
        embedding is farther than the match threshold from the decided attendee's)."""
        _, embedding = self._embed(frame_bgr, landmarks, timings)
        if self._decided_embedding is None:  # decided before any embedding (a spoof)
            self._decided_embedding = embedding
            return False
        distance = float(np.linalg.norm(embedding - self._decided_embedding))
        return distance > self.settings.recognition.distance_threshold

    def _embed_and_match(
        self, frame_bgr: FrameBGR, landmarks: Landmarks, timings: dict[str, float]
    ) -> None:
        recognition = self.settings.recognition
        face_rgb, embedding = self._embed(frame_bgr, landmarks, timings)
        started = time.perf_counter()
        match = self.gallery.match(embedding, recognition.distance_threshold, recognition.min_margin)
        timings["match"] = _ms(started)
        if self._matches and self._matches[-1].person_id != match.person_id:
            self._matches.clear()
        self._matches.append(match)
        if match.accepted and (
            self._best_embedding is None or match.distance <= min(m.distance for m in self._matches)
        ):
            self._best_embedding, self._best_crop = embedding, face_rgb

    def _agreed(self) -> Match | None:
        """The match when the last ``agree_frames`` embeddings agree (accepted, same person)."""
        needed = self.settings.recognition.agree_frames
        if len(self._matches) < needed:
            return None
        if all(m.accepted and m.person_id == self._matches[0].person_id for m in self._matches):
            return min(self._matches, key=lambda m: m.distance)
        return None

    def _all_unknown(self) -> bool:
        needed = self.settings.recognition.agree_frames
        return len(self._matches) >= needed and not any(m.accepted for m in self._matches)

    def _decide(self, verdict: LivenessVerdict, frame_bgr: FrameBGR, box: BoxXYXY) -> Decision | None:
        if verdict.state is LiveState.SPOOF:
            self._record_spoof(frame_bgr, box, verdict.reason.value)
            return Decision(Outcome.SPOOF)
        if verdict.state is not LiveState.LIVE:
            return None
        agreed = self._agreed()
        if agreed is None:
            return Decision(Outcome.UNKNOWN) if self._all_unknown() else None
        return self._check_in(agreed, verdict)

    def _check_in(self, match: Match, verdict: LivenessVerdict) -> Decision:
        assert match.person_id is not None
        person = self.gallery.person(match.person_id)
        name = person.name if person else "?"
        if self.event_id is None:
            return Decision(Outcome.RECOGNISED_NO_EVENT, match.person_id, name, distance=match.distance)
        window = self._window_problem()
        if window:
            return Decision(Outcome.OUTSIDE_WINDOW, match.person_id, name, distance=match.distance,
                            message=window)
        liveness_score = verdict.planar.score if verdict.planar.score is not None else None
        try:
            new, at = self.gallery.check_in(
                match.person_id, self.event_id, "auto", match.distance, liveness_score
            )
            if new and self._best_embedding is not None:
                self.gallery.record_match(
                    match.person_id, self._best_embedding, _jpeg(self._best_crop)
                )
        except GalleryError as exc:
            log.error("check-in not saved: %s", exc)
            return Decision(Outcome.STORAGE_ERROR, match.person_id, name, distance=match.distance,
                            message=str(exc))
        outcome = Outcome.CHECKED_IN if new else Outcome.ALREADY_CHECKED_IN
        return Decision(outcome, match.person_id, name, at, match.distance)

    def _window_problem(self) -> str:
        event = self.gallery.event(self.event_id) if self.event_id is not None else None
        if event is None:
            return "the event no longer exists"
        now = self.clock()
        if event.get("opens_at") and now < parse_time(event["opens_at"]).timestamp():
            return f"check-in opens at {event['opens_at']}"
        if event.get("closes_at") and now >= parse_time(event["closes_at"]).timestamp():
            return f"check-in closed at {event['closes_at']}"
        return ""

    def _record_spoof(self, frame_bgr: FrameBGR, box: BoxXYXY, reason: str) -> None:
        x0, y0, x1, y1 = (int(v) for v in box)
        crop = frame_bgr[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
        if crop.size == 0:
            return
        scale = THUMBNAIL_SIDE_PX / max(crop.shape[:2])
        thumbnail = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".jpg", thumbnail, [cv2.IMWRITE_JPEG_QUALITY, 80])
        try:
            self.gallery.add_spoof_attempt(self.event_id, reason, encoded.tobytes() if ok else None)
        except GalleryError as exc:
            log.error("spoof attempt not saved: %s", exc)


def _jpeg(face_rgb: np.ndarray | None) -> bytes | None:
    if face_rgb is None:
        return None
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(face_rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 90])
    return encoded.tobytes() if ok else None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def current_event_id(gallery: Gallery, now_s: float | None = None) -> int | None:
    """The newest event whose check-in window contains now (events without a window: all day,
    on the day they were created)."""
    now_s = time.time() if now_s is None else now_s
    today = now_iso()[:10]
    for event in gallery.events():
        opens, closes = event.get("opens_at"), event.get("closes_at")
        if opens or closes:
            if opens and now_s < parse_time(opens).timestamp():
                continue
            if closes and now_s >= parse_time(closes).timestamp():
                continue
            return int(event["id"])
        if str(event.get("created_at", ""))[:10] == today:
            return int(event["id"])
    return None
