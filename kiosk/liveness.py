"""Liveness from facial motion (docs/ARCHITECTURE.md, stage 4, patent CN108537131B, plus kiosk cues).

The patent's statistic, for one pair of adjacent frames:

1. LK optical flow of the 68 landmarks (``calcOpticalFlowPyrLK``), to polar (``cartToPolar``);
2. Farneback dense flow (``calcOpticalFlowFarneback``) inside the two eye regions, spanned by
   landmark points 38..41 and 44..47 (1-based; 37..40 and 43..46 in dlib's 0-based arrays);
3. a 10-bin histogram of flow direction over [0, 2pi) for the landmarks (F) and the eye pixels (R);
4. the chi-square statistic between F and R; live when it exceeds a threshold.

A kiosk needs more than one noisy pair, so :class:`LivenessTracker` adds, each cue separately
switchable and measurable:

- a *window* of frame pairs, and a *motion floor*: pairs whose landmarks moved less than a fraction
  of the inter-ocular distance are ignored (a still photo and a still person both give noise);
- ``norm_chi2``: the patent's statistic on histograms normalised to sum 1 (independent of the
  size of the eye region), over the moving pairs only;
- ``eye_rel_chi2``: the same on the motion relative to the head's own motion (the homography of
  the inner landmarks subtracted from both flows), over the moving pairs;
- ``blink``: a transient drop of eye opening (open, closed, open again), the opening measured
  relative to the eye-to-nose distance so that tilting a photo does not look like a blink;
- ``planar``: a photo or a screen moves as one plane, so a homography maps the landmarks of one
  frame onto the next; the residual of that fit divided by the size of the motion is small for a
  plane and larger for a live, three-dimensional, non-rigid face.

- ``texture``: two small anti-spoofing CNNs (MiniFASNet, :mod:`kiosk.texture`) on the colour
  frame, run on a few frames spaced ``texture_interval_s`` apart while the attendee is
  undecided; their "real" probability over the last ``texture_frames`` sampled frames (median).

The fused verdict (each rule can be switched off with its cue's ``use_*`` key):

1. ``spoof`` when the texture window is a strong fake (``texture_fake_below``);
2. ``spoof`` when the planar test says spoof (clear planar motion; a blink in the same window
   makes it a conflict, undecided), or an enabled chi-square cue says spoof;
3. ``live`` when the texture window says real (``texture_real_above``) and nothing is against it:
   no sign of planar motion (the moving pairs seen so far, at least ``planar_early_pairs``,
   move like a plane) -- then the texture admission is held back and the motion cues decide;
4. ``live`` on a blink or clearly non-planar motion, but only once the texture cue has had its
   window (so it can still veto what the motion cues would admit);
5. else ``undecided``, with the reason to prompt ("move a little", "blink").

A face that does not move and does not blink, and that the texture cue does not call real,
stays undecided: motion alone is never evidence of life.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from kiosk.config import LivenessSettings
from kiosk.flow import track_points
from kiosk.stages import FaceDetector, Landmarker
from kiosk.tracking import FaceTracker
from kiosk.texture import TextureScorer, texture_window_state
from kiosk.types import FrameBGR, FrameGray, Landmarks

N_BINS = 10
# 0-based dlib indices of the patent's eye-region corners (1-based 38/41 and 44/47).
PATENT_RIGHT_EYE_CORNERS = (37, 40)  # the subject's right eye, on the left of the image
PATENT_LEFT_EYE_CORNERS = (43, 46)
INNER_POINTS = np.arange(17, 68)  # brows, nose, eyes, mouth: the jaw line is left out of the fit
NOSE_BASE = 33
EYE_PAD_PX = 8  # context around an eye box for Farneback (flow needs neighbouring pixels)
MIN_EYE_BOX_PX = 3  # the patent's box can be very flat; give it at least this height/width

FloatArray = npt.NDArray[np.float32]


class LiveState(enum.Enum):
    """The liveness decision."""

    LIVE = "live"
    SPOOF = "spoof"
    UNDECIDED = "undecided"


class LiveReason(enum.Enum):
    """Why the verdict is what it is; the undecided ones map to a prompt on the kiosk screen."""

    DISABLED = "disabled"  # liveness switched off in the settings: always live
    NO_FACE = "no_face"
    COLLECTING = "collecting"  # not enough frame pairs yet
    MOVE_A_LITTLE = "move_a_little"  # too few pairs above the motion floor
    BLINK = "blink"  # moving, but the motion is ambiguous: ask for a blink
    BLINK_SEEN = "blink_seen"
    NON_PLANAR_MOTION = "non_planar_motion"
    PLANAR_MOTION = "planar_motion"
    CHI2 = "chi2"  # decided by a chi-square cue (patent or normalised)
    CONFLICT = "conflict"  # a blink and planar motion in the same window: look at the camera
    TEXTURE_REAL = "texture_real"  # the texture cue says real over its window, nothing against
    TEXTURE_FAKE = "texture_fake"  # the texture cue says fake (paper, screen) over its window


@dataclass(frozen=True, slots=True)
class CueResult:
    """One cue's own decision over the current window.

    Attributes:
        state: live, spoof or undecided for this cue alone.
        score: the cue's statistic (None when it could not be measured yet).
    """

    state: LiveState
    score: float | None


UNDECIDED_CUE = CueResult(LiveState.UNDECIDED, None)


@dataclass(frozen=True, slots=True)
class LivenessVerdict:
    """The liveness state after one frame.

    Attributes:
        state: the combined decision.
        reason: why; for ``UNDECIDED`` the prompt to show ("move_a_little", "blink", ...).
        patent_chi2: the patent's statistic alone (mean raw chi-square over the window's pairs).
        norm_chi2: normalised chi-square over the moving pairs (median).
        blink: blink cue (score: largest relative drop of eye opening in the blink window).
        planar: planar-motion cue (score: median homography residual / motion over moving pairs).
        texture: texture cue (score: median "real" probability of the sampled frames).
        eye_rel_chi2: the patent's statistic on motion relative to the head's own motion
            (normalised histograms; median over the moving pairs).
        pairs_used: frame pairs in the window.
        moving_pairs: pairs of the window above the motion floor.
        undecided_s: how long the tracker has been undecided (0 once decided).
    """

    state: LiveState
    reason: LiveReason
    patent_chi2: CueResult = UNDECIDED_CUE
    norm_chi2: CueResult = UNDECIDED_CUE
    blink: CueResult = UNDECIDED_CUE
    planar: CueResult = UNDECIDED_CUE
    texture: CueResult = UNDECIDED_CUE
    eye_rel_chi2: CueResult = UNDECIDED_CUE
    pairs_used: int = 0
    moving_pairs: int = 0
    undecided_s: float = 0.0

    def cue(self, name: str) -> CueResult:
        """A cue by name (one of :data:`CUE_NAMES`)."""
        if name not in CUE_NAMES:
            raise KeyError(name)
        result: CueResult = getattr(self, name)
        return result


CUE_NAMES = ("patent_chi2", "norm_chi2", "eye_rel_chi2", "blink", "planar", "texture")


# --------------------------------------------------------------------------- pure functions


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


# --------------------------------------------------------------------------- the tracker


@dataclass(frozen=True, slots=True)
class PairMeasurement:
    """What one frame pair contributed to the window.

    Attributes:
        t_monotonic: time of the later frame.
        motion_iod: median landmark displacement (LK), in inter-ocular distances.
        patent_chi2: the patent's raw chi-square.
        norm_chi2: chi-square of the normalised histograms.
        planar_ratio: noise-corrected homography residual / motion (None: too few tracks).
        eye_rel_chi2: the patent's statistic on motion relative to the head's (None: no fit).
    """

    t_monotonic: float
    motion_iod: float
    patent_chi2: float
    norm_chi2: float
    planar_ratio: float | None
    eye_rel_chi2: float | None = None


class LivenessTracker:
    """Liveness over a sliding window of frame pairs (docs/ARCHITECTURE.md, stage 4).

    Feed every frame with its landmarks (or None when no face was found); each call returns the
    verdict over the current window. Frames closer in time than ``min_pair_interval_s`` to the
    last paired frame only feed the blink cue, so the flow cues see comparable motion at any
    camera frame rate. The texture cue needs the colour frame (``frame_bgr``); it scores one
    frame every ``texture_interval_s`` while the verdict is undecided, never every frame.

    Args:
        settings: the ``[liveness]`` settings.
        texture: the texture models; None loads them from ``texture_models_dir`` (checksums
            verified) when ``use_texture`` is on.

    Raises:
        kiosk.model_files.ModelNotFoundError: a texture model file is missing or damaged.
    """

    def __init__(self, settings: LivenessSettings, texture: TextureScorer | None = None) -> None:
        self.settings = settings
        if texture is None and settings.enabled and settings.use_texture:
            texture = TextureScorer.from_models_dir(settings.texture_models_dir)
        self.texture = texture
        self._pairs: deque[PairMeasurement] = deque(maxlen=settings.window_pairs)
        self._openness: deque[tuple[float, float]] = deque()
        self._prev: tuple[FrameGray, Landmarks, float] | None = None
        self._undecided_since: float | None = None
        self._texture_reals: deque[float] = deque(maxlen=settings.texture_frames)
        self._last_texture_t = -math.inf
        self._decided = False

    def reset(self) -> None:
        """Forget everything (a new attendee, or the face was lost)."""
        self._pairs.clear()
        self._openness.clear()
        self._prev = None
        self._undecided_since = None
        self._texture_reals.clear()
        self._last_texture_t = -math.inf
        self._decided = False

    def update(
        self,
        gray: FrameGray,
        landmarks: Landmarks | None,
        t_monotonic: float,
        frame_bgr: FrameBGR | None = None,
    ) -> LivenessVerdict:
        """Add one frame and return the verdict over the window.

        Args:
            gray: the frame, (H, W) uint8.
            landmarks: (68, 2) float32 landmarks of the attendee in ``gray``, or None.
            t_monotonic: capture time of the frame, seconds (``time.monotonic()``).
            frame_bgr: the same frame in colour, (H, W, 3) uint8, for the texture cue (without
                it the texture cue is not measured).
        """
        if not self.settings.enabled:
            return LivenessVerdict(LiveState.LIVE, LiveReason.DISABLED)
        if landmarks is None:
            self._prev = None  # a pair needs two consecutive frames with a face
            return self._verdict(t_monotonic, face=False)
        landmarks = np.asarray(landmarks, np.float32).reshape(68, 2)
        self._add_openness(landmarks, t_monotonic)
        self._add_texture(frame_bgr, landmarks, t_monotonic)
        if self._prev is None:
            self._prev = (gray, landmarks, t_monotonic)
        elif t_monotonic - self._prev[2] >= self.settings.min_pair_interval_s - 1e-9:
            prev_gray, prev_landmarks, _ = self._prev
            if prev_gray.shape == gray.shape:
                self._pairs.append(self._measure(prev_gray, gray, prev_landmarks, t_monotonic))
            self._prev = (gray, landmarks, t_monotonic)
        return self._verdict(t_monotonic, face=True)

    # ------------------------------------------------------------------ internals

    def _add_texture(
        self, frame_bgr: FrameBGR | None, landmarks: Landmarks, t_monotonic: float
    ) -> None:
        """Score the texture of this frame when it is time for the next sample.

        Sampling stops once the verdict is decided and the cue has its window: the models run
        only on a few frames spaced ``texture_interval_s`` apart while the attendee waits.
        """
        s = self.settings
        if self.texture is None or not s.use_texture or frame_bgr is None or frame_bgr.ndim != 3:
            return
        if self._decided and len(self._texture_reals) >= s.texture_frames:
            return
        if t_monotonic - self._last_texture_t < s.texture_interval_s - 1e-9:
            return
        self._texture_reals.append(self.texture.score(frame_bgr, landmarks).real)
        self._last_texture_t = t_monotonic

    def _add_openness(self, landmarks: Landmarks, t_monotonic: float) -> None:
        self._openness.append((t_monotonic, eye_openness(landmarks)))
        while self._openness and t_monotonic - self._openness[0][0] > self.settings.blink_window_s:
            self._openness.popleft()

    def _measure(
        self, prev_gray: FrameGray, gray: FrameGray, landmarks: Landmarks, t_monotonic: float
    ) -> PairMeasurement:
        iod = max(interocular_px(landmarks), 1.0)
        # One LK pass: the patent uses every forward track as it is; the planar test and the
        # head-relative statistic only the tracks that pass the forward-backward check (``ok``).
        tracked, ok = track_points(prev_gray, gray, landmarks, self.settings.max_fb_error_px)
        # the patent's F and R (as patent_histograms, keeping the eye pixels' positions)
        flow = tracked - landmarks
        hist_f = direction_histogram(flow[:, 0], flow[:, 1])
        eye_points, eye_dx, eye_dy = eye_region_flow_points(
            prev_gray, gray, patent_eye_boxes(landmarks, gray.shape[:2])
        )
        hist_r = direction_histogram(eye_dx, eye_dy)
        patent = chi_square(hist_f, hist_r)
        norm = chi_square(hist_f / max(hist_f.sum(), 1.0), hist_r / max(hist_r.sum(), 1.0))
        eye_rel = head_relative_chi2(landmarks, tracked, ok, eye_points, eye_dx, eye_dy)
        good = ok.copy()
        good[: INNER_POINTS[0]] = False
        motion_iod = 0.0
        planar: float | None = None
        if good.sum() >= self.settings.min_tracked_points:
            fitted = planar_excess_ratio(
                landmarks[good], tracked[good], self.settings.planar_noise_iod * iod
            )
            if fitted is not None:
                planar, motion_px = fitted
                motion_iod = motion_px / iod
        return PairMeasurement(t_monotonic, motion_iod, patent, norm, planar, eye_rel)

    def _texture_cue(self) -> CueResult:
        s = self.settings
        if not self._texture_reals:
            return UNDECIDED_CUE
        state, score = texture_window_state(
            list(self._texture_reals), s.texture_frames, s.texture_real_above, s.texture_fake_below
        )
        return CueResult(LiveState(state), score)

    def _early_planar(self) -> bool:
        """Whether the moving pairs seen so far (fewer than the full window may be there)
        already move like a plane: evidence against admitting on texture alone. Unlike the
        planar spoof call this does not need clear motion: it only holds the admission back."""
        s = self.settings
        moving = [
            p for p in self._pairs if p.motion_iod >= s.min_motion_iod and p.planar_ratio is not None
        ]
        if len(moving) < s.planar_early_pairs:
            return False
        ratio = float(np.median([p.planar_ratio for p in moving]))  # type: ignore[misc]
        return ratio <= s.planar_spoof_below

    def _cues(self) -> tuple[CueResult, CueResult, CueResult, CueResult, CueResult, int]:
        s = self.settings
        pairs = list(self._pairs)
        moving = [
            p for p in pairs if p.motion_iod >= s.min_motion_iod and p.planar_ratio is not None
        ]
        patent = UNDECIDED_CUE
        if len(pairs) >= s.min_moving_pairs:
            score = float(np.mean([p.patent_chi2 for p in pairs]))
            state = LiveState.LIVE if score > s.patent_chi2_threshold else LiveState.SPOOF
            patent = CueResult(state, score)
        norm = UNDECIDED_CUE
        planar = UNDECIDED_CUE
        if len(moving) >= s.min_moving_pairs:
            score = float(np.median([p.norm_chi2 for p in moving]))
            state = LiveState.LIVE if score > s.norm_chi2_threshold else LiveState.SPOOF
            norm = CueResult(state, score)
            score = float(np.median([p.planar_ratio for p in moving]))  # type: ignore[misc]
            clearly_moving = (
                float(np.median([p.motion_iod for p in moving])) >= s.planar_spoof_min_motion_iod
            )
            if score >= s.planar_live_above:
                planar = CueResult(LiveState.LIVE, score)
            elif score <= s.planar_spoof_below and clearly_moving:
                planar = CueResult(LiveState.SPOOF, score)
            else:
                planar = CueResult(LiveState.UNDECIDED, score)
        blink = UNDECIDED_CUE
        if len(self._openness) >= 3:
            drop = blink_drop([v for _, v in self._openness])
            blink = CueResult(LiveState.LIVE if drop >= s.blink_min_drop else LiveState.UNDECIDED, drop)
        eye_rel = UNDECIDED_CUE
        rel_scores = [p.eye_rel_chi2 for p in moving if p.eye_rel_chi2 is not None]
        if len(rel_scores) >= s.min_moving_pairs:
            score = float(np.median(rel_scores))
            state = LiveState.LIVE if score > s.eye_rel_chi2_threshold else LiveState.SPOOF
            eye_rel = CueResult(state, score)
        return patent, norm, blink, planar, eye_rel, len(moving)

    def _verdict(self, t_monotonic: float, face: bool) -> LivenessVerdict:
        s = self.settings
        patent, norm, blink, planar, eye_rel, n_moving = self._cues()
        texture = self._texture_cue()
        use_texture = s.use_texture and self.texture is not None
        # the texture cue is still collecting its window: the motion cues must not admit yet
        texture_pending = (
            use_texture and bool(self._texture_reals) and len(self._texture_reals) < s.texture_frames
        )
        used = [
            (s.use_planar, planar, LiveReason.PLANAR_MOTION, LiveReason.NON_PLANAR_MOTION),
            (s.use_patent_chi2, patent, LiveReason.CHI2, LiveReason.CHI2),
            (s.use_norm_chi2, norm, LiveReason.CHI2, LiveReason.CHI2),
            (s.use_eye_rel_chi2, eye_rel, LiveReason.CHI2, LiveReason.CHI2),
            (s.use_blink, blink, None, LiveReason.BLINK_SEEN),
        ]
        state = LiveState.UNDECIDED
        reason: LiveReason | None = None
        blinked = s.use_blink and blink.state is LiveState.LIVE
        if use_texture and texture.state is LiveState.SPOOF:  # paper or screen: refused
            state, reason = LiveState.SPOOF, LiveReason.TEXTURE_FAKE
        for enabled, cue, spoof_reason, _ in used:  # spoof evidence first: it vetoes life
            if reason is not None:
                break
            if enabled and cue.state is LiveState.SPOOF and spoof_reason is not None:
                # a blink contradicts a plane: neither can be trusted, ask the attendee again
                state, reason = LiveState.UNDECIDED, LiveReason.CONFLICT
                if not blinked:
                    state, reason = LiveState.SPOOF, spoof_reason
        if (
            reason is None
            and use_texture
            and texture.state is LiveState.LIVE
            and not (s.use_planar and self._early_planar())
        ):
            state, reason = LiveState.LIVE, LiveReason.TEXTURE_REAL
        if reason is None and not texture_pending:
            for enabled, cue, _, live_reason in sorted(used, key=lambda u: u[3] is not LiveReason.BLINK_SEEN):
                if enabled and cue.state is LiveState.LIVE:
                    state, reason = LiveState.LIVE, live_reason
                    break
        if reason is None:
            if not face:
                reason = LiveReason.NO_FACE
            elif len(self._pairs) < s.min_moving_pairs:
                reason = LiveReason.COLLECTING
            elif n_moving < s.min_moving_pairs:
                reason = LiveReason.MOVE_A_LITTLE
            else:
                reason = LiveReason.BLINK
        self._decided = state is not LiveState.UNDECIDED
        if state is LiveState.UNDECIDED:
            if self._undecided_since is None:
                self._undecided_since = t_monotonic
            undecided_s = t_monotonic - self._undecided_since
        else:
            self._undecided_since = None
            undecided_s = 0.0
        return LivenessVerdict(
            state, reason, patent, norm, blink, planar, texture, eye_rel, len(self._pairs), n_moving,
            undecided_s,
        )


# --------------------------------------------------------------------------- frames -> verdicts


def evaluation_tracker(detector: FaceDetector, predictor: Landmarker) -> FaceTracker:
    """The face tracking of the liveness evaluation: the gate on every frame (the frames of a
    sequence are far apart in time), and when only the eye check fails the largest face of the
    cascade that is large enough is used (the evaluation measures liveness, not the eye check).
    """
    return FaceTracker(detector, predictor, detect_every_n_frames=1, accept_without_eyes=True,
                       search_near_track=False)


def verdicts_for_frames(
    frames_bgr: Iterable[FrameBGR],
    times_s: Iterable[float],
    tracker: FaceTracker,
    settings: LivenessSettings,
    texture: TextureScorer | None = None,
) -> Iterator[LivenessVerdict]:
    """Run face tracking and a fresh :class:`LivenessTracker` over a sequence of frames.

    Args:
        frames_bgr: the frames in order, each (H, W, 3) uint8 (or (H, W) gray: no texture cue).
        times_s: the capture time of each frame, seconds.
        tracker: the face tracking (:func:`evaluation_tracker` for sparse sequences).
        settings: the ``[liveness]`` settings.
        texture: loaded texture models to share between sequences (None: load them).

    Yields:
        The verdict after each frame.
    """
    liveness = LivenessTracker(settings, texture)
    tracker.reset()
    for frame_bgr, t_s in zip(frames_bgr, times_s):
        face = tracker.update(frame_bgr)
        colour = frame_bgr if frame_bgr.ndim == 3 else None
        yield liveness.update(face.gray, face.landmarks, float(t_s), colour)


__all__ = [
    "CUE_NAMES",
    "CueResult",
    "evaluation_tracker",
    "LiveReason",
    "LiveState",
    "LivenessTracker",
    "LivenessVerdict",
    "PairMeasurement",
    "blink_drop",
    "chi_square",
    "direction_histogram",
    "eye_openness",
    "eye_region_flow_points",
    "head_relative_chi2",
    "homography_residual_ratio",
    "interocular_px",
    "patent_eye_boxes",
    "patent_histograms",
    "patent_statistic",
    "planar_excess_ratio",
    "verdicts_for_frames",
]
