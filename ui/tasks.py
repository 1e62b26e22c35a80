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
