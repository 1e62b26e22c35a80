"""The banner keeps a welcome on one line at kiosk width by shrinking its font (down to a
minimum), and shows the banner's colour."""

from __future__ import annotations

from PyQt5.QtGui import QFontMetrics

from ui.attendee_text import GREEN, RED, Banner
from ui.banner_label import MIN_POINT_SIZE, POINT_SIZE, BannerLabel


def test_a_long_welcome_fits_one_line_and_a_short_text_keeps_the_big_font(qtbot):
    label = BannerLabel()
    qtbot.addWidget(label)
    label.resize(1024, 120)
    label.show_banner(Banner("Welcome, Li Wei 李伟 - checked in 09:02", GREEN))
    assert MIN_POINT_SIZE <= label.font().pointSize() < POINT_SIZE
    assert QFontMetrics(label.font()).horizontalAdvance(label.text()) <= label.width() - 32
    assert label.colour == GREEN and GREEN in label.styleSheet()
    label.show_banner(Banner("Please blink", RED))
    assert label.font().pointSize() == POINT_SIZE and label.colour == RED
