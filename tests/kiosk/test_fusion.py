"""Fusion in the gallery and the live pipeline, and the migration of a gallery enrolled before it.

The pipeline tests use the test doubles of tests/kiosk/fakes.py; the gallery and migration tests
use the real models (the session's, dlib's encoder loaded) on ../shared/data/known-faces.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from kiosk.config import Settings
from kiosk.decision import Outcome
from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.gallery import Gallery
from kiosk.embed import l2_normalize
from kiosk.matching.rule import DlibFirstBand, fusion_weights_of, match_threshold
from kiosk.pipeline import Pipeline
from kiosk.reembed import missing_embeddings_notice, reembed_gallery
from kiosk.stages import Models
from tests.kiosk.fakes import (
    FakeDetector,
    FakeDlibEncoder,
    FakeEmbedder,
    FakeLandmarker,
    FakeLiveness,
    face_frame,
    person_embedding,
)

FPS = 30.0
DLIB = DLIB_MODEL_ID


@pytest.fixture
def fused_settings():
    return Settings().replace("recognition", fusion=True)


@pytest.fixture
def fused_encoder(models):
    """The session's models (dlib's encoder loaded) with fusion on in the settings."""
    from kiosk.face_encoder import FaceEncoder

    return FaceEncoder(models, Settings().replace("recognition", fusion=True))


def fused_gallery(path, settings, dlib_first: bool = False):
    """A fused gallery; with ``dlib_first`` the settings' band (as every kiosk opens it)."""
    return Gallery(path, settings.recognition.model_id,
                   fusion_weights=fusion_weights_of(settings.recognition),
                   dlib_first=DlibFirstBand.from_settings(settings.recognition) if dlib_first else None)


def dlib_at(person: int, distance: float) -> np.ndarray:
    """A dlib vector ``distance`` away from ``person``'s (towards a direction nobody uses)."""
    # unit vectors a and b orthogonal: |a - (cos t a + sin t b)| = 2 sin(t / 2)
    angle = 2.0 * np.arcsin(distance / 2.0)
    return l2_normalize(np.cos(angle) * person_embedding(person, 128)
                        + np.sin(angle) * person_embedding(127, 128))


def attendee_decided(settings, gallery, event_id):
    """Person 1's face in front of a pipeline with test doubles until the first decision:
    (the decision, the FaceNet double, the dlib double; each counts its calls)."""
    facenet, dlib = FakeEmbedder(), FakeDlibEncoder()
    pipeline = Pipeline(settings, Models(FakeDetector(), FakeLandmarker(), facenet, dlib),
                        gallery, event_id, clock=time.time, liveness=FakeLiveness())
    for index, frame in enumerate([face_frame(1)] * 30):
        result = pipeline.process(frame, index / FPS, index)
        if result.decision is not None:
            return result.decision, facenet, dlib
    raise AssertionError("no decision in 30 frames")


def both(settings, person, dlib_person=None):
    """A synthetic image's embeddings under both models."""
    return {settings.recognition.model_id: person_embedding(person),
            DLIB: person_embedding(dlib_person or person, 128)}


def run(pipeline, frames):
    decisions = []
    for index, frame in enumerate(frames):
        result = pipeline.process(frame, index / FPS, index)
        if result.decision is not None:
            decisions.append(result.decision)
    return decisions


# -- the pipeline, with test doubles -------------------------------------------------------------


def test_pipeline_checks_in_on_the_fused_distance_and_stores_both_embeddings(tmp_path, fused_settings):
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        alice = gallery.add_person("Alice", [both(fused_settings, 1)])
        gallery.add_person("Bob", [both(fused_settings, 2)])
        event_id = gallery.create_event("Board")
        dlib = FakeDlibEncoder()
        models = Models(FakeDetector(), FakeLandmarker(), FakeEmbedder(), dlib)
        pipeline = Pipeline(fused_settings, models, gallery, event_id, clock=time.time,
                            liveness=FakeLiveness())
        decisions = run(pipeline, [face_frame(1)] * 30)
        assert [(d.outcome, d.person_id) for d in decisions] == [(Outcome.CHECKED_IN, alice)]
        assert dlib.calls >= fused_settings.recognition.agree_frames
        # the rolling update kept the attendee's face under both models
        auto = [f for f in gallery.faces_of(alice) if f.source == "auto"]
        assert sorted(f.model_id for f in auto) == sorted(gallery.model_ids)
        assert len(gallery.indexes[DLIB]) == len(gallery.index) == 3


