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

With ``[recognition] fusion`` (a fused gallery, :attr:`kiosk.gallery.Gallery.fused`), each
decision embedding runs dlib's ResNet encoder first on the frame and the landmarks already
found (stage ``embed_dlib``); where dlib's distance alone is sure
(:class:`kiosk.matching.rule.DlibFirstBand`) that decides, else FaceNet runs too and the match
is taken on the fused distance (:class:`kiosk.identification.FaceIdentifier`,
docs/RECOGNITION.md). A check-in decided by dlib alone gets FaceNet's embedding of its best face
before it is stored (the rolling update keeps both). The check for the next attendee stays on
FaceNet alone.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from kiosk.config import Settings
from kiosk.decision import CheckInDesk, Decision, Outcome
from kiosk.detect import GateProblem
from kiosk.gallery import Gallery, GalleryError
from kiosk.identification import FaceIdentifier, facenet_of
from kiosk.liveness import LiveReason, LiveState, LivenessTracker, LivenessVerdict
from kiosk.matching.rule import Match, RollingUpdateGate
from kiosk.reembed import missing_embeddings_notice
from kiosk.stages import Clock, Liveness, Models, elapsed_ms
from kiosk.tracking import FaceTracker, box_from_landmarks
from kiosk.types import BoxXYXY, FrameBGR, Landmarks

__all__ = ["FrameResult", "Pipeline", "Prompt"]

log = logging.getLogger(__name__)

EMBED_INTERVAL_S = 0.15  # at most one FaceNet call per this interval while a face is undecided
RECHECK_INTERVAL_S = 1.0  # after a decision: is the face in front still the same attendee?
TRACK_LOST_S = 1.0  # a face missing this long ends the track (the next face is a new attendee)
GALLERY_REFRESH_S = 2.0  # how often to look for changes made by other processes
THUMBNAIL_SIDE_PX = 96
# embed_stored: FaceNet's embedding of a check-in's face that dlib alone decided (for the
# rolling update), after the decision
STAGES = ("gate", "landmarks", "liveness", "align", "embed", "embed_dlib", "match", "embed_stored")


class Prompt(enum.Enum):
    """What the attendee is asked to do (the GUI translates these)."""

    NONE = "none"
    STEP_CLOSER = "move_closer"
    TOO_DARK = "too_dark"
    LOOK_AT_CAMERA = "look_at_camera"
    HOLD_ON = "hold_on"
    TURN_LEFT = "turn_left"  # the liveness challenge: turn your head to your left
    TURN_RIGHT = "turn_right"  # ... to your right
    CHALLENGE_TIMED_OUT = "challenge_timed_out"  # no turn in time: step back and try again
    CHALLENGE_FAILED = "challenge_failed"  # turned the other way: step back and try again


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


def _prompt_for_gate(problem: GateProblem | None) -> Prompt:
    return {
        GateProblem.TOO_SMALL: Prompt.STEP_CLOSER,
        GateProblem.TOO_DARK: Prompt.TOO_DARK,
        GateProblem.NO_EYES: Prompt.LOOK_AT_CAMERA,
    }.get(problem, Prompt.NONE) if problem else Prompt.NONE


def liveness_prompt(verdict: LivenessVerdict) -> Prompt:
    """What an undecided liveness verdict asks of the attendee (the kiosk and live enrolment)."""
    return {
        LiveReason.TURN_LEFT: Prompt.TURN_LEFT,
        LiveReason.TURN_RIGHT: Prompt.TURN_RIGHT,
        LiveReason.CHALLENGE_TIMED_OUT: Prompt.CHALLENGE_TIMED_OUT,
        LiveReason.CHALLENGE_WRONG_WAY: Prompt.CHALLENGE_FAILED,
        LiveReason.CONFLICT: Prompt.LOOK_AT_CAMERA,
    }.get(verdict.reason, Prompt.HOLD_ON)


