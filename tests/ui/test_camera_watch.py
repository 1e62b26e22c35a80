"""What the attendee screen says about the camera, by source, once the grace period is over;
nothing during it; each change logged once."""

from __future__ import annotations

import logging

import pytest

from kiosk.camera import CameraState, LatestFrameReader
from kiosk.config import CameraSettings
from ui.camera_watch import CAMERA_PROBLEM_AFTER_S, CameraWatch


def watch(source: str) -> CameraWatch:
    """A watch over a reader that never delivered a frame (not started)."""
    camera = CameraSettings(source=source)
    return CameraWatch(camera, LatestFrameReader(camera, source), source)


@pytest.mark.parametrize(("source", "expected"), [
    ("/nowhere/door.mp4", "Video file not found: /nowhere/door.mp4 - check [camera] source in "
                          "settings"),
    ("57", "Camera not found: /dev/video57 - check the cable or [camera] source in settings"),
    ("rtsp://10.0.0.5/stream", "No picture from the camera stream rtsp://10.0.0.5/stream - check "
                               "the network and [camera] source in settings"),
])
def test_the_problem_is_said_by_source_after_the_grace_period(qtbot, source, expected):
    camera_watch = watch(source)
    assert camera_watch.find_problem() is None  # still within the grace period
    camera_watch.started_t -= CAMERA_PROBLEM_AFTER_S + 1
    assert camera_watch.find_problem() == expected
    assert camera_watch.state_text() == "connecting"


def test_each_change_is_logged_once(qtbot, caplog):
    camera_watch = watch("57")
    camera_watch.started_t -= CAMERA_PROBLEM_AFTER_S + 1
    with caplog.at_level(logging.INFO, logger="ui.camera_watch"):
        for _ in range(3):
            camera_watch.check()
        camera_watch.picture_arrived()
    assert camera_watch.problem is None
    assert [r.getMessage() for r in caplog.records] == [
        "camera: Camera not found: /dev/video57 - check the cable or [camera] source in settings"]
    assert camera_watch.state_text(CameraState.LOST) == "lost"
