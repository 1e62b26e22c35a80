"""Enrolment of one person from live capture (with quality gates) or photos.

Everything slow runs off the GUI thread: the face gate, landmarks and FaceNet in
:class:`ui.capture_worker.CaptureWorker` and a photo task, the enrolment itself (the gallery
or the service) in a :class:`ui.tasks.TaskRunner` thread through :func:`enroll_in_gallery` or
:func:`enroll_through_service`. The dialog shows the live picture, the feedback, the captured
faces and a warning when a face matches someone else. Bulk enrolment from a folder is
:mod:`ui.folder_enroll_dialog`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PyQt5.QtCore import QSize, Qt, QThread, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QFont, QIcon, QPixmap
from PyQt5.QtWidgets import (
    QCheckBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout, QWidget,
)

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.gallery import Gallery, GalleryError
from kiosk.enroll_capture import CaptureOutcome
from kiosk.enrollment import enroll, lookalike_of
from kiosk.face_encoder import FaceSample
from kiosk.images import ImageError
from ui.attendee_text import PROMPT_TEXTS, prompt_banner
from ui.capture_worker import CaptureWorker
from ui.tasks import TaskRunner, TaskWorker, start_task, stop_task
from ui.video_view import VideoView, frame_to_qimage

log = logging.getLogger(__name__)

PREVIEW_POLL_MS = 30


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
        saved_person_id: the person the last successful save enrolled (None before).
        tasks: the task threads that save.

    Signals:
        person_enrolled(int): saved; the person's id.
        samples_changed(): a face was added or the faces were cleared.
        save_finished(object): a save ended: the person's id, or None (refused).
        context_loaded(): the person re-enrolled and the event were read (fields filled).
    """

    person_enrolled = pyqtSignal(int)
    samples_changed = pyqtSignal()
    save_finished = pyqtSignal(object)
    context_loaded = pyqtSignal()

    def __init__(self, settings: Settings, gallery: Gallery, encoder_factory: Any,
                 reader: LatestFrameReader | None, person_id: int | None = None,
                 parent: QWidget | None = None, event_id: int | None = None,
                 server_link: Any = None) -> None:
        super().__init__(parent)
        self.event_id = event_id  # a new person can be put on this event's roster (walk-in)
        self.server_link = server_link
        self.sample_photos: list[tuple[str, bytes] | None] = []
        self.error_message = ""
        self.saved_person_id: int | None = None
        self.tasks = TaskRunner(self)
        self.tasks.busy_changed.connect(self.on_busy_changed)
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
        self._samples_generation = 0  # a Retake makes earlier look-alike answers stale
        self._build()
        self.load_context()
        self.preview_timer = QTimer(self)
        self.preview_timer.setInterval(PREVIEW_POLL_MS)
        self.preview_timer.timeout.connect(self.on_preview_timer)
        if reader is not None:
            self.preview_timer.start()

    def _build(self) -> None:
        self.setWindowTitle(self.tr("Enrol a person"))
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
        for edit in (self.name_edit, self.external_id_edit):  # until the person is read
            edit.setReadOnly(self.person_id is not None)
        form.addRow(self.tr("Name:"), self.name_edit)
        form.addRow(self.tr("External id:"), self.external_id_edit)
        self.roster_check = QCheckBox(self)
        self.roster_check.setChecked(False)
        self.roster_check.setVisible(False)
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

    def load_context(self) -> None:
        """Read the person being re-enrolled and the current event on a task thread; the
        name fields and the roster box follow (:attr:`context_loaded`)."""
        gallery, person_id, event_id = self.gallery, self.person_id, self.event_id

        def read() -> tuple[Any, dict[str, Any] | None]:
            return (gallery.person(person_id) if person_id is not None else None,
                    gallery.event(event_id) if event_id is not None else None)

        self.tasks.run(read, lambda found: self.on_context_loaded(*found),
                       lambda message: self.warning_label.setText(message))

    def on_context_loaded(self, person: Any, event: dict[str, Any] | None) -> None:
        """Show who is re-enrolled, and offer the event's roster to a new person."""
        if person is not None:
            self.setWindowTitle(self.tr("Re-enrol {name}").format(name=person.name))
            self.name_edit.setText(person.name)
            self.external_id_edit.setText(person.external_id or "")
        self.roster_check.setText(self.tr("Add to the roster of {event}").format(
            event=event["name"] if event else ""))
        self.roster_check.setChecked(event is not None and self.person_id is None)
        self.roster_check.setVisible(event is not None and self.person_id is None)
        self.context_loaded.emit()

    def encoder(self) -> Any:
        """This dialog's encoder (built once)."""
        if self._encoder is None:
            self._encoder = self.encoder_factory()
        return self._encoder

    def feedback_text(self, code: str) -> str:
        """The on-screen text of a capture feedback code: a gate code's own text, else what the
        liveness asks (a head turn, hold on) as the attendee screen says it."""
        texts = {
            "no_face": self.tr("No face: look at the camera"),
            "several_faces": self.tr("One person at a time, please"),
            "too_small": self.tr("Move closer"),
            "too_dark": self.tr("Too dark: face the light"),
            "too_bright": self.tr("Too bright"),
            "no_eyes": self.tr("Look at the camera, eyes open"),
            "blurry": self.tr("Hold still (picture blurred)"),
            "not_frontal": self.tr("Face the camera straight on"),
            "ok": self.tr("Good - hold on..."),
        }
        if code not in texts and code in PROMPT_TEXTS:
            return prompt_banner(code, face=True).text
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
        recognition, gallery, person_id = self.settings.recognition, self.gallery, self.person_id
        generation = self._samples_generation
        self.tasks.run(
            lambda: lookalike_of(gallery, recognition, sample.embeddings,
                                 except_person_id=person_id),
            lambda found: self.on_lookalike_checked(found, generation),
            lambda message: self.warning_label.setText(message))
        self._update_buttons()
        self.samples_changed.emit()

    def on_lookalike_checked(self, found: Any, generation: int) -> None:
        """The gallery was searched for a face: warn when it matches someone else."""
        if found is None or generation != self._samples_generation:
            return
        self.duplicate = (found.person_id, found.name, found.distance)
        self.warning_label.setText(self.tr(
            "Warning: this face already matches {name} (id {id}, distance {distance:.2f})."
        ).format(name=found.name, id=found.person_id, distance=found.distance))

    @pyqtSlot()
    def on_retake_clicked(self) -> None:
        """Forget the faces captured so far."""
        self._join_capture()
        self._samples_generation += 1
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
        self.save_button.setEnabled(bool(self.samples) and not capturing and not self.tasks.busy)

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

    def save(self, allow_duplicate: bool = False) -> bool:
        """Enrol (or re-enrol) with the faces so far, on a task thread (the dialog shows a busy
        state meanwhile); False when refused before anything started.

        The outcome arrives on this thread: :attr:`person_enrolled` and the dialog closes, or
        the reason is shown and kept in :attr:`error_message`; :attr:`save_finished` either way.

        Args:
            allow_duplicate: the user confirmed enrolling faces that look like someone
                enrolled (the service refuses them otherwise).
        """
        roster_event_id = self.event_id if self.roster_check.isChecked() else None
        if self.server_link is None:
            gallery, recognition, person_id = self.gallery, self.settings.recognition, \
                self.person_id
            name, external_id = self.name_edit.text(), self.external_id_edit.text()
            samples = list(self.samples)
            return self.tasks.run(
                lambda: enroll_in_gallery(gallery, recognition, person_id, name, external_id,
                                          samples, allow_duplicate, roster_event_id),
                self.on_saved, self.on_save_failed)
        refusal = self.service_refusal()
        if refusal:
            self._refuse(refusal)
            self.save_finished.emit(None)
            return False
        link, gallery = self.server_link, self.gallery
        photos = [photo for photo in self.sample_photos if photo is not None]
        name, external_id = self.name_edit.text().strip(), self.external_id_edit.text().strip()
        return self.tasks.run(
            lambda: enroll_through_service(link, gallery, name, photos, external_id or None,
                                           allow_duplicate, roster_event_id),
            self.on_saved, self.on_save_failed)

    def service_refusal(self) -> str:
        """Why the service cannot enrol the faces so far ("" when it can be asked)."""
        if self.person_id is not None:
            return self.tr("This kiosk is connected to the service: photos of an enrolled "
                           "person are added on the service.")
        photos = [photo for photo in self.sample_photos if photo is not None]
        if not photos or len(photos) < len(self.samples):
            return self.tr("The service enrols from the photos or camera pictures the faces "
                           "came from; press Retake and capture or add them again.")
        if not self.name_edit.text().strip():
            return self.tr("Give the person's name.")
        return ""

    def on_saved(self, outcome: Any) -> None:
        """The enrolment ended (on this thread): a person id, or the service's refusal."""
        from kiosk.sync import EnrollmentRefused

        if isinstance(outcome, EnrollmentRefused):
            self._refuse(self.refusal_text(outcome), outcome)
            self.save_finished.emit(None)
            return
        person_id, roster_error = outcome
        if roster_error:
            QMessageBox.warning(self, self.tr("Enrol"), roster_error)
        if self.server_link is not None:
            self.server_link.sync_now()
        self.error_message = ""
        self.saved_person_id = person_id
        self.person_enrolled.emit(person_id)
        self.save_finished.emit(person_id)
        self.accept()

    def on_save_failed(self, message: str) -> None:
        """The gallery refused the enrolment (nothing was stored)."""
        self.error_message = message
        QMessageBox.warning(self, self.tr("Enrol"), message)
        self.save_finished.emit(None)

    @pyqtSlot(bool)
    def on_busy_changed(self, busy: bool) -> None:
        """While the gallery or the service works (a save, a look-alike search), nothing else
        may start and the cursor says so."""
        capturing = self._capture_thread is not None
        self.capture_button.setEnabled(not busy and not capturing and self.reader is not None)
        self.photos_button.setEnabled(not busy and self._task is None)
        self.retake_button.setEnabled(not busy)
        if busy:
            self.save_button.setEnabled(False)
            self.setCursor(Qt.WaitCursor)
        else:
            self.unsetCursor()
            self._update_buttons()

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
        self.tasks.stop()
        self._join_capture()
        stop_task(self._task, self._task_thread)
        super().done(result)


