"""One face-tracking loop: face gate -> landmarks, with Lucas-Kanade tracking in between.

The pipeline, the enrolment capture and the liveness evaluation all follow the attendee's face
through frames with :class:`FaceTracker`: the Haar gate runs every ``detect_every_n_frames``
frames (or when the track is lost), searching near the tracked face first; in between, the
previous frame's 68 landmarks are tracked with pyramidal LK (forward-backward checked) and the
dlib predictor refines them on the box they give.

Every face carries a ``track_id``: it stays the same while the face is followed and changes when
the gate's face does not overlap the last tracked one (another person, a phone brought forward
while the attendee stepped aside), so whatever was judged about one face (its liveness, its
identity) is never carried over to another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from kiosk.detect import GateProblem, to_gray
from kiosk.flow import track_points
from kiosk.stages import FaceDetector, Landmarker, elapsed_ms
from kiosk.types import BoxXYXY, FrameBGR, FrameGray, Landmarks

MIN_TRACKED_FRACTION = 0.6  # LK must keep this share of the landmarks, or the gate runs again
SAME_FACE_MIN_IOU = 0.3  # a gate box overlapping the last tracked box this much is the same face


def box_from_landmarks(landmarks: Landmarks, width: int, height: int) -> BoxXYXY:
    """A Haar-like face box around landmarks (clipped to the frame)."""
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 - 0.05 * side
    half = 0.55 * side
    box = np.array([cx - half, cy - half, cx + half, cy + half])
    box = np.clip(box, 0, [width, height, width, height])
    return box.astype(np.int32)


@dataclass(frozen=True, slots=True)
class TrackedFace:
    """The attendee's face in one frame.

    Attributes:
        gray: the frame in gray, (H, W) uint8.
        landmarks: (68, 2) landmarks, or None when there is no face.
        box_xyxy: the box the landmarks were predicted in (the gate's box on a detection
            frame, else a box around the tracked landmarks), or None.
        problem: why there is no face (None when there is one, or when nothing was looked for).
        faces_found: faces the gate's cascade found on this frame (0 on tracked frames).
        detected: whether the gate ran on this frame.
        track_id: which tracked face this is (1, 2, ...; changes when another face is taken;
            0 when there is no face).
    """

    gray: FrameGray
    landmarks: Landmarks | None
    box_xyxy: BoxXYXY | None
    problem: GateProblem | None
    faces_found: int
    detected: bool
    track_id: int = 0


class FaceTracker:
    """Follows the attendee's face through consecutive frames (see the module docstring).

    Args:
        detector: the face gate.
        landmarker: the 68-point predictor.
        detect_every_n_frames: run the gate on every n-th frame (1: every frame, no LK).
        accept_without_eyes: when the face cascade finds a large enough face but the eye
            check fails, use it anyway (the liveness evaluation measures liveness, not the eye
            check; the kiosk keeps requiring eyes).
        search_near_track: let the gate look near the tracked face first (the kiosk); off
            for sequences whose frames are far apart in time (the evaluation).

    Raises:
        ValueError: ``detect_every_n_frames`` below 1.
    """

    def __init__(
        self, detector: FaceDetector, landmarker: Landmarker, detect_every_n_frames: int = 1,
        accept_without_eyes: bool = False, search_near_track: bool = True,
    ) -> None:
        if detect_every_n_frames < 1:
            raise ValueError(f"detect_every_n_frames must be >= 1, got {detect_every_n_frames}")
        self.detector = detector
        self.landmarker = landmarker
        self.detect_every_n_frames = detect_every_n_frames
        self.accept_without_eyes = accept_without_eyes
        self.search_near_track = search_near_track
        self._track_id = 0
        self.reset()

    def reset(self) -> None:
        """Forget the track (the next frame runs the gate on the whole frame; its face is a new
        track)."""
        self._prev_gray: FrameGray | None = None
        self._landmarks: Landmarks | None = None
        self._frames_since_detect = 0
        self._last_box: BoxXYXY | None = None  # kept over frames without a face
        self._track_id += 1

    def update(
        self, frame_bgr: FrameBGR, timings_ms: dict[str, float] | None = None
    ) -> TrackedFace:
        """The attendee's face in this frame.

        Args:
            frame_bgr: the frame, (H, W, 3) uint8 (or (H, W) gray).
            timings_ms: if given, receives the milliseconds of "gate" and "landmarks".
        """
        timings = timings_ms if timings_ms is not None else {}
        gray = to_gray(frame_bgr)
        height, width = gray.shape[:2]
        prev_gray, prev_landmarks = self._prev_gray, self._landmarks
        self._prev_gray = gray
        if (
            prev_landmarks is not None
            and prev_gray is not None
            and prev_gray.shape == gray.shape
            and self._frames_since_detect < self.detect_every_n_frames - 1
        ):
            started = time.perf_counter()
            tracked, ok = track_points(prev_gray, gray, prev_landmarks.astype(np.float32))
            if ok.mean() >= MIN_TRACKED_FRACTION:
                box = box_from_landmarks(tracked[ok], width, height)
                landmarks = self.landmarker.predict(gray, box)
                timings["landmarks"] = elapsed_ms(started)
                self._frames_since_detect += 1
                self._landmarks = landmarks
                self._last_box = box
                return TrackedFace(gray, landmarks, box, None, 0, False, self._track_id)
        started = time.perf_counter()
        near = None
        if self.search_near_track and prev_landmarks is not None and prev_gray is not None:
            near = box_from_landmarks(prev_landmarks, width, height)
        gate = self.detector.detect(frame_bgr, near_xyxy=near)
        box = gate.face.box_xyxy if gate.face is not None else None
        if box is None and self.accept_without_eyes and gate.problem is GateProblem.NO_EYES:
            wide = gate.wide_boxes(self.detector.settings.min_face_px)
            box = wide[0] if len(wide) else None
        timings["gate"] = elapsed_ms(started)
        self._frames_since_detect = 0
        if box is None:
            self._landmarks = None
            return TrackedFace(gray, None, None, gate.problem, gate.faces_found, True)
        if self._last_box is not None and box_iou(self._last_box, box) < SAME_FACE_MIN_IOU:
            self._track_id += 1  # the gate took another face: a new track
        self._last_box = np.asarray(box, np.int32)
        started = time.perf_counter()
        landmarks = self.landmarker.predict(gray, box)
        timings["landmarks"] = elapsed_ms(started)
        self._landmarks = landmarks
        return TrackedFace(gray, landmarks, box, None, gate.faces_found, True, self._track_id)


def box_iou(box_a: BoxXYXY, box_b: BoxXYXY) -> float:
    """Intersection over union of two ``xyxy`` boxes (0 when either has no area)."""
    ax0, ay0, ax1, ay1 = (float(v) for v in box_a)
    bx0, by0, bx1, by1 = (float(v) for v in box_b)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0

