"""Enrolment: one person from live capture (with quality gates) or photos, and a folder in bulk.

Everything slow (the face gate, landmarks, FaceNet) runs in worker threads; the dialog shows the
live picture, the feedback, the captured faces and a warning when a face matches someone else.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PyQt5.QtCore import QObject, QSize, Qt, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QFont, QIcon, QPixmap
from PyQt5.QtWidgets import (
    QCheckBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.gallery import Gallery, GalleryError
from kiosk.enroll_capture import WANTED_SAMPLES, CaptureOutcome, EnrollCapture
from kiosk.enrollment import enroll, lookalike_of
from kiosk.face_encoder import FaceSample
from kiosk.images import ImageError
from ui.tasks import TaskWorker, start_task, stop_task
from ui.video_view import VideoView, frame_to_qimage

log = logging.getLogger(__name__)

PREVIEW_POLL_MS = 30


class CaptureWorker(QObject):
    """Takes camera frames, applies the quality gates and encodes good faces (own thread).

    Signals:
        sample_captured(object, object): a :class:`FaceSample` passed every gate, and its
            camera frame as (file name, JPEG bytes), the photo a service enrols from.
        feedback(str): a gate code ("no_face", "several_faces", "too_small", "too_dark",
            "too_bright", "blurry", "not_frontal", "blink", "ok").
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


