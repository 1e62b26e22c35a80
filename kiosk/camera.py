"""Camera reader (docs/ARCHITECTURE.md, stage 1): a USB, RTSP or file source, newest frame only.

:class:`LatestFrameReader` is a ``threading.Thread`` that reads a source (opened by
:func:`kiosk.capture.open_capture`) as fast as it delivers and keeps only the newest frame, so a
slow consumer never works on a backlog (an RTSP stream read too slowly lags by seconds otherwise).
It reconnects with bounded exponential backoff when the source fails or stalls, reports its state
to listeners, counts frames, drops and fps, and stops within a second.

Threads inside a reader: the reader thread itself (named ``camera-reader``) supervises; every
OpenCV call that can block (open, read, release) runs in a per-connection daemon thread
(``camera-connection-N``) that owns its ``cv2.VideoCapture``. The supervisor therefore never blocks
in OpenCV: it notices a stall (no frame for ``read_timeout_ms``) even while a read is stuck,
abandons that connection (which releases its capture as soon as OpenCV returns) and opens a new
one, and ``stop()`` returns on time even in the middle of an open.

Example::

    with LatestFrameReader(settings.camera) as reader:
        last_id = 0
        while running:
            frame = reader.wait_for_frame(last_id, timeout_s=1.0)
            if frame is None:
                continue  # no new frame within a second: see reader.stats().state
            last_id = frame.frame_id
            process(frame.frame_bgr)
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any


from kiosk.capture import CameraError, CameraSource, FrameSource, as_bgr, open_capture, parse_source
from kiosk.config import CameraSettings
from kiosk.types import FrameBGR

log = logging.getLogger(__name__)

FPS_WINDOW_S = 2.0  # fps is measured over the frames of the last two seconds
OPEN_GRACE_S = 1.0  # how long past open_timeout_ms the supervisor waits before giving up
SUPERVISOR_POLL_S = 0.05  # how often the supervisor checks for stalls between frames
HISTORY_LENGTH = 256  # state changes kept for state_changes() and wait_for_state()


class CameraState(enum.Enum):
    """The reader's state.

    ``CONNECTING`` (first open) -> ``LIVE`` (frames arrive) -> ``LOST`` (read failed, stalled,
    or open failed) -> ``RECONNECTING`` (after a backoff wait) -> ``LIVE`` ...; ``STOPPED`` after
    ``stop()``, at the end of a non-looped file, or after a permanent error (missing file).
    """

    CONNECTING = "connecting"
    LIVE = "live"
    LOST = "lost"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CameraFrame:
    """One frame handed to consumers.

    Attributes:
        frame_id: 1, 2, 3 ... in read order, unique for the reader's lifetime (reconnects
            included); a consumer sees gaps when it skipped frames.
        t_monotonic: ``time.monotonic()`` when the read of this frame returned.
        frame_bgr: (H, W, 3) uint8, read-only (copy it before drawing on it).
    """

    frame_id: int
    t_monotonic: float
    frame_bgr: FrameBGR


@dataclass(frozen=True, slots=True)
class StateChange:
    """A state transition, as given to listeners and kept in the reader's history.

    Attributes:
        change_id: 1, 2, 3 ... in order.
        previous: the state before (None for the first change).
        state: the new state.
        t_monotonic: when it happened.
        reason: why, for ``LOST`` and ``STOPPED`` (an error message, "end of file", ...), else "".
    """

    change_id: int
    previous: CameraState | None
    state: CameraState
    t_monotonic: float
    reason: str


@dataclass(frozen=True, slots=True)
class CameraStats:
    """A snapshot of the reader's counters.

    Attributes:
        state: the current state.
        frames_read: usable frames read since start.
        frames_dropped: frames replaced by a newer one before any consumer took them.
        frames_skipped: unusable frames from the source (zero-sized, wrong shape or dtype).
        fps: frames read per second over the last two seconds (0.0 with no recent frame).
        newest_age_s: seconds since the newest frame was read (None before the first frame).
        reconnects: how many times the reader tried to open the source again after losing it.
        ended: a non-looped video file reached its end.
        last_error: the latest open or read failure (None if there was none).
    """

    state: CameraState
    frames_read: int
    frames_dropped: int
    frames_skipped: int
    fps: float
    newest_age_s: float | None
    reconnects: int
    ended: bool
    last_error: str | None


StateListener = Callable[[StateChange], None]
Opener = Callable[[CameraSource, CameraSettings, threading.Event], FrameSource]


def _default_opener(
    source: CameraSource, settings: CameraSettings, cancel_event: threading.Event
) -> FrameSource:
    return open_capture(source, settings, cancel_event=cancel_event)


class _Connection(threading.Thread):
    """One attempt to open the source and read it until it fails, ends or is cancelled.

    It owns its capture: it opens it, reads it and releases it, all in this thread.
    """

    def __init__(self, reader: LatestFrameReader, number: int) -> None:
        super().__init__(name=f"camera-connection-{number}", daemon=True)
        self.reader = reader
        self.cancel = threading.Event()
        self.t_started = time.monotonic()
        self.t_opened: float | None = None
        self.t_last_frame: float | None = None
        self.frames = 0
        self.error: str | None = None
        self.permanent = False
        self.ended = False
        self.done = False

    def run(self) -> None:
        try:
            capture = self.reader.opener(self.reader.source, self.reader.settings, self.cancel)
        except CameraError as exc:
            self._finish(error=str(exc), permanent=exc.permanent)
            return
        except Exception as exc:  # report any failure as an open error
            log.exception("opening %s failed", self.reader.source.display_name)
            self._finish(error=f"cannot open {self.reader.source.display_name}: {exc}")
            return
        error: str | None = None
        ended = False
        try:
            self.reader._on_opened(self)
            while not self.cancel.is_set():
                ok, frame = capture.read()
                t_read = time.monotonic()
                if self.cancel.is_set():
                    break
                if not ok:
                    ended = bool(capture.ended)
                    if not ended:
                        error = f"{self.reader.source.display_name}: read failed (stream dropped)"
                    break
                self.reader._publish(self, frame, t_read)
        except Exception as exc:  # a broken backend must not kill the thread
            log.exception("reading %s failed", self.reader.source.display_name)
            error = f"{self.reader.source.display_name}: read error: {exc}"
        finally:
            try:
                capture.release()
            except Exception:  # a release failure must not hide the reason
                log.exception("releasing %s failed", self.reader.source.display_name)
            self._finish(error=error, ended=ended)

    def _finish(self, *, error: str | None, permanent: bool = False, ended: bool = False) -> None:
        with self.reader._cond:
            self.error = error
            self.permanent = permanent
            self.ended = ended
            self.done = True
            self.reader._cond.notify_all()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How one connection finished, as seen by the supervisor."""

    reason: str
    was_live: bool
    ended: bool = False
    permanent: bool = False
    stopped: bool = False


