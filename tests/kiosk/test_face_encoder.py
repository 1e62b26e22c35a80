"""Each stage on real faces: gate, landmarks, alignment, embedding, matching."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.align import align_face, eye_angle_deg
from kiosk.detect import GateProblem, needs_equalisation, scale_to_max_side, xywh_to_xyxy
from kiosk.images import ImageError, decode_image, read_image


def test_xywh_to_xyxy_table():
    assert xywh_to_xyxy(np.empty((0, 4))).shape == (0, 4)
    assert xywh_to_xyxy(np.array([[10, 20, 30, 40]]), 0.5).tolist() == [[20, 40, 80, 120]]


def test_scale_to_max_side():
    small, factor = scale_to_max_side(np.zeros((480, 640), np.uint8), 320)
    assert small.shape == (240, 320) and factor == 0.5
    same, factor = scale_to_max_side(np.zeros((100, 80), np.uint8), 320)
    assert same.shape == (100, 80) and factor == 1.0


def test_dark_and_flat_frames_are_equalised():
    assert needs_equalisation(np.full((50, 50), 30, np.uint8), 80, 35)
    assert not needs_equalisation(np.tile(np.arange(0, 250, 5, dtype=np.uint8), (50, 1)), 80, 35)


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (np.zeros((480, 640, 3), np.uint8), GateProblem.TOO_DARK),
        (np.full((480, 640, 3), 200, np.uint8), GateProblem.NO_FACE),
        (np.zeros((0, 0, 3), np.uint8), GateProblem.NO_FACE),
    ],
)
def test_gate_on_empty_frames(detector, frame, problem):
    result = detector.detect(frame)
    assert result.face is None and result.problem == problem


def test_gate_finds_the_face_and_its_eyes(detector, known_faces):
    frame = read_image(known_faces / "obama.jpg")
    result = detector.detect(frame)
    assert result.face is not None and result.face.eyes_found >= 1
    x0, y0, x1, y1 = result.face.box_xyxy
    assert 300 < (x0 + x1) / 2 < 700 and 100 < (y0 + y1) / 2 < 450


def test_gate_says_move_closer_for_a_small_face(detector, known_faces):
    frame = read_image(known_faces / "obama.jpg")
    small = cv2.resize(frame, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[:small.shape[0], :small.shape[1]] = small
    result = detector.detect(canvas)
    assert result.face is None and result.problem == GateProblem.TOO_SMALL


def test_gate_uses_clahe_on_a_dark_frame(detector, known_faces):
    frame = read_image(known_faces / "obama2.jpg")
    dark = (frame.astype(np.float32) * 0.2).astype(np.uint8)
    result = detector.detect(dark)
    assert result.face is not None and result.face.equalised


def test_landmarks_lie_on_the_face(detector, landmark_predictor, known_faces):
    frame = read_image(known_faces / "obama.jpg")
    box = detector.detect(frame).face.box_xyxy
    points = landmark_predictor.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), box)
    assert points.shape == (68, 2)
    margin = 0.25 * (box[2] - box[0])
    assert (points[:, 0] > box[0] - margin).all() and (points[:, 0] < box[2] + margin).all()
    assert points[8, 1] > points[30, 1] > points[36, 1]  # chin below nose tip below the eyes


def test_alignment_levels_a_rotated_face(encoder, known_faces):
    frame = read_image(known_faces / "obama.jpg")
    h, w = frame.shape[:2]
    rotated = cv2.warpAffine(frame, cv2.getRotationMatrix2D((w / 2, h / 2), 15, 1.0), (w, h))
    sample = encoder.encode_photo(rotated)
    assert abs(eye_angle_deg(sample.landmarks)) > 8
    aligned = align_face(rotated, sample.landmarks)
    assert aligned.shape == (160, 160, 3) and aligned.dtype == np.uint8
    gray = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    again = encoder.models.landmarks.predict(gray, np.array([0, 0, 160, 160]))
    assert abs(eye_angle_deg(again)) < 5


def test_same_person_is_closer_than_another_person(encoder, known_faces):
    obama = encoder.encode_file(known_faces / "obama.jpg").embedding
    obama2 = encoder.encode_file(known_faces / "obama2.jpg").embedding
    obama3 = encoder.encode_file(known_faces / "obama3.jpg").embedding
    biden = encoder.encode_file(known_faces / "biden.jpg").embedding
    assert np.linalg.norm(obama) == pytest.approx(1.0, abs=1e-5)
    same = max(np.linalg.norm(obama - obama2), np.linalg.norm(obama - obama3))
    other = min(np.linalg.norm(obama - biden), np.linalg.norm(obama2 - biden))
    assert same < encoder.settings.recognition.distance_threshold < other


def test_partial_face_has_no_face(encoder, known_faces):
    with pytest.raises(ImageError, match="no face"):
        encoder.encode_file(known_faces / "obama_partial_face.jpg")


def test_several_faces_are_refused_at_enrolment(encoder, known_faces):
    obama = read_image(known_faces / "obama2.jpg")
    biden = read_image(known_faces / "biden.jpg")
    biden = cv2.resize(biden, None, fx=obama.shape[0] / biden.shape[0], fy=obama.shape[0] / biden.shape[0])
    both = np.hstack([obama, biden[: obama.shape[0]]])
    with pytest.raises(ImageError, match="2 faces"):
        encoder.encode_photo(both, single=True)
    assert encoder.encode_photo(both, single=False).embedding.shape == (512,)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"not an image at all", "not an image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "not an image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x00\x00\x00\x01\x00\x00", "too large"),
    ],
)
def test_bad_image_bytes(data, message):
    with pytest.raises(ImageError, match=message):
        decode_image(data, "x")


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path / "nope.jpg")


def fused_gallery(dicts_by_person):
    from kiosk.matching.matrix import GalleryMatrix

    matrices = {}
    image_id = 1
    for person_id, dicts in dicts_by_person.items():
        for embeddings in dicts:
            for model_id, vector in embeddings.items():
                matrices.setdefault(model_id, GalleryMatrix(dim=len(vector))).add(image_id, person_id, vector)
            image_id += 1
    return matrices


def test_fusion_names_known_faces(encoder, known_faces):
    from kiosk.matching.fused import FusedMatcher
    from kiosk.matching.rule import model_weights

    recognition = encoder.settings.recognition
    models = encoder.models
    weights = model_weights(models.embedder.model_id, models.dlib_encoder.model_id, recognition.dlib_weight)
    obama, obama2, biden = (encoder.encode_file_models(known_faces / name, single=False)
                            for name in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    assert set(obama) == set(weights) and obama[models.dlib_encoder.model_id].shape == (128,)
    matcher = FusedMatcher(fused_gallery({1: [obama], 2: [biden]}), weights)
    match = matcher.nearest(obama2, recognition.fused_distance_threshold, recognition.min_margin)
    assert match.accepted and match.person_id == 1 and match.image_id == 1
    # a gallery without Obama: his face is nobody
    alone = FusedMatcher(fused_gallery({2: [biden]}), weights)
    assert not alone.nearest(obama2, recognition.fused_distance_threshold, recognition.min_margin).accepted


def test_stored_crops_are_reembedded_for_the_migration(encoder, known_faces):
    from kiosk.matching.fused import FusedMatcher
    from kiosk.matching.rule import model_weights

    recognition = encoder.settings.recognition
    models = encoder.models
    weights = model_weights(models.embedder.model_id, models.dlib_encoder.model_id, recognition.dlib_weight)
    sample = encoder.encode_file(known_faces / "obama.jpg")
    migrated = encoder.reembed_crop(sample.crop_jpeg())
    assert set(migrated) == set(weights)
    # FaceNet sees the same crop (through JPEG): nearly the same embedding
    assert np.linalg.norm(migrated[models.embedder.model_id] - sample.embedding) < 0.1
    biden = encoder.reembed_crop(encoder.encode_file(known_faces / "biden.jpg").crop_jpeg())
    matcher = FusedMatcher(fused_gallery({1: [migrated], 2: [biden]}), weights)
    live = encoder.encode_file_models(known_faces / "obama2.jpg", single=False)
    match = matcher.nearest(live, recognition.fused_distance_threshold, recognition.min_margin)
    assert match.accepted and match.person_id == 1
    with pytest.raises(ImageError):
        encoder.reembed_crop(b"not a jpeg")


def test_fusion_maths_and_its_guards():
    from kiosk.matching.fused import FusedMatcher
    from kiosk.matching.rule import fused_distance, model_weights
    from kiosk.matching.matrix import GalleryMatrix

    weights = model_weights("fn", "dl", 0.5)
    assert weights == pytest.approx({"fn": 0.5, "dl": 0.5 * 1.13 / 0.6})
    assert fused_distance({"fn": 1.0, "dl": 0.6}, weights) == pytest.approx(0.5 + 0.565)
    with pytest.raises(ValueError, match="dlib_weight"):
        model_weights("fn", "dl", 1.5)
    with pytest.raises(ValueError, match="dl"):
        fused_distance({"fn": 1.0}, weights)
    fn, dl = GalleryMatrix(dim=2), GalleryMatrix(dim=2)
    fn.add(1, 7, np.array([1.0, 0.0], np.float32))
    fn.add(2, 8, np.array([0.0, 1.0], np.float32))  # no dlib embedding: left out, never half-matched
    dl.add(1, 7, np.array([1.0, 0.0], np.float32))
    query = {"fn": np.array([0.0, 1.0], np.float32), "dl": np.array([0.0, 1.0], np.float32)}
    match = FusedMatcher({"fn": fn, "dl": dl}, weights).nearest(query, 1.0, 0.0)
    assert match.person_id == 7 and match.image_id == 1 and not match.accepted
    empty = FusedMatcher({"fn": GalleryMatrix(dim=2), "dl": GalleryMatrix(dim=2)}, weights)
    assert empty.nearest(query, 1.0, 0.0).person_id is None


def test_cnn_fallback_detector_finds_the_face(encoder, known_faces):
    frame = read_image(known_faces / "obama.jpg")
    haar_boxes, detector = encoder.find_faces(frame)
    assert detector == "haar"
    cnn_boxes = encoder._cnn_boxes(frame, min_side=24)
    assert len(cnn_boxes) == 1
    (x0, y0, x1, y1), (a0, b0, a1, b1) = cnn_boxes[0], haar_boxes[0]
    overlap = max(0, min(x1, a1) - max(x0, a0)) * max(0, min(y1, b1) - max(y0, b0))
    assert overlap > 0.5 * (x1 - x0) * (y1 - y0)
    # a photo without any face: the last resort finds nothing either
    assert len(encoder._cnn_boxes(np.full((300, 300, 3), 128, np.uint8), min_side=24)) == 0
