"""The head-turn challenge: asked when the passive evidence is not clear (docs/LIVENESS.md).

The attendee screen asks for a small action chosen at random each time (turn the head to your
left, or to your right); the kiosk checks that it happened in time and as a three-dimensional
motion of the landmarks. A printed photo cannot turn (turning the sheet moves it as one plane)
and a recording cannot know which way it will be asked to turn.

The turn is measured from the 68 landmarks alone (:func:`head_yaw`): the nose tip (point 30)
protrudes from the plane of the eye corners (points 36 and 45), so when the head turns, the nose
tip moves towards one eye corner in the image. Its position between the two corners, as an
asymmetry in [-1, 1], changes by about 0.25 for a 15 degree turn and hardly at all when a flat
photo is turned or tilted. The 3-D check has two parts:

- the planar-homography residual between the landmarks when the challenge was asked and those of
  the turned face (:func:`kiosk.liveness.cues.planar_excess_ratio`): a flat sheet's landmarks are
  mapped onto each other by a homography, a head's are not;
- the nose tip leaving the face's midline (:func:`nose_midline_offset`): a homography keeps
  straight lines straight, so on a sheet, flat or bent about a vertical axis, the nose tip stays
  on the line from the top of the nose (point 27) to the chin (point 8); on a head it protrudes
  and moves off that line by a share of the turn (:func:`judge_turn`'s ``min_depth_ratio``).
  On nuaa-dev, frame pairs turned by at least 0.15: live heads 0.28-0.6 (5th-95th percentile,
  median 0.40), printed photos turned or bent 0.06-0.25 (median 0.16).

Directions are the attendee's own: "left" is the attendee's left, which is the right-hand side
of a camera image that is not mirrored.
"""

from __future__ import annotations

import enum
import random

import numpy as np

from kiosk.liveness.cues import INNER_POINTS, interocular_px, planar_excess_ratio
from kiosk.types import Landmarks

NOSE_TIP = 30
RIGHT_EYE_OUTER = 36  # the attendee's right eye, on the left of the image
LEFT_EYE_OUTER = 45


class TurnDirection(enum.Enum):
    """Which way the attendee is asked to turn the head (their own left or right)."""

    LEFT = "left"
    RIGHT = "right"

    @property
    def sign(self) -> int:
        """+1 for a turn that raises :func:`head_yaw` (the attendee's left), else -1."""
        return 1 if self is TurnDirection.LEFT else -1

    @staticmethod
    def random(rng: random.Random | None = None) -> TurnDirection:
        """Left or right at random (the system's entropy by default)."""
        chooser = rng if rng is not None else random.SystemRandom()
        return chooser.choice((TurnDirection.LEFT, TurnDirection.RIGHT))


class TurnResult(enum.Enum):
    """The state of a head-turn challenge."""

    PENDING = "pending"  # no clear turn yet (still time)
    PASSED = "passed"  # turned the asked way, in 3-D
    PLANAR = "planar"  # every turn seen moved the landmarks as one plane: a photo
    WRONG_WAY = "wrong_way"  # turned clearly the other way
    TIMED_OUT = "timed_out"  # no clear turn before the time-out


def head_yaw(landmarks: Landmarks) -> float:
    """How far the head is turned, from the nose tip's place between the outer eye corners.

    With ``a`` the distance from the attendee's right outer eye corner (point 36) to the nose
    tip (point 30) and ``b`` from the nose tip to the left outer corner (point 45), both
    measured along the line through the two corners (so rolling the head changes nothing), the
    asymmetry is ``(a - b) / (a + b)``: 0 for a frontal face, positive when the head is turned
    to the attendee's left, negative to the right, about 0.25 for 15 degrees.

    Args:
        landmarks: (68, 2) dlib landmarks, pixels.

    Returns:
        The asymmetry in [-1, 1] (0 when the eye corners coincide).
    """
    points = np.asarray(landmarks, np.float64).reshape(68, 2)
    corner_r, corner_l, nose = points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER], points[NOSE_TIP]
    axis = corner_l - corner_r
    length = float(np.hypot(*axis))
    if length <= 1e-6:
        return 0.0
    along = float(np.dot(nose - corner_r, axis / length))  # a; b = length - a
    return float(np.clip((2.0 * along - length) / length, -1.0, 1.0))


def nose_midline_offset(landmarks: Landmarks) -> float:
    """How far the nose tip (point 30) is off the line from the top of the nose (point 27) to the
    chin (point 8), signed, in inter-ocular distances (positive towards the attendee's right,
    the left of the image, for an upright face)."""
    points = np.asarray(landmarks, np.float64).reshape(68, 2)
    top, chin, tip = points[27], points[8], points[NOSE_TIP]
    axis = chin - top
    length = float(np.hypot(*axis))
    if length <= 1e-6:
        return 0.0
    normal = np.array([-axis[1], axis[0]]) / length
    return float(np.dot(tip - top, normal)) / max(interocular_px(points), 1.0)