class LatestFrameReader(threading.Thread):
    """Reads a camera source in the background and keeps only its newest frame.

    Start it with ``start()`` (or use it as a context manager), take frames with
    :meth:`wait_for_frame` or :meth:`latest`, stop it with :meth:`stop`. All public methods are
    thread-safe.

    State listeners (:meth:`add_state_listener`) are called **from the reader thread**
    (``camera-reader``), one change at a time and in order (the initial ``CONNECTING`` included
    for listeners added before ``start()``), never while the reader holds its lock. They must
    return quickly and must not touch GUI widgets directly: a Qt consumer should forward the
    change through a queued signal. An exception in a listener is logged and ignored. The
    ``state`` property and :meth:`wait_for_state` change first (``LIVE`` together with the
    first frame); listeners hear of it up to ~50 ms later. Only when ``stop()`` is called on a
    reader that was never started are the changes reported from the caller's thread.

    Args:
        settings: the ``[camera]`` settings (source, transport, timeouts, backoff, file options).
        source: overrides ``settings.source`` when given.
        opener: opens the source in a connection thread; defaults to :func:`open_capture`
            (tests pass a scripted source here).

    Attributes:
        source: the parsed source.
        settings: the camera settings.
    """

    def __init__(
        self,
        settings: CameraSettings,
        source: str | int | CameraSource | None = None,
        *,
        opener: Opener | None = None,
    ) -> None:
        super().__init__(name="camera-reader", daemon=True)
        raw = settings.source if source is None else source
        self.source = raw if isinstance(raw, CameraSource) else parse_source(raw)
        self.settings = settings
        self.opener: Opener = opener or _default_opener
        self._stop_event = threading.Event()
        self._stop_deadline: float | None = None
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._state = CameraState.CONNECTING
        self._history: collections.deque[StateChange] = collections.deque(maxlen=HISTORY_LENGTH)
        self._unnotified: collections.deque[StateChange] = collections.deque()
        self._change_id = 0
        self._listeners: list[StateListener] = []
        self._latest: CameraFrame | None = None
        self._latest_taken = False
        self._frame_id = 0
        self._frames_read = 0
        self._frames_dropped = 0
        self._frames_skipped = 0
        self._frame_times: collections.deque[float] = collections.deque(maxlen=512)
        self._reconnects = 0
        self._ended = False
        self._last_error: str | None = None
        self._current: _Connection | None = None
        self._connections: list[_Connection] = []
        self._finished = False
        self._record_state(CameraState.CONNECTING, "")

    # ----------------------------------------------------------------- consumer side

    def wait_for_frame(self, after_id: int = 0, timeout_s: float = 1.0) -> CameraFrame | None:
        """Wait for a frame newer than ``after_id`` and return the newest one.

        Args:
            after_id: the ``frame_id`` of the last frame the caller processed (0 for none).
            timeout_s: how long to wait at most.

        Returns:
            The newest frame if its id is greater than ``after_id``; None on timeout, or at
            once when the reader has stopped and holds no newer frame.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while self._latest is None or self._latest.frame_id <= after_id:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0.0 or self._finished:
                    return None
                self._cond.wait(remaining_s)
            self._latest_taken = True
            return self._latest

    def latest(self) -> CameraFrame | None:
        """The newest frame without waiting (None before the first frame)."""
        with self._cond:
            if self._latest is not None:
                self._latest_taken = True
            return self._latest

    @property
    def state(self) -> CameraState:
        """The current state."""
        with self._cond:
            return self._state

    def stats(self) -> CameraStats:
        """A consistent snapshot of the counters."""
        now = time.monotonic()
        with self._cond:
            recent = [t for t in self._frame_times if now - t <= FPS_WINDOW_S]
            span_s = recent[-1] - recent[0] if len(recent) >= 2 else 0.0
            fps = (len(recent) - 1) / span_s if span_s > 0.0 else 0.0
            newest_t = self._latest.t_monotonic if self._latest is not None else None
            return CameraStats(
                state=self._state,
                frames_read=self._frames_read,
                frames_dropped=self._frames_dropped,
                frames_skipped=self._frames_skipped,
                fps=fps,
                newest_age_s=None if newest_t is None else now - newest_t,
                reconnects=self._reconnects,
                ended=self._ended,
                last_error=self._last_error,
            )

    def state_changes(self) -> tuple[StateChange, ...]:
        """The state changes so far (the last 256), oldest first."""
        with self._cond:
            return tuple(self._history)

    def wait_for_state(
        self,
        states: Collection[CameraState],
        timeout_s: float,
        *,
        after_change_id: int = 0,
    ) -> StateChange | None:
        """Wait for a change into one of ``states`` later than ``after_change_id``.

        Changes already in the history count, so a short-lived state is not missed.

        Returns:
            The first such change, or None on timeout.
        """
        wanted = frozenset(states)
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while True:
                for change in self._history:
                    if change.change_id > after_change_id and change.state in wanted:
                        return change
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0.0:
                    return None
                self._cond.wait(remaining_s)

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener(change)`` on every later state change (from the reader thread)."""
        with self._cond:
            self._listeners.append(listener)

    def remove_state_listener(self, listener: StateListener) -> None:
        """Stop calling ``listener`` (no error if it was not registered)."""
        with self._cond:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Stop reading, join the reader thread and release the source.

        Returns within ``timeout_s`` (plus scheduling noise), also while connecting, reading,
        or waiting to reconnect. A connection thread stuck inside an OpenCV call (opening an
        unreachable host) cannot be interrupted: it is a daemon thread, it releases its capture
        as soon as OpenCV returns (after ``open_timeout_ms`` / ``read_timeout_ms`` at most for
        stream sources), and this method then returns False.

        Returns:
            True when the reader and all its connection threads have finished.
        """
        t_start = time.monotonic()
        if threading.current_thread() is self:
            self._stop_event.set()  # called from a listener: the loop ends after it returns
            return False
        with self._cond:
            self._stop_deadline = t_start + max(0.0, timeout_s) * 0.9
            self._stop_event.set()
            for connection in self._connections:
                connection.cancel.set()
            self._cond.notify_all()
        if self.ident is None:  # never started: nothing to join
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            self._set_state(CameraState.STOPPED, "stopped before start")
            return True
        self.join(max(0.0, timeout_s - (time.monotonic() - t_start)))
        with self._cond:
            pending = [c for c in self._connections if c.is_alive()]
        return not self.is_alive() and not pending

    def __enter__(self) -> LatestFrameReader:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- reader thread

    def run(self) -> None:
        """The supervisor loop (do not call directly: use ``start()``)."""
        backoff_s = self.settings.reconnect_initial_s
        attempt = 0
        final_reason = "stopped"
        try:
            while not self._stop_event.is_set():
                if attempt > 0:
                    with self._cond:
                        self._reconnects += 1
                    self._set_state(CameraState.RECONNECTING, "")
                attempt += 1
                outcome = self._run_connection(attempt)
                if outcome.stopped or self._stop_event.is_set():
                    break
                if outcome.ended:
                    with self._cond:
                        self._ended = True
                    final_reason = outcome.reason
                    break
                with self._cond:
                    self._last_error = outcome.reason
                if outcome.permanent:
                    final_reason = outcome.reason
                    break
                if outcome.was_live:
                    backoff_s = self.settings.reconnect_initial_s
                self._set_state(CameraState.LOST, outcome.reason)
                log.warning("%s; reconnecting in %.1f s", outcome.reason, backoff_s)
                if self._stop_event.wait(backoff_s):
                    break
                backoff_s = min(backoff_s * 2.0, self.settings.reconnect_max_s)
        except Exception as exc:  # the reader must end in STOPPED, not die silently
            log.exception("camera reader failed")
            final_reason = f"reader error: {exc}"
            with self._cond:
                self._last_error = final_reason
        finally:
            self._shutdown_connections()
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            self._set_state(CameraState.STOPPED, final_reason)

    def _run_connection(self, number: int) -> _Outcome:
        connection = _Connection(self, number)
        with self._cond:
            if self._stop_event.is_set():
                return _Outcome("stopped", was_live=False, stopped=True)
            self._current = connection
            self._connections = [c for c in self._connections if c.is_alive()]
            self._connections.append(connection)
        connection.start()
        try:
            return self._supervise(connection)
        finally:
            connection.cancel.set()  # the thread releases its capture when OpenCV returns
            with self._cond:
                self._current = None

    def _supervise(self, connection: _Connection) -> _Outcome:
        open_limit_s = self.settings.open_timeout_ms / 1000.0 + OPEN_GRACE_S
        stall_limit_s = self.settings.read_timeout_ms / 1000.0
        live = False
        while True:
            with self._cond:
                self._cond.wait(SUPERVISOR_POLL_S)
                now = time.monotonic()
                stopped = self._stop_event.is_set()
                done = connection.done
                t_opened = connection.t_opened
                t_last = connection.t_last_frame
            if stopped:
                return _Outcome("stopped", was_live=live, stopped=True)
            self._notify_listeners()  # LIVE is recorded by the connection with its first frame
            if connection.frames > 0:
                live = True
            if done:
                if connection.ended:
                    return _Outcome("end of file", was_live=live, ended=True)
                reason = connection.error or f"{self.source.display_name}: connection ended"
                return _Outcome(reason, was_live=live, permanent=connection.permanent)
            if t_opened is None:
                if now - connection.t_started > open_limit_s:
                    return _Outcome(
                        f"cannot open {self.source.display_name}: no answer within "
                        f"{self.settings.open_timeout_ms} ms",
                        was_live=False,
                    )
                continue
            t_progress = t_last if t_last is not None else t_opened
            if now - t_progress > stall_limit_s:
                return _Outcome(
                    f"{self.source.display_name}: no frame for "
                    f"{self.settings.read_timeout_ms} ms (stalled)",
                    was_live=live,
                )

    def _shutdown_connections(self) -> None:
        with self._cond:
            connections = list(self._connections)
            deadline = self._stop_deadline
        for connection in connections:
            connection.cancel.set()
        for connection in connections:
            remaining_s = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining_s > 0.0:
                connection.join(remaining_s)
            if connection.is_alive():
                log.warning(
                    "%s is still inside OpenCV; it releases its capture when OpenCV returns",
                    connection.name,
                )

    def _on_opened(self, connection: _Connection) -> None:
        with self._cond:
            connection.t_opened = time.monotonic()
            self._cond.notify_all()

    def _publish(self, connection: _Connection, frame: Any, t_read: float) -> None:
        frame_bgr = as_bgr(frame)
        with self._cond:
            if connection is not self._current or connection.cancel.is_set():
                return  # an abandoned connection's late frame
            connection.t_last_frame = t_read
            if frame_bgr is None:
                self._frames_skipped += 1
                return
            frame_bgr.flags.writeable = False
            if self._latest is not None and not self._latest_taken:
                self._frames_dropped += 1
            self._frame_id += 1
            self._latest = CameraFrame(self._frame_id, t_read, frame_bgr)
            self._latest_taken = False
            self._frames_read += 1
            self._frame_times.append(t_read)
            connection.frames += 1
            if self._state is not CameraState.LIVE:
                # Recorded here, with the frame, so that no consumer sees a frame while the
                # state still says connecting; the supervisor tells the listeners.
                self._record_state(CameraState.LIVE, "")
            self._cond.notify_all()

    def _record_state(self, state: CameraState, reason: str) -> StateChange:
        """Record a change and queue it for the listeners; the caller holds the lock."""
        previous = self._history[-1].state if self._history else None
        self._change_id += 1
        change = StateChange(self._change_id, previous, state, time.monotonic(), reason)
        self._state = state
        self._history.append(change)
        self._unnotified.append(change)
        return change

    def _set_state(self, state: CameraState, reason: str) -> None:
        """Change the state and tell the listeners (called by the reader thread)."""
        with self._cond:
            if state is not self._state:
                self._record_state(state, reason)
                self._cond.notify_all()
        self._notify_listeners()

    def _notify_listeners(self) -> None:
        """Hand the queued changes to the listeners, in order, outside the lock.

        Only one thread calls this: the reader thread (or, for a reader stopped before it was
        started, the thread calling ``stop()``).
        """
        while True:
            with self._cond:
                if not self._unnotified:
                    return
                change = self._unnotified.popleft()
                listeners = list(self._listeners)
            previous = change.previous.value if change.previous else "-"
            log.info("camera %s -> %s %s", previous, change.state.value, change.reason)
            for listener in listeners:
                try:
                    listener(change)
                except Exception:  # a listener bug must not stop the camera
                    log.exception("camera state listener %r failed", listener)