def test_pipeline_refuses_when_dlib_disagrees_with_facenet(tmp_path, fused_settings):
    # FaceNet alone would name Alice (distance 0); dlib's face is another person's, so the
    # fused distance (0.5 * 0 + 0.5 * 1.414 * 1.13 / 0.6 = 1.33) is over the fused threshold.
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        gallery.add_person("Alice", [both(fused_settings, 1, dlib_person=3)])
        gallery.add_person("Bob", [both(fused_settings, 2)])
        event_id = gallery.create_event("Board")
        models = Models(FakeDetector(), FakeLandmarker(), FakeEmbedder(), FakeDlibEncoder())
        pipeline = Pipeline(fused_settings, models, gallery, event_id, clock=time.time,
                            liveness=FakeLiveness())
        decisions = run(pipeline, [face_frame(1)] * 30)
        assert [d.outcome for d in decisions] == [Outcome.UNKNOWN]
        match = gallery.match(both(fused_settings, 1), 1.02, 0.05)
        assert match.distance == pytest.approx(0.5 * np.sqrt(2) * 1.13 / 0.6, abs=1e-4)
        assert gallery.checkins(event_id) == []


def test_dlib_sure_checks_in_without_facenet_then_stores_both_embeddings(tmp_path, fused_settings):
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings, dlib_first=True) as gallery:
        alice = gallery.add_person("Alice", [both(fused_settings, 1)])
        gallery.add_person("Bob", [both(fused_settings, 2)])
        event_id = gallery.create_event("Board")
        decision, facenet, dlib = attendee_decided(fused_settings, gallery, event_id)
        assert (decision.outcome, decision.person_id) == (Outcome.CHECKED_IN, alice)
        assert dlib.calls == fused_settings.recognition.agree_frames
        # FaceNet ran once: for the face stored by the rolling update, not to decide
        assert facenet.calls == 1
        auto = [f for f in gallery.faces_of(alice) if f.source == "auto"]
        assert sorted(f.model_id for f in auto) == sorted(gallery.model_ids)
        assert len(gallery.indexes[DLIB]) == len(gallery.index) == 3


def test_dlib_unsure_asks_facenet_and_the_fused_distance_decides(tmp_path, fused_settings):
    # Alice's stored dlib vector is 0.5 from her live one: between dlib_first_accept (0.37) and
    # dlib_first_reject (0.69), so FaceNet runs; fused 0.5 * 0 + 0.5 * 0.5 * 1.13 / 0.6 = 0.47
    recognition = fused_settings.recognition
    assert recognition.dlib_first_accept < 0.5 < recognition.dlib_first_reject
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings, dlib_first=True) as gallery:
        alice = gallery.add_person("Alice", [{recognition.model_id: person_embedding(1),
                                              DLIB: dlib_at(1, 0.5)}])
        gallery.add_person("Bob", [both(fused_settings, 2)])
        event_id = gallery.create_event("Board")
        decision, facenet, _ = attendee_decided(fused_settings, gallery, event_id)
        assert (decision.outcome, decision.person_id) == (Outcome.CHECKED_IN, alice)
        assert facenet.calls == recognition.agree_frames  # once per decision embedding
        assert decision.distance == pytest.approx(0.5 * 0.5 * 1.13 / 0.6, abs=1e-4)


def test_dlib_sure_not_refuses_without_facenet(tmp_path, fused_settings):
    # FaceNet alone would name Alice; dlib's face is nobody's (1.414 from everyone): refused
    # on dlib's distance alone, as the fused distance (1.33) would refuse it too
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings, dlib_first=True) as gallery:
        gallery.add_person("Alice", [both(fused_settings, 1, dlib_person=3)])
        gallery.add_person("Bob", [both(fused_settings, 2)])
        event_id = gallery.create_event("Board")
        decision, facenet, _ = attendee_decided(fused_settings, gallery, event_id)
        assert decision.outcome is Outcome.UNKNOWN
        assert facenet.calls == 0
        assert gallery.checkins(event_id) == []


