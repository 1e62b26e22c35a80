"""eval-identify --cv: the rule chosen on some people and reported on others, on synthetic sets."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.embed import l2_normalize
from kiosk.eval.identify_cv import (
    DLIB_FIRST_GUARD, FaceSet, cascade, choose, choose_dlib_first, cross_validate, decisions,
    dlib_decisions, group_truth, photo_truth, split_people,
)
from kiosk.matching.fused import FusedMatcher
from kiosk.matching.matrix import GalleryMatrix
from kiosk.matching.rule import model_weights

MODEL = "facenet-test"
DLIB_NORM = 1.4  # dlib's embeddings are not unit vectors (about 1.4 on real faces)
DLIB_DIM = 128


def unit(rng: np.random.Generator, dim: int = 32) -> np.ndarray:
    return l2_normalize(rng.normal(size=dim).astype(np.float32))


def face_set(people: dict[str, list[np.ndarray]]) -> FaceSet:
    names = [name for name, faces in people.items() for _ in faces]
    rows = [face for faces in people.values() for face in faces]
    return FaceSet(names, [f"{n}/{i}.jpg" for i, n in enumerate(names)],
                   np.ones(len(rows), bool), {MODEL: np.stack(rows).astype(np.float32)})


def clusters(people: int, photos: int, noise: float, seed: int = 0) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    found = {}
    for p in range(people):
        centre = unit(rng)
        found[f"person{p:03d}"] = [l2_normalize(centre + noise * unit(rng)) for _ in range(photos)]
    return found


def test_separated_people_are_named_right_and_strangers_refused_on_held_out_folds():
    faces = face_set(clusters(60, 4, 0.3))
    report = cross_validate(faces, enrol=1, agree=1, folds=4, stranger_share=0.25)
    held = report["held_out"]
    assert len(report["per_fold"]) == 4
    assert held["dir"] == 1.0 and held["wrong"] == 0 and held["stranger_accepted"] == 0
    # every probe group is held out exactly once
    split = split_people(faces, 1, 1, 0.25)
    assert held["genuine"] + held["strangers"] == len(split.group_person)
    chosen = report["chosen"]
    assert chosen["dlib_weight"] == 0.0  # no dlib embeddings: FaceNet alone
    # ... and no dlib-first band to choose
    assert report["dlib_first_chosen"] is None and report["per_fold"][0]["cascade"] is None
    # the threshold lies between the distances of one person's photos (~0.42) and of two people (~1.41)
    assert 0.45 < chosen["threshold"] < 1.3


def test_the_settings_rule_is_reported_beside_the_chosen_one():
    faces = face_set(clusters(60, 4, 0.3))
    lenient = cross_validate(faces, enrol=1, folds=4, stranger_share=0.25,
                             settings_rule=(0.0, 1.9, 0.0))["settings"]
    strict = cross_validate(faces, enrol=1, folds=4, stranger_share=0.25,
                            settings_rule=(0.0, 0.1, 0.0))["settings"]
    assert lenient["threshold"] == 1.9 and lenient["fpir"] == 1.0  # every stranger gets a name
    assert strict["dir"] == 0.0 and strict["fpir"] == 0.0  # nobody does


def test_a_rule_tuned_to_some_people_is_judged_on_others():
    # half the people's photos are spread wider: folds that hold them lose right persons,
    # which only held-out figures show (the chosen rule never saw them)
    people = clusters(40, 4, 0.3, seed=1)
    wide = clusters(40, 4, 0.9, seed=2)
    people.update({f"wide{name}": faces for name, faces in wide.items()})
    report = cross_validate(face_set(people), enrol=1, agree=1, folds=5, stranger_share=0.25)
    rates = [fold["dir"] for fold in report["per_fold"]]
    assert report["held_out"]["dir_std"] > 0 and max(rates) > min(rates)
    assert report["held_out"]["dir"] < 1.0


def test_frames_that_must_agree_refuse_a_stranger_who_looks_like_someone_once():
    rng = np.random.default_rng(3)
    people = clusters(30, 6, 0.3, seed=3)  # enrolled with 4 photos, probed with 2
    ann = people["person000"][0]
    # a stranger (4 photos: never enrolled): one photo close to Ann, the others nobody's
    people["stranger"] = [l2_normalize(ann + 0.2 * unit(rng))] + [unit(rng) for _ in range(3)]
    faces = face_set(people)
    found = {}
    for agree in (1, 2):
        split = split_people(faces, enrol=4, agree=agree, stranger_share=0.0)
        found[agree] = split
        report = cross_validate(faces, enrol=4, agree=agree, folds=3, stranger_share=0.0,
                                thresholds=(0.6,), margins=(0.0,))
        if agree == 1:
            assert report["chosen"]["fpir"] > 0  # the look-alike photo is taken for Ann
        else:
            assert report["chosen"]["fpir"] == 0  # it never agrees with his next photo
            assert report["chosen"]["dir"] == 1.0
    assert found[2].groups.shape[1] == 2


def test_choose_prefers_no_wrong_person_and_few_strangers_over_more_right_persons():
    rows = [
        {"dlib_weight": 0.5, "threshold": 1.10, "min_margin": 0.0, "dir": 0.99, "wrong_person": 0.01, "fpir": 0.0},
        {"dlib_weight": 0.5, "threshold": 1.05, "min_margin": 0.0, "dir": 0.97, "wrong_person": 0.0, "fpir": 0.05},
        {"dlib_weight": 0.5, "threshold": 1.00, "min_margin": 0.0, "dir": 0.95, "wrong_person": 0.0, "fpir": 0.01},
        {"dlib_weight": 0.5, "threshold": 0.95, "min_margin": 0.0, "dir": 0.90, "wrong_person": 0.0, "fpir": 0.0},
    ]
    assert choose(rows)["threshold"] == 1.00
    # nothing meets the limits: the least beyond them
    assert choose(rows[:2])["threshold"] == 1.10


def test_bad_arguments_are_refused():
    faces = face_set(clusters(4, 2, 0.3))
    with pytest.raises(ValueError, match="folds"):
        cross_validate(faces, enrol=1, folds=1)
    with pytest.raises(ValueError, match="enrol"):
        split_people(faces, enrol=0)
    with pytest.raises(ValueError, match="nobody"):
        split_people(faces, enrol=2)


# --- dlib first: two models ---------------------------------------------------------------

def two_model_set(people: int, photos: int, facenet_noise: float, dlib_noise: float,
                  seed: int = 0) -> FaceSet:
    """People whose photos cluster in both models; dlib's vectors are ``DLIB_NORM`` long."""
    rng = np.random.default_rng(seed)
    names, facenet, dlib = [], [], []
    for p in range(people):
        facenet_centre, dlib_centre = unit(rng), unit(rng, DLIB_DIM)
        for _ in range(photos):
            names.append(f"person{p:03d}")
            facenet.append(l2_normalize(facenet_centre + facenet_noise * unit(rng)))
            dlib.append(DLIB_NORM * l2_normalize(dlib_centre + dlib_noise * unit(rng, DLIB_DIM)))
    return FaceSet(names, [f"{n}/{i}.jpg" for i, n in enumerate(names)], np.ones(len(names), bool),
                   {MODEL: np.stack(facenet).astype(np.float32),
                    DLIB_MODEL_ID: np.stack(dlib).astype(np.float32)})


