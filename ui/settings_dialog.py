"""Admin settings (thresholds, camera source, language) and the events dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt5.QtCore import QDateTime, Qt, pyqtSlot
from PyQt5.QtWidgets import (
    QCheckBox, QComboBox, QDateTimeEdit, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QSpinBox, QVBoxLayout, QWidget,
)

from kiosk.config import LOCAL_SETTINGS, Settings, SettingsError, save_settings_changes
from kiosk.gallery import Gallery, GalleryError
from ui.i18n import LANGUAGES, normalise_language

SETTINGS_PATH = LOCAL_SETTINGS  # the site's layer over the shipped settings.toml


class SettingsDialog(QDialog):
    """Edit the main thresholds, the camera source and the UI options.

    Saves only the changed keys into the site's settings file (``data/settings.local.toml``,
    or the ``--settings`` file), keeping its comments; the shipped settings.toml is not written.

    Attributes:
        saved_settings: the settings written (None until saved).
    """

    def __init__(self, settings: Settings, gallery: Gallery | None = None,
                 path: Path = SETTINGS_PATH, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.gallery = gallery
        self.path = path
        self.saved_settings: Settings | None = None
        self.setWindowTitle(self.tr("Settings"))
        form = QFormLayout(self)
        self.source_edit = QLineEdit(settings.camera.source, self)
        form.addRow(self.tr("Camera source (index, rtsp:// URL or file):"), self.source_edit)
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setRange(0.1, 2.0)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setValue(settings.recognition.distance_threshold)
        form.addRow(self.tr("Match distance threshold:"), self.threshold_spin)
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
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.on_save_clicked)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def edited_settings(self) -> Settings:
        """The settings with the dialog's values (validated)."""
        s = self.settings
        s = s.replace("camera", source=self.source_edit.text().strip() or "0")
        s = s.replace("recognition", distance_threshold=self.threshold_spin.value(),
                      min_margin=self.margin_spin.value(), agree_frames=self.agree_spin.value())
        s = s.replace("detection", min_face_px=self.min_face_spin.value())
        s = s.replace("liveness", enabled=self.liveness_check.isChecked())
        s = s.replace("ui", language=self.language_combo.currentData(),
                      fullscreen=self.fullscreen_check.isChecked(),
                      banner_hold_s=self.hold_spin.value())
        return s

    @pyqtSlot()
    def on_save_clicked(self) -> None:
        """Validate, write the file and audit-log the change."""
        try:
            edited = self.edited_settings()
            changed = save_settings_changes(self.path, edited, self.settings)
        except (SettingsError, ValueError, OSError) as exc:
            QMessageBox.warning(self, self.tr("Settings"), str(exc))
            return
        if self.gallery is not None and changed:
            try:
                self.gallery.record_action("admin", "change settings", path=str(self.path),
                                           keys=",".join(changed))
            except GalleryError as exc:
                QMessageBox.warning(self, self.tr("Settings"), str(exc))
        self.saved_settings = edited
        self.accept()


class EventsDialog(QDialog):
    """Create events and choose which one the kiosk checks people in to."""

    def __init__(self, gallery: Gallery, current_event_id: int | None,
                 parent: QWidget | None = None, server_link: Any = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.server_link = server_link  # a connected kiosk creates events on the service
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
        create = QPushButton(self.tr("Create"), self)
        create.clicked.connect(self.on_create_clicked)
        row.addWidget(create)
        row.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.button(QDialogButtonBox.Ok).setText(self.tr("Use selected event"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row.addWidget(buttons)
        layout.addLayout(row)
        self.refresh(current_event_id)

    def refresh(self, select_id: int | None = None) -> None:
        """List the events, newest first."""
        self.events_list.clear()
        for event in self.gallery.events():
            window = ""
            if event.get("opens_at") or event.get("closes_at"):
                window = f"  [{event.get('opens_at') or '-'} .. {event.get('closes_at') or '-'}]"
            item = QListWidgetItem(f"{event['id']}  {event['name']}{window}")
            item.setData(Qt.UserRole, int(event["id"]))
            self.events_list.addItem(item)
            if event["id"] == select_id:
                self.events_list.setCurrentItem(item)

    def create_event(self, name: str, opens_at: str | None, closes_at: str | None) -> int:
        """Create an event (audit-logged by the gallery, or on the service for a connected
        kiosk, then synced here) and select it.

        Raises:
            ValueError, GalleryError: refused locally; SyncError: refused by the service or
                the service is unreachable (nothing was created).
        """
        if self.server_link is None:
            event_id = self.gallery.create_event(name, opens_at, closes_at, actor="admin")
        else:
            from kiosk.store.base import StoreError
            from kiosk.sync import SyncError

            client = self.server_link.client()
            try:
                event_id = client.create_event(name.strip(), opens_at, closes_at)
                try:
                    client.run_once()
                except (SyncError, StoreError):
                    pass  # created on the service; the next round brings it here
            finally:
                client.close()
                client.store.close()
        self.refresh(event_id)
        return event_id

    @pyqtSlot()
    def on_create_clicked(self) -> None:
        """Create from the form."""
        opens = closes = None
        if self.window_check.isChecked():
            opens = self.opens_edit.dateTime().toString(Qt.ISODate)
            closes = self.closes_edit.dateTime().toString(Qt.ISODate)
        from kiosk.sync import SyncError

        try:
            self.create_event(self.name_edit.text(), opens, closes)
        except (ValueError, GalleryError, SyncError) as exc:
            QMessageBox.warning(self, self.tr("Events"), str(exc))

    def chosen_event_id(self) -> int | None:
        """The selected event's id."""
        item = self.events_list.currentItem()
        return None if item is None else int(item.data(Qt.UserRole))
