"""Passive texture cue: two MiniFASNet anti-spoofing CNNs run with ``cv2.dnn`` (docs/LIVENESS.md).

The models (Silent-Face-Anti-Spoofing by Minivision, Apache-2.0; ``models/README.md``) score a
face crop as real or fake (printed photo, screen). Their contract:

- input float32 (1, 3, 80, 80), BGR, pixel values 0-255, no mean or scaling;
- output logits (1, 3); softmax, index 1 is "real"; the two models' "real" probabilities are
  averaged;
- the crop: the *reference detector's* face box (x, y, w, h) scaled about its centre by 2.7
  (MiniFASNetV2) or 4.0 (MiniFASNetV1SE), the scale first limited so that the crop fits in the
  image, a crop sticking out shifted back inside (not padded), resized to 80x80.

The kiosk does not run the reference detector: :func:`reference_box_from_landmarks` derives its
box from the 68 dlib landmarks the kiosk already has, with offsets and scales measured against
the reference detector on real faces (``scripts/texture_crop_calibration.py``; the table is in
docs/LIVENESS.md).

One frame's score can flip, so the cue decides over a window (:func:`texture_window_state`):
:class:`TextureScorer` is called on a few frames spaced in time, never on every frame.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.types import FrameBGR, Landmarks

INPUT_SIDE_PX = 80
REAL_INDEX = 1
# How the reference detector's box (x, y, w, h) relates to the landmarks, measured on lfw-dev,
# nuaa-dev and the clips (medians over 1,001 faces; docs/LIVENESS.md "Crop geometry"). The
# anchor (:func:`landmark_anchor`): x at the middle of the jaw ends (points 0 and 16), y half-way
# between the eye centres and the chin (point 8), and the jaw width as the unit of length (it
# does not shrink when the head tilts up or down, unlike the brow-to-chin height).
REF_CENTRE_DX = 0.0
REF_CENTRE_DY = -0.174
REF_WIDTH_SCALE = 1.100
REF_HEIGHT_SCALE = 1.142

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TextureScore:
    """The texture cue on one frame.

    Attributes:
        real: "real" probability averaged over the models, in [0, 1].
        per_model: each model's "real" probability, in the order the models were given.
    """

    real: float
    per_model: tuple[float, ...]


# --------------------------------------------------------------------------- pure functions


def landmark_anchor(landmarks: Landmarks) -> tuple[float, float, float]:
    """The point and the length the reference box is predicted from.

    Args:
        landmarks: (68, 2) dlib landmarks, pixels.

    Returns:
        (x, y, unit): x the middle of the jaw ends (points 0 and 16), y half-way between the
        mean of both eyes' points (36..47) and the chin (point 8), unit the distance between
        the jaw ends (at least 1 pixel).
    """
    points = np.asarray(landmarks, np.float64).reshape(68, 2)
    x = float(points[0, 0] + points[16, 0]) / 2.0
    eyes_y = float(points[36:48, 1].mean())
    y = (eyes_y + float(points[8, 1])) / 2.0
    unit = float(np.hypot(*(points[16] - points[0])))
    return x, y, max(unit, 1.0)


def reference_box_from_landmarks(
    landmarks: Landmarks,
    centre_dx: float = REF_CENTRE_DX,
    centre_dy: float = REF_CENTRE_DY,
    width_scale: float = REF_WIDTH_SCALE,
    height_scale: float = REF_HEIGHT_SCALE,
) -> tuple[float, float, float, float]:
    """The reference detector's face box (x, y, w, h), predicted from the 68 landmarks.

    Args:
        landmarks: (68, 2) dlib landmarks, pixels.
        centre_dx: the box centre's offset from the anchor (:func:`landmark_anchor`), in units.
        centre_dy: the same vertically.
        width_scale: box width in units.
        height_scale: box height in units.

    Returns:
        (x, y, w, h) in pixels (not clipped to the frame).
    """
    x, y, unit = landmark_anchor(landmarks)
    cx, cy = x + centre_dx * unit, y + centre_dy * unit
    box_w, box_h = width_scale * unit, height_scale * unit
    return cx - box_w / 2.0, cy - box_h / 2.0, box_w, box_h


def scaled_crop_box(
    box_xywh: Sequence[float], scale: float, shape_hw: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The model's crop (inclusive ``xyxy``) around a reference face box, as the models expect.

    The box is scaled about its centre by ``scale``, first limited to
    ``min(scale, (H - 1) / h, (W - 1) / w)``; a crop sticking out of the image is shifted back
    inside (never padded). Same arithmetic as the original project's ``CropImage._get_new_box``.

    Args:
        box_xywh: the reference face box (x, y, w, h), pixels; w and h > 0.
        scale: the model's crop scale (2.7 or 4.0).
        shape_hw: the frame's (height, width).

    Returns:
        (x0, y0, x1, y1) with x1, y1 inclusive.

    Raises:
        ValueError: ``box_xywh`` has no area, or ``scale`` is not positive.
    """
    x, y, box_w, box_h = (float(v) for v in box_xywh)
    if box_w <= 0 or box_h <= 0:
        raise ValueError("box_xywh: width and height must be > 0")
    if scale <= 0:
        raise ValueError("scale: must be > 0")
    height, width = shape_hw
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = x + box_w / 2.0, y + box_h / 2.0
    x0, y0 = cx - new_w / 2.0, cy - new_h / 2.0
    x1, y1 = cx + new_w / 2.0, cy + new_h / 2.0
    if x0 < 0:
        x1 -= x0
        x0 = 0
    if y0 < 0:
        y1 -= y0
        y0 = 0
    if x1 > width - 1:
        x0 -= x1 - width + 1
        x1 = width - 1
    if y1 > height - 1:
        y0 -= y1 - height + 1
        y1 = height - 1
    return int(x0), int(y0), int(x1), int(y1)


