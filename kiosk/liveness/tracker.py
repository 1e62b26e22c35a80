"""The liveness verdict of one tracked face over its approach (docs/ARCHITECTURE.md stage 4).

:class:`LivenessTracker` is fed every frame of one tracked face (the caller resets it when the
tracked face changes) and fuses the cues:

1. ``spoof`` when any texture window of the approach was fake (median of ``texture_frames``
   consecutive samples at or below ``texture_fake_below``): paper or a screen, whenever it shows;
2. ``spoof`` when the planar test says spoof (clear planar motion; a blink in the same window
   makes it a conflict, undecided), or an enabled chi-square cue says spoof;
3. during a head-turn challenge (:mod:`kiosk.liveness.challenge`): ``live`` once the asked turn
   was seen in 3-D, ``spoof`` when the face only turned as a plane, undecided (not admitted)
   when it turned the other way or the time ran out, else the prompt to turn;
4. ``live`` when each of the last ``texture_frames`` texture samples is at or above
   ``texture_real_above`` (the recent samples agree), unless the moving pairs seen so far
   already move like a plane (``planar_early_pairs``);
5. else undecided; still undecided ``challenge_after_s`` after the face's first frame, with the
   texture window complete, the tracker asks for a head turn (left or right at random).

Motion and blink never admit: a replayed recording blinks and turns for real. They veto (a
plane) and are measured and reported. The texture is sampled once every
``texture_interval_s`` from the face's first frame until the verdict is decided, so its
evidence covers the whole approach, not only its first frames.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from kiosk.config import LivenessSettings
from kiosk.flow import track_points
from kiosk.liveness.challenge import HeadTurnChallenge, TurnDirection, TurnResult
from kiosk.liveness.cues import (
    INNER_POINTS,
    blink_drop,
    chi_square,
    direction_histogram,
    eye_openness,
    eye_region_flow_points,
    head_relative_chi2,
    interocular_px,
    patent_eye_boxes,
    planar_excess_ratio,
)
from kiosk.liveness.verdict import (
    UNDECIDED_CUE,
    CueResult,
    LiveReason,
    LiveState,
    LivenessVerdict,
)
from kiosk.stages import FaceDetector, Landmarker
from kiosk.texture import TextureScorer, texture_window_score
from kiosk.tracking import FaceTracker, TrackedFace
from kiosk.types import FrameBGR, FrameGray, Landmarks

MAX_TEXTURE_SAMPLES = 400  # a face undecided for a minute at 0.15 s a sample


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


_CHALLENGE_OUTCOMES = {
    TurnResult.PASSED: (LiveState.LIVE, LiveReason.CHALLENGE_PASSED),
    TurnResult.PLANAR: (LiveState.SPOOF, LiveReason.CHALLENGE_PLANAR),
    TurnResult.WRONG_WAY: (LiveState.UNDECIDED, LiveReason.CHALLENGE_WRONG_WAY),
    TurnResult.TIMED_OUT: (LiveState.UNDECIDED, LiveReason.CHALLENGE_TIMED_OUT),
}
_TURN_PROMPTS = {TurnDirection.LEFT: LiveReason.TURN_LEFT, TurnDirection.RIGHT: LiveReason.TURN_RIGHT}


class LivenessTracker:
    """The liveness of one tracked face (see the module docstring for the rules).

    Feed every frame with the face's landmarks (or None when it was not found); each call
    returns the verdict so far. Frames closer in time than ``min_pair_interval_s`` to the last
    paired frame only feed the blink cue and the challenge, so the flow cues see comparable
    motion at any camera frame rate. The texture cue needs the colour frame (``frame_bgr``).

    Args:
        settings: the ``[liveness]`` settings.
        texture: the texture models; None loads them from ``texture_models_dir`` (checksums
            verified) when ``use_texture`` is on.
        rng: chooses the challenge's direction (default: the system's entropy).

    Raises:
        kiosk.model_files.ModelNotFoundError: a texture model file is missing or damaged.
    """

    def __init__(
        self,
        settings: LivenessSettings,
        texture: TextureScorer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        if texture is None and settings.enabled and settings.use_texture:
            texture = TextureScorer.from_models_dir(settings.texture_models_dir)
        self.texture = texture
        self.rng = rng
        self._pairs: deque[PairMeasurement] = deque(maxlen=settings.window_pairs)
        self._openness: deque[tuple[float, float]] = deque()
        self._texture_reals: deque[float] = deque(maxlen=MAX_TEXTURE_SAMPLES)
        self.reset()

    def reset(self) -> None:
        """Forget everything (another face, a new attendee, or the face was lost)."""
        self._pairs.clear()
        self._openness.clear()
        self._prev: tuple[FrameGray, Landmarks, float] | None = None
        self._undecided_since: float | None = None
        self._first_face_t: float | None = None
        self._texture_reals.clear()
        self._fake_window: float | None = None  # the first fake window's median, once seen
        self._last_texture_t = -math.inf
        self._decided = False
        self._challenge: HeadTurnChallenge | None = None

    def update(
        self,
        gray: FrameGray,
        landmarks: Landmarks | None,
        t_monotonic: float,
        frame_bgr: FrameBGR | None = None,
    ) -> LivenessVerdict:
        """Add one frame and return the verdict.

        Args:
            gray: the frame, (H, W) uint8.
            landmarks: (68, 2) float32 landmarks of the tracked face in ``gray``, or None.
            t_monotonic: capture time of the frame, seconds (``time.monotonic()``).
            frame_bgr: the same frame in colour, (H, W, 3) uint8, for the texture cue (without
                it the texture cue is not measured).
        """
        if not self.settings.enabled:
            return LivenessVerdict(LiveState.LIVE, LiveReason.DISABLED)
        if landmarks is None:
            self._prev = None  # a pair needs two consecutive frames with a face
            if self._challenge is not None:
                self._challenge.update(None, t_monotonic)
            return self._verdict(t_monotonic, None)
        landmarks = np.asarray(landmarks, np.float32).reshape(68, 2)
        if self._first_face_t is None:
            self._first_face_t = t_monotonic
        self._add_openness(landmarks, t_monotonic)
        self._add_texture(frame_bgr, landmarks, t_monotonic)
        if self._prev is None:
            self._prev = (gray, landmarks, t_monotonic)
        elif t_monotonic - self._prev[2] >= self.settings.min_pair_interval_s - 1e-9:
            prev_gray, prev_landmarks, _ = self._prev
            if prev_gray.shape == gray.shape:
                self._pairs.append(self._measure(prev_gray, gray, prev_landmarks, t_monotonic))
            self._prev = (gray, landmarks, t_monotonic)
        if self._challenge is not None:
            self._challenge.update(landmarks, t_monotonic)
        return self._verdict(t_monotonic, landmarks)

    # ------------------------------------------------------------------ internals

    def _add_texture(
        self, frame_bgr: FrameBGR | None, landmarks: Landmarks, t_monotonic: float
    ) -> None:
        """Score the texture of this frame when it is time for the next sample.

        Sampling runs from the face's first frame until the verdict is decided, one frame every
        ``texture_interval_s``; each new complete window is checked for a fake.
        """
        s = self.settings
        if self.texture is None or not s.use_texture or frame_bgr is None or frame_bgr.ndim != 3:
            return
        if self._decided and len(self._texture_reals) >= s.texture_frames:
            return
        if self._challenge is not None and self._challenge.result is not TurnResult.PENDING:
            return  # the challenge is over for this face: nothing left to decide
        if t_monotonic - self._last_texture_t < s.texture_interval_s - 1e-9:
            return
        self._texture_reals.append(self.texture.score(frame_bgr, landmarks).real)
        self._last_texture_t = t_monotonic
        if self._fake_window is None and len(self._texture_reals) >= s.texture_frames:
            window = texture_window_score(list(self._texture_reals)[-s.texture_frames:])
            if window is not None and window <= s.texture_fake_below:
                self._fake_window = window

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
        """Spoof once any window of the approach was fake; live when each of the last
        ``texture_frames`` samples is real; the score is the fake window's median, else the
        lowest of the last samples (None until there are ``texture_frames`` samples)."""
        s = self.settings
        if self._fake_window is not None:
            return CueResult(LiveState.SPOOF, self._fake_window)
        if len(self._texture_reals) < s.texture_frames:
            return UNDECIDED_CUE
        recent = min(list(self._texture_reals)[-s.texture_frames:])
        if recent >= s.texture_real_above:
            return CueResult(LiveState.LIVE, recent)
        return CueResult(LiveState.UNDECIDED, recent)

    def _texture_window_complete(self) -> bool:
        return len(self._texture_reals) >= self.settings.texture_frames

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

    def _ask_challenge(self, t_monotonic: float, landmarks: Landmarks | None) -> bool:
        """Start a head-turn challenge when the passive evidence stayed unclear long enough."""
        s = self.settings
        if not s.use_challenge or landmarks is None or self._first_face_t is None:
            return False
        if t_monotonic - self._first_face_t < s.challenge_after_s - 1e-9:
            return False
        if s.use_texture and self.texture is not None and not self._texture_window_complete():
            return False
        self._challenge = HeadTurnChallenge(
            TurnDirection.random(self.rng), landmarks, t_monotonic, s.challenge_timeout_s,
            s.challenge_min_turn, s.challenge_nonplanar_above, s.challenge_noise_iod,
            s.challenge_min_depth_ratio,
        )
        return True

    def _verdict(self, t_monotonic: float, landmarks: Landmarks | None) -> LivenessVerdict:
        s = self.settings
        patent, norm, blink, planar, eye_rel, n_moving = self._cues()
        texture = self._texture_cue()
        use_texture = s.use_texture and self.texture is not None
        vetoes = [
            (s.use_planar, planar, LiveReason.PLANAR_MOTION),
            (s.use_patent_chi2, patent, LiveReason.CHI2),
            (s.use_norm_chi2, norm, LiveReason.CHI2),
            (s.use_eye_rel_chi2, eye_rel, LiveReason.CHI2),
        ]
        state = LiveState.UNDECIDED
        reason: LiveReason | None = None
        blinked = s.use_blink and blink.state is LiveState.LIVE
        if use_texture and texture.state is LiveState.SPOOF:  # paper or screen: refused
            state, reason = LiveState.SPOOF, LiveReason.TEXTURE_FAKE
        for enabled, cue, spoof_reason in vetoes:  # spoof evidence: it vetoes life
            if reason is not None:
                break
            if enabled and cue.state is LiveState.SPOOF:
                if not blinked:
                    state, reason = LiveState.SPOOF, spoof_reason
                elif self._challenge is None:
                    # a blink contradicts a plane: neither can be trusted, look at the camera
                    state, reason = LiveState.UNDECIDED, LiveReason.CONFLICT
        if reason is None and self._challenge is not None:
            outcome = _CHALLENGE_OUTCOMES.get(self._challenge.result)
            if outcome is None:  # still pending: keep asking
                state, reason = LiveState.UNDECIDED, _TURN_PROMPTS[self._challenge.direction]
            else:
                state, reason = outcome
        if (
            reason is None
            and use_texture
            and texture.state is LiveState.LIVE
            and not (s.use_planar and self._early_planar())
        ):
            state, reason = LiveState.LIVE, LiveReason.TEXTURE_REAL
        if reason is None and self._ask_challenge(t_monotonic, landmarks):
            assert self._challenge is not None
            reason = _TURN_PROMPTS[self._challenge.direction]
        if reason is None:
            if landmarks is None:
                reason = LiveReason.NO_FACE
            elif use_texture and not self._texture_window_complete():
                reason = LiveReason.COLLECTING
            else:
                reason = LiveReason.UNCLEAR
        self._decided = state is not LiveState.UNDECIDED
        if state is LiveState.UNDECIDED:
            if self._undecided_since is None:
                self._undecided_since = t_monotonic
            undecided_s = t_monotonic - self._undecided_since
        else:
            self._undecided_since = None
            undecided_s = 0.0
        challenge = self._challenge
        return LivenessVerdict(
            state, reason, patent, norm, blink, planar, texture, eye_rel, len(self._pairs), n_moving,
            undecided_s, challenge is not None, challenge.yaw_change if challenge else None,
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
    rng: random.Random | None = None,
) -> Iterator[tuple[TrackedFace, LivenessVerdict]]:
    """Run face tracking and a :class:`LivenessTracker` over a sequence of frames, as the kiosk
    does: the liveness starts over whenever the tracked face changes (another face).

    Args:
        frames_bgr: the frames in order, each (H, W, 3) uint8 (or (H, W) gray: no texture cue).
        times_s: the capture time of each frame, seconds.
        tracker: the face tracking (:func:`evaluation_tracker` for sparse sequences).
        settings: the ``[liveness]`` settings.
        texture: loaded texture models to share between sequences (None: load them).
        rng: chooses a challenge's direction.

    Yields:
        (the tracked face, the verdict) after each frame.
    """
    liveness = LivenessTracker(settings, texture, rng)
    tracker.reset()
    track_id: int | None = None
    for frame_bgr, t_s in zip(frames_bgr, times_s):
        face = tracker.update(frame_bgr)
        if face.landmarks is not None and face.track_id != track_id:
            if track_id is not None:
                liveness.reset()
            track_id = face.track_id
        colour = frame_bgr if frame_bgr.ndim == 3 else None
        yield face, liveness.update(face.gray, face.landmarks, float(t_s), colour)
