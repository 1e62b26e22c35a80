"""The live board's feed: PostgreSQL ``NOTIFY console_checkins`` to each open board.

The trigger that :func:`service.store.console.ensure_console_schema` puts on ``checkins`` notifies
every service instance of each check-in and undo, whichever instance or code path stored it.
Each instance keeps one listening connection (a thread, started by the first open board and
ended when none is left) and hands each notification to the boards of that event, which the
browser receives as Server-Sent Events (:func:`event_stream`) and answers by fetching the
board anew. After the listening connection broke (the database restarted) every board is told
to fetch anew, since notifications sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from service.console.backend import checkin_notifications

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0  # a comment line this often keeps proxies and the browser's connection alive
STREAM_S = 60.0  # a stream ends after this long and the browser reconnects (service shutdown)
RETRY_MS = 1000  # the browser's wait before it reconnects
CHECK_S = 1.0  # how often a quiet stream checks whether the client left or the server stops
RECONNECT_S = 1.0  # the listener's wait before it connects to the database again
MAX_SUBSCRIBERS = 500  # open boards per service instance
EVERY_EVENT = 0  # subscribes to every event's changes


class TooManyBoards(RuntimeError):
    """More boards are open on this instance than :data:`MAX_SUBSCRIBERS`."""


class CheckinFeed:
    """Subscribers (one per open board) of the check-in notifications of one database."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Queue, int]] = {}
        self._next_id = 1
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def subscribe(self, event_id: int) -> tuple[int, asyncio.Queue]:
        """A queue that receives ``{"event_id", "person_id", "op"}`` for ``event_id`` (every
        event for :data:`EVERY_EVENT`), and ``{"op": "resync"}`` after a lost connection."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        with self._lock:
            if len(self._subscribers) >= MAX_SUBSCRIBERS:
                raise TooManyBoards(f"more than {MAX_SUBSCRIBERS} boards are open")
            subscriber_id = self._next_id
            self._next_id += 1
            self._subscribers[subscriber_id] = (loop, queue, event_id)
            if self._thread is None or not self._thread.is_alive():
                self.listening.clear()
                self._thread = threading.Thread(target=self._listen, name="console-listen",
                                                 daemon=True)
                self._thread.start()
        return subscriber_id, queue

    def unsubscribe(self, subscriber_id: int) -> None:
        with self._lock:
            self._subscribers.pop(subscriber_id, None)

    def _deliver(self, message: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers.values())
        for loop, queue, event_id in targets:
            if message.get("op") == "resync" or event_id in (EVERY_EVENT, message.get("event_id")):
                loop.call_soon_threadsafe(_put, queue, message)

    def _idle(self) -> bool:
        """True (and the thread forgotten) when no board is open any more."""
        with self._lock:
            if not self._subscribers:
                self._thread = None
                return True
            return False

    def _listen(self) -> None:
        import psycopg

        lost = False
        while not self._idle():
            try:
                with checkin_notifications(self.database_url) as conn:
                    self.listening.set()
                    if lost:
                        self._deliver({"op": "resync"})
                        lost = False
                    while not self._idle():
                        for notify in conn.notifies(timeout=1.0):
                            try:
                                self._deliver(json.loads(notify.payload))
                            except ValueError:
                                log.warning("unreadable notification %r", notify.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                if not lost:
                    log.warning("the live board lost the database (%s); reconnecting", exc)
                lost = True
                time.sleep(RECONNECT_S)
        self.listening.clear()


def _put(queue: asyncio.Queue, message: dict[str, Any]) -> None:
    if queue.full():  # a board that does not read: it refetches everything anyway
        return
    queue.put_nowait(message)


def server_stopping() -> bool:
    """Whether the uvicorn server of this process was told to stop (SIGTERM, Ctrl-C).

    uvicorn waits for open responses before it stops, and a board's stream would hold it for
    up to :data:`STREAM_S`; its signal handler is a method of its ``Server``, whose
    ``should_exit`` says it is stopping. (A server run in another thread, as in the tests,
    installs no handler: its ``timeout_graceful_shutdown`` ends the streams.)"""
    handler = signal.getsignal(signal.SIGTERM)
    return bool(getattr(getattr(handler, "__self__", None), "should_exit", False))


async def event_stream(feed: CheckinFeed, event_id: int,
                       disconnected: Any) -> AsyncIterator[str]:
    """Server-Sent Events for one board: ``event: change`` with the notification as data,
    a comment every :data:`HEARTBEAT_S`; ends after :data:`STREAM_S` or when the server
    stops (the browser reconnects after :data:`RETRY_MS` and fetches the board anew)."""
    subscriber_id, queue = feed.subscribe(event_id)
    try:
        yield f"retry: {RETRY_MS}\nevent: hello\ndata: {{}}\n\n"
        ends = time.monotonic() + STREAM_S
        quiet_s = 0.0
        while time.monotonic() < ends and not server_stopping():
            if await disconnected():
                return
            try:
                message = await asyncio.wait_for(queue.get(), timeout=CHECK_S)
            except asyncio.TimeoutError:
                quiet_s += CHECK_S
                if quiet_s >= HEARTBEAT_S:
                    quiet_s = 0.0
                    yield ": keep-alive\n\n"
                continue
            yield f"event: change\ndata: {json.dumps(message)}\n\n"
    finally:
        feed.unsubscribe(subscriber_id)
