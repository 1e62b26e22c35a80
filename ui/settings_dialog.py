"""Admin settings (thresholds, camera source, language) and the events dialog.

The match threshold edited is the one in force (:func:`kiosk.matching.rule.threshold_setting_key`:
the fused distance's with ``[recognition] fusion`` on). Saving, the events list and creating
an event (in the gallery or on the service) run on :class:`ui.tasks.TaskRunner` threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt5.QtCore import QDateTime, Qt, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (
    QCheckBox, QComboBox, QDateTimeEdit, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QSpinBox, QVBoxLayout, QWidget,
)

from kiosk.config import Settings, SettingsError
from kiosk.settings_files import LOCAL_SETTINGS, save_settings_changes
from kiosk.matching.rule import match_threshold, threshold_setting_key
from kiosk.gallery import Gallery, GalleryError
from ui.i18n import LANGUAGES, normalise_language
from ui.tasks import TaskRunner

SETTINGS_PATH = LOCAL_SETTINGS  # the site's layer over the shipped settings.toml


class SettingsDialog(QDialog):
    """Edit the main thresholds, the camera source and the UI options.

    Saves only the changed keys into the site's settings file (``data/settings.local.toml``,
    or the ``--settings`` file), keeping its comments; the shipped settings.toml is not written.
    The threshold shown and saved is the one the kiosk decides with
    (:func:`kiosk.matching.rule.threshold_setting_key`).

    Attributes:
        saved_settings: the settings written (None until saved).
        threshold_key: the ``[recognition]`` key the threshold box edits.
        tasks: the thread that writes the file and the audit entry.
    """

    def __init__(self, settings: Settings, gallery: Gallery | None = None,
                 path: Path = SETTINGS_PATH, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.gallery = gallery
        self.path = path
        self.saved_settings: Settings | None = None
        self.threshold_key = threshold_setting_key(settings.recognition)
        self.tasks = TaskRunner(self)
        self.tasks.busy_changed.connect(self.on_busy_changed)
        self.setWindowTitle(self.tr("Settings"))
        form = QFormLayout(self)
        self.source_edit = QLineEdit(settings.camera.source, self)
        form.addRow(self.tr("Camera source (index, rtsp:// URL or file):"), self.source_edit)
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setRange(0.1, 1.99)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setValue(match_threshold(settings.recognition))
        form.addRow(self.tr("Match threshold (fused distance):") if settings.recognition.fusion
                    else self.tr("Match threshold (FaceNet distance):"), self.threshold_spin)
        self.threshold_help = QLabel(self.tr(
            "A face is taken for a person only when its distance to them is below this number. "
            "Lower is stricter: more attendees are refused, fewer are taken for someone else. "
            "A refused attendee can try again or be checked in by staff; a wrong name cannot "
            "be undone."), self)
        self.threshold_help.setWordWrap(True)
        self.threshold_help.setStyleSheet("color: #546e7a;")
        form.addRow(self.threshold_help)
        self.margin_spin = QDoubleSpinBox(self)
        self.margin_spin.setRange(0.0, 1.0)
        self.margin_spin.setSingleStep(0.01)
        self.margin_spin.setValue(settings.recognition.min_margin)
        form.addRow(self.tr("Minimum margin to the next person:"), self.margin_spin)
        self.agree_spin = QSpinBox(self)
        self.agree_spin.setRange(1, 10)
        self.agree_spin.setValue(settings.recognition.agree_frames)
        form.addRow(self.tr("Frames that must agree:"), self.agree_spin)
        self.min_face_spin = QSpinBox(self)
        self.min_face_spin.setRange(20, 1000)
        self.min_face_spin.setValue(settings.detection.min_face_px)
        form.addRow(self.tr("Smallest face (pixels):"), self.min_face_spin)
        self.liveness_check = QCheckBox(self.tr("Liveness check (refuse photos and screens)"), self)
        self.liveness_check.setChecked(settings.liveness.enabled)
        form.addRow(self.liveness_check)
        self.language_combo = QComboBox(self)
        for code, label in LANGUAGES.items():
            self.language_combo.addItem(label, code)
        self.language_combo.setCurrentIndex(
            max(0, self.language_combo.findData(normalise_language(settings.ui.language))))
        form.addRow(self.tr("Language:"), self.language_combo)
        self.fullscreen_check = QCheckBox(self.tr("Start in full screen (kiosk mode)"), self)
        self.fullscreen_check.setChecked(settings.ui.fullscreen)
        form.addRow(self.fullscreen_check)
        self.hold_spin = QDoubleSpinBox(self)
        self.hold_spin.setRange(1.0, 30.0)
        self.hold_spin.setValue(settings.ui.banner_hold_s)
        form.addRow(self.tr("Banner shown for (s):"), self.hold_spin)
        form.addRow(QLabel(self.tr("Camera and threshold changes apply after a restart."), self))
        self.buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel, self)
        self.buttons.accepted.connect(self.on_save_clicked)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def edited_settings(self) -> Settings:
        """The settings with the dialog's values (validated)."""
        s = self.settings
        s = s.replace("camera", source=self.source_edit.text().strip() or "0")
        s = s.replace("recognition", **{self.threshold_key: round(self.threshold_spin.value(), 4)},
                      min_margin=self.margin_spin.value(), agree_frames=self.agree_spin.value())
        s = s.replace("detection", min_face_px=self.min_face_spin.value())
        s = s.replace("liveness", enabled=self.liveness_check.isChecked())
        s = s.replace("ui", language=self.language_combo.currentData(),
                      fullscreen=self.fullscreen_check.isChecked(),
                      banner_hold_s=self.hold_spin.value())
        return s

    @pyqtSlot()
    def on_save_clicked(self) -> None:
        """Validate here, then write the file and audit-log the change on a task thread; the
        dialog closes when it is written."""
        try:
            edited = self.edited_settings()
        except (SettingsError, ValueError) as exc:
            QMessageBox.warning(self, self.tr("Settings"), str(exc))
            return
        path, current, gallery = self.path, self.settings, self.gallery

        def write() -> str:
            changed = save_settings_changes(path, edited, current)
            if gallery is not None and changed:
                try:
                    gallery.record_action("admin", "change settings", path=str(path),
                                          keys=",".join(changed))
                except GalleryError as exc:
                    return str(exc)  # saved; only the audit entry is missing
            return ""

        self.tasks.run(write, lambda problem: self.on_saved(edited, problem), self.on_save_failed)

    def on_saved(self, edited: Settings, audit_problem: str) -> None:
        """The file is written."""
        if audit_problem:
            QMessageBox.warning(self, self.tr("Settings"), audit_problem)
        self.saved_settings = edited
        self.accept()

    def on_save_failed(self, message: str) -> None:
        """Nothing was written."""
        QMessageBox.warning(self, self.tr("Settings"), message)

    @pyqtSlot(bool)
    def on_busy_changed(self, busy: bool) -> None:
        """While the file is written, Save is greyed and the cursor waits."""
        self.buttons.setEnabled(not busy)
        if busy:
            self.setCursor(Qt.WaitCursor)
        else:
            self.unsetCursor()

    def done(self, result: int) -> None:  # noqa: A003 (Qt override)
        self.tasks.stop()
        super().done(result)


