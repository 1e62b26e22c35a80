"""Test doubles for the pipeline's stages (the Protocols of kiosk.stages), for decision tests that
need neither the real models nor the evaluation data.

Synthetic frames: a grey background with one bright square "face" whose blue level encodes who
it is (:func:`face_frame`). The fake detector finds the square, the fake landmarker lays a
68-point face template into it, and the fake embedder reads the blue level back from the aligned
crop and returns that person's unit vector (:func:`person_embedding`), so the real alignment,
matching, decision and storage code run on top of them.
"""

from __future__ import annotations

import numpy as np

from kiosk.config import DetectionSettings
from kiosk.detect import GateProblem, GateResult
from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.embed import l2_normalize
from kiosk.liveness import CueResult, LiveReason, LiveState, LivenessVerdict
from kiosk.types import Face

FRAME_HW = (480, 640)
FACE_SIDE_PX = 200
BLUE_STEP = 20  # blue level per person number


def face_frame(person: int | None, x0: int = 220, y0: int = 140) -> np.ndarray:
    """A BGR frame with the face of ``person`` (1..10) at (x0, y0), or no face for None."""
    frame = np.full((*FRAME_HW, 3), 60, np.uint8)
    if person is not None:
        frame[y0:y0 + FACE_SIDE_PX, x0:x0 + FACE_SIDE_PX] = (BLUE_STEP * person, 200, 200)
    return frame


def person_embedding(person: int, dim: int = 512) -> np.ndarray:
    """The unit embedding of a synthetic person (orthogonal to every other: distance 1.414)."""
    vector = np.zeros(dim, np.float32)
    vector[person] = 1.0
    return vector


def random_embedding(seed: int, dim: int = 512) -> np.ndarray:
    """A random unit embedding, the same for the same seed (distinct people for gallery tests)."""
    return l2_normalize(np.random.default_rng(seed).normal(size=dim).astype(np.float32))


def _template() -> np.ndarray:
    """68 dlib-ordered points of an upright face in a unit box."""
    points = np.zeros((68, 2), np.float64)
    for i in range(17):  # jaw
        angle = np.pi * i / 16
        points[i] = (0.5 - 0.45 * np.cos(angle), 0.35 + 0.6 * np.sin(angle))
    points[17:22] = np.column_stack([np.linspace(0.15, 0.45, 5), np.full(5, 0.28)])
    points[22:27] = np.column_stack([np.linspace(0.55, 0.85, 5), np.full(5, 0.28)])
    points[27:31] = np.column_stack([np.full(4, 0.5), np.linspace(0.35, 0.58, 4)])
    points[31:36] = np.column_stack([np.linspace(0.4, 0.6, 5), np.full(5, 0.64)])
    for start, cx in ((36, 0.3), (42, 0.7)):
        angles = np.linspace(np.pi, -np.pi, 6, endpoint=False)
        points[start:start + 6] = np.column_stack(
            [cx + 0.08 * np.cos(angles), 0.4 + 0.03 * np.sin(angles)])
    angles = np.linspace(np.pi, -np.pi, 12, endpoint=False)
    points[48:60] = np.column_stack([0.5 + 0.15 * np.cos(angles), 0.8 + 0.05 * np.sin(angles)])
    angles = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    points[60:68] = np.column_stack([0.5 + 0.1 * np.cos(angles), 0.8 + 0.02 * np.sin(angles)])
    return points


TEMPLATE = _template()


class FakeDetector:
    """The face gate on synthetic frames: the bright square is the face (eyes assumed)."""

    def __init__(self) -> None:
        self.settings = DetectionSettings()
        self.calls = 0

    def detect(self, frame_bgr: np.ndarray, near_xyxy: object = None) -> GateResult:
        self.calls += 1
        ys, xs = np.nonzero(frame_bgr[..., 1] > 150)
        if len(xs) == 0:
            return GateResult(None, np.empty((0, 4), np.int32), GateProblem.NO_FACE)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.int32)
        return GateResult(Face(box, 2, False), box[None], None)


class FakeLandmarker:
    """The 68-point template laid into the box."""

    def predict(self, gray: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = (float(v) for v in box_xyxy)
        return (TEMPLATE * [x1 - x0, y1 - y0] + [x0, y0]).astype(np.float32)


class FakeEmbedder:
    """Reads the person back from the blue level at the centre of the aligned (RGB) crop."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, face_rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        side = face_rgb.shape[0]
        centre = face_rgb[side // 3: 2 * side // 3, side // 3: 2 * side // 3, 2]
        return person_embedding(int(round(float(centre.mean()) / BLUE_STEP)))


class FakeDlibEncoder:
    """dlib's encoder on synthetic frames: reads the blue level inside the landmarks' box of the
    frame and returns that person's 128-d unit vector, or ``override``'s person when set."""

    model_id = DLIB_MODEL_ID

    def __init__(self) -> None:
        self.calls = 0
        self.override: int | None = None

    def embed_landmarks(self, frame_bgr: np.ndarray, landmarks: np.ndarray,
                        box_xyxy: np.ndarray) -> np.ndarray:
        self.calls += 1
        x0, y0 = landmarks.min(axis=0).astype(int)
        x1, y1 = landmarks.max(axis=0).astype(int)
        blue = float(frame_bgr[y0:y1, x0:x1, 0].mean())
        return person_embedding(self.override or int(round(blue / BLUE_STEP)), 128)


class FakeLiveness:
    """A liveness judge whose verdict the test sets (``state``)."""

    REASONS = {
        LiveState.LIVE: LiveReason.TEXTURE_REAL,
        LiveState.SPOOF: LiveReason.PLANAR_MOTION,
        LiveState.UNDECIDED: LiveReason.COLLECTING,
    }

    def __init__(self, state: LiveState = LiveState.LIVE, score: float = 0.3) -> None:
        self.state = state
        self.score = score
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def update(self, gray: np.ndarray, landmarks: np.ndarray | None,
               t_monotonic: float, frame_bgr: np.ndarray | None = None) -> LivenessVerdict:
        if landmarks is None:
            return LivenessVerdict(LiveState.UNDECIDED, LiveReason.NO_FACE)
        return LivenessVerdict(self.state, self.REASONS[self.state],
                               planar=CueResult(self.state, self.score))


class FakeClock:
    """Wall-clock seconds that the test sets."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s
