"""The enrolment dialog's live capture: camera frames through the quality gates and the face
encoder, in a worker thread of its own."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import cv2
from PyQt5.QtCore import QObject, pyqtSignal, pyqtSlot

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.enroll_capture import WANTED_SAMPLES, CaptureOutcome, EnrollCapture

log = logging.getLogger(__name__)


class CaptureWorker(QObject):
    """Takes camera frames, applies the quality gates and encodes good faces (own thread).

    Signals:
        sample_captured(object, object): a :class:`FaceSample` passed every gate, and its
            camera frame as (file name, JPEG bytes), the photo a service enrols from.
        feedback(str): a gate code or what the liveness asks (the ``feedback`` of
            :class:`kiosk.enroll_capture.CaptureStep`: "no_face", "turn_left", "ok"...).
        done(object): a :class:`CaptureOutcome`.
        finished(): the thread may quit.
    """

    sample_captured = pyqtSignal(object, object)
    feedback = pyqtSignal(str)
    done = pyqtSignal(object)
    finished = pyqtSignal()

    def __init__(self, reader: LatestFrameReader, encoder: Any, settings: Settings,
                 wanted: int = WANTED_SAMPLES) -> None:
        super().__init__()
        self.reader = reader
        self.encoder = encoder
        self.settings = settings
        self.wanted = wanted
        self._stop = threading.Event()

    def stop(self) -> None:
        """End the capture (direct call)."""
        self._stop.set()

    @pyqtSlot()
    def run(self) -> None:
        """The capture loop."""
        try:
            self.done.emit(self._capture())
        except Exception as exc:  # noqa: BLE001
            log.exception("capture failed")
            self.feedback.emit(f"error: {exc}")
            self.done.emit(CaptureOutcome(False, False, False))
        finally:
            self.finished.emit()

    def _capture(self) -> CaptureOutcome:
        capture = EnrollCapture(self.encoder, self.settings, self.wanted, time.monotonic())
        last_id = 0
        while not self._stop.is_set():
            outcome = capture.timed_out(time.monotonic())
            if outcome is not None:
                return outcome
            frame = self.reader.wait_for_frame(last_id, 0.2)
            if frame is None:
                continue
            last_id = frame.frame_id
            step = capture.update(frame.frame_bgr, frame.t_monotonic)
            if step.outcome is not None:
                return step.outcome
            if step.sample is not None:
                ok, jpeg = cv2.imencode(".jpg", frame.frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
                photo = (f"capture-{frame.frame_id}.jpg", jpeg.tobytes()) if ok else None
                self.sample_captured.emit(step.sample, photo)
            if step.feedback:
                self.feedback.emit(step.feedback)
        return CaptureOutcome(capture.live, False, False)
