"""Camera watching for the attendee screen: what is wrong with the camera, said by source,
logged once per change, and a missing video file looked for again every few seconds."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PyQt5.QtCore import QObject, pyqtSignal

from kiosk.camera import CameraState, LatestFrameReader
from kiosk.capture import SourceKind, parse_source
from kiosk.config import CameraSettings

log = logging.getLogger(__name__)

CAMERA_PROBLEM_AFTER_S = 3.0  # no picture this long after start or a loss: show the camera state
FILE_RETRY_S = 5.0  # a missing video file is looked for again this often


class CameraWatch(QObject):
    """Watches a camera reader from the GUI thread (call :meth:`check` on a timer).

    Args:
        camera: the ``[camera]`` settings (for a new reader).
        reader: the started reader.
        source: the camera source the reader was opened on.

    Attributes:
        reader: the current reader (replaced when a missing file is retried).
        problem: the attendee-screen text of the camera's problem, or None when it is fine.

    Signals:
        reader_replaced(object): a new :class:`LatestFrameReader` took over (the old one is
            stopped); whoever reads frames must switch to it.
    """

    reader_replaced = pyqtSignal(object)

    def __init__(self, camera: CameraSettings, reader: LatestFrameReader, source: str,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.camera = camera
        self.reader = reader
        self.source = source
        self.problem: str | None = None
        self.started_t = time.monotonic()
        self._logged: str | None = None
        self._file_retry_t = 0.0
        self._stopped = False

    def restart_clock(self) -> None:
        """The display starts now: the grace period before a problem is shown starts again."""
        self.started_t = time.monotonic()

    def state_text(self, state: CameraState | None = None) -> str:
        """The camera state in the user's language (status line)."""
        return {
            CameraState.CONNECTING: self.tr("connecting"),
            CameraState.LIVE: self.tr("live"),
            CameraState.LOST: self.tr("lost"),
            CameraState.RECONNECTING: self.tr("reconnecting"),
            CameraState.STOPPED: self.tr("stopped"),
        }[self.reader.state if state is None else state]

    def find_problem(self) -> str | None:
        """What is wrong with the camera, as the attendee screen says it; None when fine.

        No picture for ``CAMERA_PROBLEM_AFTER_S`` (since start or since the last frame), a
        missing video file, or the end of a video file.
        """
        stats = self.reader.stats()
        try:
            source = parse_source(self.source)
        except ValueError:
            return self.tr("Camera source not valid: {source} - check [camera] source in "
                           "settings").format(source=self.source)
        if stats.ended:
            return self.tr("The video file has ended: {path}").format(path=source.location)
        fresh = stats.newest_age_s is not None and stats.newest_age_s < CAMERA_PROBLEM_AFTER_S
        if stats.state is CameraState.LIVE and fresh:
            return None
        waited = time.monotonic() - self.started_t
        if stats.state is not CameraState.STOPPED and waited < CAMERA_PROBLEM_AFTER_S:
            return None
        if source.kind is SourceKind.FILE:
            if not Path(source.location).exists():
                return self.tr("Video file not found: {path} - check [camera] source in "
                               "settings").format(path=source.location)
            return self.tr("Video file cannot be read: {path}").format(path=source.location)
        if source.kind is SourceKind.DEVICE:
            device = f"/dev/video{source.location}"
            if not Path(device).exists():
                return self.tr("Camera not found: {device} - check the cable or [camera] source "
                               "in settings").format(device=device)
            return self.tr("Camera {device} cannot be opened - is another program using it?"
                           ).format(device=device)
        return self.tr("No picture from the camera stream {url} - check the network and "
                       "[camera] source in settings").format(url=source.display_name.split(" ", 1)[-1])

    def check(self) -> str | None:
        """Look at the camera now: update :attr:`problem` (logging each change once) and retry
        a missing video file; returns the problem."""
        problem = self.find_problem()
        if problem != self._logged:
            if problem is not None:
                log.warning("camera: %s", problem)
            elif self._logged is not None:
                log.info("camera: picture back")
            self._logged = problem
        self.problem = problem
        self._retry_missing_file()
        return problem

    def picture_arrived(self) -> None:
        """A frame was shown: whatever was wrong is over."""
        self.problem = None

    def _retry_missing_file(self) -> None:
        """The reader gives up on a missing video file: look for it again every few seconds."""
        if self._stopped or self.reader.state is not CameraState.STOPPED or self.reader.stats().ended:
            return
        now = time.monotonic()
        if now < self._file_retry_t:
            return
        self._file_retry_t = now + FILE_RETRY_S
        old = self.reader
        self.reader = LatestFrameReader(self.camera, self.source)
        self.reader.start()
        self.reader_replaced.emit(self.reader)
        old.stop()

    def stop(self) -> None:
        """Stop the reader (joins it); no retry after this (idempotent)."""
        self._stopped = True
        self.reader.stop()
