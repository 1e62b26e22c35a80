"""The GUI's link to the central service: :class:`kiosk.sync.BackgroundSync` in its thread,
its rounds delivered to the GUI thread as a Qt signal, and the wording of its state for the
status line (in the user's language)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from PyQt5.QtCore import QCoreApplication, QObject, pyqtSignal, pyqtSlot

from kiosk.config import Settings
from kiosk.store.base import Store
from kiosk.store.sqlite import SQLiteStore
from kiosk.sync import BackgroundSync, LinkState, SyncClient, SyncStatus, model_report

log = logging.getLogger(__name__)


class ServerLink(QObject):
    """Background sync with the service for a kiosk window.

    Args:
        settings: all settings (``[server]`` must have a url and a key).
        parent: the owning QObject.

    Attributes:
        status: the state after the last round (:class:`kiosk.sync.SyncStatus`).

    Signals:
        round_done(object): a round ended; the :class:`SyncStatus` (on the GUI thread).
    """

    round_done = pyqtSignal(object)

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not settings.server.url:
            raise ValueError("settings.server.url is empty: no service to link to")
        self.settings = settings
        self.status = SyncStatus()
        self.round_done.connect(self._remember)
        self.syncer = BackgroundSync(settings.server, self.open_store, self.round_done.emit,
                                     model=model_report(settings.recognition))

    def open_store(self) -> Store:
        """A new connection to the kiosk's gallery file (one per thread)."""
        return SQLiteStore(self.settings.gallery.db_path, self.settings.gallery.busy_timeout_ms)

    def _remember(self, status: SyncStatus) -> None:
        self.status = status

    def start(self) -> None:
        """Start the sync thread."""
        self.syncer.start()

    def stop(self) -> None:
        """Stop the sync thread (a round under way ends first; idempotent)."""
        self.syncer.stop()

    def sync_now(self) -> None:
        """A round now (after a check-in, an undo, an enrolment)."""
        self.syncer.sync_now()

    def watch_event(self, event_id: int | None) -> None:
        """Fetch this event's attendance at every door with each round (None: stop)."""
        self.syncer.watch_event(event_id)
        self.sync_now()

    def attendance(self, event_id: int, store: Store) -> list[dict[str, Any]] | None:
        """Every door's check-ins of the event from the last round (None: offline)."""
        return self.syncer.attendance(event_id, store)

    def client(self) -> SyncClient:
        """A client of its own for the caller's thread (close it and its store after use)."""
        return SyncClient(self.settings.server, self.open_store(),
                          model=model_report(self.settings.recognition))


class SyncRounds(QObject):
    """Takes each sync round in for the kiosk window: new people reach the matchers, a new
    kiosk's first events choose its event, and only then does :attr:`status` change (so the
    status line never says "connected" before the round's changes are on screen).

    Args:
        link: the started or not yet started service link.
        event: the window's :class:`ui.event_watch.EventWatch`.
        gallery_changed: called when a round changed people (re-read the matrices).

    Attributes:
        status: the state after the last round taken in.

    Signals:
        changed(): :attr:`status` changed.
    """

    changed = pyqtSignal()

    def __init__(self, link: ServerLink, event: Any, gallery_changed: Callable[[], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.event = event
        self.gallery_changed = gallery_changed
        self.status = link.status
        link.round_done.connect(self.on_round_done)

    @pyqtSlot(object)
    def on_round_done(self, status: SyncStatus) -> None:
        """A round ended (on the GUI thread)."""
        report = status.report
        if report is None or not report.gallery_changed:
            self._took_in(status)
            return
        self.gallery_changed()
        self.event.load(choose_open_event=True, then=lambda: self._took_in(status))

    def _took_in(self, status: SyncStatus) -> None:
        self.status = status
        self.changed.emit()


def status_text(status: SyncStatus | None) -> str:
    """The service's state for the status line, in the user's language."""
    def tr(text: str) -> str:
        return QCoreApplication.translate("ServerLink", text)

    if status is None:
        return ""
    if status.state is LinkState.CONNECTED:
        at = time.strftime("%H:%M:%S", time.localtime(status.last_sync_wall_s or 0))
        text = tr("server: connected, last sync {time}").format(time=at)
    elif status.state is LinkState.OFFLINE:
        text = tr("offline: {count} check-ins waiting").format(count=status.pending)
    elif status.state is LinkState.REFUSED:
        text = tr("server refused this kiosk's key - check [server] api_key")
    elif status.state is LinkState.FAILED:
        text = tr("server: sync failed - {message}").format(message=status.message)
    else:
        return tr("server: connecting...")
    if status.rejected:  # set aside for good: staff must look at them (the staff panel lists them)
        text += tr("; {count} refused by the server - see the staff panel").format(
            count=status.rejected)
    return text