def enroll_in_gallery(gallery: Gallery, recognition: Any, person_id: int | None, name: str,
                      external_id: str, samples: list[Any], allow_duplicate: bool,
                      roster_event_id: int | None) -> tuple[int, str]:
    """Enrol a new person, or add images to ``person_id``, in this kiosk's gallery through
    :func:`kiosk.enrollment.enroll` (runs on a task thread); a new person is also put on
    ``roster_event_id``'s roster.

    Returns:
        (the person's id, "").

    Raises:
        LookalikeError, ValueError, StoreError: refused; nothing was stored.
    """
    new_id = enroll(gallery, recognition, name, samples, external_id=external_id,
                    person_id=person_id, allow_duplicate=allow_duplicate,
                    actor="admin").person_id
    if person_id is None and roster_event_id is not None:
        gallery.add_to_roster(roster_event_id, name, external_id, actor="admin")
    return new_id, ""


def enroll_through_service(link: Any, gallery: Gallery, name: str, photos: list[tuple[str, bytes]],
                           external_id: str | None, allow_duplicate: bool,
                           roster_event_id: int | None) -> Any:
    """Enrol on the service from the photos, then sync, so the person is here (and at every
    door) with the service's id (runs on a task thread).

    Returns:
        (the person's id, a roster problem or ""), or the :class:`kiosk.sync.EnrollmentRefused`
        (nothing was enrolled anywhere).
    """
    from kiosk.sync import EnrollmentRefused, enroll_on_server

    client = link.client()
    try:
        person_id, _report = enroll_on_server(client, name, photos, external_id, allow_duplicate)
    except EnrollmentRefused as exc:
        return exc
    finally:
        client.close()
        client.store.close()
    try:
        if roster_event_id is not None:
            gallery.add_to_roster(roster_event_id, name, external_id, actor="admin")
    except (ValueError, GalleryError) as exc:
        return person_id, str(exc)
    return person_id, ""
