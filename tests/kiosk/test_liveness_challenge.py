"""Liveness fusion and the head-turn challenge on scripted landmarks: motion and blink never admit,
a fake texture window anywhere vetoes, the challenge passes only for the asked 3-D turn."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from kiosk.config import LivenessSettings
from kiosk.liveness import (
    CHALLENGE_PROMPTS,
    LiveReason,
    LiveState,
    LivenessTracker,
    TurnDirection,
    TurnResult,
    head_yaw,
    judge_turn,
)
from kiosk.texture import TextureScore
from tests.kiosk.fakes import TEMPLATE

STEP_S = 0.1
FACE_SIDE_PX = 120.0
FACE_ORIGIN_PX = (90.0, 60.0)
# depth of each template point towards the camera, in face widths: the nose protrudes (its tip,
# point 30, most), the mouth a little, the jaw line curves back
DEPTH = np.zeros(68)
DEPTH[27:31] = [0.1, 0.15, 0.2, 0.25]
DEPTH[31:36] = [0.15, 0.16, 0.17, 0.16, 0.15]
DEPTH[17:27] = 0.02
DEPTH[48:68] = 0.08
DEPTH[0:17] = -0.3 * np.abs(TEMPLATE[0:17, 0] - 0.5) / 0.45


def head(yaw_deg: float, flat: bool = False) -> np.ndarray:
    """68 landmarks of a head turned by ``yaw_deg`` (positive: to the attendee's left, i.e. the
    nose moves to the right of the image); ``flat``: a photo of the frontal face turned the same
    way (every point at depth 0)."""
    angle = np.radians(yaw_deg)
    depth = np.zeros(68) if flat else DEPTH
    x = 0.5 + (TEMPLATE[:, 0] - 0.5) * np.cos(angle) + depth * np.sin(angle)
    points = np.column_stack([x, TEMPLATE[:, 1]]) * FACE_SIDE_PX + FACE_ORIGIN_PX
    return points.astype(np.float32)


class ScriptedTexture:
    """A test double for :class:`kiosk.texture.TextureScorer`: scripted "real" probabilities,
    the last one repeated."""

    def __init__(self, reals: list[float]) -> None:
        self.reals = reals
        self.calls = 0

    def score(self, frame_bgr: np.ndarray, landmarks: np.ndarray) -> TextureScore:
        real = self.reals[min(self.calls, len(self.reals) - 1)]
        self.calls += 1
        return TextureScore(real, (real,))


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    gray = cv2.GaussianBlur(rng.integers(0, 255, (300, 320), dtype=np.uint8), (5, 5), 0)
    return gray, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def feed(tracker: LivenessTracker, landmarks_per_frame: list[np.ndarray], start_s: float = 0.0) -> list:
    gray, frame_bgr = _scene()
    return [
        tracker.update(gray, landmarks, start_s + i * STEP_S, frame_bgr)
        for i, landmarks in enumerate(landmarks_per_frame)
    ]


def asked(texture_reals: list[float] | None = None, **settings: object) -> tuple[LivenessTracker, list]:
    """A tracker whose passive evidence stayed unclear until it asked for a turn."""
    texture = ScriptedTexture(texture_reals or [0.5])
    tracker = LivenessTracker(LivenessSettings(**settings), texture)  # type: ignore[arg-type]
    verdicts = feed(tracker, [head(0)] * 12)
    return tracker, verdicts


# ---------------------------------------------------------------- the turn measure


@pytest.mark.parametrize("yaw_deg", [5.0, 10.0, 15.0, 25.0])
def test_head_yaw_follows_the_turn_and_ignores_a_flat_photo_turned(yaw_deg: float) -> None:
    assert head_yaw(head(0)) == pytest.approx(0.0, abs=1e-6)
    assert head_yaw(head(yaw_deg)) > 0.015 * yaw_deg  # to the attendee's left: positive
    assert head_yaw(head(-yaw_deg)) == pytest.approx(-head_yaw(head(yaw_deg)), abs=1e-5)
    assert abs(head_yaw(head(yaw_deg, flat=True))) < 1e-6


def test_head_yaw_ignores_rolling_the_head() -> None:
    centre = head(0).mean(axis=0)
    rotation = cv2.getRotationMatrix2D(tuple(float(v) for v in centre), 20.0, 1.0)
    rolled = cv2.transform(head(0)[None], rotation)[0]
    assert head_yaw(rolled) == pytest.approx(0.0, abs=1e-3)


def test_a_sheet_under_perspective_that_seems_to_turn_is_planar() -> None:
    # a photo swung towards the camera: the perspective moves the nose between the eye corners
    # as much as a turn would, but every point stays on the sheet's plane
    start = head(0)
    swing = np.array([[1, 0, 0], [0, 1, 0], [0.004, 0, 1]], np.float64)
    swung = cv2.perspectiveTransform(start.reshape(-1, 1, 2).astype(np.float64), swing).reshape(-1, 2)
    settings = LivenessSettings()
    result, change, _ = judge_turn(
        start, swung, TurnDirection.RIGHT, settings.challenge_min_turn,
        settings.challenge_nonplanar_above, settings.challenge_noise_iod,
        settings.challenge_min_depth_ratio,
    )
    assert abs(change) >= settings.challenge_min_turn
    assert result is TurnResult.PLANAR


def test_the_direction_is_chosen_at_random() -> None:
    directions = {
        TurnDirection.random(random.Random(seed)) for seed in range(20)
    }
    assert directions == {TurnDirection.LEFT, TurnDirection.RIGHT}


# ---------------------------------------------------------------- the challenge in the tracker


def _turn_frames(direction_sign: int, flat: bool = False) -> list[np.ndarray]:
    return [head(direction_sign * 4.0 * (i + 1), flat) for i in range(6)]


def _asked_direction(verdict: object) -> int:
    assert verdict.reason in CHALLENGE_PROMPTS, verdict.reason  # type: ignore[attr-defined]
    return 1 if verdict.reason is LiveReason.TURN_LEFT else -1  # type: ignore[attr-defined]


def test_unclear_texture_asks_for_a_turn_after_challenge_after_s() -> None:
    _, verdicts = asked()
    asked_at = next(i for i, v in enumerate(verdicts) if v.reason in CHALLENGE_PROMPTS)
    assert asked_at * STEP_S == pytest.approx(LivenessSettings().challenge_after_s)
    assert all(v.state is LiveState.UNDECIDED for v in verdicts)
    assert verdicts[-1].challenge_asked


def test_the_challenge_passes_when_the_head_turns_the_asked_way() -> None:
    tracker, verdicts = asked()
    sign = _asked_direction(verdicts[-1])
    turned = feed(tracker, _turn_frames(sign), start_s=len(verdicts) * STEP_S)
    assert turned[-1].state is LiveState.LIVE
    assert turned[-1].reason is LiveReason.CHALLENGE_PASSED
    assert turned[-1].yaw_change * sign >= LivenessSettings().challenge_min_turn


def test_the_challenge_fails_when_the_head_turns_the_other_way() -> None:
    tracker, verdicts = asked()
    sign = _asked_direction(verdicts[-1])
    turned = feed(tracker, _turn_frames(-sign) + _turn_frames(sign), start_s=len(verdicts) * STEP_S)
    assert all(v.state is not LiveState.LIVE for v in turned)  # no second chance by turning back
    assert turned[-1].reason is LiveReason.CHALLENGE_WRONG_WAY


def test_the_challenge_times_out_when_the_face_stays_still() -> None:
    tracker, verdicts = asked()
    timeout_s = LivenessSettings().challenge_timeout_s
    still = feed(tracker, [head(0)] * int(timeout_s / STEP_S + 3), start_s=len(verdicts) * STEP_S)
    assert all(v.state is LiveState.UNDECIDED for v in still)
    assert still[0].reason in CHALLENGE_PROMPTS
    assert still[-1].reason is LiveReason.CHALLENGE_TIMED_OUT


def test_the_challenge_fails_when_a_photo_is_turned() -> None:
    tracker, verdicts = asked()
    sign = _asked_direction(verdicts[-1])
    timeout_s = LivenessSettings().challenge_timeout_s
    frames = _turn_frames(sign, flat=True) * int(timeout_s / STEP_S / 6 + 2)
    turned = feed(tracker, frames, start_s=len(verdicts) * STEP_S)
    assert all(v.state is not LiveState.LIVE for v in turned)


def test_a_challenge_is_not_asked_when_switched_off() -> None:
    _, verdicts = asked(use_challenge=False)
    assert all(v.reason is not LiveReason.TURN_LEFT and v.reason is not LiveReason.TURN_RIGHT
               for v in verdicts)
    assert verdicts[-1].reason is LiveReason.UNCLEAR


# ---------------------------------------------------------------- what may admit


def _blinking(frames: int, blink_every: int = 4) -> list[np.ndarray]:
    series = []
    for i in range(frames):
        landmarks = head(0)
        if i % blink_every == 2:  # lids meet for one frame
            for a, b in ((37, 41), (38, 40), (43, 47), (44, 46)):
                landmarks[a, 1] = landmarks[b, 1] = (landmarks[a, 1] + landmarks[b, 1]) / 2
        series.append(landmarks)
    return series


def test_blinks_never_admit_alone() -> None:
    tracker = LivenessTracker(LivenessSettings(use_challenge=False), ScriptedTexture([0.6]))  # type: ignore[arg-type]
    verdicts = feed(tracker, _blinking(40))
    assert any(v.blink.state is LiveState.LIVE for v in verdicts)  # the cue saw the blinks
    assert all(v.state is not LiveState.LIVE for v in verdicts)


def test_non_planar_motion_never_admits_alone() -> None:
    # the nose region moves on its own while the face translates: LK sees 3-D, non-rigid motion
    gray, _ = _scene()
    height, width = gray.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    nose = head(0)[30]
    blob = np.exp(-((xs - nose[0]) ** 2 + (ys - nose[1]) ** 2) / (2 * 12.0 ** 2)).astype(np.float32)
    tracker = LivenessTracker(LivenessSettings(use_challenge=False), ScriptedTexture([0.6]))  # type: ignore[arg-type]
    verdicts = []
    for i in range(30):
        shift = 1.5 * i + 3.0 * (i % 2) * blob  # the nose goes back and forth, the face drifts
        frame = cv2.remap(gray, xs - shift, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        landmarks = head(0) + np.float32([1.5 * i, 0])
        verdicts.append(tracker.update(frame, landmarks, i * STEP_S,
                                       cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)))
    assert any(v.planar.state is LiveState.LIVE for v in verdicts), [v.planar for v in verdicts]
    assert all(v.state is not LiveState.LIVE for v in verdicts)


def test_texture_admission_needs_the_recent_samples_to_agree() -> None:
    # one sample of three below texture_real_above holds the admission back until three agree
    texture = ScriptedTexture([0.95, 0.6, 0.95, 0.95, 0.95])
    verdicts = feed(LivenessTracker(LivenessSettings(), texture), [head(0)] * 12)  # type: ignore[arg-type]
    first_live = next(i for i, v in enumerate(verdicts) if v.state is LiveState.LIVE)
    assert texture.calls == 5 and verdicts[first_live].reason is LiveReason.TEXTURE_REAL
    assert all(v.state is LiveState.UNDECIDED for v in verdicts[:first_live])


def test_a_fake_window_late_in_the_approach_vetoes() -> None:
    # unclear for a while (no challenge), then the texture turns fake: refused, never admitted
    texture = ScriptedTexture([0.7, 0.75, 0.7, 0.75, 0.7, 0.1, 0.1, 0.1, 0.95])
    tracker = LivenessTracker(LivenessSettings(use_challenge=False), texture)  # type: ignore[arg-type]
    verdicts = feed(tracker, [head(0)] * 20)
    assert all(v.state is not LiveState.LIVE for v in verdicts)
    assert verdicts[-1].state is LiveState.SPOOF and verdicts[-1].reason is LiveReason.TEXTURE_FAKE


def test_a_fake_window_during_a_challenge_vetoes_a_correct_turn() -> None:
    # the screen shows the prompt; while the attendee reads it the texture turns fake
    tracker, verdicts = asked([0.5] * 8 + [0.1])
    sign = _asked_direction(verdicts[-1])
    turned = feed(tracker, [head(0)] * 5 + _turn_frames(sign), start_s=len(verdicts) * STEP_S)
    assert all(v.state is not LiveState.LIVE for v in turned)
    assert turned[-1].reason is LiveReason.TEXTURE_FAKE


def test_an_early_fake_window_is_not_forgotten_when_the_texture_looks_real_later() -> None:
    texture = ScriptedTexture([0.1, 0.1, 0.1, 0.99])
    verdicts = feed(LivenessTracker(LivenessSettings(), texture), [head(0)] * 15)  # type: ignore[arg-type]
    assert all(v.state is not LiveState.LIVE for v in verdicts)
    assert verdicts[-1].state is LiveState.SPOOF
