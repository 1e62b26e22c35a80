"""eval-live-identify: camera frames against people enrolled from other frames, on synthetic
embeddings of both models laid out like a kiosk's (dlib's vectors not of unit length)."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.config import Settings
from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.eval.identify_cv import FaceSet
from kiosk.eval.live_identify import evaluate, plan, recording_of

SETTINGS = Settings()  # fusion and dlib first on, as shipped
FACENET = SETTINGS.recognition.model_id


def at_distance(centre: np.ndarray, distance: float, rng: np.random.Generator) -> np.ndarray:
    """A vector exactly ``distance`` from ``centre``, in a random direction."""
    step = rng.normal(size=centre.shape)
    return centre + distance * step / np.linalg.norm(step)


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def kiosk_like(people: int, rng: np.random.Generator) -> FaceSet:
    """Each person: recording 01 (3 enrolment frames at the centre, 5 more close to it) and
    recording 02 (5 frames farther: another day). dlib's frames are 0.15 (same recording) and
    0.5 (another) from the centre, people about 1.0 apart; FaceNet's 0.3 and 0.8, 1.4 apart."""
    names, paths, facenet, dlib = [], [], [], []
    for p in range(people):
        facenet_centre = unit(rng.normal(size=512))
        dlib_centre = 0.7 * unit(rng.normal(size=128)) + 0.7 * np.eye(128)[0]  # norm about 1.2
        frames = [("01", 0.0, 0.0)] * 3 + [("01", 0.3, 0.15)] * 5 + [("02", 0.8, 0.5)] * 5
        for i, (recording, facenet_distance, dlib_distance) in enumerate(frames):
            names.append(f"{p:04d}")
            paths.append(f"{p:04d}/{p:04d}_00_00_{recording}_{i}.jpg")
            facenet.append(unit(at_distance(facenet_centre, facenet_distance, rng)))
            dlib.append(at_distance(dlib_centre, dlib_distance, rng))
    return FaceSet(names, paths, np.ones(len(names), bool),
                   {FACENET: np.array(facenet, np.float32), DLIB_MODEL_ID: np.array(dlib, np.float32)})


def test_a_frame_belongs_to_the_recording_its_name_starts_with():
    assert recording_of("0001/0001_00_00_01_12.jpg") == "0001_00_00_01"
    assert recording_of("frames/a.png") == "a"


def test_people_are_enrolled_from_their_first_recording_and_probed_with_the_rest():
    faces = kiosk_like(3, np.random.default_rng(1))
    chosen = plan(faces, enrol=3)
    assert sorted(chosen) == ["0000", "0001", "0002"]
    first = chosen["0000"]
    assert [faces.paths[r].endswith(f"_01_{i}.jpg") for i, r in enumerate(first["enrol"])] == [True] * 3
    assert len(first["same_recording"]) == 5 and len(first["another_recording"]) == 5
    with pytest.raises(ValueError, match="more than 20 frame"):
        plan(faces, enrol=20)


def test_close_frames_are_settled_by_dlib_far_ones_by_the_fused_rule_strangers_refused():
    report = evaluate(kiosk_like(6, np.random.default_rng(2)), 3, SETTINGS).as_dict()
    same, another, strangers = report["same_recording"], report["another_recording"], report["strangers"]
    # the same recording: dlib is sure, FaceNet never runs, everyone is named right
    assert same["probes"] == 30 and same["right"] == 30 and same["dlib_accepted"] == 30
    assert same["facenet"] == 0
    # another day: dlib is unsure (0.5), FaceNet runs and the fused distance names them right
    assert another["probes"] == 30 and another["right"] == 30 and another["wrong"] == 0
    assert another["facenet"] == 30
    # everyone is a stranger to the others' gallery once: refused, by dlib alone
    assert strangers["probes"] == 6 * 13 and strangers["accepted"] == 0
    assert strangers["dlib_refused"] == strangers["probes"]


def test_without_dlib_first_every_decision_runs_facenet():
    settings = SETTINGS.replace("recognition", dlib_first=False)
    report = evaluate(kiosk_like(4, np.random.default_rng(3)), 3, settings).as_dict()
    for group in ("same_recording", "another_recording", "strangers"):
        assert report[group]["facenet"] == report[group]["probes"] > 0
    assert report["same_recording"]["right"] == report["same_recording"]["probes"]
    assert report["strangers"]["accepted"] == 0