def with_dlib_look_alikes(faces: FaceSet, enrol: int, stranger_share: float, seed: int) -> FaceSet:
    """The same set where each stranger's photos look, to dlib alone, like an enrolled
    person's enrolment photo (FaceNet still tells them apart)."""
    rng = np.random.default_rng(seed)
    split = split_people(faces, enrol, 1, stranger_share)
    enrolment_rows = [rows[0] for rows in split.enrolled.values()]
    dlib = faces.embeddings[DLIB_MODEL_ID].copy()
    for row, person in enumerate(faces.people):
        if person not in split.enrolled:
            near = dlib[enrolment_rows[rng.integers(len(enrolment_rows))]]
            dlib[row] = DLIB_NORM * l2_normalize(near / DLIB_NORM + 0.12 * unit(rng, DLIB_DIM))
    return FaceSet(faces.people, faces.paths, faces.has_face,
                   {**faces.embeddings, DLIB_MODEL_ID: dlib})


def test_choose_dlib_first_keeps_a_guard_from_training_extremes_in_whole_steps():
    band = choose_dlib_first(0.4226, 0.6366, 0.15)
    assert (band.accept_below, band.reject_from) == (0.37, 0.69)
    assert band.min_margin == pytest.approx(0.15 * 0.6 / 1.13)  # the margin in dlib's scale
    # limits land on 0.01 steps, outwards from the guard: never nearer the extremes
    band = choose_dlib_first(0.45, 0.55, 0.1)
    assert band.accept_below <= round(0.45 - DLIB_FIRST_GUARD, 6)
    assert band.reject_from >= round(0.55 + DLIB_FIRST_GUARD, 6)
    assert choose_dlib_first(0.03, 0.5, 0.1).accept_below == 0.0  # never below 0
    # dlib's nearest wrong answer far above every right one: dlib accepts no farther than the
    # fused rule did, and the band is the guard above it
    band = choose_dlib_first(1.6, 0.62, 0.1)
    assert (band.accept_below, band.reject_from) == (0.62, 0.67)
    # no wrong answer in training: the same
    band = choose_dlib_first(float("inf"), 0.5, 0.1)
    assert (band.accept_below, band.reject_from) == (0.5, 0.55)
    # the fused rule named nobody right: dlib refuses everyone
    band = choose_dlib_first(0.5, float("-inf"), 0.1)
    assert (band.accept_below, band.reject_from) == (0.0, 0.0)


