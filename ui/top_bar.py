"""The attendee screen's top bar: the event's name, the clock, the Staff and Admin buttons."""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import QDateTime, Qt
from PyQt5.QtGui import QFont
from PyQt5.QtWidgets import QHBoxLayout, QLabel, QWidget


class TopBar(QWidget):
    """The bar above the live picture.

    Args:
        buttons: the widgets on the right (the Staff button and the Admin menu).

    Attributes:
        event_label: the event's name (or "No event open").
        clock_label: the local time, ``HH:mm``.
    """

    def __init__(self, buttons: list[QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WA_StyledBackground, True)  # a QWidget subclass paints it only so
        self.setStyleSheet("background: #263238; color: white;")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 8, 16, 8)
        self.event_label = QLabel(self)
        self.event_label.setFont(QFont(self.font().family(), 18, QFont.Bold))
        self.clock_label = QLabel(self)
        self.clock_label.setFont(QFont(self.font().family(), 18))
        layout.addWidget(self.event_label, 1)
        layout.addWidget(self.clock_label)
        layout.addSpacing(16)
        for button in buttons:
            button.setParent(self)
            layout.addWidget(button)
        self._row: dict[str, Any] | None = None
        self._read = False

    def show_event(self, row: dict[str, Any] | None, read: bool = True) -> None:
        """Show the event's name (None: recognition only; nothing while it is being read)."""
        self._row, self._read = row, read
        if not read:
            self.event_label.setText("")
        elif row is None:
            self.event_label.setText(self.tr("No event open - recognition only"))
        else:
            self.event_label.setText(row["name"])

    def retranslate(self) -> None:
        """Set the texts again (after a language change)."""
        self.show_event(self._row, self._read)
        self.tick()

    def tick(self) -> None:
        """Show the time now."""
        self.clock_label.setText(QDateTime.currentDateTime().toString("HH:mm"))
