"""The liveness cues as pure functions (docs/LIVENESS.md; the patent CN108537131B and the kiosk's own).

The patent's statistic, for one pair of adjacent frames:

1. LK optical flow of the 68 landmarks (``calcOpticalFlowPyrLK``), to polar (``cartToPolar``);
2. Farneback dense flow (``calcOpticalFlowFarneback``) inside the two eye regions, spanned by
   landmark points 38..41 and 44..47 (1-based; 37..40 and 43..46 in dlib's 0-based arrays);
3. a 10-bin histogram of flow direction over [0, 2pi) for the landmarks (F) and the eye pixels (R);
4. the chi-square statistic between F and R; live when it exceeds a threshold.

The kiosk's cues: the eye opening and the blink (:func:`eye_openness`, :func:`blink_drop`), the
planar-motion statistic (:func:`planar_excess_ratio`: a photo or a screen moves as one plane, so
a homography maps its landmarks of one frame onto the next), and the patent's statistic on the
motion relative to the head's own (:func:`head_relative_chi2`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.flow import track_points
from kiosk.types import FrameGray, Landmarks

N_BINS = 10
# 0-based dlib indices of the patent's eye-region corners (1-based 38/41 and 44/47).
PATENT_RIGHT_EYE_CORNERS = (37, 40)  # the subject's right eye, on the left of the image
PATENT_LEFT_EYE_CORNERS = (43, 46)
INNER_POINTS = np.arange(17, 68)  # brows, nose, eyes, mouth: the jaw line is left out of the fit
NOSE_BASE = 33
EYE_PAD_PX = 8  # context around an eye box for Farneback (flow needs neighbouring pixels)
MIN_EYE_BOX_PX = 3  # the patent's box can be very flat; give it at least this height/width

FloatArray = npt.NDArray[np.float32]



def direction_histogram(
    dx: npt.ArrayLike, dy: npt.ArrayLike, n_bins: int = N_BINS, normalise: bool = False
) -> npt.NDArray[np.float64]:
    """Histogram of flow directions over [0, 2pi) in ``n_bins`` equal bins.

    Directions come from ``cv2.cartToPolar`` (angle of ``(dx, dy)`` in image coordinates, y down).

    Args:
        dx: horizontal flow components, any shape.
        dy: vertical flow components, same shape.
        n_bins: number of equal bins.
        normalise: divide by the total so the bins sum to 1 (all zeros stay zeros).

    Returns:
        (n_bins,) float64 counts (or fractions).
    """
    dx_arr = np.asarray(dx, np.float32).reshape(-1, 1)
    dy_arr = np.asarray(dy, np.float32).reshape(-1, 1)
    hist = np.zeros(n_bins, np.float64)
    if dx_arr.size == 0:
        return hist
    _, angle = cv2.cartToPolar(dx_arr, dy_arr)
    bins = np.floor(angle.ravel().astype(np.float64) / (2.0 * math.pi) * n_bins).astype(np.int64)
    np.clip(bins, 0, n_bins - 1, out=bins)
    hist += np.bincount(bins, minlength=n_bins)
    if normalise and hist.sum() > 0:
        hist /= hist.sum()
    return hist


def chi_square(hist_f: npt.ArrayLike, hist_r: npt.ArrayLike) -> float:
    """Chi-square distance between two histograms: sum over bins of (F - R)^2 / (F + R).

    Bins empty in both histograms contribute nothing. For histograms normalised to sum 1 the
    result lies in [0, 2].
    """
    f = np.asarray(hist_f, np.float64)
    r = np.asarray(hist_r, np.float64)
    if f.shape != r.shape:
        raise ValueError("hist_r: must have the shape of hist_f")
    total = f + r
    used = total > 0
    return float(np.sum((f[used] - r[used]) ** 2 / total[used]))


def interocular_px(landmarks: Landmarks) -> float:
    """Distance between the two eye centres (mean of each eye's six points), pixels."""
    right = landmarks[36:42].mean(axis=0)
    left = landmarks[42:48].mean(axis=0)
    return float(np.hypot(*(left - right)))


def patent_eye_boxes(landmarks: Landmarks, shape_hw: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The patent's two eye regions as ``xyxy`` boxes clipped to the frame.

    Each box is spanned by two landmarks (0-based 37/40 and 43/46); it is given at least
    :data:`MIN_EYE_BOX_PX` pixels on each side, centred on the two points.
    """
    height, width = shape_hw
    boxes = []
    for a, b in (PATENT_RIGHT_EYE_CORNERS, PATENT_LEFT_EYE_CORNERS):
        pa, pb = landmarks[a], landmarks[b]
        lo = np.minimum(pa, pb)
        hi = np.maximum(pa, pb)
        centre = (lo + hi) / 2.0
        half = np.maximum((hi - lo) / 2.0, MIN_EYE_BOX_PX / 2.0)
        x0 = int(np.clip(np.floor(centre[0] - half[0]), 0, width))
        y0 = int(np.clip(np.floor(centre[1] - half[1]), 0, height))
        x1 = int(np.clip(np.ceil(centre[0] + half[0]), 0, width))
        y1 = int(np.clip(np.ceil(centre[1] + half[1]), 0, height))
        boxes.append((x0, y0, x1, y1))
    return boxes


def eye_region_flow(
    prev_gray: FrameGray, gray: FrameGray, boxes_xyxy: Iterable[tuple[int, int, int, int]]
) -> tuple[FloatArray, FloatArray]:
    """Farneback flow of every pixel inside the eye boxes.

    Farneback runs on each box padded by :data:`EYE_PAD_PX` (the flow needs context); only the
    pixels inside the box are returned.

    Returns:
        (dx, dy): two (N,) float32 arrays, N the number of pixels in all boxes.
    """
    _, dx, dy = eye_region_flow_points(prev_gray, gray, boxes_xyxy)
    return dx, dy


def eye_region_flow_points(
    prev_gray: FrameGray, gray: FrameGray, boxes_xyxy: Iterable[tuple[int, int, int, int]]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Like :func:`eye_region_flow`, with the pixel positions.

    Returns:
        (points, dx, dy): (N, 2) float32 pixel positions (x, y) and their flow components.
    """
    height, width = gray.shape[:2]
    dxs: list[FloatArray] = []
    dys: list[FloatArray] = []
    points: list[FloatArray] = []
    for x0, y0, x1, y1 in boxes_xyxy:
        if x1 <= x0 or y1 <= y0:
            continue
        px0, py0 = max(0, x0 - EYE_PAD_PX), max(0, y0 - EYE_PAD_PX)
        px1, py1 = min(width, x1 + EYE_PAD_PX), min(height, y1 + EYE_PAD_PX)
        flow = cv2.calcOpticalFlowFarneback(
            np.ascontiguousarray(prev_gray[py0:py1, px0:px1]),
            np.ascontiguousarray(gray[py0:py1, px0:px1]),
            None, 0.5, 2, 9, 3, 5, 1.1, 0,
        )
        inner = flow[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
        dxs.append(inner[..., 0].ravel())
        dys.append(inner[..., 1].ravel())
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        points.append(np.column_stack([xs.ravel(), ys.ravel()]))
    if not dxs:
        return np.empty((0, 2), np.float32), np.empty(0, np.float32), np.empty(0, np.float32)
    return np.concatenate(points), np.concatenate(dxs), np.concatenate(dys)


def head_relative_chi2(
    landmarks: Landmarks,
    tracked: FloatArray,
    ok: npt.NDArray[np.bool_],
    eye_points: FloatArray,
    eye_dx: FloatArray,
    eye_dy: FloatArray,
) -> float | None:
    """The patent's statistic on motion relative to the head's own motion.

    The head's motion is the homography fitted to the well-tracked inner landmarks; it is
    subtracted from the landmark flow (F) and from the eye-region flow (R) before the two
    direction histograms (normalised to sum 1) are compared by chi-square. A photo's residual
    flow is noise in both; a live face's eyes move on their own.

    Args:
        landmarks: (68, 2) positions in the earlier frame.
        tracked: (68, 2) LK-tracked positions in the later frame.
        ok: (68,) good-track mask.
        eye_points: (N, 2) eye-region pixel positions; eye_dx, eye_dy: their (N,) flow.

    Returns:
        The chi-square in [0, 2], or None when the head motion cannot be fitted.
    """
    good = np.asarray(ok, bool).copy()
    good[: INNER_POINTS[0]] = False
    if good.sum() < 8 or len(eye_points) == 0:
        return None
    homography, _ = cv2.findHomography(landmarks[good], tracked[good], 0)
    if homography is None:
        return None

    def head_flow(points: FloatArray) -> FloatArray:
        moved = cv2.perspectiveTransform(np.asarray(points, np.float32).reshape(-1, 1, 2), homography)
        result: FloatArray = (moved.reshape(-1, 2) - np.asarray(points, np.float32).reshape(-1, 2))
        return result

    own_f = (tracked[ok] - landmarks[ok]) - head_flow(landmarks[ok])
    own_r = np.column_stack([eye_dx, eye_dy]) - head_flow(eye_points)
    hist_f = direction_histogram(own_f[:, 0], own_f[:, 1], normalise=True)
    hist_r = direction_histogram(own_r[:, 0], own_r[:, 1], normalise=True)
    return chi_square(hist_f, hist_r)


def patent_histograms(
    prev_gray: FrameGray,
    gray: FrameGray,
    landmarks: Landmarks,
    tracked: FloatArray,
    normalise: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The patent's F (landmark LK flow) and R (eye-region Farneback flow) direction histograms.

    Args:
        prev_gray: the earlier frame.
        gray: the later frame.
        landmarks: (68, 2) landmarks in ``prev_gray``.
        tracked: (68, 2) the same points tracked by LK into ``gray``.
        normalise: histograms summing to 1 instead of raw counts.
    """
    flow = tracked - landmarks
    hist_f = direction_histogram(flow[:, 0], flow[:, 1], normalise=normalise)
    dx, dy = eye_region_flow(prev_gray, gray, patent_eye_boxes(landmarks, gray.shape[:2]))
    hist_r = direction_histogram(dx, dy, normalise=normalise)
    return hist_f, hist_r


def patent_statistic(prev_gray: FrameGray, gray: FrameGray, landmarks: Landmarks) -> float:
    """The patent's statistic for one frame pair, exactly as described (raw counts).

    LK flow of the 68 landmarks of ``prev_gray`` into ``gray``, Farneback flow in the two eye
    regions, 10-bin direction histograms F and R, chi-square between them.
    """
    tracked, _ = track_points(prev_gray, gray, landmarks, max_fb_error_px=np.inf)
    hist_f, hist_r = patent_histograms(prev_gray, gray, landmarks, tracked)
    return chi_square(hist_f, hist_r)


def eye_openness(landmarks: Landmarks) -> float:
    """Eye opening relative to the eye-to-nose distance (both eyes averaged).

    The lid gaps (37-41, 38-40, 43-47, 44-46) divided by the distance from the midpoint of the
    eye centres to the base of the nose (point 33). Both are vertical lengths, so tilting a
    photo (which shrinks the classic eye aspect ratio) leaves this ratio nearly unchanged.
    """
    gaps = [
        np.hypot(*(landmarks[a] - landmarks[b]))
        for a, b in ((37, 41), (38, 40), (43, 47), (44, 46))
    ]
    eye_mid = (landmarks[36:42].mean(axis=0) + landmarks[42:48].mean(axis=0)) / 2.0
    scale = float(np.hypot(*(landmarks[NOSE_BASE] - eye_mid)))
    if scale <= 1e-6:
        return 0.0
    return float(np.mean(gaps)) / scale


def blink_drop(openness: npt.ArrayLike, recover_fraction: float = 0.5) -> float:
    """Largest relative drop of eye opening that recovers afterwards (open, closed, open).

    The baseline is the median of the series (eyes are open most of the time). A frame at
    ``baseline * (1 - d)`` counts with drop ``d`` only when a later frame recovers to at least
    ``baseline * (1 - d * recover_fraction)``, and an earlier frame was at least as open.

    Args:
        openness: (N,) eye openness per frame, in time order.
        recover_fraction: how much of the drop must be undone afterwards.

    Returns:
        The largest such drop in [0, 1] (0 for fewer than 3 frames).
    """
    values = np.asarray(openness, np.float64)
    if len(values) < 3:
        return 0.0
    baseline = float(np.median(values))
    if baseline <= 0:
        return 0.0
    best = 0.0
    for i in range(1, len(values) - 1):
        drop = 1.0 - values[i] / baseline
        if drop <= best:
            continue
        before_ok = float(np.max(values[:i])) >= baseline * (1.0 - drop * recover_fraction)
        after_ok = float(np.max(values[i + 1 :])) >= baseline * (1.0 - drop * recover_fraction)
        if before_ok and after_ok:
            best = drop
    return float(min(max(best, 0.0), 1.0))


def homography_residual_ratio(src_points: FloatArray, dst_points: FloatArray) -> float | None:
    """How far point motion is from a plane's: homography residual divided by the motion.

    A least-squares homography (all points, no RANSAC: the outliers are the evidence) maps
    ``src_points`` onto ``dst_points``. The RMS reprojection error is divided by the median
    displacement of the points, so any motion of a plane (translation, rotation, scale,
    perspective tilt) scores near 0 and a three-dimensional or non-rigid motion scores higher.

    Args:
        src_points: (N, 2) positions in the earlier frame, N >= 5.
        dst_points: (N, 2) positions in the later frame.

    Returns:
        The ratio, or None when there are too few points or no motion.
    """
    fitted = _plane_fit(src_points, dst_points, min_points=5)
    if fitted is None:
        return None
    residual, motion = fitted
    return residual / motion


def _plane_fit(
    src_points: FloatArray, dst_points: FloatArray, min_points: int
) -> tuple[float, float] | None:
    """RMS residual (px) of a least-squares homography from ``src`` to ``dst`` points and the
    median displacement (px); None with fewer than ``min_points`` points or no motion."""
    src = np.asarray(src_points, np.float32).reshape(-1, 2)
    dst = np.asarray(dst_points, np.float32).reshape(-1, 2)
    if len(src) < min_points or len(src) != len(dst):
        return None
    motion = float(np.median(np.linalg.norm(dst - src, axis=1)))
    if motion <= 1e-6:
        return None
    homography, _ = cv2.findHomography(src, dst, 0)
    if homography is None:
        return None
    projected = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum((projected - dst) ** 2, axis=1)))), motion


def planar_excess_ratio(
    src_points: FloatArray, dst_points: FloatArray, noise_px: float
) -> tuple[float, float] | None:
    """Planar-motion statistic of one frame pair, with the tracking noise taken out.

    Like :func:`homography_residual_ratio`, but the RMS residual is first reduced by
    ``noise_px`` (what tracking noise alone leaves after fitting a plane), so that a plane
    moving slowly does not look non-planar because of noise.

    Returns:
        (ratio, motion_px): ``max(0, residual - noise_px) / motion``, and the median
        displacement in pixels; None when there are too few points or no motion.
    """
    fitted = _plane_fit(src_points, dst_points, min_points=8)
    if fitted is None:
        return None
    residual, motion = fitted
    return max(0.0, residual - noise_px) / motion, motion
