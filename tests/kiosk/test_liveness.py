"""Liveness: pure functions against hand-computed values, the tracker on synthetic motion."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.config import LivenessSettings
from kiosk.liveness import (
    CHALLENGE_PROMPTS,
    evaluation_tracker,
    LiveReason,
    LiveState,
    LivenessTracker,
    blink_drop,
    chi_square,
    direction_histogram,
    eye_openness,
    homography_residual_ratio,
    patent_eye_boxes,
    patent_histograms,
    patent_statistic,
    planar_excess_ratio,
    verdicts_for_frames,
)
from kiosk.texture import TextureScore
from kiosk.eval.liveness import (
    Evaluation,
    ManifestError,
    Sequence,
    error_rates,
    read_sources,
    summarise,
    read_manifest,
    threshold_for_bpcer,
)

# ---------------------------------------------------------------- histograms and chi-square


@pytest.mark.parametrize(
    ("dx", "dy", "expected"),
    [
        ([], [], [0] * 10),
        ([1.0], [0.0], [1] + [0] * 9),  # angle 0 -> bin 0
        ([0.0], [1.0], [0, 0, 1] + [0] * 7),  # pi/2 = 2.5 bins -> bin 2
        ([-1.0], [0.0], [0] * 5 + [1] + [0] * 4),  # pi -> bin 5
        ([0.0], [-1.0], [0] * 7 + [1] + [0] * 2),  # 3pi/2 = 7.5 bins -> bin 7
        ([1.0, 1.0, -1.0], [0.001, -0.001, -0.001], [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]),
    ],
)
def test_direction_histogram_bins(dx: list[float], dy: list[float], expected: list[int]) -> None:
    np.testing.assert_array_equal(direction_histogram(dx, dy), expected)


def test_direction_histogram_normalised_sums_to_one() -> None:
    angles = np.linspace(0, 2 * math.pi, 40, endpoint=False) + math.pi / 40  # mid-bin: cartToPolar is ~0.3 deg accurate
    hist = direction_histogram(np.cos(angles), np.sin(angles), normalise=True)
    assert hist.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(hist, 0.1, atol=1e-9)
    assert direction_histogram([], [], normalise=True).sum() == 0.0


@pytest.mark.parametrize(
    ("f", "r", "expected"),
    [
        ([0, 0], [0, 0], 0.0),
        ([3, 1], [3, 1], 0.0),
        ([4, 0], [0, 4], 8.0),  # 16/4 + 16/4
        ([2, 1, 0], [1, 1, 3], 1.0 / 3.0 + 0.0 + 3.0),  # 1/3 + 0/2 + 9/3
        ([0.5, 0.5], [1.0, 0.0], 0.25 / 1.5 + 0.25 / 0.5),
    ],
)
def test_chi_square_hand_computed(f: list[float], r: list[float], expected: float) -> None:
    assert chi_square(f, r) == pytest.approx(expected)


def test_chi_square_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="hist_r"):
        chi_square([1, 2], [1, 2, 3])


def _synthetic_landmarks() -> np.ndarray:
    """A plausible frontal 68-point layout (eyes, nose, mouth in the right places)."""
    points = np.zeros((68, 2), np.float32)
    points[0:17] = np.column_stack([np.linspace(60, 180, 17), 120 + 60 * np.sin(np.linspace(0, math.pi, 17))])
    points[17:27] = np.column_stack([np.linspace(75, 165, 10), np.full(10, 90)])
    points[27:36] = np.column_stack([np.full(9, 120) + np.r_[0, 0, 0, 0, -10, -5, 0, 5, 10], np.r_[100, 110, 120, 130, 140, 142, 144, 142, 140]])
    for start, cx in ((36, 95), (42, 145)):
        points[start : start + 6] = [
            (cx - 12, 105), (cx - 5, 100), (cx + 5, 100), (cx + 12, 105), (cx + 5, 110), (cx - 5, 110)
        ]
    points[48:68] = np.column_stack([120 + 20 * np.cos(np.linspace(0, 2 * math.pi, 20)), 165 + 6 * np.sin(np.linspace(0, 2 * math.pi, 20))])
    return points


def test_patent_eye_boxes_use_points_38_41_and_44_47() -> None:
    landmarks = _synthetic_landmarks()
    right, left = patent_eye_boxes(landmarks, (240, 240))
    # 0-based 37 = (90, 100), 40 = (100, 110); 43 = (140, 100), 46 = (150, 110)
    assert right == (90, 100, 100, 110)
    assert left == (140, 100, 150, 110)


def test_eye_openness_ignores_vertical_squash_and_sees_closing() -> None:
    landmarks = _synthetic_landmarks()
    squashed = landmarks * np.array([1.0, 0.7], np.float32)  # a photo tilted back
    assert eye_openness(squashed) == pytest.approx(eye_openness(landmarks), rel=0.02)
    closed = landmarks.copy()
    for a, b in ((37, 41), (38, 40), (43, 47), (44, 46)):
        mid = (closed[a, 1] + closed[b, 1]) / 2
        closed[a, 1] = closed[b, 1] = mid
    assert eye_openness(closed) < 0.1 * eye_openness(landmarks)


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ([], 0.0),
        ([0.3, 0.3], 0.0),
        ([0.3, 0.3, 0.3, 0.3], 0.0),
        ([0.3, 0.3, 0.15, 0.3, 0.3], 0.5),  # open, closed, open
        ([0.3, 0.3, 0.3, 0.15, 0.15], 0.0),  # closes and stays closed: not a blink (yet)
    ],
)
def test_blink_drop(series: list[float], expected: float) -> None:
    assert blink_drop(series) == pytest.approx(expected)


def test_homography_residual_of_a_plane_is_zero_and_of_3d_motion_is_not() -> None:
    src = _synthetic_landmarks()[17:]
    matrix = np.array([[1.02, 0.05, 4.0], [-0.03, 0.98, -2.0], [1e-4, -5e-5, 1.0]])
    dst = cv2.perspectiveTransform(src.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    assert homography_residual_ratio(src, dst) == pytest.approx(0.0, abs=1e-3)
    depth_shift = dst.copy()
    depth_shift[10:19, 0] += 6.0  # the nose moves against the rest: parallax of a 3D face
    assert homography_residual_ratio(src, depth_shift) > 0.1
    assert homography_residual_ratio(src, src) is None  # no motion
    assert homography_residual_ratio(src[:3], dst[:3]) is None
    ratio, motion = planar_excess_ratio(src, depth_shift, noise_px=0.0)  # type: ignore[misc]
    assert ratio == pytest.approx(homography_residual_ratio(src, depth_shift), rel=1e-5)
    assert motion > 0


def test_patent_statistic_on_a_shifted_texture() -> None:
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (240, 240), dtype=np.uint8), (5, 5), 0)
    shifted = np.roll(texture, (1, 2), axis=(0, 1))  # dx=2, dy=1: 26.6 deg, mid-bin 0
    landmarks = _synthetic_landmarks()
    # Everything moves the same way: F (68 landmarks) and R (the 2 x 10 x 10 eye pixels) both point to
    # bin 0, so the raw statistic is just the count imbalance, (68 - 200)^2 / 268 = 65: the
    # patent's scale depends on the eye-region size. Normalised, the histograms agree.
    assert 55.0 < patent_statistic(texture, shifted, landmarks) < 85.0
    tracked = landmarks + np.array([2.0, 1.0], np.float32)
    hist_f, hist_r = patent_histograms(texture, shifted, landmarks, tracked, normalise=True)
    assert chi_square(hist_f, hist_r) < 0.2


# ---------------------------------------------------------------- settings


def test_liveness_settings_validation() -> None:
    with pytest.raises(ValueError, match="window_pairs"):
        LivenessSettings(window_pairs=0)
    with pytest.raises(ValueError, match="min_moving_pairs"):
        LivenessSettings(window_pairs=4, min_moving_pairs=5)
    with pytest.raises(ValueError, match="planar_live_above"):
        LivenessSettings(planar_spoof_below=0.2, planar_live_above=0.1)
    with pytest.raises(ValueError, match="blink_min_drop"):
        LivenessSettings(blink_min_drop=1.5)


# ---------------------------------------------------------------- tracker on synthetic frames


def test_disabled_is_always_live() -> None:
    tracker = LivenessTracker(LivenessSettings(enabled=False))
    verdict = tracker.update(np.zeros((10, 10), np.uint8), None, 0.0)
    assert verdict.state is LiveState.LIVE and verdict.reason is LiveReason.DISABLED


def test_no_face_is_undecided() -> None:
    tracker = LivenessTracker(LivenessSettings())
    for i in range(5):
        verdict = tracker.update(np.zeros((10, 10), np.uint8), None, i * 0.2)
    assert verdict.state is LiveState.UNDECIDED and verdict.reason is LiveReason.NO_FACE


def test_still_textured_frame_is_undecided() -> None:
    rng = np.random.default_rng(1)
    gray = cv2.GaussianBlur(rng.integers(0, 255, (240, 240), dtype=np.uint8), (5, 5), 0)
    landmarks = _synthetic_landmarks()
    tracker = LivenessTracker(LivenessSettings(use_texture=False, use_challenge=False))
    for i in range(30):
        noisy = np.clip(gray + rng.normal(0, 2, gray.shape), 0, 255).astype(np.uint8)
        verdict = tracker.update(noisy, landmarks, i * 0.04)
    assert verdict.state is LiveState.UNDECIDED
    assert verdict.reason is LiveReason.UNCLEAR
    assert verdict.pairs_used == LivenessSettings().window_pairs
    assert verdict.moving_pairs == 0


# ---------------------------------------------------------------- a real photo moved as a plane


def _plane_motions() -> dict[str, list[np.ndarray]]:
    """Per-frame homographies (about the image centre later) for rigid-plane motions."""
    n = 14
    motions: dict[str, list[np.ndarray]] = {}
    motions["translation"] = [np.array([[1, 0, 3.0 * i], [0, 1, 1.5 * i], [0, 0, 1]]) for i in range(n)]
    motions["rotation"] = [
        np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
        for a in np.radians(np.linspace(0, 12, n))
    ]
    motions["scale"] = [np.diag([s, s, 1.0]) for s in np.linspace(1.0, 1.15, n)]
    motions["tilt"] = [  # perspective: the photo turned about its vertical axis, and swinging
        np.array([[1, 0, 0], [0, 1, 0], [p, 0.3 * p, 1]]) for p in 6e-4 * np.sin(np.linspace(0, 3, n))
    ]
    return motions


@pytest.fixture(scope="module")
def face_photo(known_faces: Path) -> np.ndarray:
    image = cv2.imread(str(known_faces / "obama.jpg"))
    assert image is not None
    height, width = image.shape[:2]
    scale = 480 / max(height, width)
    image = cv2.resize(image, (round(width * scale), round(height * scale)))
    pad = 80  # room to move inside the frame
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("motion", ["translation", "rotation", "scale", "tilt"])
def test_photo_moved_as_a_plane_is_never_live(
    motion: str, face_photo: np.ndarray, detector: object, landmark_predictor: object
) -> None:
    height, width = face_photo.shape[:2]
    centre = np.array([[1, 0, width / 2], [0, 1, height / 2], [0, 0, 1]])
    rng = np.random.default_rng(7)
    frames = []
    for matrix in _plane_motions()[motion]:
        about_centre = centre @ matrix @ np.linalg.inv(centre)
        frame = cv2.warpPerspective(face_photo, about_centre, (width, height), borderMode=cv2.BORDER_REPLICATE)
        frame = cv2.GaussianBlur(frame, (3, 3), 0.8)
        frame = np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
    landmarker = evaluation_tracker(detector, landmark_predictor)
    settings = LivenessSettings(min_pair_interval_s=0.0)
    verdicts = [v for _, v in verdicts_for_frames(
        frames, [i * 0.2 for i in range(len(frames))], landmarker, settings)]
    assert all(v.state is not LiveState.LIVE for v in verdicts), [v.reason for v in verdicts]
    assert all(v.planar.state is not LiveState.LIVE for v in verdicts)
    assert all(v.blink.state is not LiveState.LIVE for v in verdicts)
    if motion != "tilt":  # the swing is slow at its ends; the others move clearly
        assert verdicts[-1].state is LiveState.SPOOF


def test_still_photo_is_undecided_by_the_motion_cues_and_challenged(
    face_photo: np.ndarray, detector: object, landmark_predictor: object
) -> None:
    # The motion cues alone (a pristine digital image never went through paper or a screen
    # and a camera, so it is no test of the texture cue).
    rng = np.random.default_rng(3)
    frames = [
        np.clip(face_photo + rng.normal(0, 2, face_photo.shape), 0, 255).astype(np.uint8)
        for _ in range(12)
    ]
    landmarker = evaluation_tracker(detector, landmark_predictor)
    settings = LivenessSettings(use_texture=False)
    verdicts = [v for _, v in verdicts_for_frames(
        frames, [i * 0.2 for i in range(12)], landmarker, settings)]
    assert all(v.state is LiveState.UNDECIDED for v in verdicts)
    assert verdicts[-1].reason in CHALLENGE_PROMPTS  # a photo cannot turn on request


# ---------------------------------------------------------------- evaluation helpers


def test_error_rates_count_undecided_as_not_accepted() -> None:
    attack = [True, True, False, False, False, False]
    states = [LiveState.LIVE, LiveState.UNDECIDED, LiveState.LIVE, LiveState.UNDECIDED, LiveState.SPOOF, LiveState.LIVE]
    rates = error_rates(attack, states)
    assert rates.apcer == pytest.approx(0.5)
    assert rates.bpcer == pytest.approx(0.5)
    assert rates.acer == pytest.approx(0.5)
    assert rates.undecided == 2 and rates.undecided_live == 1
    empty = error_rates([], [])
    assert empty.apcer == 0.0 and empty.bpcer == 0.0


def test_a_challenged_recording_counts_as_not_admitted() -> None:
    from kiosk.liveness import LivenessVerdict

    collecting = LivenessVerdict(LiveState.UNDECIDED, LiveReason.COLLECTING)
    turn = LivenessVerdict(LiveState.UNDECIDED, LiveReason.TURN_LEFT, challenge_asked=True)
    passed = LivenessVerdict(LiveState.LIVE, LiveReason.CHALLENGE_PASSED, challenge_asked=True)
    real = LivenessVerdict(LiveState.LIVE, LiveReason.TEXTURE_REAL)
    boxes = [(0, 0, 10, 10), (1, 1, 11, 11), (2, 2, 12, 12)]
    live = Sequence("live/1/s", "live", ())
    attack = Sequence("print/1/s", "print", ())
    challenged = summarise(live, [collecting, turn, passed], [0.0, 0.1, 0.2], 3, boxes)
    assert challenged.decision == "challenge" and not challenged.admitted
    assert challenged.judged_box_xyxy == (1, 1, 11, 11) and challenged.decided_at_s == 0.1
    admitted = summarise(live, [collecting, real, real], [0.0, 0.1, 0.2], 3, boxes)
    assert admitted.decision == "live" and admitted.admitted
    assert admitted.judged_box_xyxy == (1, 1, 11, 11)
    attack_challenged = summarise(attack, [turn, passed], [0.0, 0.1], 2, boxes[:2])
    figures = Evaluation([challenged, admitted, attack_challenged], LivenessSettings()).as_dict()
    assert figures["challenge"]["live_admitted_without_challenge"] == 1
    assert figures["challenge"]["live_admitted_without_challenge_share"] == pytest.approx(0.5)
    assert figures["challenge"]["attacks_admitted"] == 0 and figures["apcer"] == 0.0
    assert figures["bpcer"] == pytest.approx(0.5)
    assert [s["decision"] for s in figures["sequences"]] == ["challenge", "live", "challenge"]


def test_read_sources_takes_videos_and_frame_intervals(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "clip.mp4").write_bytes(b"x")
    frames = tmp_path / "frames.csv"
    frames.write_text("path,label,subject,session,frame_no\na.jpg,live,1,s,0\na.jpg,live,1,s,2\n")
    sequences = read_sources([str(frames), str(tmp_path / "clip.mp4")], frame_interval_s=0.45)
    assert sequences[0].times_s == (0.0, 0.9)
    assert sequences[1].is_video and sequences[1].label == "live"
    with pytest.raises(ManifestError, match="video not found"):
        read_sources([str(tmp_path / "missing.mp4")])


def test_threshold_for_bpcer() -> None:
    live = [float(v) for v in range(1, 21)]  # 20 live scores 1..20
    result = threshold_for_bpcer(live, [0.5, 1.5, 30.0, None])
    assert result["threshold"] == 2.0  # one of 20 (5 %) below it
    assert result["bpcer"] == pytest.approx(0.05)
    assert result["apcer"] == pytest.approx(0.25)
    assert threshold_for_bpcer([None, 1.0], [])["threshold"] is None


def test_read_manifest_formats_and_errors(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    frames = tmp_path / "frames.csv"
    frames.write_text(
        "path,label,subject,session,frame_no\nb.jpg,live,1,s,5\na.jpg,live,1,s,0\na.jpg,print,1,s,0\n"
    )
    sequences = read_manifest(frames)
    assert [s.name for s in sequences] == ["live/1/s", "print/1/s"]
    assert [p.name for p in sequences[0].paths] == ["a.jpg", "b.jpg"]  # frame order
    assert sequences[1].is_attack and not sequences[0].is_attack
    videos = tmp_path / "videos.csv"
    videos.write_text("path,label\na.jpg,live\n")
    assert read_manifest(videos)[0].is_video
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label,subject,session,frame_no\na.jpg,live,1,s,x\n")
    with pytest.raises(ManifestError, match="frame_no"):
        read_manifest(bad)
    missing = tmp_path / "missing_file.csv"
    missing.write_text("path,label\nnope.mp4,live\n")
    with pytest.raises(ManifestError, match="file not found"):
        read_manifest(missing)


def test_settings_dataclass_replace_keeps_validation() -> None:
    settings = dataclasses.replace(LivenessSettings(), planar_live_above=0.1)
    assert settings.planar_live_above == 0.1


# ---------------------------------------------------------------- fused verdict (texture cue)


class ScriptedTexture:
    """A test double for :class:`kiosk.texture.TextureScorer`: scripted "real" probabilities."""

    def __init__(self, reals: list[float]) -> None:
        self.reals = reals
        self.calls = 0
        self.last_ms = 0.0

    def score(self, frame_bgr: np.ndarray, landmarks: np.ndarray) -> TextureScore:
        real = self.reals[min(self.calls, len(self.reals) - 1)]
        self.calls += 1
        return TextureScore(real, (real,))


def _textured_scene(seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (240, 300), dtype=np.uint8), (5, 5), 0)


def _run(
    texture: ScriptedTexture | None,
    n_frames: int,
    step_s: float = 0.1,
    shift_px_per_frame: float = 0.0,
    blink_at: int | None = None,
    **settings: object,
) -> list:
    """Feed a still (or translating, or blinking) synthetic face; return every verdict."""
    base = _textured_scene()
    tracker = LivenessTracker(LivenessSettings(**settings), texture)  # type: ignore[arg-type]
    rng = np.random.default_rng(2)
    verdicts = []
    for i in range(n_frames):
        dx = shift_px_per_frame * i
        gray = cv2.warpAffine(base, np.float32([[1, 0, dx], [0, 1, 0]]), (300, 240), borderMode=cv2.BORDER_REFLECT)
        gray = np.clip(gray + rng.normal(0, 1, gray.shape), 0, 255).astype(np.uint8)
        landmarks = _synthetic_landmarks() + np.float32([dx, 0])
        if blink_at is not None and i == blink_at:  # lids meet for one frame
            for a, b in ((37, 41), (38, 40), (43, 47), (44, 46)):
                landmarks[a, 1] = landmarks[b, 1] = (landmarks[a, 1] + landmarks[b, 1]) / 2
        verdicts.append(tracker.update(gray, landmarks, i * step_s, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)))
    return verdicts


def _first_decided(verdicts: list) -> tuple[int, object] | None:
    return next(((i, v) for i, v in enumerate(verdicts) if v.state is not LiveState.UNDECIDED), None)


def test_texture_real_admits_a_still_face_without_blink_or_motion() -> None:
    texture = ScriptedTexture([0.95])
    verdicts = _run(texture, 20, step_s=1 / 30)
    index, verdict = _first_decided(verdicts)
    assert verdict.state is LiveState.LIVE and verdict.reason is LiveReason.TEXTURE_REAL
    assert verdict.texture.score == pytest.approx(0.95)
    assert index * (1 / 30) == pytest.approx(0.30, abs=0.04)  # 3 samples, 0.15 s apart
    assert texture.calls == 3  # sampled frames only, and none once decided


def test_texture_fake_refuses() -> None:
    verdict = _first_decided(_run(ScriptedTexture([0.03]), 10))[1]
    assert verdict.state is LiveState.SPOOF and verdict.reason is LiveReason.TEXTURE_FAKE


def test_one_flipped_texture_frame_neither_refuses_nor_admits() -> None:
    # the fake call takes a window's median; the admission needs every recent sample real
    index, verdict = _first_decided(_run(ScriptedTexture([0.95, 0.02, 0.97]), 12))
    assert verdict.reason is LiveReason.TEXTURE_REAL and index >= 5  # three real ones after it
    verdict = _first_decided(_run(ScriptedTexture([0.02, 0.95, 0.03]), 10))[1]
    assert verdict.reason is LiveReason.TEXTURE_FAKE


def test_uncertain_texture_on_a_still_face_stays_undecided_and_asks_for_a_turn() -> None:
    verdicts = _run(ScriptedTexture([0.5]), 30)
    assert all(v.state is LiveState.UNDECIDED for v in verdicts)
    assert verdicts[-1].reason in CHALLENGE_PROMPTS
    assert verdicts[-1].texture.score == pytest.approx(0.5)


def test_planar_motion_holds_back_a_texture_admission_and_refuses() -> None:
    # a photo that fools the texture cue but moves as one plane (2 px = 0.04 IOD per pair)
    verdicts = _run(ScriptedTexture([0.99]), 12, shift_px_per_frame=2.0)
    assert all(v.state is not LiveState.LIVE for v in verdicts), [v.reason for v in verdicts]
    verdict = _first_decided(verdicts)[1]
    assert verdict.state is LiveState.SPOOF and verdict.reason is LiveReason.PLANAR_MOTION


def test_a_blink_with_uncertain_texture_does_not_admit() -> None:
    # a replayed video blinks for real: the blink is seen, but only texture or a challenge admit
    texture = ScriptedTexture([0.5])
    verdicts = _run(texture, 30, step_s=0.05, blink_at=2)
    assert any(v.blink.state is LiveState.LIVE for v in verdicts)
    assert all(v.state is not LiveState.LIVE for v in verdicts)


def test_texture_fake_vetoes_a_blink() -> None:
    # a replayed video blinks for real: the texture veto wins
    verdicts = _run(ScriptedTexture([0.05]), 12, step_s=0.05, blink_at=2)
    assert all(v.state is not LiveState.LIVE for v in verdicts)
    assert _first_decided(verdicts)[1].reason is LiveReason.TEXTURE_FAKE


def test_texture_off_nothing_admits_passively() -> None:
    texture = ScriptedTexture([0.99])
    verdicts = _run(texture, 20, use_texture=False, use_challenge=False)
    assert texture.calls == 0
    assert all(v.state is LiveState.UNDECIDED for v in verdicts)
    assert verdicts[-1].texture.score is None


def test_texture_settings_validation() -> None:
    with pytest.raises(ValueError, match="texture_real_above"):
        LivenessSettings(texture_fake_below=0.5, texture_real_above=0.4)
    with pytest.raises(ValueError, match="texture_frames"):
        LivenessSettings(texture_frames=0)