def test_the_band_chosen_on_everyone_accepts_no_stranger_and_refuses_no_check_in_quickly():
    faces = two_model_set(60, 4, 0.35, 0.35, seed=5)
    report = cross_validate(faces, enrol=1, folds=4, stranger_share=0.25)
    chosen, band = report["chosen"], report["dlib_first_chosen"]
    assert 0 < band["accept_below"] <= band["reject_from"]
    split = split_people(faces, 1, 1, 0.25)
    names = sorted(split.enrolled)
    truth = group_truth(split, names)
    rows, photo_truths = photo_truth(split, truth, np.ones(len(truth), bool))
    dlib = dlib_decisions(faces, split, names)
    fused = decisions(faces, split, names, chosen["dlib_weight"])
    sure = ((dlib.distance[rows] < band["accept_below"])
            & (dlib.margin[rows] >= band["dlib_min_margin"]))
    strangers = photo_truths < 0
    assert strangers.sum() > 20 and sure.sum() > 20
    assert not (sure & strangers).any()  # dlib alone never names a stranger
    assert (dlib.person[rows][sure] == photo_truths[sure]).all()  # nor names anyone wrong
    fused_right = ((fused.distance[rows] < chosen["threshold"])
                   & (fused.margin[rows] >= chosen["min_margin"])
                   & (fused.person[rows] == photo_truths))
    # every photo the fused rule names right is under reject_from: never refused by dlib alone
    assert fused_right.sum() > 20
    assert (dlib.distance[rows][fused_right] < band["reject_from"]).all()
    assert band["cascade"]["right"] >= report["chosen"]["dir"] * band["cascade"]["genuine"]


