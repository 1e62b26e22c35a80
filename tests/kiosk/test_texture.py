"""Texture cue: crop geometry, window decision, model checksums, and the real models on real faces."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.config import LivenessSettings
from kiosk.model_files import (
    MINIFASNET_MODELS,
    MODELS_DIR,
    ModelChecksumError,
    ModelNotFoundError,
    minifasnet_paths,
    sha256_of,
)
from kiosk.texture import (
    TextureScorer,
    landmark_anchor,
    model_input,
    reference_box_from_landmarks,
    scaled_crop_box,
    softmax,
    texture_window_state,
)

# ---------------------------------------------------------------- crop geometry


@pytest.mark.parametrize(
    ("box_xywh", "scale", "shape_hw", "expected"),
    [
        # centred 100x100 box in a 640x480 frame, 2.7x: 270x270 about the centre (320, 240)
        ((270, 190, 100, 100), 2.7, (480, 640), (185, 105, 455, 375)),
        # the same at 4.0: 400x400
        ((270, 190, 100, 100), 4.0, (480, 640), (120, 40, 520, 440)),
        # near the left/top edge: shifted back inside, not padded (size kept)
        ((0, 0, 100, 100), 2.7, (480, 640), (0, 0, 270, 270)),
        # near the right/bottom edge: shifted back so x1 = W-1, y1 = H-1
        ((600, 440, 40, 40), 4.0, (480, 640), (479, 319, 639, 479)),
        # scale limited by the frame: (H-1)/h = 479/200 = 2.395 < 4.0, then shifted inside
        ((220, 140, 200, 200), 4.0, (480, 640), (80, 0, 559, 479)),
    ],
)
def test_scaled_crop_box(box_xywh, scale, shape_hw, expected) -> None:
    assert scaled_crop_box(box_xywh, scale, shape_hw) == expected


@pytest.mark.parametrize(("box_xywh", "scale", "match"), [((0, 0, 0, 10), 2.7, "box_xywh"), ((0, 0, 10, 10), 0.0, "scale")])
def test_scaled_crop_box_rejects_bad_arguments(box_xywh, scale, match) -> None:
    with pytest.raises(ValueError, match=match):
        scaled_crop_box(box_xywh, scale, (480, 640))


def test_model_input_is_80x80_bgr_0_255_nchw() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[..., 0] = 200  # blue
    blob = model_input(frame, (270, 190, 100, 100), 2.7)
    assert blob.shape == (1, 3, 80, 80) and blob.dtype == np.float32
    assert blob[0, 0].min() == 200.0 and blob[0, 1].max() == 0.0  # BGR order, no scaling
    with pytest.raises(ValueError, match="frame_bgr"):
        model_input(np.zeros((480, 640), np.uint8), (270, 190, 100, 100), 2.7)


def _landmarks_with_anchor(x: float, y: float, unit: float) -> np.ndarray:
    """68 points whose jaw ends are ``unit`` apart around x, and eyes/chin centred on y."""
    points = np.tile([x, y], (68, 1)).astype(np.float32)
    points[0, 0], points[16, 0] = x - unit / 2, x + unit / 2
    points[36:48, 1] = y - 30
    points[8, 1] = y + 30
    return points


def test_reference_box_from_landmarks_scales_about_the_anchor() -> None:
    landmarks = _landmarks_with_anchor(140, 100, 80)
    assert landmark_anchor(landmarks) == pytest.approx((140, 100, 80))
    assert reference_box_from_landmarks(landmarks, 0.0, 0.0, 1.0, 1.0) == pytest.approx((100, 60, 80, 80))
    # centre 0.1 unit right, 0.2 units up; 2 units wide, 1.5 units tall
    assert reference_box_from_landmarks(landmarks, 0.1, -0.2, 2.0, 1.5) == pytest.approx(
        (148 - 80, 84 - 60, 160, 120)
    )
    # the calibrated default: about 1.1 jaw widths, a bit taller, centre above the anchor
    x, y, w, h = reference_box_from_landmarks(landmarks)
    assert (w, h) == pytest.approx((88.0, 91.36), abs=0.01) and y + h / 2 < 100


# ---------------------------------------------------------------- window decision


@pytest.mark.parametrize(
    ("reals", "expected"),
    [
        ([], ("undecided", None)),
        ([0.99, 0.99], ("undecided", 0.99)),  # fewer than 3 sampled frames
        ([0.95, 0.9, 0.97], ("live", 0.95)),
        ([0.05, 0.1, 0.02], ("spoof", 0.05)),
        ([0.95, 0.01, 0.97], ("live", 0.95)),  # one flipped frame does not move the median
        ([0.05, 0.99, 0.02], ("spoof", 0.05)),
        ([0.5, 0.6, 0.4], ("undecided", 0.5)),
        ([0.01, 0.01, 0.9, 0.95, 0.9], ("live", 0.9)),  # only the last 3 count
    ],
)
def test_texture_window_state(reals, expected) -> None:
    state, score = texture_window_state(reals, 3, real_above=0.8, fake_below=0.2)
    assert state == expected[0]
    assert score == (pytest.approx(expected[1]) if expected[1] is not None else None)


def test_softmax_rows_sum_to_one() -> None:
    assert softmax([1.0, 2.0, 3.0]).sum() == pytest.approx(1.0)
    assert softmax([1000.0, 0.0, 0.0])[0] == pytest.approx(1.0)  # no overflow


# ---------------------------------------------------------------- the shipped model files


def test_shipped_models_match_their_checksums() -> None:
    paths = minifasnet_paths()
    assert [scale for _, scale in paths] == [2.7, 4.0]
    for path, _ in paths:
        assert sha256_of(path) == MINIFASNET_MODELS[path.name][1]
    readme = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    for name, (_, sha256) in MINIFASNET_MODELS.items():
        assert name in readme and sha256 in readme


def test_a_missing_model_file_is_an_error_naming_it(tmp_path: Path) -> None:
    for name in MINIFASNET_MODELS:
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    (tmp_path / "minifasnet_v1se_scale4.0_80x80.onnx").unlink()
    with pytest.raises(ModelNotFoundError, match="minifasnet_v1se_scale4.0_80x80.onnx"):
        TextureScorer.from_models_dir(tmp_path)


def test_a_damaged_model_file_is_an_error_naming_it(tmp_path: Path) -> None:
    for name in MINIFASNET_MODELS:
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    damaged = tmp_path / "minifasnet_v2_scale2.7_80x80.onnx"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    damaged.write_bytes(bytes(data))
    with pytest.raises(ModelChecksumError, match="damaged: .*minifasnet_v2_scale2.7_80x80.onnx"):
        TextureScorer.from_models_dir(tmp_path)
    from kiosk.liveness import LivenessTracker

    with pytest.raises(ModelChecksumError, match="minifasnet_v2"):  # the kiosk does not start
        LivenessTracker(LivenessSettings(texture_models_dir=str(tmp_path)))


# ---------------------------------------------------------------- the real models on real data


@pytest.fixture(scope="module")
def scorer() -> TextureScorer:
    return TextureScorer.from_models_dir()


def _score_image(image: np.ndarray, scorer: TextureScorer, detector, landmark_predictor) -> float:
    from kiosk.liveness import evaluation_tracker

    landmarks = evaluation_tracker(detector, landmark_predictor).update(image).landmarks
    assert landmarks is not None
    return scorer.score(image, landmarks).real


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "biden.jpg"])
def test_real_faces_score_real(name: str, known_faces: Path, scorer: TextureScorer, detector, landmark_predictor) -> None:
    image = cv2.imread(str(known_faces / name))
    assert image is not None
    assert _score_image(image, scorer, detector, landmark_predictor) >= LivenessSettings().texture_real_above


def _nuaa_frames(data_dir: Path, label: str, windows: int) -> list[Path]:
    """The first frame of the first ``windows`` windows of one label in nuaa-dev."""
    manifest = data_dir / "nuaa-dev" / "manifest.csv"
    if not manifest.is_file():
        pytest.skip(f"nuaa-dev not found at {manifest}")
    firsts: dict[tuple[str, str], Path] = {}
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["subject"], row["session"])
            if (row["label"] == "live") == (label == "live") and key not in firsts:
                firsts[key] = manifest.parent / row["path"]
    return list(firsts.values())[:windows]


def test_nuaa_printed_photos_score_fake_and_live_people_do_not(
    data_dir: Path, scorer: TextureScorer, detector, landmark_predictor
) -> None:
    settings = LivenessSettings()
    photos = [
        _score_image(cv2.imread(str(p)), scorer, detector, landmark_predictor)
        for p in _nuaa_frames(data_dir, "print", 6)
    ]
    lives = [
        _score_image(cv2.imread(str(p)), scorer, detector, landmark_predictor)
        for p in _nuaa_frames(data_dir, "live", 6)
    ]
    assert max(photos) <= settings.texture_fake_below, photos
    assert min(lives) > settings.texture_fake_below, lives
    assert np.median(lives) >= settings.texture_real_above, lives
