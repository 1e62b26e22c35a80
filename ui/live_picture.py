"""The live picture of a window: the camera reader's newest frame shown at camera rate by a
light timer (no cv2 on the GUI thread), whatever the pipeline worker is doing."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from PyQt5.QtCore import QObject, QTimer, pyqtSignal, pyqtSlot

from kiosk.camera import LatestFrameReader
from ui.video_view import VideoView

DISPLAY_POLL_MS = 10  # the timer looks for a new camera frame this often
FPS_WINDOW_S = 3.0  # the picture rate is measured over this many seconds


class LivePicture(QObject):
    """Shows the newest frame of ``reader()`` in ``view``.

    Args:
        view: where the frames are drawn.
        reader: returns the current camera reader (it may be replaced).

    Attributes:
        display_times: monotonic times of the frames shown (the last 300).
        first_frame_t: monotonic time the first frame was shown (None before).

    Signals:
        first_frame_shown(): the first picture is on screen.
    """

    first_frame_shown = pyqtSignal()

    def __init__(self, view: VideoView, reader: Callable[[], LatestFrameReader],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.reader = reader
        self.display_times: collections.deque[float] = collections.deque(maxlen=300)
        self.first_frame_t: float | None = None
        self._last_shown_id = 0
        self.timer = QTimer(self)
        self.timer.setInterval(DISPLAY_POLL_MS)
        self.timer.timeout.connect(self.on_timer)

    @pyqtSlot()
    def on_timer(self) -> None:
        """Show the reader's newest frame if it is new."""
        frame = self.reader().latest()
        if frame is None or frame.frame_id == self._last_shown_id:
            return
        self._last_shown_id = frame.frame_id
        self.view.set_frame(frame.frame_bgr)
        now = time.monotonic()
        self.display_times.append(now)
        if self.first_frame_t is None:
            self.first_frame_t = now
            self.first_frame_shown.emit()

    def fps(self) -> float:
        """The rate frames were shown at over the last ``FPS_WINDOW_S``."""
        times = [t for t in self.display_times if t >= time.monotonic() - FPS_WINDOW_S]
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])
