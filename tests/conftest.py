"""Shared fixtures: the evaluation data folder and the real models, loaded once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "KIOSK_TEST_DATA"


def shared_data_dir() -> Path:
    """The evaluation data folder: $KIOSK_TEST_DATA, by default ../shared/data next to the project."""
    return Path(os.environ.get(DATA_ENV, PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"evaluation data not found at {path} (set {DATA_ENV} to its folder)")
    return path


@pytest.fixture(scope="session")
def known_faces(data_dir: Path) -> Path:
    path = data_dir / "known-faces"
    if not (path / "obama.jpg").is_file():
        pytest.skip(f"{path} has no obama.jpg")
    return path


@pytest.fixture(scope="session")
def selfie_clip(data_dir: Path) -> Path:
    """The live selfie clip (a person looking at the camera and blinking)."""
    path = data_dir / "clips" / "live_selfie_blinks.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def selfie_frames(selfie_clip: Path) -> list:
    """The first 200 frames of :func:`selfie_clip` (BGR), read once per test module."""
    import cv2

    capture = cv2.VideoCapture(str(selfie_clip))
    frames = []
    while len(frames) < 200:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="session")
def detector():
    from kiosk.config import DetectionSettings
    from kiosk.detect import HaarFaceDetector

    return HaarFaceDetector(DetectionSettings())


@pytest.fixture(scope="session")
def landmark_predictor():
    from kiosk.landmarks import LandmarkPredictor
    from kiosk.model_files import shape_predictor_path

    return LandmarkPredictor(str(shape_predictor_path()))


@pytest.fixture(scope="session")
def settings():
    from kiosk.config import Settings

    return Settings()


@pytest.fixture(scope="session")
def models(settings):
    """FaceNet, dlib landmarks, the Haar gate and dlib's encoder (for the fusion tests), loaded
    once for the whole test session."""
    from kiosk.stages import load_models

    return load_models(settings.replace("recognition", fusion=True))


@pytest.fixture(scope="session")
def encoder(models, settings):
    from kiosk.face_encoder import FaceEncoder

    return FaceEncoder(models, settings)


@pytest.fixture
def gallery(tmp_path: Path):
    """An empty gallery in a fresh SQLite file (model id "test-model"), closed after the test."""
    from kiosk.gallery import Gallery

    g = Gallery(tmp_path / "faces.sqlite", "test-model")
    yield g
    g.close()


@pytest.fixture(autouse=True)
def no_modal_message_boxes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal QMessageBox would wait forever for a click that no test gives (the whole run
    then hangs): here each one fails its test at once, with its text. A test that expects a
    message box replaces the method with its own recorder."""
    try:
        from PyQt5.QtWidgets import QMessageBox
    except ImportError:  # the kiosk/ tests run without Qt too
        return

    def refuse(kind: str):
        def shown(_parent, title, text, *_args, **_kwargs):
            import sys
            import traceback

            handled = "".join(traceback.format_exception(*sys.exc_info())) if sys.exc_info()[0] else ""
            raise AssertionError(f"a modal QMessageBox.{kind} was opened: {title}: {text}\n{handled}")
        return shown

    for kind in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, refuse(kind))
