"""Run a slow callable (photo encoding, bulk enrolment) in a QThread and get its result by signal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PyQt5.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

log = logging.getLogger(__name__)


class TaskWorker(QObject):
    """Calls ``function(report_progress, is_cancelled)`` once in its thread.

    Signals:
        progress(int, int, str): (done, total, text) reported by the function.
        done(object): the return value.
        failed(str): the exception message.
        finished(): after done or failed.
    """

    progress = pyqtSignal(int, int, str)
    done = pyqtSignal(object)
    failed = pyqtSignal(str)
    finished = pyqtSignal()

    def __init__(self, function: Callable[[Callable[[int, int, str], None], Callable[[], bool]], Any]):
        super().__init__()
        self.function = function
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the function to stop (it polls ``is_cancelled``); direct call."""
        self._cancel.set()

    @pyqtSlot()
    def run(self) -> None:
        """The thread's work."""
        try:
            result = self.function(self.progress.emit, self._cancel.is_set)
        except Exception as exc:  # noqa: BLE001 - reported to the dialog
            log.exception("task failed")
            self.failed.emit(str(exc))
        else:
            self.done.emit(result)
        finally:
            self.finished.emit()


def start_task(worker: TaskWorker, parent: QObject | None = None) -> QThread:
    """Move ``worker`` to a new thread and start it; the thread quits when the worker finishes."""
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit)
    thread.start()
    return thread


def stop_task(worker: TaskWorker | None, thread: QThread | None, timeout_ms: int = 10_000) -> None:
    """Cancel and join a task (idempotent)."""
    if worker is not None:
        worker.cancel()
    if thread is not None:
        thread.quit()
        thread.wait(timeout_ms)


class _Relay(QObject):
    """Lives on the GUI thread: a task's signals reach it queued, and it calls the callbacks
    there."""

    def __init__(self, runner: TaskRunner, on_done: Callable[[Any], None] | None,
                 on_failed: Callable[[str], None] | None) -> None:
        super().__init__(runner)
        self.runner = runner
        self.on_done_callback = on_done
        self.on_failed_callback = on_failed

    @pyqtSlot(object)
    def on_done(self, result: Any) -> None:
        if self.on_done_callback is not None:
            self.on_done_callback(result)

    @pyqtSlot(str)
    def on_failed(self, message: str) -> None:
        if self.on_failed_callback is not None:
            self.on_failed_callback(message)

    @pyqtSlot()
    def on_finished(self) -> None:
        self.runner._finished(self)


class TaskRunner(QObject):
    """Runs short blocking calls (a database read or write, a request to the service) off the
    GUI thread, one :class:`TaskWorker` in its own :class:`QThread` per call, and calls back on
    the GUI thread with the result.

    Create it on the GUI thread. Callbacks of a call still running when :meth:`stop` is called
    are never made.

    Signals:
        busy_changed(bool): True when the first call starts, False when the last one ended
            (a dialog greys its buttons and shows a wait cursor meanwhile).
    """

    busy_changed = pyqtSignal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: dict[_Relay, tuple[TaskWorker, QThread]] = {}
        self._stopped = False

    @property
    def busy(self) -> bool:
        """Whether a call is under way."""
        return bool(self._running)

    def run(self, function: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
            on_failed: Callable[[str], None] | None = None) -> bool:
        """Call ``function()`` in a new thread; ``on_done(result)`` or ``on_failed(message)``
        follows on the GUI thread. Returns False (and calls nothing) once :meth:`stop` ran:
        a window closing drops the late work of its timers and signals."""
        if self._stopped:
            return False
        relay = _Relay(self, on_done, on_failed)
        worker = TaskWorker(lambda _progress, _cancelled: function())
        worker.done.connect(relay.on_done)
        worker.failed.connect(relay.on_failed)
        worker.finished.connect(relay.on_finished)
        was_busy = self.busy
        self._running[relay] = (worker, start_task(worker, self))
        if not was_busy:
            self.busy_changed.emit(True)
        return True

    def _finished(self, relay: _Relay) -> None:
        entry = self._running.pop(relay, None)
        if entry is not None:
            entry[1].quit()
            entry[1].wait()
        relay.deleteLater()
        if not self._running and not self._stopped:
            self.busy_changed.emit(False)

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Wait for every running call to end and deliver its callbacks (tests, shutdown);
        True when none is left."""
        from PyQt5.QtCore import QCoreApplication, QDeadlineTimer, QEventLoop

        deadline = QDeadlineTimer(timeout_ms)
        while self._running and not deadline.hasExpired():
            QCoreApplication.processEvents(QEventLoop.AllEvents, 20)
            for worker, thread in list(self._running.values()):
                thread.wait(20)
        QCoreApplication.processEvents()
        return not self._running

    def stop(self, timeout_ms: int = 10_000) -> None:
        """Drop the callbacks of running calls and join their threads (idempotent). A call
        still running after ``timeout_ms`` (a request to a service that does not answer) is
        left to end on its own: its thread is kept alive here, never destroyed while it runs."""
        self._stopped = True
        for relay, (worker, thread) in list(self._running.items()):
            relay.on_done_callback = relay.on_failed_callback = None
            stop_task(worker, thread, timeout_ms)
            if thread.isRunning():
                log.warning("a task outlived its window (%d ms); it ends on its own", timeout_ms)
                thread.setParent(None)
                _OUTLIVING.add((worker, thread))
                thread.finished.connect(lambda entry=(worker, thread): _OUTLIVING.discard(entry))
        self._running.clear()


_OUTLIVING: set[tuple[TaskWorker, QThread]] = set()  # threads of stopped runners still running


def call_and_wait(function: Callable[[], Any], timeout_ms: int = 60_000) -> Any:
    """Call ``function()`` on a task thread and wait for it in a local event loop, so the
    windows keep drawing (for a short check inside a modal flow, such as a password check);
    returns its result or raises its exception here.

    Raises:
        TimeoutError: it did not end within ``timeout_ms`` (it is left to finish).
    """
    answers: list[Any] = []

    def call() -> tuple[bool, Any]:
        try:
            return True, function()
        except Exception as exc:  # noqa: BLE001 - raised again on the caller's thread
            return False, exc

    runner = TaskRunner()
    runner.run(call, answers.append)
    if not runner.wait(timeout_ms) or not answers:
        raise TimeoutError(f"no answer within {timeout_ms} ms")
    runner.deleteLater()
    ok, value = answers[0]
    if not ok:
        raise value
    return value
