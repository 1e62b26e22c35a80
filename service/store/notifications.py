"""Each service instance's gallery kept current through PostgreSQL's LISTEN/NOTIFY.

The change log's trigger (:mod:`service.store.postgres`) notifies the channel
:data:`~service.store.postgres.CHANGES_CHANNEL` in every transaction that changes people,
faces, embeddings or events (once per transaction). :class:`ChangeListener` listens on a
connection of its own in a thread and calls ``on_change`` after each notification, and once
after every (re)connection, so that a change made while it was disconnected is not missed.
No polling: an idle service runs no queries.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from service.store.postgres import CHANGES_CHANNEL, CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 10.0
WAKE_S = 0.25  # how often the thread looks whether it must stop (no query: a wait on the socket)


@contextlib.contextmanager
def listening(database_url: str, channel: str, application_name: str | None = None) -> Iterator[Any]:
    """A connection of its own (autocommit) that LISTENs to ``channel``; read its
    ``notifies()``. Raises psycopg's errors when the database cannot be reached."""
    import psycopg

    options: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}
    if application_name is not None:
        options["application_name"] = application_name
    with psycopg.connect(database_url, **options) as conn:
        conn.execute(f"LISTEN {channel}")
        yield conn


class ChangeListener(threading.Thread):
    """LISTEN on the database's change channel; ``on_change()`` after each notification.

    Args:
        database_url: the service's database.
        on_change: called in this thread (it re-reads what changed).
    """

    def __init__(self, database_url: str, on_change: Callable[[], None]) -> None:
        super().__init__(name="change-listener", daemon=True)
        self.database_url = database_url
        self.on_change = on_change
        self._stopping = threading.Event()
        self.connected = threading.Event()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout_s)

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:  # noqa: BLE001 - the next notification tries again
            log.exception("re-reading the gallery after a change failed")

    def run(self) -> None:
        import psycopg

        wait_s = RECONNECT_INITIAL_S
        while not self._stopping.is_set():
            try:
                with listening(self.database_url, CHANGES_CHANNEL) as conn:
                    self.connected.set()
                    wait_s = RECONNECT_INITIAL_S
                    self._changed()  # what changed while no one listened
                    while not self._stopping.is_set():
                        if list(conn.notifies(timeout=WAKE_S, stop_after=1)):
                            self._changed()
            except psycopg.Error as exc:
                self.connected.clear()
                log.warning("change listener: %s; reconnecting in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc) else exc, wait_s)
                self._stopping.wait(wait_s)
                wait_s = min(wait_s * 2, RECONNECT_MAX_S)
