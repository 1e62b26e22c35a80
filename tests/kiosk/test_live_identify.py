"""eval-live-identify: camera frames against people enrolled from other frames, on synthetic
embeddings of both models laid out like a kiosk's (dlib's vectors not of unit length)."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.config import Settings
from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.eval.identify_cv import FaceSet
from kiosk.eval.live_identify import consecutive, evaluate, frame_number, plan, recording_of

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
    probes = {group: [r for segment in first[group] for r in segment]
              for group in ("same_recording", "another_recording")}
    assert len(probes["same_recording"]) == 5 and len(probes["another_recording"]) == 5
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


def test_frames_are_taken_in_frame_number_order_and_enrolment_can_start_later():
    faces = kiosk_like(2, np.random.default_rng(4))
    # file names sort "_10" before "_2"; the frame numbers decide
    assert sorted(["a_10.jpg", "a_2.jpg"], key=frame_number) == ["a_2.jpg", "a_10.jpg"]
    late = plan(faces, enrol=3, enrol_at=1.0)["0000"]
    numbers = [frame_number(faces.paths[r])[0] for r in late["enrol"]]
    assert numbers == [5, 6, 7]  # the last 3 frames of recording 01 (frames 0-7)
    assert sorted(frame_number(faces.paths[r])[0]
                  for segment in late["same_recording"] for r in segment) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="enrol_at"):
        plan(faces, enrol=3, enrol_at=1.5)


def test_consecutive_frames_must_agree_as_at_the_kiosk():
    """A person whose every second frame is taken for someone else: each frame alone names
    them right half the time, but no two consecutive frames agree, so no group is accepted."""
    rng = np.random.default_rng(5)
    faces = kiosk_like(3, rng)
    alternate = [r for r, p in enumerate(faces.paths)
                 if p.startswith("0000/") and "_02_" in p and frame_number(p)[0] % 2 == 1]
    for row in alternate:  # these frames look exactly like person 0001's enrolment
        for model_id in faces.embeddings:
            faces.embeddings[model_id][row] = faces.embeddings[model_id][13]
    one = evaluate(faces, 3, SETTINGS, agree=1).as_dict()["another_recording"]
    two = evaluate(faces, 3, SETTINGS, agree=2).as_dict()["another_recording"]
    assert one["wrong"] == len(alternate) == one["groups_wrong"]
    assert two["groups"] == 3 * 2  # 5 frames per recording: 2 pairs each, the tail left out
    assert two["groups_wrong"] == 0
    assert two["groups_right"] == 2 * 2  # the other two people's pairs
    assert consecutive([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4]]