def test_photos_and_live_frames_get_the_same_decision_with_dlib_first(tmp_path, fused_settings):
    """A caller holding both embeddings (a photo) is decided as the live path decides: dlib
    alone where it is sure, the fused distance in the band; FaceNet's vector is not even read
    when dlib is sure."""
    recognition = fused_settings.recognition
    threshold, margin = match_threshold(recognition), recognition.min_margin
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings, dlib_first=True) as gallery:
        alice = gallery.add_person("Alice", [both(fused_settings, 1)])
        bob = gallery.add_person("Bob", [{recognition.model_id: person_embedding(2),
                                          DLIB: dlib_at(2, 0.5)}])
        sure = gallery.match(both(fused_settings, 1), threshold, margin)
        assert sure.accepted and sure.dlib_only and sure.person_id == alice
        # dlib alone: the same answer without FaceNet's vector
        assert gallery.matcher.nearest({DLIB: person_embedding(1, 128)}, threshold, margin) == sure
        # in the band the fused distance decides, and it needs FaceNet's vector
        unsure = gallery.match(both(fused_settings, 2), threshold, margin)
        assert unsure.accepted and not unsure.dlib_only and unsure.person_id == bob
        with pytest.raises(ValueError, match="no embedding"):
            gallery.matcher.nearest({DLIB: person_embedding(2, 128)}, threshold, margin)
    # the kiosk opens its gallery with the settings' band
    from kiosk.gallery import open_gallery

    with open_gallery(fused_settings.replace("gallery", db_path=str(tmp_path / "k.sqlite"))) as kiosk:
        assert kiosk.dlib_first == DlibFirstBand.from_settings(recognition)


def test_fused_pipeline_needs_the_dlib_encoder(tmp_path, fused_settings):
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        with pytest.raises(ValueError, match="dlib's encoder is not loaded"):
            Pipeline(fused_settings, Models(FakeDetector(), FakeLandmarker(), FakeEmbedder()),
                     gallery)


def test_fused_gallery_refuses_an_image_without_the_dlib_embedding(tmp_path, fused_settings):
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        with pytest.raises(ValueError, match="missing dlib-resnet-v1"):
            gallery.add_person("Alice", [person_embedding(1)])
        assert gallery.people() == []


def test_images_without_every_model_are_left_out_of_fused_matching(tmp_path, fused_settings):
    path = tmp_path / "faces.sqlite"
    model_id = fused_settings.recognition.model_id
    with Gallery(path, model_id) as old:  # enrolled before fusion: FaceNet only, no crop
        old.add_person("Alice", [person_embedding(1)])
    with fused_gallery(path, fused_settings) as gallery:
        bob = gallery.add_person("Bob", [both(fused_settings, 2)])
        assert [i.name for i in gallery.incomplete_images()] == ["Alice"]
        assert "python main.py reembed" in missing_embeddings_notice(gallery)
        assert "re-enrol" in missing_embeddings_notice(gallery)  # Alice has no crop
        # Alice's face matches nobody on one model alone: only Bob is in the fused matrices
        match = gallery.match(both(fused_settings, 1), match_threshold(fused_settings.recognition),
                              fused_settings.recognition.min_margin)
        assert match.person_id == bob and not match.accepted


# -- real models on known faces ------------------------------------------------------------------


def test_fused_gallery_names_known_faces_and_keeps_it_after_reopening(fused_encoder, known_faces,
                                                                      tmp_path):
    encoder = fused_encoder
    settings = Settings().replace("recognition", fusion=True)
    recognition = settings.recognition
    samples = {name: encoder.encode_file(known_faces / f"{name}.jpg")
               for name in ("obama", "biden", "obama2")}
    assert set(samples["obama"].embeddings) == {recognition.model_id, DLIB}
    path = tmp_path / "faces.sqlite"
    with fused_gallery(path, settings) as gallery:
        obama = gallery.add_person("Obama", [samples["obama"].embeddings],
                                   [samples["obama"].crop_jpeg()])
        gallery.add_person("Biden", [samples["biden"].embeddings])
    with fused_gallery(path, settings) as gallery:
        match = gallery.match(samples["obama2"].embeddings, match_threshold(recognition),
                              recognition.min_margin)
        assert match.accepted and match.person_id == obama
        assert match.distance < recognition.fused_distance_threshold