def test_on_well_separated_people_dlib_first_decides_as_the_fused_rule_with_little_facenet():
    faces = two_model_set(80, 4, 0.35, 0.3, seed=6)
    report = cross_validate(faces, enrol=1, folds=4, stranger_share=0.25)
    for fold in report["per_fold"]:
        rates = fold["cascade"]
        assert (rates["right"], rates["wrong"], rates["stranger_accepted"]) == (
            fold["right"], fold["wrong"], fold["stranger_accepted"])
    held = report["held_out"]["cascade"]
    assert held["photos"] == report["held_out"]["genuine"] + report["held_out"]["strangers"]
    assert held["facenet_share"] < 0.5  # most photos never reach FaceNet


def test_a_dlib_that_takes_strangers_for_enrolled_people_narrows_what_it_decides_alone():
    clean = two_model_set(80, 4, 0.35, 0.3, seed=6)
    noisy = with_dlib_look_alikes(clean, enrol=1, stranger_share=0.25, seed=7)
    reports = {name: cross_validate(faces, enrol=1, folds=4, stranger_share=0.25)
               for name, faces in (("clean", clean), ("noisy", noisy))}
    clean_band, noisy_band = (reports[n]["dlib_first_chosen"] for n in ("clean", "noisy"))
    assert noisy_band["accept_below"] < clean_band["accept_below"] - 0.1
    for fold_clean, fold_noisy in zip(reports["clean"]["per_fold"], reports["noisy"]["per_fold"]):
        assert fold_noisy["dlib_first"]["accept_below"] < fold_clean["dlib_first"]["accept_below"]
    shares = {n: reports[n]["held_out"]["cascade"]["facenet_share"] for n in reports}
    assert shares["noisy"] > shares["clean"] + 0.2  # FaceNet settles what dlib cannot
    # and dlib's mistakes cost nothing: the decisions stay the fused rule's
    held = reports["noisy"]["held_out"]
    assert held["cascade"]["stranger_accepted"] == held["stranger_accepted"]
    assert held["cascade"]["wrong"] == held["wrong"] == 0


def test_the_cascade_is_what_the_kiosks_fused_matcher_decides_with_the_band():
    faces = two_model_set(40, 4, 0.35, 0.45, seed=8)
    report = cross_validate(faces, enrol=1, folds=4, stranger_share=0.25)
    chosen, chosen_band = report["chosen"], report["dlib_first_chosen"]
    from kiosk.matching.rule import DlibFirstBand
    band = DlibFirstBand(chosen_band["accept_below"], chosen_band["reject_from"],
                         chosen_band["dlib_min_margin"])
    split = split_people(faces, 1, 1, 0.25)
    names = sorted(split.enrolled)
    weight = chosen["dlib_weight"] or 0.5  # the kiosk's band goes with the fused matcher
    found = cascade(dlib_decisions(faces, split, names), decisions(faces, split, names, weight),
                    band, chosen["threshold"], chosen["min_margin"])
    index_of = {name: i for i, name in enumerate(names)}
    enrolled_rows = [r for name in names for r in split.enrolled[name]]
    person_ids = np.array([index_of[faces.people[r]] for r in enrolled_rows])
    matrices = {}
    for model_id in (MODEL, DLIB_MODEL_ID):
        matrices[model_id] = GalleryMatrix(faces.embeddings[model_id].shape[1])
        matrices[model_id].add_many(np.arange(len(enrolled_rows)), person_ids,
                                    faces.embeddings[model_id][enrolled_rows])
    kiosk = FusedMatcher(matrices, model_weights(MODEL, DLIB_MODEL_ID, weight), band)
    settled = 0
    for row in split.groups.ravel():
        match = kiosk.nearest({m: faces.embeddings[m][row] for m in matrices},
                              chosen["threshold"], chosen["min_margin"])
        assert match.accepted == found.accepted[row]
        assert match.dlib_only == (not found.facenet[row])
        if match.accepted:
            assert match.person_id == found.person[row]
        settled += match.dlib_only
    assert settled > 10  # the comparison covers faces dlib settles alone
