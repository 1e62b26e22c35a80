"""eval-identify --cv: the rule chosen on some people and reported on others, on synthetic sets."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.embed import l2_normalize
from kiosk.eval.identify_cv import FaceSet, choose, cross_validate, split_people

MODEL = "facenet-test"


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