def test_dlib_first_on_real_faces_decides_on_euclidean_distances(fused_encoder, known_faces,
                                                                 tmp_path):
    """dlib's vectors are not of unit length: its sure / sure-not decisions must come from
    Euclidean distances (a dot-product distance called Biden Obama at 0.0)."""
    settings = Settings().replace("recognition", fusion=True, dlib_first=True)
    recognition = settings.recognition
    samples = {name: fused_encoder.encode_file(known_faces / f"{name}.jpg")
               for name in ("obama", "obama2", "biden")}
    dlib_norm = float(np.linalg.norm(samples["obama"].embeddings[DLIB]))
    assert abs(dlib_norm - 1.0) > 0.05  # the premise: not a unit vector
    with fused_gallery(tmp_path / "faces.sqlite", settings, dlib_first=True) as gallery:
        obama = gallery.add_person("Obama", [samples["obama"].embeddings])
        threshold, margin = match_threshold(recognition), recognition.min_margin
        biden = gallery.match(samples["biden"].embeddings, threshold, margin)
        dlib_distance = float(np.linalg.norm(samples["biden"].embeddings[DLIB]
                                             - samples["obama"].embeddings[DLIB]))
        assert dlib_distance >= recognition.dlib_first_reject  # sure not: refused by dlib
        assert biden.dlib_only and not biden.accepted
        assert biden.distance == pytest.approx(dlib_distance * 1.13 / 0.6, rel=1e-4)
        same = gallery.match(samples["obama"].embeddings, threshold, margin)
        assert same.dlib_only and same.accepted and same.person_id == obama
        other_photo = gallery.match(samples["obama2"].embeddings, threshold, margin)
        assert other_photo.accepted and other_photo.person_id == obama


@pytest.fixture
def facenet_encoder(models):
    """The session's models with fusion off: FaceNet embeddings only (a gallery from before)."""
    from kiosk.face_encoder import FaceEncoder

    return FaceEncoder(models, Settings().replace("recognition", fusion=False))


def test_reembed_migrates_an_old_gallery_and_lists_people_without_crops(
        facenet_encoder, fused_encoder, known_faces, tmp_path):
    settings = Settings().replace("recognition", fusion=True)
    recognition = settings.recognition
    obama_sample = facenet_encoder.encode_file(known_faces / "obama.jpg")
    biden_sample = facenet_encoder.encode_file(known_faces / "biden.jpg")
    path = tmp_path / "faces.sqlite"
    with Gallery(path, recognition.model_id) as old:  # before fusion: FaceNet embeddings only
        obama = old.add_person("Obama", [obama_sample.embedding], [obama_sample.crop_jpeg()])
        biden = old.add_person("Biden", [biden_sample.embedding])  # no crop kept
        facenet_before = old.index.embeddings.copy()
    assert set(obama_sample.embeddings) == {recognition.model_id}  # fusion off: FaceNet only
    probe = fused_encoder.encode_file(known_faces / "obama2.jpg").embeddings
    with fused_gallery(path, settings) as gallery:
        assert not gallery.match(probe, match_threshold(recognition), recognition.min_margin).accepted
        done = []
        report = reembed_gallery(gallery, fused_encoder, batch_images=1,
                                 progress=lambda d, t: done.append((d, t)))
        assert (report.incomplete, report.reembedded) == (2, 1)
        assert done == [(1, 1)]
        assert report.people_to_reenroll() == [(biden, "Biden")]
        assert [i.name for i in gallery.incomplete_images()] == ["Biden"]
        match = gallery.match(probe, match_threshold(recognition), recognition.min_margin)
        assert match.accepted and match.person_id == obama
        # the stored FaceNet embeddings are kept as they were; dlib's was added
        assert np.array_equal(gallery.index.embeddings, facenet_before[:1])
        assert {f.model_id for f in gallery.faces_of(obama)} == {recognition.model_id, DLIB}
        assert any(row["action"] == "re-embed" for row in gallery.audit_log())
        # a second run has nothing left it can do
        again = reembed_gallery(gallery, fused_encoder)
        assert (again.reembedded, again.people_to_reenroll()) == (0, [(biden, "Biden")])


def test_reembed_command_names_people_to_reenroll(tmp_path, capsys):
    from kiosk.cli import main

    db = tmp_path / "faces.sqlite"
    with Gallery(db, Settings().recognition.model_id) as old:
        old.add_person("Zoë Müller", [person_embedding(1)])  # no crop: nothing to load models for
    status = main(["--db", str(db), "reembed", "--fusion"])
    out = capsys.readouterr().out
    assert status == 1
    assert "0 images re-embedded" in out and "re-enrol these people" in out
    assert "Zoë Müller" in out