class EnrollDialog(QDialog):
    """Enrol one person (or re-enrol ``person_id``) from live capture or photo files.

    Args:
        settings: all settings.
        gallery: the GUI thread's gallery.
        encoder_factory: builds a FaceEncoder for this dialog's workers.
        reader: the camera reader to capture from (None: photos only).
        person_id: re-enrol this person instead of creating one.
        event_id: the current event (a new person can be put on its roster).
        server_link: the kiosk's :class:`ui.server_link.ServerLink` when it is connected to
            the service: the person is then enrolled on the service (and synced here), never
            in this kiosk's file alone.

    Attributes:
        samples: the faces captured or loaded so far.
        sample_photos: the photo each sample came from, (file name, bytes), or None.
        error_message: why the last save failed ("" after a success).

    Signals:
        person_enrolled(int): saved; the person's id.
        samples_changed(): a face was added or the faces were cleared.
    """

    person_enrolled = pyqtSignal(int)
    samples_changed = pyqtSignal()

    def __init__(self, settings: Settings, gallery: Gallery, encoder_factory: Any,
                 reader: LatestFrameReader | None, person_id: int | None = None,
                 parent: QWidget | None = None, event_id: int | None = None,
                 server_link: Any = None) -> None:
        super().__init__(parent)
        self.event_id = event_id  # a new person can be put on this event's roster (walk-in)
        self.server_link = server_link
        self.sample_photos: list[tuple[str, bytes] | None] = []
        self.error_message = ""
        self.settings = settings
        self.gallery = gallery
        self.encoder_factory = encoder_factory
        self.reader = reader
        self.person_id = person_id
        self.samples: list[FaceSample] = []
        self.duplicate: tuple[int, str, float] | None = None
        self.capture_outcome: CaptureOutcome | None = None
        self._encoder: Any = None
        self._capture_worker: CaptureWorker | None = None
        self._capture_thread: QThread | None = None
        self._task: TaskWorker | None = None
        self._task_thread: QThread | None = None
        self._last_preview_id = 0
        self._build()
        self.preview_timer = QTimer(self)
        self.preview_timer.setInterval(PREVIEW_POLL_MS)
        self.preview_timer.timeout.connect(self.on_preview_timer)
        if reader is not None:
            self.preview_timer.start()

    def _build(self) -> None:
        person = self.gallery.person(self.person_id) if self.person_id is not None else None
        self.setWindowTitle(self.tr("Re-enrol {name}").format(name=person.name) if person
                            else self.tr("Enrol a person"))
        self.resize(960, 600)
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        self.preview = VideoView(self)
        self.preview.setMinimumSize(420, 320)
        self.preview.placeholder = self.tr("No camera")
        left.addWidget(self.preview, 1)
        self.feedback_label = QLabel(self.tr("Press \"Capture\" and look at the camera."), self)
        self.feedback_label.setFont(QFont(self.font().family(), 14, QFont.Bold))
        self.feedback_label.setWordWrap(True)
        left.addWidget(self.feedback_label)
        layout.addLayout(left, 3)

        right = QVBoxLayout()
        form = QFormLayout()
        self.name_edit = QLineEdit(self)
        self.external_id_edit = QLineEdit(self)
        if person is not None:
            self.name_edit.setText(person.name)
            self.external_id_edit.setText(person.external_id or "")
            self.name_edit.setReadOnly(True)
            self.external_id_edit.setReadOnly(True)
        form.addRow(self.tr("Name:"), self.name_edit)
        form.addRow(self.tr("External id:"), self.external_id_edit)
        event = self.gallery.event(self.event_id) if self.event_id is not None else None
        self.roster_check = QCheckBox(self.tr("Add to the roster of {event}").format(
            event=event["name"] if event else ""), self)
        self.roster_check.setChecked(event is not None and person is None)
        self.roster_check.setVisible(event is not None and person is None)
        form.addRow(self.roster_check)
        right.addLayout(form)
        self.samples_list = QListWidget(self)
        self.samples_list.setViewMode(QListWidget.IconMode)
        self.samples_list.setIconSize(QSize(96, 96))
        self.samples_list.setMinimumHeight(130)
        right.addWidget(QLabel(self.tr("Faces to enrol:"), self))
        right.addWidget(self.samples_list, 1)
        self.warning_label = QLabel(self)
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b71c1c; font-weight: bold;")
        right.addWidget(self.warning_label)
        self.capture_button = QPushButton(self.tr("Capture from camera"), self)
        self.capture_button.setEnabled(self.reader is not None)
        self.photos_button = QPushButton(self.tr("Add photos..."), self)
        self.retake_button = QPushButton(self.tr("Retake"), self)
        self.save_button = QPushButton(self.tr("Save"), self)
        self.save_button.setEnabled(False)
        self.save_button.setDefault(True)
        self.cancel_button = QPushButton(self.tr("Cancel"), self)
        for button in (self.capture_button, self.photos_button, self.retake_button,
                       self.save_button, self.cancel_button):
            button.setMinimumHeight(34)
            right.addWidget(button)
        self.capture_button.clicked.connect(self.on_capture_clicked)
        self.photos_button.clicked.connect(self.on_photos_clicked)
        self.retake_button.clicked.connect(self.on_retake_clicked)
        self.save_button.clicked.connect(self.on_save_clicked)
        self.cancel_button.clicked.connect(self.reject)
        layout.addLayout(right, 2)

    def encoder(self) -> Any:
        """This dialog's encoder (built once)."""
        if self._encoder is None:
            self._encoder = self.encoder_factory()
        return self._encoder

    def feedback_text(self, code: str) -> str:
        """The on-screen text of a capture feedback code."""
        texts = {
            "no_face": self.tr("No face: look at the camera"),
            "several_faces": self.tr("One person at a time, please"),
            "too_small": self.tr("Move closer"),
            "too_dark": self.tr("Too dark: face the light"),
            "too_bright": self.tr("Too bright"),
            "no_eyes": self.tr("Look at the camera, eyes open"),
            "blurry": self.tr("Hold still (picture blurred)"),
            "not_frontal": self.tr("Face the camera straight on"),
            "blink": self.tr("Please blink (liveness check)"),
            "ok": self.tr("Good - hold on..."),
        }
        return texts.get(code, code)

    # -- live capture ------------------------------------------------------------------------

    @pyqtSlot()
    def on_preview_timer(self) -> None:
        """Show the newest camera frame."""
        frame = self.reader.latest() if self.reader is not None else None
        if frame is not None and frame.frame_id != self._last_preview_id:
            self._last_preview_id = frame.frame_id
            self.preview.set_frame(frame.frame_bgr)

    @pyqtSlot()
    def on_capture_clicked(self) -> None:
        """Start capturing faces from the camera."""
        if self.reader is None or self._capture_thread is not None:
            return
        self.capture_outcome = None
        self.capture_button.setEnabled(False)
        self.feedback_label.setText(self.tr("Look at the camera..."))
        worker = CaptureWorker(self.reader, self.encoder(), self.settings)
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.finished.connect(thread.quit)
        worker.sample_captured.connect(self.on_sample_captured)
        worker.feedback.connect(self.on_feedback)
        worker.done.connect(self.on_capture_done)
        self._capture_worker, self._capture_thread = worker, thread
        thread.start()

    @pyqtSlot(str)
    def on_feedback(self, code: str) -> None:
        """Show what the capture needs."""
        self.feedback_label.setText(self.feedback_text(code))

    @pyqtSlot(object, object)
    def on_sample_captured(self, sample: FaceSample, photo: tuple[str, bytes] | None) -> None:
        """Add a face to the preview list and check it against the gallery."""
        self.add_sample(sample, photo)

    @pyqtSlot(object)
    def on_capture_done(self, outcome: CaptureOutcome) -> None:
        """The capture ended: say how."""
        self.capture_outcome = outcome
        self._join_capture()
        self.capture_button.setEnabled(True)
        if outcome.spoof:
            self.samples.clear()
            self.samples_list.clear()
            self.feedback_label.setText(self.tr("Photo or screen detected - capture refused"))
        elif outcome.timed_out and not outcome.live:
            self.feedback_label.setText(self.tr("Liveness not confirmed - please retake"))
        elif outcome.live:
            self.feedback_label.setText(self.tr("Done - check the faces and save"))
        self._update_buttons()

    def _join_capture(self) -> None:
        if self._capture_worker is not None:
            self._capture_worker.stop()
        if self._capture_thread is not None:
            self._capture_thread.quit()
            self._capture_thread.wait(5000)
        self._capture_worker = self._capture_thread = None

    # -- photos ------------------------------------------------------------------------------

    @pyqtSlot()
    def on_photos_clicked(self) -> None:
        """Choose photo files and encode them in a worker."""
        paths, _ = QFileDialog.getOpenFileNames(self, self.tr("Photos of the person"), "",
                                                self.tr("Images (*.jpg *.jpeg *.png *.bmp)"))
        if paths:
            self.add_photos(paths)

    def add_photos(self, paths: list[str]) -> None:
        """Encode photo files in a worker; faces are added as they are ready."""
        encoder = self.encoder()

        def encode(progress, cancelled) -> list[tuple[str, Any]]:
            results = []
            for i, path in enumerate(paths):
                if cancelled():
                    break
                try:
                    sample = encoder.encode_file(path, single=True)
                    results.append((path, (sample, (Path(path).name, Path(path).read_bytes()))))
                except ImageError as exc:
                    results.append((path, str(exc)))
                except OSError as exc:
                    results.append((path, f"{Path(path).name}: {exc.strerror or exc}"))
                progress(i + 1, len(paths), Path(path).name)
            return results

        self.photos_button.setEnabled(False)
        self._task = TaskWorker(encode)
        self._task.done.connect(self.on_photos_encoded)
        self._task.failed.connect(self.on_feedback)
        self._task_thread = start_task(self._task, self)

    @pyqtSlot(object)
    def on_photos_encoded(self, results: list[tuple[str, Any]]) -> None:
        """Add the good faces; list the refused photos."""
        stop_task(self._task, self._task_thread)
        self._task = self._task_thread = None
        self.photos_button.setEnabled(True)
        refused = []
        for path, result in results:
            if isinstance(result, str):
                refused.append(f"{Path(path).name}: {result}")
            else:
                self.add_sample(*result)
        if refused:
            QMessageBox.warning(self, self.tr("Photos refused"), "\n".join(refused))

    # -- samples -----------------------------------------------------------------------------

    def add_sample(self, sample: FaceSample, photo: tuple[str, bytes] | None = None) -> None:
        """Keep a face (and the photo it came from), show it, warn when it matches another
        person."""
        self.samples.append(sample)
        self.sample_photos.append(photo)
        face_rgb = np.ascontiguousarray(sample.face_rgb)
        image = frame_to_qimage(face_rgb[:, :, ::-1].copy())
        self.samples_list.addItem(QListWidgetItem(QIcon(QPixmap.fromImage(image)), ""))
        found = lookalike_of(self.gallery, self.settings.recognition, sample.embeddings,
                             except_person_id=self.person_id)
        if found is not None:
            match, name = found, found.name
            self.duplicate = (match.person_id, name, match.distance)
            self.warning_label.setText(self.tr(
                "Warning: this face already matches {name} (id {id}, distance {distance:.2f})."
            ).format(name=name, id=match.person_id, distance=match.distance))
        self._update_buttons()
        self.samples_changed.emit()

    @pyqtSlot()
    def on_retake_clicked(self) -> None:
        """Forget the faces captured so far."""
        self._join_capture()
        self.samples.clear()
        self.sample_photos.clear()
        self.samples_list.clear()
        self.duplicate = None
        self.capture_outcome = None
        self.warning_label.clear()
        self.capture_button.setEnabled(self.reader is not None)
        self.feedback_label.setText(self.tr("Press \"Capture\" and look at the camera."))
        self._update_buttons()
        self.samples_changed.emit()

    def _update_buttons(self) -> None:
        capturing = self._capture_thread is not None
        self.save_button.setEnabled(bool(self.samples) and not capturing)

    @pyqtSlot()
    def on_save_clicked(self) -> None:
        """Save (asks first when a face matched someone else)."""
        if self.duplicate is not None:
            answer = QMessageBox.question(
                self, self.tr("Enrol"),
                self.tr("These faces look like {name}. Enrol anyway?").format(name=self.duplicate[1]))
            if answer != QMessageBox.Yes:
                return
        self.save(allow_duplicate=self.duplicate is not None)

    def save(self, allow_duplicate: bool = False) -> int | None:
        """Enrol (or re-enrol) with the faces so far; returns the person id or None on error.

        Args:
            allow_duplicate: the user confirmed enrolling faces that look like someone
                enrolled (the service refuses them otherwise).
        """
        if self.server_link is not None:
            return self.save_on_server(allow_duplicate)
        try:
            person_id = enroll(
                self.gallery, self.settings.recognition, self.name_edit.text(), self.samples,
                external_id=self.external_id_edit.text(), person_id=self.person_id,
                allow_duplicate=allow_duplicate, actor="admin").person_id
            if self.person_id is None:
                if self.event_id is not None and self.roster_check.isChecked():
                    self.gallery.add_to_roster(self.event_id, self.name_edit.text(),
                                               self.external_id_edit.text(), actor="admin")
        except (ValueError, GalleryError) as exc:
            QMessageBox.warning(self, self.tr("Enrol"), str(exc))
            return None
        self.person_enrolled.emit(person_id)
        self.accept()
        return person_id

    def save_on_server(self, allow_duplicate: bool = False) -> int | None:
        """Enrol on the service from the photos of the faces so far, then sync, so the person
        is here (and at every door) with the service's id; None when refused (the reason is
        shown and kept in :attr:`error_message`, and nothing was enrolled anywhere)."""
        from PyQt5.QtWidgets import QApplication

        from kiosk.sync import EnrollmentRefused, enroll_on_server

        if self.person_id is not None:
            return self._refuse(self.tr(
                "This kiosk is connected to the service: photos of an enrolled person are "
                "added on the service."))
        photos = [photo for photo in self.sample_photos if photo is not None]
        if not photos or len(photos) < len(self.samples):
            return self._refuse(self.tr(
                "The service enrols from the photos or camera pictures the faces came from; "
                "press Retake and capture or add them again."))
        name = self.name_edit.text().strip()
        if not name:
            return self._refuse(self.tr("Give the person's name."))
        external_id = self.external_id_edit.text().strip() or None
        client = self.server_link.client()
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            person_id, _report = enroll_on_server(client, name, photos, external_id,
                                                 allow_duplicate)
        except EnrollmentRefused as exc:
            return self._refuse(self.refusal_text(exc), exc)
        finally:
            QApplication.restoreOverrideCursor()
            client.close()
            client.store.close()
        try:
            if self.event_id is not None and self.roster_check.isChecked():
                self.gallery.add_to_roster(self.event_id, name, external_id, actor="admin")
        except (ValueError, GalleryError) as exc:
            QMessageBox.warning(self, self.tr("Enrol"), str(exc))
        self.server_link.sync_now()
        self.error_message = ""
        self.person_enrolled.emit(person_id)
        self.accept()
        return person_id

    def refusal_text(self, exc: Any) -> str:
        """The service's refusal of an enrolment, in the user's language."""
        if exc.kind == "lookalike" and exc.lookalike:
            found = exc.lookalike
            return self.tr(
                "Warning: this face already matches {name} (id {id}, distance {distance:.2f})."
            ).format(name=found.get("name"), id=found.get("person_id"),
                     distance=float(found.get("distance") or 0.0)) + " " + self.tr(
                "Nothing was enrolled.")
        texts = {
            "not_admin": self.tr("This kiosk's key may not enrol: enrolment needs an admin key "
                                 "of the service ([server] api_key). Nothing was enrolled."),
            "key_refused": self.tr("The service refused this kiosk's key (unknown or revoked). "
                                   "Nothing was enrolled."),
            "unreachable": self.tr(
                "The service cannot be reached, so nothing was enrolled: a person enrolled "
                "only at this kiosk would never reach the other doors. Try again when the "
                "service is back."),
        }
        if exc.kind in texts:
            return texts[exc.kind]
        return self.tr("The service refused the enrolment: {message}").format(
            message=exc.server_message or str(exc))

    def _refuse(self, message: str, exc: Any = None) -> None:
        """Show why nothing was enrolled; a look-alike makes the next Save ask first."""
        self.error_message = message
        self.warning_label.setText(message)
        if exc is not None and exc.kind == "lookalike" and exc.lookalike:
            found = exc.lookalike
            self.duplicate = (int(found.get("person_id") or 0), str(found.get("name")),
                              float(found.get("distance") or 0.0))
        QMessageBox.warning(self, self.tr("Enrol"), message)
        return None

    def done(self, result: int) -> None:  # noqa: A003 (Qt override)
        """Close: stop the preview and every worker first."""
        self.preview_timer.stop()
        self._join_capture()
        stop_task(self._task, self._task_thread)
        super().done(result)


