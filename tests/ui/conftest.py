"""Qt fixtures for the GUI tests: a kiosk on a video file, a person enrolled from its frames."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

CLIP = "clips/live_selfie_blinks.mp4"
ENROL_FRAME_INDEXES = (15, 45)  # frames of the clip the test person is enrolled from


@pytest.fixture(scope="session")
def clip_path(data_dir: Path) -> Path:
    path = data_dir / CLIP
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def read_frames(path: Path, indexes: tuple[int, ...]) -> list[np.ndarray]:
    """The frames of a video at the given indexes (BGR)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    index = 0
    try:
        while index <= max(indexes):
            ok, frame = capture.read()
            if not ok:
                break
            if index in indexes:
                frames.append(frame)
            index += 1
    finally:
        capture.release()
    return frames


@pytest.fixture(scope="session")
def clip_samples(clip_path: Path, encoder):
    """FaceSamples of the clip's person (encoded once per session)."""
    return [encoder.encode_photo(frame, f"frame {i}")
            for i, frame in zip(ENROL_FRAME_INDEXES, read_frames(clip_path, ENROL_FRAME_INDEXES))]


@pytest.fixture()
def kiosk_settings(settings, tmp_path: Path, clip_path: Path):
    """Settings with a fresh gallery file and the clip as the camera (paced, not looped)."""
    settings = settings.replace("gallery", db_path=str(tmp_path / "faces.sqlite"))
    return settings.replace("camera", source=str(clip_path), loop_file=False, pace_file=True)


@pytest.fixture()
def gallery(kiosk_settings):
    from ui.app import open_gallery

    gallery = open_gallery(kiosk_settings)
    yield gallery
    gallery.close()


@pytest.fixture()
def enrolled(gallery, clip_samples) -> int:
    """The clip's person enrolled as "Li Wei 李伟"; returns the person id."""
    return gallery.add_person(
        "Li Wei 李伟", [s.embeddings for s in clip_samples], [s.crop_jpeg() for s in clip_samples],
        external_id="E001", actor="test",
    )


@pytest.fixture()
def event_id(gallery) -> int:
    return gallery.create_event("Board meeting", actor="test")


def show_and_start(qtbot, window, size_px: tuple[int, int]):
    """Show a built window at size_px (width, height) and start it, as run_kiosk does."""
    qtbot.addWidget(window)
    window.resize(*size_px)
    window.show()
    window.start()
    return window


@pytest.fixture()
def make_window(qtbot, kiosk_settings, models):
    """Build, show and start kiosk windows; on teardown close them and check every thread ended."""
    from ui.app import build_window

    windows = []

    def make(event_id: int | None = None, source: str | None = None):
        window = build_window(kiosk_settings, models, source, event_id)  # its reader is started
        windows.append(show_and_start(qtbot, window, (800, 600)))
        return window

    yield make
    for window in windows:
        window.close()
        assert window.thread is None or window.thread.isFinished()
        assert not window.reader.is_alive()
    names = [t.name for t in threading.enumerate()]
    assert "camera-reader" not in names, names


@pytest.fixture()
def early_window(qtbot, kiosk_settings):
    """Windows as run_kiosk shows them before the models load (reader started); on teardown
    close them and check the reader ended."""
    from ui.app import build_early_window

    windows = []

    def make(event_id: int | None = None, source: str | None = None):
        window = build_early_window(kiosk_settings, source, event_id)
        window.reader.start()  # run_kiosk starts it before the window
        windows.append(show_and_start(qtbot, window, (1024, 768)))
        return window

    yield make
    for window in windows:
        window.close()
        assert not window.reader.is_alive()