def test_kiosk_start_up_migrates_an_old_gallery_by_itself(facenet_encoder, fused_encoder,
                                                          known_faces, tmp_path):
    """An updated kiosk (fusion now on) re-embeds the stored crops at start-up: the enrolled
    person is recognised again with no manual step; a crop-less person is named as left."""
    from kiosk.reembed import migrate_at_start

    settings = Settings().replace("recognition", fusion=True)
    recognition = settings.recognition
    path = tmp_path / "faces.sqlite"
    sample = facenet_encoder.encode_file(known_faces / "obama.jpg")
    with Gallery(path, recognition.model_id) as old:
        obama = old.add_person("Obama", [sample.embedding], [sample.crop_jpeg()])
    probe = fused_encoder.encode_file(known_faces / "obama2.jpg").embeddings
    with fused_gallery(path, settings) as gallery:
        progress = []
        assert migrate_at_start(gallery, fused_encoder, lambda d, t: progress.append((d, t))) == ""
        assert progress == [(1, 1)]
        match = gallery.match(probe, match_threshold(recognition), recognition.min_margin)
        assert match.accepted and match.person_id == obama
        assert migrate_at_start(gallery, fused_encoder) == ""  # nothing left: nothing done
    with Gallery(path, recognition.model_id) as old:
        old.add_person("Biden", [person_embedding(2)])  # no crop kept
    with fused_gallery(path, settings) as gallery:
        notice = migrate_at_start(gallery, fused_encoder)
        assert "1 stored face images of 1 people" in notice and "reembed" in notice


def test_empty_fused_gallery_matched_first_then_enrolled(tmp_path, fused_settings):
    """The enrolment dialog checks for a look-alike (reading the empty index) before it saves:
    the dlib matrix of an empty gallery must take 128-d rows."""
    recognition = fused_settings.recognition
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        assert not gallery.match(both(fused_settings, 1), match_threshold(recognition),
                                 recognition.min_margin).accepted
        person = gallery.add_person("Ana", [both(fused_settings, 1)])
        match = gallery.match(both(fused_settings, 1), match_threshold(recognition),
                              recognition.min_margin)
        assert match.accepted and match.person_id == person


