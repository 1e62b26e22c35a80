"""FaceNet's back-ends: the mixed one (the default: float face, int8 mirror) against float."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.embed import FaceNetEmbedder


@pytest.fixture(scope="module")
def float_and_mixed(models):
    mixed = models.embedder  # the default back-end
    float_embedder = FaceNetEmbedder(mixed.graph_path, backend="tflite")
    yield float_embedder, mixed
    float_embedder.close()


def test_each_backend_has_its_own_model_id(float_and_mixed):
    float_embedder, mixed = float_and_mixed
    assert float_embedder.model_id == "facenet-20180408-102900/flip"
    assert mixed.model_id == "facenet-20180408-102900/flip/mixed"
    # without the mirror there is nothing to run in int8: the plain float model
    assert FaceNetEmbedder(mixed.graph_path, backend="tflite-mixed",
                           flip_average=False).model_id == "facenet-20180408-102900"


def test_mixed_embeddings_name_the_same_people(float_and_mixed, encoder, known_faces):
    float_embedder, mixed = float_and_mixed
    faces = {name: encoder.encode_file(known_faces / f"{name}.jpg").face_rgb
             for name in ("obama", "obama2", "biden")}
    by_float = {name: float_embedder.embed(face) for name, face in faces.items()}
    by_mixed = {name: mixed.embed(face) for name, face in faces.items()}
    for name in faces:  # the int8 mirror moves an embedding by about 0.01
        assert np.linalg.norm(by_mixed[name] - by_float[name]) < 0.05
        assert by_mixed[name].shape == (512,) and np.isclose(np.linalg.norm(by_mixed[name]), 1.0)
    same = np.linalg.norm(by_mixed["obama"] - by_mixed["obama2"])
    other = np.linalg.norm(by_mixed["obama"] - by_mixed["biden"])
    assert same < 0.98 < other
