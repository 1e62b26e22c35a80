"""The people manager: list, search, rename, re-enrol, delete (with confirmation).

The list is read, and people renamed or deleted, on :class:`ui.tasks.TaskRunner` threads.
"""

from __future__ import annotations

from typing import Any

from PyQt5.QtCore import Qt, pyqtSignal, pyqtSlot
from PyQt5.QtWidgets import (
    QAbstractItemView, QDialog, QHBoxLayout, QInputDialog, QLineEdit, QMessageBox, QPushButton,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from kiosk.camera import LatestFrameReader
from kiosk.config import Settings
from kiosk.gallery import Gallery
from ui.tasks import TaskRunner


class PeopleDialog(QDialog):
    """Everyone enrolled, with the admin actions.

    Attributes:
        people: the people listed (:class:`kiosk.store.people.Person`).
        tasks: the task threads that read and change the gallery.

    Signals:
        gallery_changed(): someone was renamed, re-enrolled or deleted.
        listed(): the list was filled.
        action_finished(object): a rename or deletion ended (None, or the exception that
            refused it) and the list shows it.
    """

    gallery_changed = pyqtSignal()
    listed = pyqtSignal()
    action_finished = pyqtSignal(object)

    def __init__(self, settings: Settings, gallery: Gallery, encoder_factory: Any,
                 reader: LatestFrameReader | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.gallery = gallery
        self.encoder_factory = encoder_factory
        self.reader = reader
        self.people: list[Any] = []
        self.tasks = TaskRunner(self)
        self._search_serial = 0  # only the newest search fills the list
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
        """Read the list with the search applied (on a task thread)."""
        self._search_serial += 1
        serial, gallery, search = self._search_serial, self.gallery, self.search_edit.text()
        self.tasks.run(lambda: gallery.people(search), lambda people: self.show_people(
            people, serial), lambda message: QMessageBox.warning(self, self.tr("People"), message))

    def show_people(self, people: list[Any], serial: int | None = None) -> None:
        """Fill the list (an answer to an older search is dropped)."""
        if serial is not None and serial != self._search_serial:
            return
        self.people = people
        self.table.setRowCount(len(people))
        for row, person in enumerate(people):
            for column, value in enumerate(
                    [person.name, person.external_id or "", person.images, person.id]):
                item = QTableWidgetItem(str(value))
                item.setData(Qt.UserRole, person.id)
                self.table.setItem(row, column, item)
        self.listed.emit()

    @pyqtSlot(str)
    def on_search_changed(self, _text: str) -> None:
        """Filter the list."""
        self.refresh()

    def selected_person(self) -> Any:
        """The selected person (None: nobody)."""
        items = self.table.selectedItems()
        if not items:
            return None
        person_id = int(items[0].data(Qt.UserRole))
        return next((p for p in self.people if p.id == person_id), None)

    def selected_person_id(self) -> int | None:
        """The selected person's id."""
        person = self.selected_person()
        return None if person is None else person.id

    def _act(self, change: Any, title: str) -> bool:
        """Run a change on a task thread; then the list is read again, a refusal is shown,
        and :attr:`action_finished` follows."""
        def finished(result: Any) -> None:
            if isinstance(result, Exception):
                QMessageBox.warning(self, title, str(result))
            else:
                self.gallery_changed.emit()
            self.action_finished.emit(result)

        def call() -> Any:
            try:
                change()
            except Exception as exc:  # noqa: BLE001 - handed to the GUI thread, typed
                return exc
            return None

        def changed(result: Any) -> None:
            self.refresh()
            self.listed_once(lambda: finished(result))

        return self.tasks.run(call, changed)

    def listed_once(self, callback: Any) -> None:
        """Call ``callback`` after the next list is shown."""
        def once() -> None:
            self.listed.disconnect(once)
            callback()

        self.listed.connect(once)

    def rename(self, person_id: int, name: str) -> bool:
        """Rename (audit-logged by the gallery) on a task thread."""
        gallery = self.gallery
        return self._act(lambda: gallery.rename_person(person_id, name, actor="admin"),
                         self.tr("Rename"))

    def delete(self, person_id: int) -> bool:
        """Delete with all biometric data (audit-logged by the gallery) on a task thread."""
        gallery = self.gallery
        return self._act(lambda: delete_person(gallery, person_id), self.tr("Delete"))

    @pyqtSlot()
    def on_rename_clicked(self) -> None:
        """Ask for the new name."""
        person = self.selected_person()
        if person is None:
            return
        name, ok = QInputDialog.getText(self, self.tr("Rename"), self.tr("New name:"),
                                        text=person.name)
        if ok:
            self.rename(person.id, name)

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
        person = self.selected_person()
        if person is None:
            return
        answer = QMessageBox.question(
            self, self.tr("Delete"),
            self.tr("Delete {name} and all their face images and check-ins? This cannot be undone.")
            .format(name=person.name),
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer == QMessageBox.Yes:
            self.delete(person.id)

    def done(self, result: int) -> None:  # noqa: A003 (Qt override)
        self.tasks.stop()
        super().done(result)


def delete_person(gallery: Gallery, person_id: int) -> None:
    """Delete a person and all their biometric data (runs on a task thread)."""
    gallery.delete_person(person_id, actor="admin")