class Pipeline:
    """Frames in, :class:`FrameResult` out (see the module docstring).

    The face is followed by a :class:`kiosk.tracking.FaceTracker`; the check-in rules (match
    policy, event window, once per event) are those of :mod:`kiosk.decision`.

    Args:
        settings: all settings.
        models: the loaded models (shared; only this thread may call them); with a fused
            gallery, ``models.dlib_encoder`` too.
        gallery: the gallery (only this thread may use its connection).
        event_id: the event to check people in to, or None (recognise only).
        clock: wall-clock for event windows (tests inject one).
        liveness: the liveness judge (default: a :class:`LivenessTracker` of the settings).

    Raises:
        ValueError: the gallery is fused but ``models`` has no dlib encoder.
    """

    def __init__(
        self,
        settings: Settings,
        models: Models,
        gallery: Gallery,
        event_id: int | None = None,
        clock: Clock = time.time,
        liveness: Liveness | None = None,
    ) -> None:
        if gallery.fused and models.dlib_encoder is None:
            raise ValueError("models: the gallery matches on the fused distance but dlib's "
                             "encoder is not loaded (load_models with [recognition] fusion = true)")
        self.settings = settings
        self.models = models
        self.gallery = gallery
        try:
            notice = missing_embeddings_notice(gallery)
            gallery.prepare_matching()  # a large gallery's int8 copies, before the first face
        except GalleryError as exc:
            notice = ""
            log.error("cannot read the gallery: %s", exc)
        if notice:
            log.warning(notice)
        self.event_id = event_id
        self.identifier = FaceIdentifier.for_gallery(models, gallery, settings.recognition)
        self.policy = self.identifier.policy
        self.desk = CheckInDesk(gallery, clock, RollingUpdateGate.from_settings(
            settings.recognition, settings.gallery, gallery.fused))
        self.liveness = liveness if liveness is not None else LivenessTracker(settings.liveness)
        self.tracker = FaceTracker(models.detector, models.landmarks,
                                   settings.detection.detect_every_n_frames)
        self._last_refresh_t = -np.inf
        self._reset_track()

    def _reset_track(self) -> None:
        """Forget the face track and the attendee (the next face is a new attendee)."""
        self.tracker.reset()
        self._reset_attendee()

    def _reset_attendee(self) -> None:
        """Forget everything judged about the tracked face: liveness, matches, decision."""
        self._track_id: int | None = None
        self._last_face_t: float | None = None
        self._matches: deque[Match] = deque(maxlen=self.policy.agree_frames)
        self._last_embed_t = -np.inf
        self._decided: Decision | None = None
        self._decided_verdict: LivenessVerdict | None = None
        self._decided_embedding: np.ndarray | None = None
        self._last_embedding: np.ndarray | None = None
        self._best_embedding: Any = None  # a vector, or {model id: vector} with fusion
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
        self._refresh_gallery(t_monotonic)
        face = self.tracker.update(frame_bgr, timings)
        gray, landmarks = face.gray, face.landmarks
        if landmarks is None:
            lost = self._last_face_t is None or t_monotonic - self._last_face_t > TRACK_LOST_S
            if lost and (self._decided is not None or self._matches):
                self._reset_track()
            started = time.perf_counter()
            self.liveness.update(gray, None, t_monotonic)
            timings["liveness"] = elapsed_ms(started)
            return FrameResult(
                frame_id, t_monotonic, None, None, _prompt_for_gate(face.problem), None, None,
                timings,
            )
        if face.track_id != self._track_id:
            # Another face (the gate took a face elsewhere): the verdict, the matches and the
            # check-in belong to one tracked face, so everything starts over for this one.
            if self._track_id is not None:
                self._reset_attendee()
            self._track_id = face.track_id
        self._last_face_t = t_monotonic
        height, width = gray.shape[:2]
        box = box_from_landmarks(landmarks, width, height)

        if self._decided is not None and self._decided_verdict is not None:
            # this face already has its answer: its liveness is not judged again (the texture
            # models would keep sampling a face that stays), until another face is tracked
            verdict = self._decided_verdict
        else:
            started = time.perf_counter()
            verdict = self.liveness.update(gray, landmarks, t_monotonic, frame_bgr)
            timings["liveness"] = elapsed_ms(started)

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
        needs_identity = (
            self.policy.agreed(self._matches) is None and verdict.state is not LiveState.SPOOF
        )
        if needs_identity and t_monotonic - self._last_embed_t >= EMBED_INTERVAL_S:
            self._embed_and_match(frame_bgr, landmarks, timings)
            self._last_embed_t = t_monotonic
            embedded = True
        decision = self._decide(verdict, frame_bgr, box, timings)
        if decision is not None:
            self._decided = decision
            self._decided_verdict = verdict
            self._decided_embedding = self._last_embedding
            prompt = Prompt.NONE
        else:
            prompt = liveness_prompt(verdict) if verdict.state is LiveState.UNDECIDED else Prompt.HOLD_ON
        return FrameResult(
            frame_id, t_monotonic, box, landmarks, prompt, verdict, decision, timings, embedded
        )

    def _refresh_gallery(self, t_monotonic: float) -> None:
        """Every few seconds: re-read the index when another process changed the gallery."""
        if t_monotonic - self._last_refresh_t < GALLERY_REFRESH_S:
            return
        self._last_refresh_t = t_monotonic
        try:
            if self.gallery.refresh_if_changed():
                log.info("the gallery was changed by another process: index re-read")
        except GalleryError as exc:
            log.error("cannot re-read the gallery: %s", exc)

    def _embed(
        self, frame_bgr: FrameBGR, landmarks: Landmarks, timings: dict[str, float]
    ) -> np.ndarray:
        """FaceNet's embedding of the face (the check for the next attendee); remembered as
        the latest embedding."""
        embedding = self.identifier.facenet(self.identifier.align(frame_bgr, landmarks, timings),
                                            timings)
        self._last_embedding = embedding
        return embedding

    def _someone_else(
        self, frame_bgr: FrameBGR, landmarks: Landmarks, timings: dict[str, float]
    ) -> bool:
        """After a decision: whether the face now in front belongs to another person."""
        embedding = self._embed(frame_bgr, landmarks, timings)
        if self._decided_embedding is None:  # decided before any embedding (a spoof)
            self._decided_embedding = embedding
            return False
        return self.policy.is_new_attendee(embedding, self._decided_embedding)

    def _embed_and_match(
        self, frame_bgr: FrameBGR, landmarks: Landmarks, timings: dict[str, float]
    ) -> None:
        found = self.identifier.identify(self.gallery.matcher, frame_bgr, landmarks, timings)
        if found.facenet is not None:
            self._last_embedding = found.facenet
        match = found.match
        if self._matches and self._matches[-1].person_id != match.person_id:
            self._matches.clear()
        self._matches.append(match)
        if match.accepted and (
            self._best_embedding is None or match.distance <= min(m.distance for m in self._matches)
        ):
            self._best_embedding, self._best_crop = found.query, found.face_rgb

    def _decide(self, verdict: LivenessVerdict, frame_bgr: FrameBGR, box: BoxXYXY,
                timings: dict[str, float]) -> Decision | None:
        """Rules 1-2 of :mod:`kiosk.decision` here; 3-5 at the check-in desk."""
        if verdict.state is LiveState.SPOOF:
            self._record_spoof(frame_bgr, box, verdict.reason.value)
            return Decision(Outcome.SPOOF)
        if verdict.state is not LiveState.LIVE:
            return None
        agreed = self.policy.agreed(self._matches)
        if agreed is None:
            return Decision(Outcome.UNKNOWN) if self.policy.all_unknown(self._matches) else None
        # The check-in's liveness score: the texture cue's (the lowest recent "real"
        # probability), else the planar residual ratio, else the blink's drop.
        cues = [c for c in (verdict.texture, verdict.planar, verdict.blink) if c.score is not None]
        live = [c for c in cues if c.state is LiveState.LIVE]
        liveness_score = (live or cues)[0].score if cues else None
        if self._best_crop is not None:  # dlib alone decided: FaceNet's too, for the stored face
            self._best_embedding = self.identifier.complete(self._best_embedding, self._best_crop,
                                                            timings)
            self._last_embedding = facenet_of(self._best_embedding, self.gallery.model_id)
        return self.desk.check_in(
            agreed, self.event_id, liveness_score, self._best_embedding, _jpeg(self._best_crop)
        )

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


