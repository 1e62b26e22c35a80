"""Sync rounds in a background thread, and the link's state for a status line (the GUI words
it in the user's language; :meth:`SyncStatus.line` is the English one for logs)."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiosk.config import ServerSettings
from kiosk.store.base import Store, StoreError
from kiosk.sync.client import SyncError
from kiosk.sync.rounds import SyncClient, SyncReport, with_pending

log = logging.getLogger("kiosk.sync")


class LinkState(enum.Enum):
    """Where a kiosk stands with the service."""

    STARTING = "starting"  # no round finished yet
    CONNECTED = "connected"  # the last round worked
    OFFLINE = "offline"  # the service cannot be reached (check-ins wait in the outbox)
    REFUSED = "refused"  # the key is unknown, revoked or not allowed
    FAILED = "failed"  # another error (the message says which)


@dataclass(frozen=True)
class SyncStatus:
    """The state after a sync round, for a status line.

    Attributes:
        state: see :class:`LinkState`.
        pending: check-ins and undos waiting in the outbox.
        rejected: items the service refused for good, kept with its reason
            (:meth:`kiosk.store.outbox.Outbox.rejected`; ``sync --once`` prints them).
        last_sync_wall_s: ``time.time()`` of the last round that worked (None: never).
        retry_in_s: the wait before the next try after a failure.
        message: the error of a failed round.
        report: what the round moved (a round that worked).
    """

    state: LinkState = LinkState.STARTING
    pending: int = 0
    last_sync_wall_s: float | None = None
    retry_in_s: float | None = None
    message: str = ""
    report: SyncReport | None = None
    rejected: int = 0

    def line(self) -> str:
        """One line in English (the log and the headless kiosk; the GUI words its own)."""
        refused = f", {self.rejected} refused by the service" if self.rejected else ""
        if self.state is LinkState.CONNECTED:
            at = time.strftime("%H:%M:%S", time.localtime(self.last_sync_wall_s or 0))
            return f"server: connected, last sync {at}, {self.pending} waiting{refused}"
        if self.state is LinkState.OFFLINE:
            return f"server offline: {self.pending} check-ins waiting{refused}"
        if self.state is LinkState.REFUSED:
            return f"server refused this kiosk's key: {self.message}{refused}"
        if self.state is LinkState.FAILED:
            return f"sync failed: {self.message}{refused}"
        return "server: connecting"


class BackgroundSync(threading.Thread):
    """Sync rounds every ``sync_interval_s``, with a doubling wait after failures.

    Args:
        settings: ``[server]``.
        store_factory: opens the kiosk's store (called in this thread).
        on_round: called in this thread after every round with the :class:`SyncStatus`.
        model: this kiosk's model settings, reported to the service
            (:func:`kiosk.sync.report.model_report`).

    Attributes:
        sync_status: the state after the last round.
        last_report: the report of the last successful round.
    """

    def __init__(self, settings: ServerSettings, store_factory: Callable[[], Store],
                 on_round: Callable[[SyncStatus], None] | None = None, model: str = "") -> None:
        super().__init__(name="server-sync", daemon=True)
        self.settings = settings
        self.model = model
        self.store_factory = store_factory
        self.on_round = on_round
        self.sync_status = SyncStatus()
        self.last_report: SyncReport | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._watched: int | None = None
        self._attendance: tuple[int, list[dict[str, Any]]] | None = None

    @property
    def status(self) -> str:
        """:meth:`SyncStatus.line` of the last round."""
        return self.sync_status.line()

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the loop (a round under way finishes first) and wait for the thread."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout_s)

    def sync_now(self) -> None:
        """Run a round without waiting for the interval (after a check-in)."""
        self._wake.set()

    def watch_event(self, event_id: int | None) -> None:
        """Fetch this event's attendance at every door with each round (None: stop)."""
        with self._lock:
            self._watched = event_id
            if self._attendance is not None and self._attendance[0] != event_id:
                self._attendance = None

    def attendance(self, event_id: int, store: Store) -> list[dict[str, Any]] | None:
        """The attendance at every door fetched by the last round, corrected by the outbox
        of ``store`` as it is now (:func:`with_pending`); None when that round failed or
        fetched another event."""
        with self._lock:
            if self._attendance is None or self._attendance[0] != event_id:
                return None
            rows = list(self._attendance[1])
        return with_pending(rows, store, event_id)

    def run(self) -> None:
        try:
            store = self.store_factory()
        except StoreError as exc:  # said in the status line instead of ending silently
            log.error("sync: %s", exc)
            self.sync_status = SyncStatus(LinkState.FAILED, message=str(exc).splitlines()[0])
            if self.on_round is not None:
                self.on_round(self.sync_status)
            return
        client = SyncClient(self.settings, store, model=self.model)
        wait_s = self.settings.retry_initial_s
        last_ok: float | None = None
        try:
            while not self._stopping.is_set():
                try:
                    report = client.run_once()
                    with self._lock:
                        watched = self._watched
                    rows = client.all_doors(watched) if watched is not None else None
                    with self._lock:
                        self._attendance = (watched, rows) if rows is not None else None
                    self.last_report = report
                    last_ok = time.time()
                    status = SyncStatus(LinkState.CONNECTED, report.pending, last_ok,
                                        report=report,
                                        rejected=client.outbox.rejected_count())
                    wait_s = self.settings.retry_initial_s
                    delay_s = self.settings.sync_interval_s
                    if report.uploaded or report.undos or report.gallery_changed:
                        log.info("sync: %s", report.summary())
                except (SyncError, StoreError) as exc:
                    with self._lock:
                        self._attendance = None
                    if isinstance(exc, SyncError) and exc.auth_refused:
                        state = LinkState.REFUSED
                    elif isinstance(exc, SyncError) and exc.unreachable:
                        state = LinkState.OFFLINE
                    else:
                        state = LinkState.FAILED
                    status = SyncStatus(state, self._pending(client), last_ok, wait_s,
                                        str(exc).splitlines()[0][:300],
                                        rejected=self._rejected(client))
                    log.warning("sync: %s", exc)
                    delay_s = wait_s
                    wait_s = min(wait_s * 2, self.settings.retry_max_s)
                except Exception as exc:  # noqa: BLE001 - the thread must survive a bad answer
                    log.exception("sync round failed")
                    status = SyncStatus(LinkState.FAILED, self._pending(client), last_ok, wait_s,
                                        f"{type(exc).__name__}: {exc}"[:300],
                                        rejected=self._rejected(client))
                    delay_s = wait_s
                    wait_s = min(wait_s * 2, self.settings.retry_max_s)
                self.sync_status = status
                if self.on_round is not None:
                    try:
                        self.on_round(status)
                    except Exception:  # noqa: BLE001
                        log.exception("the sync round's listener failed")
                self._wake.wait(delay_s)
                self._wake.clear()
        finally:
            client.close()
            store.close()

    @staticmethod
    def _pending(client: SyncClient) -> int:
        try:
            return client.pending()
        except StoreError:
            return 0

    @staticmethod
    def _rejected(client: SyncClient) -> int:
        try:
            return client.outbox.rejected_count()
        except StoreError:
            return 0
