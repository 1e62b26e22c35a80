"""Face gate: Haar frontal-face cascade, eye cascade inside the face, CLAHE for dark frames.

docs/ARCHITECTURE.md, stage 2. The cascades come from ``cv2.data.haarcascades``. Detection runs on a copy of
the frame scaled so that its longest side is ``detect_max_side_px``; boxes are returned in the
pixels of the original frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.config import DetectionSettings
from kiosk.types import BoxesXYXY, Face, FrameBGR, FrameGray

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye_tree_eyeglasses.xml"
EYE_SEARCH_SIDE_PX = 96  # the upper half of the face is scaled to this width before eye search
NEAR_MARGIN = 0.5  # a search near a known face looks this many face sides around it
NEAR_FACE_SIDE_PX = 64  # ... in a crop scaled so that the known face is this wide
NEAR_SIZE_RANGE = (0.6, 1.6)  # ... for faces of this range of the known face's size


_NO_BOXES = np.empty((0, 4), np.int32)


class GateProblem(enum.Enum):
    """Why no usable face came out of the gate: each maps to a prompt on the kiosk screen."""

    NO_FACE = "no_face"
    TOO_SMALL = "too_small"
    NO_EYES = "no_eyes"
    TOO_DARK = "too_dark"


@dataclass(frozen=True, slots=True)
class GateResult:
    """What the face gate found in one frame.

    Attributes:
        face: the attendee (the largest face that passed every check), or None.
        boxes_xyxy: every box the face cascade found, before the size and eye checks, in frame
            pixels, largest first; shape (N, 4).
        problem: why ``face`` is None (None when a face was found).
    """

    face: Face | None
    boxes_xyxy: BoxesXYXY
    problem: GateProblem | None

    @property
    def faces_found(self) -> int:
        """How many faces the face cascade found, before the size and eye checks."""
        return len(self.boxes_xyxy)

    def wide_boxes(self, min_face_px: int) -> BoxesXYXY:
        """The boxes at least ``min_face_px`` wide, largest first (ignoring the eye check)."""
        boxes = np.asarray(self.boxes_xyxy).reshape(-1, 4)
        return boxes[(boxes[:, 2] - boxes[:, 0]) >= min_face_px]


def load_cascade(name: str) -> cv2.CascadeClassifier:
    """Load one of OpenCV's bundled Haar cascades, failing loudly when it is missing."""
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"cannot load the Haar cascade {path}")
    return cascade


def to_gray(frame_bgr: FrameBGR) -> FrameGray:
    """Grayscale of a BGR, BGRA or already gray uint8 frame.

    Raises:
        ValueError: another dtype or channel count (named, so the caller can report it).
    """
    if frame_bgr.dtype != np.uint8:
        raise ValueError(f"frame_bgr must be uint8, got {frame_bgr.dtype}")
    if frame_bgr.ndim == 2:
        return frame_bgr
    channels = frame_bgr.shape[2] if frame_bgr.ndim == 3 else -1
    if channels == 1:
        return np.ascontiguousarray(frame_bgr[:, :, 0])
    if channels == 3:
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    if channels == 4:
        return cv2.cvtColor(frame_bgr, cv2.COLOR_BGRA2GRAY)
    raise ValueError(f"frame_bgr must have 1, 3 or 4 channels, got shape {frame_bgr.shape}")


def needs_equalisation(gray: FrameGray, below_mean: float, below_std: float) -> bool:
    """A frame is dark or flat when its mean or its contrast (std) is under the limits."""
    mean, std = cv2.meanStdDev(gray)
    return float(mean[0, 0]) < below_mean or float(std[0, 0]) < below_std


def equalise(gray: FrameGray) -> FrameGray:
    """Contrast-limited adaptive histogram equalisation (CLAHE)."""
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return clahe.apply(gray)


def scale_to_max_side(gray: FrameGray, max_side_px: int) -> tuple[FrameGray, float]:
    """Downscale so the longest side is at most ``max_side_px``; returns the image and the factor."""
    height, width = gray.shape[:2]
    longest = max(height, width)
    if longest <= max_side_px:
        return gray, 1.0
    factor = max_side_px / longest
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), factor


def xywh_to_xyxy(rects: np.ndarray, factor: float = 1.0) -> BoxesXYXY:
    """OpenCV ``(x, y, w, h)`` rectangles to ``xyxy`` boxes, divided by a scale factor."""
    if len(rects) == 0:
        return np.empty((0, 4), np.int32)
    rects = np.asarray(rects, np.float64).reshape(-1, 4)
    boxes = np.column_stack(
        [rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]]
    )
    return np.round(boxes / factor).astype(np.int32)


def box_areas(boxes_xyxy: BoxesXYXY) -> np.ndarray:
    """Areas of ``xyxy`` boxes, shape (N,)."""
    boxes = np.asarray(boxes_xyxy, np.int64).reshape(-1, 4)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