def test_fused_matcher_equals_a_float64_brute_force_after_adds_and_removals():
    """The matcher adds each model's distances row by row with cached squared norms; after
    images are added and removed it still gives the brute-force answer."""
    from kiosk.matching.fused import FusedMatcher
    from kiosk.matching.matrix import GalleryMatrix
    from kiosk.matching.rule import model_weights

    rng = np.random.default_rng(7)
    weights = model_weights("facenet", DLIB, 0.5)
    facenet, dlib = GalleryMatrix(512), GalleryMatrix(128)
    stored: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}

    def add(image_id, person_id):
        f = rng.standard_normal(512).astype(np.float32)
        f /= np.linalg.norm(f)
        d = (rng.standard_normal(128) * 0.08).astype(np.float32)  # dlib's: not unit vectors
        facenet.add(image_id, person_id, f)
        dlib.add(image_id, person_id, d)
        stored[image_id] = (person_id, f, d)

    for image_id in range(300):
        add(image_id, image_id // 3)
    matcher = FusedMatcher({"facenet": facenet, DLIB: dlib}, weights)
    for step in range(40):
        if step % 2:
            gone = int(rng.choice(list(stored)))
            facenet.remove_image(gone)
            dlib.remove_image(gone)
            del stored[gone]
        else:
            add(1000 + step, int(rng.integers(0, 120)))
        _, f_q, d_q = stored[int(rng.choice(list(stored)))]
        query = {"facenet": f_q + 0.02, DLIB: d_q + 0.01}
        got = matcher.nearest(query, 1.02, 0.05)
        fused = {image_id: weights["facenet"] * np.linalg.norm(np.float64(f) - query["facenet"])
                 + weights[DLIB] * np.linalg.norm(np.float64(d) - query[DLIB])
                 for image_id, (_, f, d) in stored.items()}
        best = min(fused, key=fused.get)
        person = stored[best][0]
        second = min(v for i, v in fused.items() if stored[i][0] != person)
        assert (got.person_id, got.image_id) == (person, best)
        assert got.distance == pytest.approx(fused[best], abs=1e-4)
        assert got.margin == pytest.approx(second - fused[best], abs=1e-4)


def test_gallery_keeps_its_fused_matcher_until_the_matrices_are_read_again(tmp_path, fused_settings):
    recognition = fused_settings.recognition
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        gallery.add_person("P1", [both(fused_settings, 1)])
        matcher = gallery.matcher
        assert gallery.matcher is matcher
        gallery.add_person("P2", [both(fused_settings, 2)])
        match = gallery.match(both(fused_settings, 2), match_threshold(recognition), recognition.min_margin)
        assert match.accepted and gallery.person(match.person_id).name == "P2"
        gallery.reload()  # new matrices: a matcher over them
        assert gallery.matcher is not matcher
        assert gallery.matcher.indexes == gallery.indexes


def test_prepare_matching_builds_the_int8_copies_before_the_first_query(tmp_path, fused_settings):
    """A large gallery's copies are built when the pipeline starts, not at the first face."""
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        for person in range(1, 4):
            gallery.add_person(f"P{person}", [both(fused_settings, person)])
        for matrix in gallery.indexes.values():
            assert matrix.int8_copies() == []
            matrix.index_min_rows = 1  # as if it held 20,000 images
        gallery.prepare_matching()
        copies = [copy for matrix in gallery.indexes.values() for copy in matrix.int8_copies()]
        assert len(copies) == len(gallery.indexes)  # one floor copy each, built before any query
        match = gallery.match(both(fused_settings, 2), match_threshold(fused_settings.recognition),
                              fused_settings.recognition.min_margin)
        assert match.accepted and gallery.person(match.person_id).name == "P2"
        assert [c for matrix in gallery.indexes.values() for c in matrix.int8_copies()] == copies  # reused


def test_an_image_removed_from_one_model_only_leaves_fused_matching_at_once():
    """The matcher remembers that its matrices hold the same images row for row until one of
    them changes: an image that loses one model's embedding is not matched the next query."""
    from kiosk.matching.fused import FusedMatcher
    from kiosk.matching.matrix import GalleryMatrix
    from kiosk.matching.rule import model_weights

    weights = model_weights("facenet", DLIB, 0.5)
    facenet, dlib = GalleryMatrix(512), GalleryMatrix(128)
    for image_id in (1, 2, 3):
        facenet.add(image_id, image_id, person_embedding(image_id))
        dlib.add(image_id, image_id, person_embedding(image_id, 128))
    matcher = FusedMatcher({"facenet": facenet, DLIB: dlib}, weights)
    query = {"facenet": person_embedding(2), DLIB: person_embedding(2, 128)}
    assert matcher.nearest(query, 1.02, 0.05).image_id == 2
    dlib.remove_image(2)
    assert matcher.nearest(query, 1.02, 0.05).image_id != 2
    dlib.add(2, 2, person_embedding(2, 128))  # back, in another row
    assert matcher.nearest(query, 1.02, 0.05).image_id == 2


def subspace_faces(rng, rows, people):
    """Two models' rows of the same images, each near a subspace of its own (as FaceNet's and
    dlib's are): unit 512-d rows and 128-d rows of norm about 1.4, and a function drawing new
    images of a person (a centre index) or of a new person (None)."""
    spaces = {"facenet": np.linalg.qr(rng.standard_normal((512, 60)))[0],
              DLIB: np.linalg.qr(rng.standard_normal((128, 40)))[0]}
    centres = {model: rng.standard_normal((people, basis.shape[1])) for model, basis in spaces.items()}

    def draw(person_rows):
        out = {}
        for model, basis in spaces.items():
            inside = np.array([centres[model][p] if p is not None
                               else rng.standard_normal(basis.shape[1]) for p in person_rows])
            inside = inside + 0.6 * rng.standard_normal(inside.shape)
            data = inside @ basis.T + 0.01 * rng.standard_normal((len(inside), basis.shape[0]))
            data /= np.linalg.norm(data, axis=1, keepdims=True)
            out[model] = (data * (1.0 if model == "facenet" else 1.4)).astype(np.float32)
        return out

    return draw(list(np.arange(rows) % people)), draw


@pytest.mark.parametrize("threads, layout", [(1, "random"), (2, "random"), (2, "subspace")])
def test_fused_prefilter_gives_the_exhaustive_answer(threads, layout):
    """Large fused galleries are matched through each model's int8 copy with a floor of every
    row's distance; on random galleries (dlib-like rows: not unit vectors) and on galleries
    near a subspace (the copies then keep its coordinates) the answer is the exhaustive scan's, for attendees, look-alikes and strangers, also after
    removals and additions."""
    from kiosk.matching.fused import FusedMatcher
    from kiosk.matching.matrix import GalleryMatrix
    from kiosk.matching.rule import model_weights

    rng = np.random.default_rng(11 + threads)
    weights = model_weights("facenet", DLIB, 0.5)
    rows, people = 20_000, 2_000  # the bound needs the candidates to be a small share
    if layout == "random":
        facenet = rng.standard_normal((rows, 512)).astype(np.float32)
        facenet /= np.linalg.norm(facenet, axis=1, keepdims=True)
        data = {"facenet": facenet, DLIB: (rng.standard_normal((rows, 128)) * 0.09).astype(np.float32)}
        draw = None
    else:
        data, draw = subspace_faces(rng, rows, people)
    image_ids, person_ids = np.arange(rows), np.arange(rows) % people

    def matcher(index_min_rows):
        matrices = {}
        for model, rows_of_model in data.items():
            matrix = GalleryMatrix(rows_of_model.shape[1], index_min_rows=index_min_rows,
                                   threads=threads)
            matrix.add_many(image_ids, person_ids, rows_of_model)
            matrices[model] = matrix
        return FusedMatcher(matrices, weights)

    fast, exhaustive = matcher(100), matcher(10**9)
    for index in range(60):
        if index == 30:  # removals move rows: the prefilter re-checks them (stale rows)
            for gone in rng.choice(rows, 40, replace=False).tolist():
                for m in (fast, exhaustive):
                    for matrix in m.indexes.values():
                        matrix.remove_image(gone)
        if index == 40 and draw is not None:  # new images, one of a new person
            added = draw([3, 4, None])
            for m in (fast, exhaustive):
                for model, matrix in m.indexes.items():
                    matrix.add_many(np.arange(rows, rows + 3), np.array([3, 4, people]), added[model])
        row = int(rng.integers(0, len(fast.indexes["facenet"])))
        if draw is None:
            noise = (0.0, 0.3, 2.0)[index % 3]  # the person, a look-alike, a stranger
            query = {"facenet": fast.indexes["facenet"].embeddings[row] + noise
                     * rng.standard_normal(512).astype(np.float32) / np.sqrt(512),
                     DLIB: fast.indexes[DLIB].embeddings[row] + noise * 0.09
                     * rng.standard_normal(128).astype(np.float32)}
            query["facenet"] /= np.linalg.norm(query["facenet"])
        else:  # a new image of the person, the stored image itself, a stranger
            person = int(fast.indexes["facenet"].person_ids[row])
            drawn = draw([person if index % 3 == 0 else None])
            query = {model: drawn[model][0] for model in drawn}
            if index % 3 == 1:
                query = {model: fast.indexes[model].embeddings[row] for model in drawn}
        got, want = fast.nearest(query, 1.02, 0.05), exhaustive.nearest(query, 1.02, 0.05)
        assert (got.person_id, got.image_id) == (want.person_id, want.image_id)
        assert got.distance == pytest.approx(want.distance, abs=1e-4)
        assert got.margin == pytest.approx(want.margin, abs=1e-4)
    assert fast.full_scans <= 6  # the bound proved the answer, not the fallback
    if layout == "subspace":  # the narrow copies were used
        assert all(matrix.floor_index().code_dim < matrix.dim / 2 for matrix in fast.indexes.values())
    for m in (fast, exhaustive):
        for matrix in m.indexes.values():
            matrix.close()


def test_bulk_enrolment_writes_every_model(tmp_path, fused_settings):
    """``add_many`` (bench-match, the soak) can write both models' embeddings: each image is
    then complete and matched on the fused distance."""
    recognition = fused_settings.recognition
    with fused_gallery(tmp_path / "faces.sqlite", fused_settings) as gallery:
        people = [(f"P{p}", None, {recognition.model_id: np.stack([person_embedding(p)] * 2),
                                   DLIB: np.stack([person_embedding(p, 128)] * 2)})
                  for p in range(1, 4)]
        assert gallery.people_table.add_many(people, actor="test") == 6
        assert gallery.incomplete_images() == []
        match = gallery.match(both(fused_settings, 2), match_threshold(recognition),
                              recognition.min_margin)
        assert match.accepted and gallery.person(match.person_id).name == "P2"
