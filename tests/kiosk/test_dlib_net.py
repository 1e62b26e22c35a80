"""dlib's face network read from its file and run on OpenVINO, against dlib's own runtime on real
faces; the chip dlib's encoder is given; the fallback to dlib's runtime."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from kiosk.dlib_encoder import (
    CHECK_TOLERANCE, DLIB_MODEL_ID, DlibResNetEncoder, check_chip, hog_box_near,
)
from kiosk.dlib_net import DlibNetFormatError, face_resnet_layers, read_face_resnet
from kiosk.images import read_image
from kiosk.model_files import dlib_resnet_path, shape_predictor_path

FACES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


@pytest.fixture(scope="module")
def dlib_runtime(tmp_path_factory):
    """dlib's own runtime of the same network, for reference."""
    return DlibResNetEncoder(dlib_resnet_path(), shape_predictor_path(), backend="dlib")


@pytest.fixture(scope="module")
def chips(encoder, known_faces):
    """dlib's chip of each known face, as the photo path makes it."""
    made = {}
    for name in FACES:
        frame = read_image(known_faces / name)
        sample = encoder.encode_photo(frame, single=False)
        made[name] = encoder.models.dlib_encoder.chip(frame, sample.landmarks, sample.box_xyxy)
    return made


def test_openvino_gives_dlibs_embeddings_on_known_faces(models, dlib_runtime, chips):
    encoder = models.dlib_encoder
    assert encoder.backend == "openvino" and encoder.fallback_reason == ""
    for name, chip in chips.items():
        ours, dlibs = encoder.embed_chip(chip), dlib_runtime.embed_chip(chip)
        assert ours.shape == (128,) and ours.dtype == np.float32
        assert np.abs(ours - dlibs).max() < CHECK_TOLERANCE, name
    # and the embeddings still tell the two people apart at dlib's own threshold
    obama, obama2, biden = (encoder.embed_chip(chips[n]) for n in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    assert np.linalg.norm(obama - obama2) < 0.6 < np.linalg.norm(obama - biden)


def test_the_file_is_read_layer_by_layer():
    net = read_face_resnet(dlib_resnet_path())
    kinds = [layer.spec.kind for layer in net.layers]
    assert kinds[:4] == ["con", "affine", "relu", "max_pool"] and kinds[-1] == "fc"
    assert len(net.layers) == len(face_resnet_layers())
    assert net.layers[0].weights["filters"].shape == (32, 3, 7, 7)
    assert net.layers[-1].weights["weights"].shape == (256, 128)
    assert net.distance_threshold == pytest.approx(0.6)
    assert net.input_means_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)


@pytest.mark.parametrize("damage", ["truncated", "other file", "extra bytes"])
def test_another_or_damaged_file_is_refused(tmp_path, damage):
    data = dlib_resnet_path().read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "other file": shape_predictor_path().read_bytes()[:4096],
        "extra bytes": data + b"\x01\x02",
    }[damage]
    path = tmp_path / "model.dat"
    path.write_bytes(damaged)
    with pytest.raises(DlibNetFormatError, match="at byte"):
        read_face_resnet(path)


def test_an_unusable_cache_falls_back_to_dlib_with_the_reason(tmp_path, dlib_runtime, caplog):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="kiosk.dlib_encoder"):
        fallen = DlibResNetEncoder(dlib_resnet_path(), shape_predictor_path(),
                                   backend="openvino", cache_dir=not_a_folder)
    assert fallen.backend == "dlib" and fallen.fallback_reason
    assert "using dlib's own runtime" in caplog.text
    chip = check_chip()
    assert np.array_equal(fallen.embed_chip(chip), dlib_runtime.embed_chip(chip))
    # a second encoder for another thread keeps the runtime the first one ended on
    assert fallen.another().backend == "dlib"


def test_a_fresh_conversion_is_cached_and_checked(tmp_path, dlib_runtime):
    converted = DlibResNetEncoder(dlib_resnet_path(), shape_predictor_path(), cache_dir=tmp_path)
    assert converted.backend == "openvino"
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".bin", ".xml"]
    reread = DlibResNetEncoder(dlib_resnet_path(), shape_predictor_path(), cache_dir=tmp_path)
    chip = check_chip()
    assert np.abs(reread.embed_chip(chip) - dlib_runtime.embed_chip(chip)).max() < CHECK_TOLERANCE
    with pytest.raises(ValueError, match="backend"):
        DlibResNetEncoder(dlib_resnet_path(), shape_predictor_path(), backend="cuda")


def test_the_chip_comes_from_the_hog_box_as_dlib_makes_it(models, known_faces):
    """The chip equals the one of dlib's own pipeline (HOG detector on the whole photo, 68
    landmarks in its box, ``get_face_chip``) although the kiosk found the face with Haar."""
    import dlib

    encoder, frame = models.dlib_encoder, read_image(known_faces / "obama.jpg")
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    (hog_rect,) = dlib.get_frontal_face_detector()(rgb, 0)
    predictor = dlib.shape_predictor(str(shape_predictor_path()))
    stock = dlib.get_face_chip(rgb, predictor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), hog_rect),
                               size=150, padding=0.25)
    haar_box = models.detector.detect(frame).face.box_xyxy
    landmarks = models.landmarks.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), haar_box)
    chip = encoder.chip(frame, landmarks, haar_box)
    assert chip.shape == (150, 150, 3)
    found = hog_box_near(dlib.get_frontal_face_detector(), rgb, haar_box)
    stock_box = np.array([hog_rect.left(), hog_rect.top(), hog_rect.right(), hog_rect.bottom()])
    assert np.abs(found - stock_box).max() <= 0.08 * (stock_box[2] - stock_box[0])
    assert np.linalg.norm(encoder.embed_chip(chip) - encoder.embed_chip(np.asarray(stock))) < 0.1
    # no face for HOG (a blank region): the kiosk's own landmarks make the chip
    blank = np.full_like(frame, 128)
    blank_chip = encoder.chip(blank, landmarks, haar_box)
    assert blank_chip.shape == (150, 150, 3) and (blank_chip == 128).all()
    assert hog_box_near(dlib.get_frontal_face_detector(), blank, haar_box) is None
    assert encoder.model_id == DLIB_MODEL_ID != "dlib-resnet-v1"


def test_a_stored_crop_is_re_embedded_close_to_the_photo(encoder, known_faces):
    """The migration's dlib embedding, from the stored 160x160 crop (stretched back), stays
    within dlib's threshold of the person's photos and beyond it from another person's."""
    def dlib_of(name):
        return encoder.encode_file_models(known_faces / name, single=False)[DLIB_MODEL_ID]

    sample = encoder.encode_file(known_faces / "obama.jpg")
    migrated = encoder.reembed_crop(sample.crop_jpeg())[DLIB_MODEL_ID]
    assert np.linalg.norm(migrated - dlib_of("obama.jpg")) < 0.6
    assert np.linalg.norm(migrated - dlib_of("obama2.jpg")) < 0.6
    assert np.linalg.norm(migrated - dlib_of("biden.jpg")) > 0.6