class HaarFaceDetector:
    """Face gate (docs/ARCHITECTURE.md, stage 2).

    Args:
        settings: detection settings (scale, minimum face size, eye requirement, CLAHE limits).
    """

    def __init__(self, settings: DetectionSettings) -> None:
        self.settings = settings
        self._face_cascade = load_cascade(FACE_CASCADE)
        self._eye_cascade = load_cascade(EYE_CASCADE)

    def detect_boxes_near(self, gray: FrameGray, near_xyxy: np.ndarray) -> BoxesXYXY:
        """Face boxes near a known face (the tracked attendee), in frame pixels, largest first.

        Only a crop around ``near_xyxy`` (``NEAR_MARGIN`` face sides on every side) is searched,
        scaled so that the known face is ``NEAR_FACE_SIDE_PX`` wide, for faces of
        ``NEAR_SIZE_RANGE`` times its size: a few milliseconds instead of a whole-frame search.
        """
        height, width = gray.shape[:2]
        x0, y0, x1, y1 = (float(v) for v in near_xyxy)
        side = max(x1 - x0, y1 - y0, 1.0)
        pad = NEAR_MARGIN * side
        cx0, cy0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
        cx1, cy1 = int(min(width, x1 + pad)), int(min(height, y1 + pad))
        crop = gray[cy0:cy1, cx0:cx1]
        if crop.size == 0:
            return np.empty((0, 4), np.int32)
        factor = min(1.0, NEAR_FACE_SIDE_PX / side)
        if factor < 1.0:
            size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        scaled = side * factor
        min_side = max(12, int(NEAR_SIZE_RANGE[0] * scaled))
        max_side = max(min_side + 1, int(NEAR_SIZE_RANGE[1] * scaled))
        rects = self._face_cascade.detectMultiScale(
            crop,
            scaleFactor=self.settings.scale_factor,
            minNeighbors=self.settings.min_neighbors,
            minSize=(min_side, min_side),
            maxSize=(max_side, max_side),
        )
        boxes = xywh_to_xyxy(rects, factor)
        if len(boxes):
            boxes += np.array([cx0, cy0, cx0, cy0], np.int32)
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return boxes[np.argsort(-box_areas(boxes), kind="stable")]

    def detect_boxes(self, gray: FrameGray) -> BoxesXYXY:
        """All face boxes the face cascade finds, in frame pixels, largest first.

        The minimum size handed to the cascade is half ``min_face_px`` so that a face slightly
        too small is still seen (and the attendee can be told to move closer).
        """
        small, factor = scale_to_max_side(gray, self.settings.detect_max_side_px)
        min_side = max(12, int(self.settings.min_face_px * factor * 0.5))
        rects = self._face_cascade.detectMultiScale(
            small,
            scaleFactor=self.settings.scale_factor,
            minNeighbors=self.settings.min_neighbors,
            minSize=(min_side, min_side),
        )
        boxes = xywh_to_xyxy(rects, factor)
        height, width = gray.shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return boxes[np.argsort(-box_areas(boxes), kind="stable")]

    def count_eyes(self, gray: FrameGray, box_xyxy: np.ndarray) -> int:
        """Eyes found by the eye cascade in the upper part of a face box (scaled down first)."""
        x0, y0, x1, y1 = (int(v) for v in box_xyxy)
        upper = gray[y0 : y0 + int((y1 - y0) * 0.6), x0:x1]
        if upper.size == 0:
            return 0
        factor = min(1.0, EYE_SEARCH_SIDE_PX / upper.shape[1])
        if factor < 1.0:
            size = (EYE_SEARCH_SIDE_PX, max(1, round(upper.shape[0] * factor)))
            upper = cv2.resize(upper, size, interpolation=cv2.INTER_AREA)
        min_eye = max(8, upper.shape[1] // 10)
        eyes = self._eye_cascade.detectMultiScale(
            upper,
            scaleFactor=1.1,
            minNeighbors=self.settings.eye_min_neighbors,
            minSize=(min_eye, min_eye),
        )
        return min(2, len(eyes))

    def detect(self, frame_bgr: FrameBGR, near_xyxy: np.ndarray | None = None) -> GateResult:
        """Run the gate on one frame: the attendee's face, or why there is none.

        Args:
            frame_bgr: the frame.
            near_xyxy: where the attendee's face was (tracked); when given, the face cascade
                first searches only around it (:meth:`detect_boxes_near`), and the whole frame
                only when nothing is found there. A face found near the track is kept even when
                the eye check fails on it.
        """
        if frame_bgr is None or frame_bgr.size == 0 or frame_bgr.ndim not in (2, 3):
            return GateResult(None, _NO_BOXES, GateProblem.NO_FACE)
        gray = to_gray(frame_bgr)
        equalised = needs_equalisation(
            gray, self.settings.clahe_below_mean, self.settings.clahe_below_std
        )
        if equalised:
            gray = equalise(gray)
        boxes = self.detect_boxes_near(gray, near_xyxy) if near_xyxy is not None else _NO_BOXES
        tracked = len(boxes) > 0
        if not tracked:
            boxes = self.detect_boxes(gray)
        if len(boxes) == 0 and not equalised:
            # A backlit face is dark while the frame as a whole is not: equalise and look again.
            gray = equalise(gray)
            equalised = True
            boxes = self.detect_boxes(gray)
        if len(boxes) == 0:
            dark = float(np.mean(gray)) < 40.0
            return GateResult(None, _NO_BOXES, GateProblem.TOO_DARK if dark else GateProblem.NO_FACE)
        problem = GateProblem.TOO_SMALL
        for box in boxes:
            width = int(box[2] - box[0])
            if width < self.settings.min_face_px:
                continue
            eyes = self.count_eyes(gray, box) if self.settings.require_eyes else 0
            if self.settings.require_eyes and eyes == 0:
                problem = GateProblem.NO_EYES
                continue
            return GateResult(Face(box.astype(np.int32), eyes, equalised), boxes, None)
        result = GateResult(None, boxes, problem)
        if tracked and problem is GateProblem.NO_EYES:
            # The attendee's face is still where it was tracked, but the eye cascade misses it
            # (eyes closed in a blink, glasses): keep it, the eye check is for new faces.
            wide = result.wide_boxes(self.settings.min_face_px)
            return GateResult(Face(wide[0].astype(np.int32), 0, equalised), boxes, None)
        return result
