"""eval-identify: enrolment split, open-set decisions and the rates, on tiny folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kiosk.embed import l2_normalize
from kiosk.eval.identify import evaluate_identification, people_images
from kiosk.images import ImageError


def make_folder(root: Path, layout: dict[str, list[str]]) -> Path:
    for person, images in layout.items():
        (root / person).mkdir(parents=True)
        for image in images:
            (root / person / image).write_bytes(b"x")
    return root


def fake_embedder(vectors: dict[str, list[float]]):
    """Embeddings by file name; 'none' means no face."""
    def embed(path: Path) -> np.ndarray:
        if path.name.startswith("none"):
            raise ImageError(f"{path}: no face found")
        vector = np.zeros(4, np.float32)
        vector[: len(vectors[path.name])] = vectors[path.name]
        return l2_normalize(vector)
    return embed


def test_enrolled_unknown_and_lookalike(tmp_path):
    root = make_folder(tmp_path, {
        "ann": ["a1.jpg", "a2.jpg", "a3.jpg"],   # enrolled with a1, probed with a2 (right) and a3 (no face)
        "bob": ["b1.jpg"],                        # never enrolled: an impostor probe
        "cy": ["c1.jpg", "c2.jpg"],               # enrolled with c1; c2 looks like dee
        "dee": ["d1.jpg", "d2.jpg"],              # enrolled with d1, probed with d2
        "eve": ["e1.jpg"],                        # a stranger close to ann: accepted as ann
    })
    vectors = {
        "a1.jpg": [1, 0], "a2.jpg": [1, 0.1], "b1.jpg": [0, 0, 1], "c1.jpg": [0, 1],
        "c2.jpg": [0.5, 0, 0, 1], "d1.jpg": [0, 0, 0, 1], "d2.jpg": [0, 0, 0.1, 1],
        "e1.jpg": [1, -0.5],
    }
    (root / "ann" / "a3.jpg").rename(root / "ann" / "none3.jpg")
    report = evaluate_identification(root, fake_embedder(vectors), threshold=0.5, min_margin=0.1, enrol=1)
    assert report["enrolled_people"] == 3  # ann, cy, dee
    assert report["genuine_probes"] == 4  # a2, none3, c2, d2
    assert report["impostor_probes"] == 2  # b1, e1
    assert report["dir"] == pytest.approx(2 / 4)  # a2 and d2
    assert report["wrong_person"] == pytest.approx(1 / 4)  # c2 taken for dee
    assert report["fpir"] == pytest.approx(1 / 2)  # eve taken for ann
    assert report["no_face"] == 1
    assert {(e["person"], e["accepted_as"]) for e in report["errors"]} == {("cy", "dee"), ("eve", "ann")}
    # a stricter threshold refuses eve and cy's look-alike probe but keeps the close ones
    strict = min(report["trade_off"], key=lambda row: row["threshold"])
    assert strict["threshold"] == pytest.approx(0.3)
    assert strict["fpir"] == 0.0 and strict["wrong_person"] == 0.0 and strict["dir"] == pytest.approx(2 / 4)


def test_margin_refuses_a_probe_between_two_people(tmp_path):
    root = make_folder(tmp_path, {"ann": ["a1.jpg", "a2.jpg"], "ann_twin": ["t1.jpg", "t2.jpg"]})
    vectors = {"a1.jpg": [1, 0.2], "t1.jpg": [1, -0.2], "a2.jpg": [1, 0.01], "t2.jpg": [1, -0.6]}
    report = evaluate_identification(root, fake_embedder(vectors), threshold=1.0, min_margin=0.1, enrol=1)
    assert report["dir"] == pytest.approx(0.5)  # a2 is between ann and her twin: refused
    assert report["wrong_person"] == 0.0


@pytest.mark.parametrize("layout, message", [({}, "no sub-folders"), ({"solo": ["s1.jpg"]}, "nobody")])
def test_unusable_folders(tmp_path, layout, message):
    root = make_folder(tmp_path / "root", layout) if layout else tmp_path
    with pytest.raises(ValueError, match=message):
        evaluate_identification(root, fake_embedder({"s1.jpg": [1]}), 1.0, 0.1)


def test_enrol_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="enrol"):
        evaluate_identification(tmp_path, fake_embedder({}), 1.0, 0.1, enrol=0)


def test_real_faces_with_the_kiosk_rule(tmp_path, encoder, settings, known_faces):
    for person, images in {"obama": ["obama.jpg", "obama2.jpg", "obama3.jpg"], "biden": ["biden.jpg"]}.items():
        (tmp_path / person).mkdir()
        for image in images:
            shutil.copy(known_faces / image, tmp_path / person / image)
    assert list(people_images(tmp_path)) == ["biden", "obama"]
    recognition = settings.recognition
    report = evaluate_identification(
        tmp_path, lambda path: encoder.encode_file(path, single=False).embedding,
        recognition.distance_threshold, recognition.min_margin, enrol=1,
    )
    assert report["enrolled_people"] == 1 and report["genuine_probes"] == 2 and report["impostor_probes"] == 1
    assert report["dir"] == 1.0 and report["fpir"] == 0.0 and report["no_face"] == 0
