"""The liveness verdict: its states, the reasons, one cue's result (docs/LIVENESS.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LiveState(enum.Enum):
    """The liveness decision."""

    LIVE = "live"
    SPOOF = "spoof"
    UNDECIDED = "undecided"


class LiveReason(enum.Enum):
    """Why the verdict is what it is; the undecided ones map to a prompt on the kiosk screen."""

    DISABLED = "disabled"  # liveness switched off in the settings: always live
    NO_FACE = "no_face"
    COLLECTING = "collecting"  # the texture window is not complete yet
    UNCLEAR = "unclear"  # the passive evidence is not clear (yet); no challenge (switched off)
    PLANAR_MOTION = "planar_motion"
    CHI2 = "chi2"  # refused by a chi-square cue (patent or normalised), when switched on
    CONFLICT = "conflict"  # a blink and planar motion in the same window: look at the camera
    TEXTURE_REAL = "texture_real"  # the recent texture samples all say real, nothing against
    TEXTURE_FAKE = "texture_fake"  # a texture window of the approach says fake (paper, screen)
    TURN_LEFT = "turn_left"  # challenge: the attendee is asked to turn the head to their left
    TURN_RIGHT = "turn_right"  # ... to their right
    CHALLENGE_PASSED = "challenge_passed"  # the asked turn happened, in time, in 3-D
    CHALLENGE_PLANAR = "challenge_planar"  # the face turned like a plane (a photo): refused
    CHALLENGE_WRONG_WAY = "challenge_wrong_way"  # turned the other way: not admitted
    CHALLENGE_TIMED_OUT = "challenge_timed_out"  # no turn in time: not admitted


CHALLENGE_PROMPTS = (LiveReason.TURN_LEFT, LiveReason.TURN_RIGHT)
CHALLENGE_FAILURES = (LiveReason.CHALLENGE_WRONG_WAY, LiveReason.CHALLENGE_TIMED_OUT)


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
        reason: why; for ``UNDECIDED`` the prompt to show ("turn_left", "collecting", ...).
        patent_chi2: the patent's statistic alone (mean raw chi-square over the window's pairs).
        norm_chi2: normalised chi-square over the moving pairs (median).
        blink: blink cue (score: largest relative drop of eye opening in the blink window).
        planar: planar-motion cue (score: median homography residual / motion over moving pairs).
        texture: texture cue (score: the lowest of the last ``texture_frames`` samples, the
            admission statistic, None before that many samples; state spoof, with the fake
            window's median as score, once any window of the approach was fake).
        eye_rel_chi2: the patent's statistic on motion relative to the head's own motion
            (normalised histograms; median over the moving pairs).
        pairs_used: frame pairs in the window.
        moving_pairs: pairs of the window above the motion floor.
        undecided_s: how long the tracker has been undecided (0 once decided).
        challenge_asked: whether a head-turn challenge was asked of this face.
        yaw_change: the challenge's head turn so far (nose-to-eye-corner asymmetry, positive
            towards the attendee's left; None without a challenge).
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
    challenge_asked: bool = False
    yaw_change: float | None = None

    def cue(self, name: str) -> CueResult:
        """A cue by name (one of :data:`CUE_NAMES`)."""
        if name not in CUE_NAMES:
            raise KeyError(name)
        result: CueResult = getattr(self, name)
        return result


CUE_NAMES = ("patent_chi2", "norm_chi2", "eye_rel_chi2", "blink", "planar", "texture")