def model_input(frame_bgr: FrameBGR, box_xywh: Sequence[float], scale: float) -> npt.NDArray[np.float32]:
    """The (1, 3, 80, 80) float32 BGR 0-255 blob of one model's crop.

    Args:
        frame_bgr: (H, W, 3) uint8 frame.
        box_xywh: the reference face box (x, y, w, h).
        scale: the model's crop scale.
    """
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
        raise ValueError("frame_bgr: must be an (H, W, 3) colour frame")
    x0, y0, x1, y1 = scaled_crop_box(box_xywh, scale, frame_bgr.shape[:2])
    crop = frame_bgr[max(0, y0) : y1 + 1, max(0, x0) : x1 + 1]
    crop = cv2.resize(crop, (INPUT_SIDE_PX, INPUT_SIDE_PX))
    blob: npt.NDArray[np.float32] = crop.astype(np.float32).transpose(2, 0, 1)[None].copy()
    return blob


def softmax(logits: npt.ArrayLike) -> FloatArray:
    """Softmax over the last axis."""
    values = np.asarray(logits, np.float64)
    values = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(values)
    result: FloatArray = exp / exp.sum(axis=-1, keepdims=True)
    return result


def texture_window_score(reals: Sequence[float]) -> float | None:
    """The window's texture score: the median of the per-frame "real" probabilities.

    The median, not the mean: one flipped frame in three cannot move it.

    Returns:
        The median, or None for an empty window.
    """
    if len(reals) == 0:
        return None
    return float(np.median(np.asarray(reals, np.float64)))


def texture_window_state(
    reals: Sequence[float], frames_needed: int, real_above: float, fake_below: float
) -> tuple[str, float | None]:
    """The texture cue's decision over its window of sampled frames.

    Args:
        reals: the "real" probabilities of the sampled frames, oldest first (the last
            ``frames_needed`` are used).
        frames_needed: sampled frames before the cue decides.
        real_above: the window score at or above which the cue says "live".
        fake_below: the window score at or below which the cue says "spoof" (a strong fake).

    Returns:
        ("live" | "spoof" | "undecided", window score or None before ``frames_needed`` frames).
    """
    if frames_needed < 1:
        raise ValueError("frames_needed: must be >= 1")
    if len(reals) < frames_needed:
        return "undecided", texture_window_score(reals)
    score = texture_window_score(list(reals)[-frames_needed:])
    assert score is not None
    if score >= real_above:
        return "live", score
    if score <= fake_below:
        return "spoof", score
    return "undecided", score


# --------------------------------------------------------------------------- the stage


class TextureScorer:
    """MiniFASNet V2 (2.7x crop) and V1SE (4.0x crop) through ``cv2.dnn``.

    Attributes:
        scales: each model's crop scale.
        calls: how many frames were scored (``bench`` reports the cue as its own stage).
        last_ms: milliseconds the last scoring took (crops + both models).

    Args:
        model_paths: [(ONNX path, crop scale)], usually :func:`kiosk.model_files.minifasnet_paths`
            (which verifies their checksums).

    Raises:
        ValueError: no models given.
    """

    def __init__(self, model_paths: Sequence[tuple[Path, float]]) -> None:
        if not model_paths:
            raise ValueError("model_paths: at least one model is needed")
        self.scales = tuple(float(scale) for _, scale in model_paths)
        self._nets = [cv2.dnn.readNetFromONNX(str(path)) for path, _ in model_paths]
        self.calls = 0
        self.last_ms = 0.0

    @classmethod
    def from_models_dir(cls, models_dir: str | Path = "") -> TextureScorer:
        """Load the shipped models (checksums verified; see :func:`kiosk.model_files.minifasnet_paths`)."""
        from kiosk.model_files import minifasnet_paths

        return cls(minifasnet_paths(models_dir))

    def score_box(self, frame_bgr: FrameBGR, box_xywh: Sequence[float]) -> TextureScore:
        """Score the face in a reference face box (x, y, w, h)."""
        started = time.perf_counter()
        reals = []
        for net, scale in zip(self._nets, self.scales):
            net.setInput(model_input(frame_bgr, box_xywh, scale))
            reals.append(float(softmax(net.forward().reshape(-1))[REAL_INDEX]))
        self.calls += 1
        self.last_ms = (time.perf_counter() - started) * 1000.0
        return TextureScore(float(np.mean(reals)), tuple(reals))

    def score(self, frame_bgr: FrameBGR, landmarks: Landmarks) -> TextureScore:
        """Score the face given by its 68 landmarks in a colour frame.

        Args:
            frame_bgr: (H, W, 3) uint8 frame.
            landmarks: (68, 2) dlib landmarks of the face in ``frame_bgr``.
        """
        return self.score_box(frame_bgr, reference_box_from_landmarks(landmarks))


__all__ = [
    "TextureScore",
    "TextureScorer",
    "landmark_anchor",
    "model_input",
    "reference_box_from_landmarks",
    "scaled_crop_box",
    "softmax",
    "texture_window_score",
    "texture_window_state",
]
