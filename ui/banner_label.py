"""The attendee screen's large banner: a coloured label whose font shrinks until its text fits
one line, so "Welcome, NAME - checked in 09:02" keeps its time on the line at 1024 px."""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QFont, QFontMetrics
from PyQt5.QtWidgets import QLabel, QSizePolicy, QWidget

from ui.attendee_text import Banner

POINT_SIZE, MIN_POINT_SIZE = 34, 18


class BannerLabel(QLabel):
    """Shows one :class:`ui.attendee_text.Banner` at a time.

    Attributes:
        colour: the background colour shown (``#rrggbb``, "" before the first banner).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour = ""
        self.setAlignment(Qt.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Minimum)
        self.setFont(QFont(self.font().family(), POINT_SIZE, QFont.Bold))

    def show_banner(self, banner: Banner) -> None:
        """Show ``banner`` (nothing is redrawn when it is already shown)."""
        if self.text() == banner.text and self.colour == banner.colour:
            return
        self.setText(banner.text)
        self.colour = banner.colour
        self.setProperty("colour", banner.colour)
        self.setStyleSheet(f"background: {banner.colour}; color: white; padding: 12px;")
        self.fit_font()

    def fit_font(self) -> None:
        """Shrink the font until the text fits one line (down to ``MIN_POINT_SIZE``)."""
        width = max(200, self.width() - 32)
        font = QFont(self.font().family(), POINT_SIZE, QFont.Bold)
        while font.pointSize() > MIN_POINT_SIZE and \
                QFontMetrics(font).horizontalAdvance(self.text()) > width:
            font.setPointSize(font.pointSize() - 2)
        self.setFont(font)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.fit_font()