def judge_turn(
    start_landmarks: Landmarks,
    landmarks: Landmarks,
    direction: TurnDirection,
    min_turn: float,
    nonplanar_above: float,
    noise_iod: float,
    min_depth_ratio: float,
) -> tuple[TurnResult, float, float | None]:
    """Whether the face turned the asked way since the challenge was asked, in three dimensions.

    Args:
        start_landmarks: (68, 2) landmarks when the challenge was asked.
        landmarks: (68, 2) landmarks now.
        direction: the asked turn.
        min_turn: the change of :func:`head_yaw` that counts as a turn.
        nonplanar_above: the planar residual ratio (inner landmarks, start -> now) a turn must
            reach to count as 3-D; below it the turn moved like a plane.
        noise_iod: the landmark noise allowed for, in inter-ocular distances.
        min_depth_ratio: how far the nose tip must leave the midline (:func:`nose_midline_offset`,
            in inter-ocular distances) per unit of turn; below it the turn is a sheet's.

    Returns:
        (result, yaw change towards the attendee's left, depth ratio or None): the result is
        PENDING while the turn is smaller than ``min_turn``; PLANAR when the turn is not 3-D.
    """
    change = head_yaw(landmarks) - head_yaw(start_landmarks)
    if abs(change) < min_turn:
        return TurnResult.PENDING, change, None
    start = np.asarray(start_landmarks, np.float32).reshape(68, 2)[INNER_POINTS]
    now = np.asarray(landmarks, np.float32).reshape(68, 2)[INNER_POINTS]
    noise_px = noise_iod * max(interocular_px(np.asarray(start_landmarks).reshape(68, 2)), 1.0)
    fitted = planar_excess_ratio(start, now, noise_px)
    # the nose tip moves off the midline opposite to the asymmetry's sign when a head turns
    offset = nose_midline_offset(landmarks) - nose_midline_offset(start_landmarks)
    depth_ratio = -offset * float(np.sign(change)) / abs(change)
    if fitted is None or fitted[0] < nonplanar_above or depth_ratio < min_depth_ratio:
        return TurnResult.PLANAR, change, depth_ratio
    if np.sign(change) != direction.sign:
        return TurnResult.WRONG_WAY, change, depth_ratio
    return TurnResult.PASSED, change, depth_ratio


class HeadTurnChallenge:
    """One head-turn challenge, from the moment it is asked until it is passed or failed.

    Args:
        direction: the asked turn (:meth:`TurnDirection.random` chooses it).
        start_landmarks: (68, 2) landmarks of the face when it was asked.
        started_s: when it was asked (``t_monotonic``).
        timeout_s: how long the attendee has.
        min_turn, nonplanar_above, noise_iod, min_depth_ratio: see :func:`judge_turn`.

    Attributes:
        result: PENDING until the asked turn was seen in 3-D (PASSED), a 3-D turn the other
            way (WRONG_WAY), or the time ran out (PLANAR when the only turns seen moved like a
            plane, else TIMED_OUT); final after that.
        yaw_change: the largest turn seen so far (signed, towards the attendee's left).
    """

    def __init__(
        self,
        direction: TurnDirection,
        start_landmarks: Landmarks,
        started_s: float,
        timeout_s: float,
        min_turn: float,
        nonplanar_above: float,
        noise_iod: float,
        min_depth_ratio: float,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s: must be > 0")
        if not 0 < min_turn < 1:
            raise ValueError("min_turn: must be in (0, 1)")
        self.direction = direction
        self.start_landmarks = np.asarray(start_landmarks, np.float32).reshape(68, 2).copy()
        self.started_s = started_s
        self.timeout_s = timeout_s
        self.min_turn = min_turn
        self.nonplanar_above = nonplanar_above
        self.noise_iod = noise_iod
        self.min_depth_ratio = min_depth_ratio
        self.result = TurnResult.PENDING
        self.yaw_change = 0.0
        self._planar_seen = False

    def update(self, landmarks: Landmarks | None, t_monotonic: float) -> TurnResult:
        """Judge one more frame of the face (None: no face in this frame); final results stick."""
        if self.result is not TurnResult.PENDING:
            return self.result
        if landmarks is not None:
            result, change, _ = judge_turn(
                self.start_landmarks, landmarks, self.direction, self.min_turn,
                self.nonplanar_above, self.noise_iod, self.min_depth_ratio,
            )
            if abs(change) > abs(self.yaw_change):
                self.yaw_change = change
            if result is TurnResult.PLANAR:
                # not final at once: one noisy frame of a live head must not refuse it; a
                # photo keeps moving like a plane until the time runs out
                self._planar_seen = True
            elif result is not TurnResult.PENDING:
                self.result = result
                return result
        if t_monotonic - self.started_s > self.timeout_s:
            self.result = TurnResult.PLANAR if self._planar_seen else TurnResult.TIMED_OUT
        return self.result


__all__ = [
    "HeadTurnChallenge", "TurnDirection", "TurnResult", "head_yaw", "judge_turn", "nose_midline_offset",
]
