"""The kiosk's current event: its id, and its row read from the gallery on a task thread (the
GUI thread never waits for the database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt5.QtCore import QObject, pyqtSignal

from kiosk.gallery import Gallery
from ui.attendee_text import event_window_state
from ui.tasks import TaskRunner


class EventWatch(QObject):
    """The event people are checked in to.

    Args:
        gallery: where events are stored.
        event_id: the event at start (None: recognition only, until one is chosen).
        tasks: the task threads that read the gallery.

    Attributes:
        event_id: the current event.
        row: its row as last read (None: no event, or not read yet).
        read: whether :attr:`row` belongs to :attr:`event_id` (False until the first read).

    Signals:
        loaded(): :attr:`row` (and perhaps :attr:`event_id`) was read again.
        failed(str): the gallery could not be read.
    """

    loaded = pyqtSignal()
    failed = pyqtSignal(str)

    def __init__(self, gallery: Gallery, event_id: int | None, tasks: TaskRunner,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.event_id = event_id
        self.row: dict[str, Any] | None = None
        self.read = False
        self.tasks = tasks

    def window_state(self) -> tuple[str, str]:
        """Where now lies in the event's check-in window (:func:`event_window_state`)."""
        return event_window_state(self.row)

    def set_event(self, event_id: int | None) -> None:
        """Another event from now on (its row is read in the background)."""
        self.event_id = event_id
        self.row = None
        self.read = False
        self.load()

    def load(self, choose_open_event: bool = False,
             then: Callable[[], None] | None = None) -> None:
        """Read the event's row in a task thread; :attr:`loaded` follows.

        Args:
            choose_open_event: with no event yet, take the newest one open now (the first
                sync of a new kiosk brings the events).
            then: called on this thread after :attr:`loaded`.
        """
        gallery, event_id = self.gallery, self.event_id

        def read() -> tuple[int | None, dict[str, Any] | None]:
            chosen = gallery.open_event_id() if event_id is None and choose_open_event else event_id
            return chosen, (gallery.event(chosen) if chosen is not None else None)

        self.tasks.run(read, lambda result: self._on_read(result, then), self.failed.emit)

    def _on_read(self, result: tuple[int | None, dict[str, Any] | None],
                 then: Callable[[], None] | None) -> None:
        event_id, row = result
        if event_id != self.event_id and self.event_id is not None:
            return  # an older read: the event changed meanwhile
        self.event_id, self.row, self.read = event_id, row, True
        self.loaded.emit()
        if then is not None:
            then()
