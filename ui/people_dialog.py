"""The people manager: list, search, rename, re-enrol, delete (with confirmation)."""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import Qt, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (
    QAbstractItemView, QDialog, QHBoxLayout, QInputDialog, QLineEdit, QMessageBox, QPushButton,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.gallery import Gallery, GalleryError


class PeopleDialog(QDialog):
    """Everyone enrolled, with the admin actions.

    Signals:
        gallery_changed(): someone was renamed, re-enrolled or deleted.
    """

    gallery_changed = pyqtSignal()

    def __init__(self, settings: Settings, gallery: Gallery, encoder_factory: Any,
                 reader: LatestFrameReader | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.gallery = gallery
        self.encoder_factory = encoder_factory
        self.reader = reader
        self.setWindowTitle(self.tr("People"))
        self.resize(720, 520)
        layout = QVBoxLayout(self)
        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText(self.tr("Search name or id..."))
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.on_search_changed)
        layout.addWidget(self.search_edit)
        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(
            [self.tr("Name"), self.tr("External id"), self.tr("Images"), self.tr("Person id")])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.rename_button = QPushButton(self.tr("Rename..."), self)
        self.reenroll_button = QPushButton(self.tr("Re-enrol..."), self)
        self.delete_button = QPushButton(self.tr("Delete..."), self)
        close = QPushButton(self.tr("Close"), self)
        for button in (self.rename_button, self.reenroll_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        self.rename_button.clicked.connect(self.on_rename_clicked)
        self.reenroll_button.clicked.connect(self.on_reenroll_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        close.clicked.connect(self.accept)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        """Reload the list with the search applied."""
        people = self.gallery.people(self.search_edit.text())
        self.table.setRowCount(len(people))
        for row, person in enumerate(people):
            for column, value in enumerate(
                    [person.name, person.external_id or "", person.images, person.id]):
                item = QTableWidgetItem(str(value))
                item.setData(Qt.UserRole, person.id)
                self.table.setItem(row, column, item)

    @pyqtSlot(str)
    def on_search_changed(self, _text: str) -> None:
        """Filter the list."""
        self.refresh()

    def selected_person_id(self) -> int | None:
        """The selected person's id."""
        items = self.table.selectedItems()
        return None if not items else int(items[0].data(Qt.UserRole))

    def rename(self, person_id: int, name: str) -> None:
        """Rename (audit-logged by the gallery)."""
        self.gallery.rename_person(person_id, name, actor="admin")
        self.refresh()
        self.gallery_changed.emit()

    def delete(self, person_id: int) -> None:
        """Delete with all biometric data (audit-logged by the gallery)."""
        self.gallery.delete_person(person_id, actor="admin")
        self.refresh()
        self.gallery_changed.emit()

    @pyqtSlot()
    def on_rename_clicked(self) -> None:
        """Ask for the new name."""
        person_id = self.selected_person_id()
        if person_id is None:
            return
        person = self.gallery.person(person_id)
        name, ok = QInputDialog.getText(self, self.tr("Rename"), self.tr("New name:"),
                                        text=person.name if person else "")
        if ok:
            try:
                self.rename(person_id, name)
            except (ValueError, GalleryError) as exc:
                QMessageBox.warning(self, self.tr("Rename"), str(exc))

    @pyqtSlot()
    def on_reenroll_clicked(self) -> None:
        """Open the enrolment dialog for the selected person."""
        person_id = self.selected_person_id()
        if person_id is None:
            return
        from ui.enroll_dialog import EnrollDialog

        dialog = EnrollDialog(self.settings, self.gallery, self.encoder_factory, self.reader,
                              person_id=person_id, parent=self)
        if dialog.exec_():
            self.refresh()
            self.gallery_changed.emit()

    @pyqtSlot()
    def on_delete_clicked(self) -> None:
        """Delete after confirmation."""
        person_id = self.selected_person_id()
        if person_id is None:
            return
        person = self.gallery.person(person_id)
        answer = QMessageBox.question(
            self, self.tr("Delete"),
            self.tr("Delete {name} and all their face images and check-ins? This cannot be undone.")
            .format(name=person.name if person else person_id),
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer == QMessageBox.Yes:
            try:
                self.delete(person_id)
            except (ValueError, GalleryError) as exc:
                QMessageBox.warning(self, self.tr("Delete"), str(exc))
