"""Live enrolment capture: quality gates, liveness and sampling of a person's face, frame by frame.

:class:`EnrollCapture` is the logic of the enrolment dialog's live capture without Qt: feed it
camera frames; it follows the face (:class:`kiosk.tracking.FaceTracker`, the gate on every
frame so that a second face is noticed), judges liveness, refuses faces that are not good
enough to enrol (:func:`quality_problem`), and takes a sample every ``SAMPLE_INTERVAL_S`` until
it has enough of them and the face was seen to be live. What the liveness asks meanwhile (hold
on, or a head turn when the passive evidence is unclear) is the attendee screen's prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from kiosk.config import Settings
from kiosk.liveness import CHALLENGE_FAILURES, CHALLENGE_PROMPTS, LivenessTracker, LiveState
from kiosk.pipeline import liveness_prompt
from kiosk.tracking import FaceTracker
from kiosk.types import FrameBGR

WANTED_SAMPLES = 3
SAMPLE_INTERVAL_S = 0.4  # between captured samples, so they differ a little
CAPTURE_TIMEOUT_S = 20.0
MIN_SHARPNESS = 15.0  # variance of the Laplacian of the face scaled to 160 px wide
MIN_BRIGHTNESS, MAX_BRIGHTNESS = 50.0, 225.0  # mean gray level of the face
MAX_YAW = 0.22  # |nose - eye midpoint| / inter-ocular distance
MAX_ROLL_DEG = 20.0


def quality_problem(gray: np.ndarray, box_xyxy: np.ndarray, landmarks: np.ndarray,
                    min_face_px: int) -> str | None:
    """Why a face is not good enough to enrol, or None.

    Args:
        gray: the frame, (H, W) uint8.
        box_xyxy: the face box.
        landmarks: (68, 2) dlib landmarks.
        min_face_px: the smallest face width.

    Returns:
        "too_small", "too_dark", "too_bright", "blurry", "not_frontal" or None.
    """
    x0, y0, x1, y1 = (int(v) for v in box_xyxy)
    if x1 - x0 < min_face_px:
        return "too_small"
    crop = gray[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
    if crop.size == 0:
        return "too_small"
    brightness = float(crop.mean())
    if brightness < MIN_BRIGHTNESS:
        return "too_dark"
    if brightness > MAX_BRIGHTNESS:
        return "too_bright"
    scale = 160.0 / crop.shape[1]
    resized = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if float(cv2.Laplacian(resized, cv2.CV_64F).var()) < MIN_SHARPNESS:
        return "blurry"
    left_eye = landmarks[36:42].mean(axis=0)
    right_eye = landmarks[42:48].mean(axis=0)
    iod = float(np.linalg.norm(right_eye - left_eye))
    if iod <= 1.0:
        return "not_frontal"
    yaw = abs(float(landmarks[30][0]) - float((left_eye[0] + right_eye[0]) / 2)) / iod
    roll = abs(np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])))
    if yaw > MAX_YAW or roll > MAX_ROLL_DEG:
        return "not_frontal"
    return None


@dataclass(frozen=True, slots=True)
class CaptureOutcome:
    """How a live capture ended.

    Attributes:
        live: liveness confirmed.
        spoof: liveness said photo or screen.
        timed_out: the time ran out.
    """

    live: bool
    spoof: bool
    timed_out: bool


@dataclass(frozen=True, slots=True)
class CaptureStep:
    """What one frame of a capture gave.

    Attributes:
        feedback: a gate code for the person ("no_face", "several_faces", "too_small",
            "too_dark", "too_bright", "blurry", "not_frontal", "ok"), what the liveness asks
            while it is not confirmed (a :class:`kiosk.pipeline.Prompt` value: "hold_on",
            "look_at_camera", "turn_left", "turn_right", "challenge_timed_out",
            "challenge_failed"), or "" for none. A head turn asked, or its failure, outranks
            the gate codes (the person must see it in time).
        sample: a :class:`kiosk.face_encoder.FaceSample` taken on this frame, or None.
        outcome: set when the capture is over.
    """

    feedback: str = ""
    sample: Any = None
    outcome: CaptureOutcome | None = None


class EnrollCapture:
    """One live capture (see the module docstring).

    Args:
        encoder: a :class:`kiosk.face_encoder.FaceEncoder` (its models and ``encode_landmarks``).
        settings: all settings.
        wanted: how many samples to take.
        started_s: the capture's start (monotonic seconds), for the time-out.
    """

    def __init__(self, encoder: Any, settings: Settings, wanted: int = WANTED_SAMPLES,
                 started_s: float = 0.0) -> None:
        self.encoder = encoder
        self.settings = settings
        self.wanted = wanted
        self.started_s = started_s
        self.tracker = FaceTracker(encoder.models.detector, encoder.models.landmarks, 1,
                                   search_near_track=False)
        self.liveness = LivenessTracker(settings.liveness)
        self.captured = 0
        self.live = not settings.liveness.enabled
        self._last_sample_t = -np.inf

    def timed_out(self, now_s: float) -> CaptureOutcome | None:
        """The outcome when the capture is over at ``now_s`` without a new frame, else None."""
        if self.captured >= self.wanted and self.live:
            return CaptureOutcome(True, False, False)
        if now_s - self.started_s > CAPTURE_TIMEOUT_S:
            return CaptureOutcome(self.live, False, True)
        return None

    def update(self, frame_bgr: FrameBGR, t_monotonic: float) -> CaptureStep:
        """Take one camera frame."""
        face = self.tracker.update(frame_bgr)
        if face.landmarks is None or face.box_xyxy is None:
            self.liveness.update(face.gray, None, t_monotonic)
            return CaptureStep(face.problem.value if face.problem else "no_face")
        box, landmarks = face.box_xyxy, face.landmarks
        verdict = self.liveness.update(face.gray, landmarks, t_monotonic, frame_bgr)
        if verdict.state is LiveState.SPOOF:
            return CaptureStep(outcome=CaptureOutcome(False, True, False))
        self.live = self.live or verdict.state is LiveState.LIVE
        if face.faces_found > 1:
            return CaptureStep("several_faces")
        asked = "" if self.live else liveness_prompt(verdict).value
        challenge = asked if verdict.reason in (*CHALLENGE_PROMPTS, *CHALLENGE_FAILURES) else ""
        if self.captured >= self.wanted or t_monotonic - self._last_sample_t < SAMPLE_INTERVAL_S:
            return CaptureStep(challenge or (asked if self.captured >= self.wanted else ""))
        problem = quality_problem(face.gray, box, landmarks, self.settings.detection.min_face_px)
        if problem:
            return CaptureStep(challenge or problem)
        sample = self.encoder.encode_landmarks(frame_bgr, landmarks, box)
        self.captured += 1
        self._last_sample_t = t_monotonic
        done = self.live or self.captured < self.wanted
        return CaptureStep(challenge or ("ok" if done else asked), sample)
