"""FaceNet's back-ends against the float TensorFlow Lite one on real faces: the mixed ones (float
face, int8 mirror) and OpenVINO's (the same graph on another runtime)."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk import config, embed
from kiosk.embed import FaceNetEmbedder, openvino_cache_path


@pytest.fixture(scope="module")
def float_embedder(models):
    embedder = FaceNetEmbedder(models.embedder.graph_path, backend="tflite")
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def openvino_cache(tmp_path_factory):
    """A fresh cache folder: the OpenVINO model is converted from the frozen graph here once."""
    return tmp_path_factory.mktemp("openvino-cache")


@pytest.fixture(scope="module")
def embedders(models, float_embedder, openvino_cache):
    """Every back-end but the TensorFlow session, loaded once for this module."""
    graph_path = models.embedder.graph_path
    loaded = {"tflite": float_embedder}
    for backend in ("tflite-mixed", "openvino", "openvino-mixed"):
        loaded[backend] = FaceNetEmbedder(graph_path, backend=backend, cache_dir=openvino_cache)
    yield loaded
    for backend, embedder in loaded.items():
        if backend != "tflite":
            embedder.close()


@pytest.fixture(scope="module")
def faces(encoder, known_faces):
    return {name: encoder.encode_file(known_faces / f"{name}.jpg").face_rgb
            for name in ("obama", "obama2", "obama3", "biden")}


def test_settings_accept_exactly_the_embedders_backends():
    assert config.FACENET_BACKENDS == embed.BACKENDS
    with pytest.raises(ValueError, match="facenet_backend"):
        config.RecognitionSettings(facenet_backend="onnx")


def test_each_backend_has_its_own_model_id(embedders):
    assert embedders["tflite"].model_id == "facenet-20180408-102900/flip"
    assert embedders["tflite-mixed"].model_id == "facenet-20180408-102900/flip/mixed"
    # OpenVINO gives the TensorFlow Lite numbers (1e-6): a gallery needs no re-embedding
    assert embedders["openvino"].model_id == "facenet-20180408-102900/flip"
    assert embedders["openvino-mixed"].model_id == "facenet-20180408-102900/flip/mixed"
    # without the mirror there is nothing to run in int8: the plain float model
    graph_path = embedders["tflite"].graph_path
    assert FaceNetEmbedder(graph_path, backend="tflite-mixed",
                           flip_average=False).model_id == "facenet-20180408-102900"


def test_the_default_backend_is_openvino_mixed(models, settings):
    assert settings.recognition.facenet_backend == "openvino-mixed"
    assert models.embedder.backend == "openvino-mixed"
    assert models.embedder.model_id == settings.recognition.model_id


@pytest.mark.parametrize("backend, same_numbers_as, max_change_from_float", [
    ("tflite-mixed", "tflite-mixed", 0.05),  # the int8 mirror moves an embedding by about 0.01
    ("openvino", "tflite", 1e-4),  # the same float numbers on another runtime
    ("openvino-mixed", "tflite-mixed", 0.05),
])
def test_backends_name_the_same_people_as_float(embedders, faces, backend, same_numbers_as,
                                                 max_change_from_float):
    by_float = {name: embedders["tflite"].embed(face) for name, face in faces.items()}
    by_twin = {name: embedders[same_numbers_as].embed(face) for name, face in faces.items()}
    by_backend = {name: embedders[backend].embed(face) for name, face in faces.items()}
    for name in faces:
        embedding = by_backend[name]
        assert embedding.shape == (512,) and embedding.dtype == np.float32
        assert np.isclose(np.linalg.norm(embedding), 1.0)
        assert float(embedding @ by_float[name]) >= 0.999
        assert np.linalg.norm(embedding - by_float[name]) < max_change_from_float
        assert np.linalg.norm(embedding - by_twin[name]) < 1e-4
    for same in ("obama2", "obama3"):
        assert np.linalg.norm(by_backend["obama"] - by_backend[same]) < 0.98
    assert np.linalg.norm(by_backend["obama"] - by_backend["biden"]) > 0.98
    farthest_same = max(np.linalg.norm(by_backend["obama"] - by_backend[same])
                        for same in ("obama2", "obama3"))
    assert farthest_same < np.linalg.norm(by_backend["obama"] - by_backend["biden"])


def test_openvino_model_is_cached_whole_and_reused(embedders, openvino_cache, faces):
    graph_path = embedders["openvino"].graph_path
    xml_path = openvino_cache_path(graph_path, openvino_cache)
    assert xml_path.parent == openvino_cache
    assert xml_path.is_file() and xml_path.with_suffix(".bin").stat().st_size > 90_000_000
    assert not list(openvino_cache.glob("*.part*"))  # written under temporary names, renamed
    before = xml_path.stat().st_mtime_ns
    again = FaceNetEmbedder(graph_path, backend="openvino", flip_average=False,
                            cache_dir=openvino_cache)
    assert xml_path.stat().st_mtime_ns == before  # read, not converted again
    assert again.model_id == "facenet-20180408-102900"
    single = again.embed(faces["obama"])
    # the same person's embedding, without the mirror averaged in
    assert float(single @ embedders["openvino"].embed(faces["obama"])) > 0.98


def test_openvino_loads_without_its_usage_reporting(embedders):
    import sys

    assert embedders["openvino"].backend == "openvino"
    assert "openvino_telemetry" not in sys.modules  # imported by the conversion tool only


def test_converted_files_run_without_tensorflow(models, tmp_path):
    """Once the graph is converted (the session's models did it), a kiosk process loads and
    runs FaceNet on LiteRT and OpenVINO without importing TensorFlow (about 500 MB)."""
    import subprocess
    import sys

    from kiosk.model_files import facenet_graph_path

    graph = facenet_graph_path()
    assert embed.tflite_interpreter_class().__module__.startswith("ai_edge_litert")
    assert not embed.tensorflow_needed(graph, "openvino-mixed", True)
    assert not embed.tensorflow_needed(graph, "openvino", True)
    assert embed.tensorflow_needed(graph, "tensorflow", True)
    assert embed.tensorflow_needed(graph, "openvino-mixed", True, cache_dir=tmp_path)  # to convert
    assert not embed.tensorflow_needed(graph, "openvino-mixed", False, cache_dir=tmp_path)
    script = (
        "import sys, numpy as np\n"
        "from kiosk.config import Settings\n"
        "from kiosk.stages import load_models\n"
        "models = load_models(Settings())\n"
        "models.embedder.embed(np.zeros((160, 160, 3), np.uint8))\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
