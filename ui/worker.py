"""The processing worker: a QObject moved to a QThread that owns all pipeline state.

It waits on the camera reader for the newest frame (skipping frames it had no time for), runs
:meth:`kiosk.pipeline.Pipeline.process` and emits an immutable :class:`WorkerResult`. The GUI
thread never runs the pipeline; it only draws what arrives here and the reader's newest frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PyQt5.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from kiosk.camera import LatestFrameReader
from kiosk.errors import RepeatedErrors
from kiosk.pipeline import FrameResult, Pipeline

log = logging.getLogger(__name__)

WAIT_TIMEOUT_S = 0.2  # how often the loop looks at the stop flag while no frame arrives


@dataclass(frozen=True, slots=True)
class WorkerResult:
    """One processed frame, handed to the GUI thread.

    Attributes:
        result: the pipeline's result (boxes and landmarks in camera pixels).
        process_ms: wall time of ``Pipeline.process`` for this frame.
        event_id: the event the pipeline checked in to.
    """

    result: FrameResult
    process_ms: float
    event_id: int | None


class PipelineWorker(QObject):
    """Runs the pipeline on the newest camera frame, in its own thread, until stopped.

    The pipeline (with its gallery connection, face track and liveness window) is created by
    ``pipeline_factory`` inside :meth:`work`, so it lives in the worker thread only.

    Args:
        reader: the started camera reader.
        pipeline_factory: builds the :class:`Pipeline` (called in the worker thread).
        event_id: the event to check people in to (None: recognise only).

    Signals:
        result_ready(object): a :class:`WorkerResult` for every processed frame.
        error(str): a frame failed (the loop goes on).
        finished(): the loop ended; wired to ``QThread.quit``.
    """

    result_ready = pyqtSignal(object)
    error = pyqtSignal(str)
    finished = pyqtSignal()

    def __init__(
        self,
        reader: LatestFrameReader,
        pipeline_factory: Callable[[int | None], Pipeline],
        event_id: int | None = None,
    ) -> None:
        super().__init__()
        self.reader = reader
        self.pipeline_factory = pipeline_factory
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._event_id = event_id
        self._event_changed = False
        self._reload_requested = False
        self.frames_processed = 0
        self._errors = RepeatedErrors()

    # -- called from the GUI thread (direct calls: the worker thread is busy in its loop) ----

    def stop(self) -> None:
        """Ask the loop to end after the current frame (thread-safe, direct call)."""
        self._stop.set()

    def set_event(self, event_id: int | None) -> None:
        """Check people in to another event from the next frame on (thread-safe)."""
        with self._lock:
            self._event_id = event_id
            self._event_changed = True

    def request_reload(self) -> None:
        """Re-read the gallery's embeddings before the next frame (after an enrolment)."""
        with self._lock:
            self._reload_requested = True

    @property
    def event_id(self) -> int | None:
        """The event people are checked in to."""
        with self._lock:
            return self._event_id

    # -- the worker thread -------------------------------------------------------------------

    @pyqtSlot()
    def work(self) -> None:
        """The loop: newest frame -> pipeline -> ``result_ready``; ends on :meth:`stop`."""
        pipeline: Pipeline | None = None
        try:
            pipeline = self.pipeline_factory(self.event_id)
            self._loop(pipeline)
        except Exception as exc:  # noqa: BLE001 - reported, never crashes the app
            log.exception("the pipeline worker failed")
            self.error.emit(f"{type(exc).__name__}: {exc}")
        finally:
            if pipeline is not None:
                pipeline.gallery.close()
            self.finished.emit()

    def _apply_requests(self, pipeline: Pipeline) -> None:
        with self._lock:
            event_changed, self._event_changed = self._event_changed, False
            reload, self._reload_requested = self._reload_requested, False
            event_id = self._event_id
        if reload:
            pipeline.gallery.reload()
        if event_changed:
            pipeline.set_event(event_id)

    def _loop(self, pipeline: Pipeline) -> None:
        last_id = 0
        while not self._stop.is_set():
            self._apply_requests(pipeline)
            frame = self.reader.wait_for_frame(last_id, timeout_s=WAIT_TIMEOUT_S)
            if frame is None or self._stop.is_set():
                continue
            last_id = frame.frame_id
            started = time.perf_counter()
            try:
                result = pipeline.process(frame.frame_bgr, frame.t_monotonic, frame.frame_id)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the kiosk
                self._report_frame_error(exc, frame.frame_id)
                continue
            self._errors.clear()
            process_ms = (time.perf_counter() - started) * 1000.0
            self.frames_processed += 1
            self.result_ready.emit(WorkerResult(result, process_ms, pipeline.event_id))


    def _report_frame_error(self, exc: Exception, frame_id: int) -> None:
        """The first occurrence of an error: logged with its traceback and shown; repeats are
        counted, logged with the count every 30 s, and shown with the count."""
        message = f"{type(exc).__name__}: {exc}"
        now_s = time.monotonic()
        if self._errors.note(message, now_s):
            log.exception("frame %d failed", frame_id)
            self.error.emit(message)
            return
        count = self._errors.counts[message]
        if self._errors.due(message, now_s):
            log.error("the same error again, %d times so far: %s", count, message)
            self.error.emit(f"{message} ({count} times)")


def start_worker(worker: PipelineWorker, parent: QObject | None = None) -> QThread:
    """Move ``worker`` to a new :class:`QThread` with the superqt wiring and start it.

    started -> work; finished -> quit. The worker is not ``deleteLater``-ed: its owner keeps
    reading its counters after the thread ends, and Python frees it with the owner.
    """
    thread = QThread(parent)
    thread.setObjectName("pipeline-worker")
    worker.moveToThread(thread)
    thread.started.connect(worker.work)
    worker.finished.connect(thread.quit)
    thread.start()
    return thread


def stop_worker(worker: PipelineWorker, thread: QThread, timeout_ms: int = 5000) -> bool:
    """worker.stop() -> thread.quit() -> thread.wait(); True when the thread ended in time."""
    worker.stop()
    thread.quit()
    return bool(thread.wait(timeout_ms))