class FolderEnrollDialog(QDialog):
    """Bulk enrolment from a folder of photos named by external id, with progress and a report.

    Signals:
        gallery_changed(): people were enrolled.
        report_ready(object): the :class:`kiosk.enroll_folder.FolderReport`.
    """

    gallery_changed = pyqtSignal()
    report_ready = pyqtSignal(object)

    def __init__(self, settings: Settings, gallery: Gallery, encoder_factory: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.gallery = gallery
        self.encoder_factory = encoder_factory
        self.report: Any = None
        self._task: TaskWorker | None = None
        self._thread: QThread | None = None
        self.setWindowTitle(self.tr("Enrol a folder of photos"))
        self.resize(640, 460)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr(
            "Photos named by external id (E001.jpg, E001_2.jpg). Names come from an imported "
            "roster; otherwise the external id is the name."), self))
        row = QHBoxLayout()
        self.folder_edit = QLineEdit(self)
        browse = QPushButton(self.tr("Choose..."), self)
        browse.clicked.connect(self.on_browse_clicked)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        self.progress_bar = QProgressBar(self)
        layout.addWidget(self.progress_bar)
        self.status_label = QLabel(self)
        layout.addWidget(self.status_label)
        self.report_text = QPlainTextEdit(self)
        self.report_text.setReadOnly(True)
        layout.addWidget(self.report_text, 1)
        buttons = QHBoxLayout()
        self.start_button = QPushButton(self.tr("Start"), self)
        self.start_button.clicked.connect(self.on_start_clicked)
        close = QPushButton(self.tr("Close"), self)
        close.clicked.connect(self.reject)
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)

    @pyqtSlot()
    def on_browse_clicked(self) -> None:
        """Choose the folder."""
        folder = QFileDialog.getExistingDirectory(self, self.tr("Folder of photos"))
        if folder:
            self.folder_edit.setText(folder)

    @pyqtSlot()
    def on_start_clicked(self) -> None:
        """Enrol the folder in a worker (its own gallery connection)."""
        from kiosk.enroll_folder import enroll_folder
        from kiosk.gallery import open_gallery

        folder = self.folder_edit.text().strip()
        if not Path(folder).is_dir():
            QMessageBox.warning(self, self.windowTitle(), self.tr("Choose a folder first."))
            return
        settings, encoder = self.settings, self.encoder_factory()

        def run(progress, cancelled):
            gallery = open_gallery(settings)
            try:
                return enroll_folder(
                    gallery, encoder, folder, recognition=settings.recognition, actor="admin",
                    progress=progress, should_cancel=cancelled)
            finally:
                gallery.close()

        self.start_button.setEnabled(False)
        self.report_text.clear()
        self._task = TaskWorker(run)
        self._task.progress.connect(self.on_progress)
        self._task.done.connect(self.on_done)
        self._task.failed.connect(self.on_failed)
        self._thread = start_task(self._task, self)

    @pyqtSlot(int, int, str)
    def on_progress(self, done: int, total: int, name: str) -> None:
        """Advance the bar."""
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(done)
        self.status_label.setText(f"{done}/{total}  {name}")

    @pyqtSlot(object)
    def on_done(self, report: Any) -> None:
        """Show the report."""
        stop_task(self._task, self._thread)
        self._task = self._thread = None
        self.report = report
        self.start_button.setEnabled(True)
        lines = [self.tr("{people} people enrolled from {total} photos; {refused} photos refused.")
                 .format(people=len(report.enrolled), total=report.total, refused=len(report.refused))]
        lines += [f"  {name}: {reason}" for name, reason in report.refused]
        self.report_text.setPlainText("\n".join(lines))
        if report.enrolled:
            self.gallery.reload()
            self.gallery_changed.emit()
        self.report_ready.emit(report)

    @pyqtSlot(str)
    def on_failed(self, message: str) -> None:
        """The run failed."""
        stop_task(self._task, self._thread)
        self._task = self._thread = None
        self.start_button.setEnabled(True)
        self.report_text.setPlainText(message)

    def done(self, result: int) -> None:  # noqa: A003 (Qt override)
        """Close: cancel and join the worker first."""
        stop_task(self._task, self._thread)
        super().done(result)
