"""The live picture: frame -> QImage conversion and a widget that paints it with the face box."""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QRectF, Qt
from PyQt5.QtGui import QColor, QImage, QPainter, QPen
from PyQt5.QtWidgets import QSizePolicy, QWidget

from kiosk.types import FrameBGR


def frame_to_qimage(frame_bgr: FrameBGR) -> QImage:
    """A QImage owning a copy of a BGR (h, w, 3) or gray (h, w) uint8 frame.

    No cv2: Qt reads BGR directly (``Format_BGR888``); ``bytesPerLine`` follows the numpy
    strides and ``.copy()`` detaches the image from the numpy buffer before it can die.
    """
    array = np.ascontiguousarray(frame_bgr)
    if array.ndim == 2:
        height, width = array.shape
        image = QImage(array.data, width, height, array.strides[0], QImage.Format_Grayscale8)
    else:
        height, width = array.shape[:2]
        image = QImage(array.data, width, height, array.strides[0], QImage.Format_BGR888)
    return image.copy()


class VideoView(QWidget):
    """Paints the newest frame, letter-boxed, and the attendee's face box over it.

    Attributes:
        frames_shown: how many distinct frames were given to :meth:`set_frame`.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WA_OpaquePaintEvent)
        self._image: QImage | None = None
        self._box_xyxy: tuple[int, int, int, int] | None = None
        self._box_colour = QColor("#2e7d32")
        self._frame_size: tuple[int, int] | None = None
        self.frames_shown = 0
        self.placeholder = ""

    def set_frame(self, frame_bgr: FrameBGR) -> None:
        """Show a new frame (called by the GUI thread at camera rate)."""
        self._image = frame_to_qimage(frame_bgr)
        self._frame_size = (frame_bgr.shape[1], frame_bgr.shape[0])
        self.frames_shown += 1
        self.update()

    def set_box(self, box_xyxy: tuple[int, int, int, int] | None, colour: str = "#2e7d32") -> None:
        """The face box in camera pixels (None hides it)."""
        self._box_xyxy = box_xyxy
        self._box_colour = QColor(colour)
        self.update()

    def _target_rect(self) -> QRectF:
        assert self._image is not None
        width, height = self._image.width(), self._image.height()
        scale = min(self.width() / width, self.height() / height)
        shown_w, shown_h = width * scale, height * scale
        return QRectF((self.width() - shown_w) / 2, (self.height() - shown_h) / 2, shown_w, shown_h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#111111"))
        if self._image is None:
            painter.setPen(QColor("#dddddd"))
            font = painter.font()
            font.setPointSize(18)
            painter.setFont(font)
            painter.drawText(self.rect(), Qt.AlignCenter, self.placeholder)
            return
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        target = self._target_rect()
        painter.drawImage(target, self._image)
        if self._box_xyxy is not None and self._frame_size is not None:
            scale = target.width() / self._frame_size[0]
            x0, y0, x1, y1 = self._box_xyxy
            pen = QPen(self._box_colour)
            pen.setWidth(4)
            painter.setPen(pen)
            painter.drawRect(QRectF(target.left() + x0 * scale, target.top() + y0 * scale,
                                    (x1 - x0) * scale, (y1 - y0) * scale))
