"""Stage 4, liveness (docs/ARCHITECTURE.md, docs/LIVENESS.md): is the tracked face a live person?

- :mod:`kiosk.liveness.cues`: the cues as pure functions (the patent's chi-square statistic of
  CN108537131B, eye opening and blink, the planar-motion residual, the head-relative statistic);
- :mod:`kiosk.liveness.challenge`: the head-turn challenge asked when the passive evidence is not
  clear (a random turn to the attendee's left or right, checked as a 3-D motion);
- :mod:`kiosk.liveness.tracker`: :class:`LivenessTracker`, the verdict of one tracked face, and
  the frames-to-verdicts loop of the evaluation;
- :mod:`kiosk.liveness.verdict`: the verdict, its states and reasons.

The texture cue (MiniFASNet) is :mod:`kiosk.texture`.
"""

from kiosk.liveness.challenge import (
    HeadTurnChallenge,
    TurnDirection,
    TurnResult,
    head_yaw,
    judge_turn,
    nose_midline_offset,
)
from kiosk.liveness.cues import (
    blink_drop,
    chi_square,
    direction_histogram,
    eye_openness,
    eye_region_flow_points,
    head_relative_chi2,
    homography_residual_ratio,
    interocular_px,
    patent_eye_boxes,
    patent_histograms,
    patent_statistic,
    planar_excess_ratio,
)
from kiosk.liveness.tracker import (
    LivenessTracker,
    PairMeasurement,
    evaluation_tracker,
    verdicts_for_frames,
)
from kiosk.liveness.verdict import (
    CHALLENGE_FAILURES,
    CHALLENGE_PROMPTS,
    CUE_NAMES,
    CueResult,
    LiveReason,
    LiveState,
    LivenessVerdict,
)

__all__ = [
    "CHALLENGE_FAILURES",
    "CHALLENGE_PROMPTS",
    "CUE_NAMES",
    "CueResult",
    "HeadTurnChallenge",
    "LiveReason",
    "LiveState",
    "LivenessTracker",
    "LivenessVerdict",
    "PairMeasurement",
    "TurnDirection",
    "TurnResult",
    "blink_drop",
    "chi_square",
    "direction_histogram",
    "evaluation_tracker",
    "eye_openness",
    "eye_region_flow_points",
    "head_relative_chi2",
    "head_yaw",
    "homography_residual_ratio",
    "interocular_px",
    "judge_turn",
    "nose_midline_offset",
    "patent_eye_boxes",
    "patent_histograms",
    "patent_statistic",
    "planar_excess_ratio",
    "verdicts_for_frames",
]
