"""Sparse optical flow of points between two frames (pyramidal Lucas-Kanade), shared by the face
tracker and the liveness cues."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.types import FrameGray

FloatArray = npt.NDArray[np.float32]


def track_points(
    prev_gray: FrameGray, gray: FrameGray, points: FloatArray, max_fb_error_px: float = 1.0
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Pyramidal LK of points from ``prev_gray`` to ``gray`` with a forward-backward check.

    Args:
        prev_gray: the earlier frame.
        gray: the later frame, same size.
        points: (N, 2) float32 positions in ``prev_gray``.
        max_fb_error_px: a point is kept when tracking it back lands this close to its start.

    Returns:
        (tracked, ok): (N, 2) float32 positions in ``gray`` and an (N,) mask of good tracks.
    """
    pts = np.ascontiguousarray(points, np.float32).reshape(-1, 1, 2)
    if len(pts) == 0:
        return np.empty((0, 2), np.float32), np.empty(0, bool)
    params = dict(
        winSize=(15, 15),
        maxLevel=3,
        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
    )
    fwd, st1, _ = cv2.calcOpticalFlowPyrLK(prev_gray, gray, pts, None, **params)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev_gray, fwd, None, **params)
    fb_error = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb_error < max_fb_error_px)
    return fwd.reshape(-1, 2), ok