class EventsDialog(QDialog):
    """Create events and choose which one the kiosk checks people in to.

    The list is read, and an event created (in the gallery, or on the service for a connected
    kiosk), on task threads; the buttons are greyed meanwhile.

    Attributes:
        created_event_id: the event the last creation made (None before).
        error_message: why the last creation failed ("" after a success).
        tasks: the task threads.

    Signals:
        events_listed(): the list was filled (after opening or a creation).
    """

    events_listed = pyqtSignal()

    def __init__(self, gallery: Gallery, current_event_id: int | None,
                 parent: QWidget | None = None, server_link: Any = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.server_link = server_link  # a connected kiosk creates events on the service
        self.created_event_id: int | None = None
        self.error_message = ""
        self.tasks = TaskRunner(self)
        self.tasks.busy_changed.connect(self.on_busy_changed)
        self.setWindowTitle(self.tr("Events"))
        self.resize(560, 440)
        layout = QVBoxLayout(self)
        self.events_list = QListWidget(self)
        layout.addWidget(self.events_list, 1)
        form = QFormLayout()
        self.name_edit = QLineEdit(self)
        form.addRow(self.tr("New event name:"), self.name_edit)
        self.window_check = QCheckBox(self.tr("Check-in window (otherwise open all day)"), self)
        form.addRow(self.window_check)
        now = QDateTime.currentDateTime()
        self.opens_edit = QDateTimeEdit(now, self)
        self.closes_edit = QDateTimeEdit(now.addSecs(2 * 3600), self)
        for edit in (self.opens_edit, self.closes_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setCalendarPopup(True)
        form.addRow(self.tr("Opens:"), self.opens_edit)
        form.addRow(self.tr("Closes:"), self.closes_edit)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.create_button = QPushButton(self.tr("Create"), self)
        self.create_button.clicked.connect(self.on_create_clicked)
        row.addWidget(self.create_button)
        row.addStretch(1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        self.buttons.button(QDialogButtonBox.Ok).setText(self.tr("Use selected event"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row.addWidget(self.buttons)
        layout.addLayout(row)
        self.refresh(current_event_id)

    def refresh(self, select_id: int | None = None) -> None:
        """List the events, newest first (read on a task thread)."""
        self.tasks.run(self.gallery.events, lambda events: self.show_events(events, select_id),
                       lambda message: QMessageBox.warning(self, self.tr("Events"), message))

    def show_events(self, events: list[dict[str, Any]], select_id: int | None) -> None:
        """Fill the list and select ``select_id``."""
        self.events_list.clear()
        for event in events:
            window = ""
            if event.get("opens_at") or event.get("closes_at"):
                window = f"  [{event.get('opens_at') or '-'} .. {event.get('closes_at') or '-'}]"
            item = QListWidgetItem(f"{event['id']}  {event['name']}{window}")
            item.setData(Qt.UserRole, int(event["id"]))
            self.events_list.addItem(item)
            if event["id"] == select_id:
                self.events_list.setCurrentItem(item)
        self.events_listed.emit()

    def create_event(self, name: str, opens_at: str | None, closes_at: str | None) -> bool:
        """Create an event on a task thread (audit-logged by the gallery, or on the service for
        a connected kiosk, then synced here), then list and select it; False when it could
        not start. A refusal (:class:`ValueError`, :class:`GalleryError`, or
        :class:`kiosk.sync.SyncError` when the service refuses or cannot be reached: nothing
        was created) is shown and kept in :attr:`error_message`."""
        gallery, link = self.gallery, self.server_link
        return self.tasks.run(lambda: create_event(gallery, link, name, opens_at, closes_at),
                              self.on_event_created, self.on_create_failed)

    def on_event_created(self, event_id: int) -> None:
        self.created_event_id = event_id
        self.error_message = ""
        self.refresh(event_id)

    def on_create_failed(self, message: str) -> None:
        self.error_message = message
        QMessageBox.warning(self, self.tr("Events"), message)

    @pyqtSlot()
    def on_create_clicked(self) -> None:
        """Create from the form."""
        opens = closes = None
        if self.window_check.isChecked():
            opens = self.opens_edit.dateTime().toString(Qt.ISODate)
            closes = self.closes_edit.dateTime().toString(Qt.ISODate)
        self.create_event(self.name_edit.text(), opens, closes)

    @pyqtSlot(bool)
    def on_busy_changed(self, busy: bool) -> None:
        """While the list is read or an event created, the buttons are greyed."""
        self.create_button.setEnabled(not busy)
        self.buttons.setEnabled(not busy)
        if busy:
            self.setCursor(Qt.WaitCursor)
        else:
            self.unsetCursor()

    def chosen_event_id(self) -> int | None:
        """The selected event's id."""
        item = self.events_list.currentItem()
        return None if item is None else int(item.data(Qt.UserRole))

    def done(self, result: int) -> None:  # noqa: A003 (Qt override)
        self.tasks.stop()
        super().done(result)


def create_event(gallery: Gallery, server_link: Any, name: str, opens_at: str | None,
                 closes_at: str | None) -> int:
    """Create an event in the gallery, or on the service (then a sync round brings it here
    with the service's id) for a connected kiosk; its id (runs on a task thread).

    Raises:
        ValueError, GalleryError: refused locally; SyncError: refused by the service or the
            service is unreachable (nothing was created).
    """
    if server_link is None:
        return gallery.create_event(name, opens_at, closes_at, actor="admin")
    from kiosk.store.base import StoreError
    from kiosk.sync import SyncError

    client = server_link.client()
    try:
        event_id = client.create_event(name.strip(), opens_at, closes_at)
        try:
            client.run_once()
        except (SyncError, StoreError):
            pass  # created on the service; the next round brings it here
    finally:
        client.close()
        client.store.close()
    return event_id
