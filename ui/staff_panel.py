"""The staff panel: who has arrived and who has not, manual check-in and undo, export (CSV or
Excel), roster import (admin) and the refused spoof attempts of the current event.

Every read and change of the gallery (and the service's attendance) runs on a
:class:`ui.tasks.TaskRunner` thread; the panel fills its lists when the answer arrives.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt, QTimer, pyqtSignal, pyqtSlot
from PyQt5.QtGui import QFont, QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QHeaderView, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QTabWidget,
    QVBoxLayout, QWidget, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
)

from kiosk.auth import Role, require_role
from kiosk.gallery import Gallery
from kiosk.store.checkins import MAX_REASON_CHARS
from kiosk.store.outbox import Outbox
from kiosk.roster import (
    attendance, attendance_counts, export_event_attendance, import_roster, read_roster_file,
)
from ui.tasks import TaskRunner
from ui.text import short_time

REFRESH_MS = 5000


def staff_operator() -> str:
    """Who is at the staff panel, for the audit log (the OS user)."""
    try:
        return f"staff:{getpass.getuser()}"
    except Exception:  # noqa: BLE001
        return "staff"


class ManualCheckInDialog(QDialog):
    """Choose a person (of ``people``, the enrolled people) and give a reason."""

    def __init__(self, people: list[Any], person_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Manual check-in"))
        layout = QFormLayout(self)
        self.person_combo = QComboBox(self)
        self.person_combo.setEditable(True)
        self.person_combo.setInsertPolicy(QComboBox.NoInsert)
        for person in people:
            label = f"{person.name} ({person.external_id})" if person.external_id else person.name
            self.person_combo.addItem(label, person.id)
        if person_id is not None:
            self.person_combo.setCurrentIndex(max(0, self.person_combo.findData(person_id)))
        layout.addRow(self.tr("Person:"), self.person_combo)
        self.reason_edit = QLineEdit(self)
        self.reason_edit.setMaxLength(MAX_REASON_CHARS)  # the service's limit (kiosk.store.checkins)
        self.reason_edit.setPlaceholderText(self.tr("e.g. face not recognised, glasses"))
        layout.addRow(self.tr("Reason:"), self.reason_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def person_id(self) -> int | None:
        """The chosen person's id."""
        data = self.person_combo.currentData()
        return None if data is None else int(data)


class StaffPanelWidget(QWidget):
    """The check-in staff's window for one event.

    Args:
        gallery: the GUI thread's gallery connection.
        event_id: the current event (None: nothing to show).
        operator: the name for the audit log (default: the OS user).
        role: "staff" or "admin" (roster import needs admin; staff are asked for it).
        settings_files: settings files in use, never to be replaced by an export.
        server_link: the kiosk's :class:`ui.server_link.ServerLink` when it is connected to
            the service: the lists then show every door's check-ins, with the door, and a tab
            lists this door's check-ins and undos of the event that the service refused for
            good, with its reason (they never reach the other doors).

    Attributes:
        rows: the attendance rows shown (from :func:`kiosk.roster.attendance`).
        operator: the name written to the audit log.
        all_doors: the rows shown are every door's (False: this kiosk's own).
        tasks: the task threads that read and change the gallery.

    Signals:
        refreshed(): the lists were filled again.
        action_finished(object): a manual check-in, undo, export or roster import ended and
            the lists show its effect: its result, or the exception that refused it.
    """

    refreshed = pyqtSignal()
    action_finished = pyqtSignal(object)

    def __init__(self, gallery: Gallery, event_id: int | None, parent: QWidget | None = None,
                 operator: str | None = None, role: str = Role.STAFF.value,
                 settings_files: tuple[str | Path, ...] = (), server_link: Any = None) -> None:
        super().__init__(parent, Qt.Window)
        self.gallery = gallery
        self.event_id = event_id
        self.operator = operator or staff_operator()
        self.role = Role(role)
        self.settings_files = settings_files
        self.server_link = server_link
        self.all_doors = False
        self.rows: list[dict[str, Any]] = []
        self.tasks = TaskRunner(self)
        self._loading = self._load_again = False
        self._after_refresh: list[Callable[[], None]] = []
        self.resize(900, 640)
        self._build()
        self.refresh()
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_MS)
        self.refresh_timer.timeout.connect(self.on_round_done)
        self.refresh_timer.start()
        if server_link is not None:  # every door's list arrives with each sync round
            server_link.round_done.connect(self.on_round_done)
            server_link.watch_event(event_id)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.refresh_timer.stop()
        if self.server_link is not None:
            self.server_link.round_done.disconnect(self.on_round_done)
            self.server_link.watch_event(None)
        self.tasks.stop()
        super().closeEvent(event)

    def _show_event(self, event: dict[str, Any] | None) -> None:
        self.setWindowTitle(self.tr("Staff - {event}").format(
            event=event["name"] if event else self.tr("no event")))
        self.title_label.setText(event["name"] if event else self.tr("No event is open"))

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.title_label = QLabel(self)
        self.title_label.setFont(QFont(self.font().family(), 16, QFont.Bold))
        layout.addWidget(self.title_label)
        self.counts_label = QLabel(self)
        self.counts_label.setFont(QFont(self.font().family(), 13))
        layout.addWidget(self.counts_label)
        self.doors_label = QLabel(self)  # connected kiosks: every door, or offline
        self.doors_label.setVisible(self.server_link is not None)
        layout.addWidget(self.doors_label)
        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText(self.tr("Search name or id..."))
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.on_search_changed)
        layout.addWidget(self.search_edit)

        self.tabs = QTabWidget(self)
        arrived_headers = [self.tr("Name"), self.tr("ID"), self.tr("Time"), self.tr("How"),
                           self.tr("Reason")]
        if self.server_link is not None:
            arrived_headers.append(self.tr("Door"))
        self.arrived_table = self._table(arrived_headers)
        self.missing_table = self._table([self.tr("Name"), self.tr("ID")])
        self.spoof_list = QListWidget(self)
        self.spoof_list.setViewMode(QListWidget.IconMode)
        self.spoof_list.setIconSize(QPixmap(96, 96).size())
        self.spoof_list.setResizeMode(QListWidget.Adjust)
        self.tabs.addTab(self.arrived_table, "")
        self.tabs.addTab(self.missing_table, "")
        self.tabs.addTab(self.spoof_list, "")
        self.refused_table: QTableWidget | None = None
        if self.server_link is not None:
            self.refused_table = self._table([self.tr("Time"), self.tr("Name"), self.tr("ID"),
                                              self.tr("How"), self.tr("Refused by the service")])
            self.tabs.addTab(self.refused_table, "")
        layout.addWidget(self.tabs, 1)

        buttons = QHBoxLayout()
        self.checkin_button = QPushButton(self.tr("Manual check-in..."), self)
        self.undo_button = QPushButton(self.tr("Undo check-in..."), self)
        self.roster_button = QPushButton(self.tr("Import roster..."), self)
        self.export_button = QPushButton(self.tr("Export..."), self)
        for button in (self.checkin_button, self.undo_button, self.roster_button, self.export_button):
            button.setMinimumHeight(36)
            buttons.addWidget(button)
        self.checkin_button.clicked.connect(self.on_checkin_clicked)
        self.undo_button.clicked.connect(self.on_undo_clicked)
        self.roster_button.clicked.connect(self.on_roster_clicked)
        self.export_button.clicked.connect(self.on_export_clicked)
        enabled = self.event_id is not None
        for button in (self.checkin_button, self.undo_button, self.roster_button, self.export_button):
            button.setEnabled(enabled)
        layout.addLayout(buttons)

    def _table(self, headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers), self)
        table.setHorizontalHeaderLabels(headers)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectRows)
        table.setSelectionMode(QAbstractItemView.SingleSelection)
        header = table.horizontalHeader()
        header.setStretchLastSection(True)
        # Names (Chinese and Latin together) are the column staff read: never cut them short.
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        table.verticalHeader().setVisible(False)
        table.setFont(QFont(self.font().family(), 12))
        return table

    # -- data --------------------------------------------------------------------------------

    def refresh(self, then: Callable[[], None] | None = None) -> None:
        """Read the attendance and spoof attempts again on a task thread; ``then`` is called
        when the lists show them (a read asked for during another starts after it)."""
        if then is not None:
            self._after_refresh.append(then)
        if self.event_id is None:
            self._show_event(None)
            self.counts_label.setText(self.tr("Choose an event in Admin > Events."))
            self._refreshed()
            return
        if self._loading:
            self._load_again = True
            return
        gallery, event_id, link = self.gallery, self.event_id, self.server_link

        def read() -> tuple[dict[str, Any] | None, bool, list[dict[str, Any]], list[dict],
                            list[dict[str, Any]]]:
            checkins = link.attendance(event_id, gallery.store) if link is not None else None
            rows = attendance(gallery, event_id, checkins)
            refused = Outbox(gallery.store).rejected_of_event(event_id) if link is not None else []
            return gallery.event(event_id), checkins is not None, rows, \
                gallery.spoof_attempts(event_id), refused

        self._loading = self.tasks.run(read, self.on_loaded, self.on_load_failed)

    def on_loaded(self, loaded: tuple[dict[str, Any] | None, bool, list[dict[str, Any]],
                                      list[dict], list[dict[str, Any]]]) -> None:
        """The attendance arrived: fill the lists (or read again when asked meanwhile)."""
        self._loading = False
        if self._load_again:
            self._load_again = False
            self.refresh()
            return
        event, self.all_doors, self.rows, attempts, refused = loaded
        self._show_event(event)
        if self.all_doors:
            self.doors_label.setText(self.tr("All doors (from the service)"))
            self.doors_label.setStyleSheet("")
        else:
            self.doors_label.setText(self.tr(
                "Offline, this door only: the service cannot be reached right now"))
            self.doors_label.setStyleSheet("color: #b71c1c; font-weight: bold;")
        counts = attendance_counts(self.rows)
        self.counts_label.setText(
            self.tr("Expected {expected} | Arrived {arrived_expected} of {expected} | "
                    "Not yet arrived {missing} | Not on the roster {walk_ins}").format(**counts))
        self._fill_tables()
        self._fill_spoofs(attempts)
        self._fill_refused(refused)
        self._refreshed()

    def on_load_failed(self, message: str) -> None:
        """The gallery could not be read: say so where the counts are."""
        self._loading = self._load_again = False
        self.counts_label.setText(message)
        self._refreshed()

    def _refreshed(self) -> None:
        callbacks, self._after_refresh = self._after_refresh, []
        for callback in callbacks:
            callback()
        self.refreshed.emit()

    def _matches(self, row: dict[str, Any]) -> bool:
        needle = self.search_edit.text().strip().casefold()
        return not needle or needle in f"{row['name']} {row['external_id'] or ''}".casefold()

    def _fill_tables(self) -> None:
        arrived = [r for r in self.rows if r["status"] == "arrived" and self._matches(r)]
        missing = [r for r in self.rows if r["status"] != "arrived" and self._matches(r)]
        self.arrived_table.setRowCount(len(arrived))
        for i, row in enumerate(arrived):
            values = [row["name"], row["external_id"] or "", short_time(row["at"]),
                      self.how_text(row["method"]), row["reason"] or ""]
            if self.server_link is not None:
                values.append(self.door_text(row))
            for j, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                item.setData(Qt.UserRole, row["person_id"])
                self.arrived_table.setItem(i, j, item)
        self.missing_table.setRowCount(len(missing))
        for i, row in enumerate(missing):
            for j, value in enumerate([row["name"], row["external_id"] or ""]):
                item = QTableWidgetItem(str(value))
                item.setData(Qt.UserRole, row)
                self.missing_table.setItem(i, j, item)
        for table in (self.arrived_table, self.missing_table):
            table.resizeColumnsToContents()
        total_arrived = sum(r["status"] == "arrived" for r in self.rows)
        self.tabs.setTabText(0, self.tr("Arrived ({count})").format(count=total_arrived))
        self.tabs.setTabText(1, self.tr("Not yet arrived ({count})").format(
            count=len(self.rows) - total_arrived))

    def how_text(self, method: str | None) -> str:
        """How a check-in was made (or an undo), in the user's language."""
        how = {"auto": self.tr("face"), "manual": self.tr("manual"), "undo": self.tr("undo")}
        return how.get(method or "", method or "")

    def door_text(self, row: dict[str, Any]) -> str:
        """Where an arrival was checked in: the door (its key's name on the service)."""
        if not self.all_doors:
            return self.tr("this door")
        return row.get("door") or self.tr("this door (not uploaded yet)")

    def _fill_spoofs(self, attempts: list[dict[str, Any]]) -> None:
        self.spoof_list.clear()
        for attempt in attempts:
            pixmap = QPixmap()
            if attempt.get("thumbnail_jpeg"):
                pixmap.loadFromData(attempt["thumbnail_jpeg"], "JPG")
            item = QListWidgetItem(QIcon(pixmap), f"{short_time(attempt['at'])}\n{attempt['reason']}")
            self.spoof_list.addItem(item)
        self.tabs.setTabText(2, self.tr("Refused spoof attempts ({count})").format(
            count=len(attempts)))

    def _fill_refused(self, refused: list[dict[str, Any]]) -> None:
        if self.refused_table is None:
            return
        self.refused_table.setRowCount(len(refused))
        for i, item in enumerate(refused):
            values = [short_time(item["at"]), item["name"] or self.tr("(deleted)"),
                      item["external_id"] or "",
                      self.how_text(item["method"]), item["rejection"] or ""]
            for j, value in enumerate(values):
                self.refused_table.setItem(i, j, QTableWidgetItem(str(value)))
        self.refused_table.resizeColumnsToContents()
        self.tabs.setTabText(3, self.tr("Refused by the service ({count})").format(
            count=len(refused)))

    # -- actions (called by the buttons; tests call them directly) ---------------------------

    def _act(self, change: Callable[[], Any], then: Callable[[Any], None] | None = None) -> bool:
        """Run a change of the gallery on a task thread, read the lists again, then call
        ``then`` with its result or the exception that refused it, and emit
        :attr:`action_finished`; False when the panel is closing."""
        def call() -> Any:
            try:
                return change()
            except Exception as exc:  # noqa: BLE001 - handed to the GUI thread, typed
                return exc

        def changed(result: Any) -> None:
            if self.server_link is not None and not isinstance(result, Exception):
                self.server_link.sync_now()  # a manual check-in or undo waits in the outbox
            self.refresh(then=lambda: finish(result))

        def finish(result: Any) -> None:
            if then is not None:
                then(result)
            self.action_finished.emit(result)

        return self.tasks.run(call, changed)

    def manual_check_in(self, person_id: int, reason: str,
                        then: Callable[[Any], None] | None = None) -> bool:
        """Check a person in by hand (audit-logged); the result is True, or False when they
        already were (or the exception)."""
        gallery, event_id, operator = self.gallery, self.event_id, self.operator
        return self._act(lambda: gallery.check_in(person_id, event_id, "manual",
                                                  operator=operator, reason=reason)[0], then)

    def undo_check_in(self, person_id: int, reason: str,
                      then: Callable[[Any], None] | None = None) -> bool:
        """Remove a check-in (audit-logged); the result says whether one was removed."""
        gallery, event_id, operator = self.gallery, self.event_id, self.operator
        return self._act(lambda: gallery.undo_check_in(person_id, event_id, operator, reason),
                         then)

    def export_file(self, path: str | Path, replace: bool = False,
                    then: Callable[[Any], None] | None = None) -> bool:
        """Write the attendance (arrived and missing; every door's, with the door, on a
        connected kiosk) as ``.csv`` or ``.xlsx``, read afresh; the result is the rows written,
        or :class:`kiosk.roster.ExportRefused` (the gallery, a settings file or a file that is not an
        export) or :class:`FileExistsError` (an earlier export, ``replace`` False)."""
        gallery, event_id, operator, link = self.gallery, self.event_id, self.operator, \
            self.server_link
        files = self.settings_files

        def export() -> int:
            checkins = link.attendance(event_id, gallery.store) if link is not None else None
            rows = attendance(gallery, event_id, checkins)
            return export_event_attendance(gallery, event_id, path, operator, files, replace,
                                           rows=rows)

        return self._act(export, then)

    def import_roster_file(self, path: str | Path,
                           then: Callable[[Any], None] | None = None) -> bool:
        """Replace the event's roster with a CSV or .xlsx file (admin only, audit-logged); the
        result is the number of people on it.

        Raises:
            PermissionError: the panel was opened with the staff PIN (nothing started).
        """
        require_role(self.role, Role.ADMIN)
        gallery, event_id, operator = self.gallery, self.event_id, self.operator
        return self._act(lambda: import_roster(gallery, event_id, read_roster_file(path),
                                               actor=operator), then)

    # -- slots -------------------------------------------------------------------------------

    @pyqtSlot()
    @pyqtSlot(object)
    def on_round_done(self, _status: object = None) -> None:
        """A sync round ended (or the refresh timer ticked): read the lists again."""
        self.refresh()

    @pyqtSlot(object)
    def on_check_in_recorded(self, _decision: object) -> None:
        """The kiosk made a decision: refresh the lists."""
        self.refresh()

    @pyqtSlot(str)
    def on_search_changed(self, _text: str) -> None:
        """Filter both lists."""
        self._fill_tables()

    def _selected_missing_row(self) -> dict[str, Any] | None:
        items = self.missing_table.selectedItems()
        if not items or self.tabs.currentIndex() != 1:
            return None
        return items[0].data(Qt.UserRole)

    @pyqtSlot()
    def on_checkin_clicked(self) -> None:
        """Manual check-in of the selected (or a chosen) person, with a reason: the people are
        read on a task thread, then the dialog opens."""
        gallery, row = self.gallery, self._selected_missing_row()

        def read() -> tuple[list[Any], int | None]:
            people = gallery.people()
            person = None
            if row is not None and row.get("external_id"):
                person = gallery.person_by_external_id(row["external_id"])
            if person is None and row is not None:
                person = next((p for p in people if p.name == row["name"]), None)
            return people, (person.id if person else None)

        self.tasks.run(read, lambda found: self.ask_manual_check_in(*found),
                       lambda message: QMessageBox.warning(self, self.tr("Manual check-in"),
                                                           message))

    def ask_manual_check_in(self, people: list[Any], person_id: int | None) -> None:
        """Ask who and why, then check them in."""
        dialog = ManualCheckInDialog(people, person_id, self)
        if not dialog.exec_():
            return
        person_id, reason = dialog.person_id(), dialog.reason_edit.text().strip()
        if person_id is None or not reason:
            QMessageBox.warning(self, self.tr("Manual check-in"),
                                self.tr("Choose a person and give a reason."))
            return

        def said(result: Any) -> None:
            if isinstance(result, Exception):
                QMessageBox.warning(self, self.tr("Manual check-in"), str(result))
            elif not result:
                QMessageBox.information(self, self.tr("Manual check-in"),
                                        self.tr("This person was already checked in."))

        self.manual_check_in(person_id, reason, said)

    @pyqtSlot()
    def on_undo_clicked(self) -> None:
        """Undo the selected arrival, with a reason."""
        items = self.arrived_table.selectedItems()
        if not items or self.tabs.currentIndex() != 0:
            QMessageBox.information(self, self.tr("Undo check-in"),
                                    self.tr("Select a person in the Arrived list first."))
            return
        person_id = items[0].data(Qt.UserRole)
        reason, ok = QInputDialog.getText(self, self.tr("Undo check-in"), self.tr("Reason:"))
        if ok and reason.strip():
            self.undo_check_in(int(person_id), reason.strip(), self.on_undone)

    def on_undone(self, result: Any) -> None:
        """Say why an undo was refused."""
        if isinstance(result, Exception):
            QMessageBox.warning(self, self.tr("Undo check-in"), str(result))

    @pyqtSlot()
    def on_roster_clicked(self) -> None:
        """Import the roster from a CSV or Excel file (asks for the admin password first when
        the panel was opened with the staff PIN)."""
        if self.role is not Role.ADMIN:
            import ui.admin_login

            if not ui.admin_login.ask_admin_password(self, self.gallery):
                return
            self.role = Role.ADMIN
        path, _ = QFileDialog.getOpenFileName(self, self.tr("Import roster"), "",
                                              self.tr("Rosters (*.xlsx *.csv)"))
        if not path:
            return
        def said(result: Any) -> None:
            if isinstance(result, Exception):
                QMessageBox.warning(self, self.tr("Import roster"), str(result))
            else:
                QMessageBox.information(self, self.tr("Import roster"), self.tr(
                    "{count} people on the roster.").format(count=result))

        self.import_roster_file(path, said)

    @pyqtSlot()
    def on_export_clicked(self) -> None:
        """Export the attendance list as Excel or CSV (Chinese names intact); asks before
        replacing an earlier export and refuses any other existing file."""
        path, chosen = QFileDialog.getSaveFileName(
            self, self.tr("Export attendance"), "attendance.xlsx",
            self.tr("Excel workbook (*.xlsx);;CSV for Excel (*.csv)"), "",
            QFileDialog.DontConfirmOverwrite)
        if not path:
            return
        if Path(path).suffix.lower() not in (".csv", ".xlsx"):
            path += ".csv" if "csv" in chosen else ".xlsx"
        self.export_file(path, then=lambda result: self.on_exported(path, result))

    def on_exported(self, path: str, result: Any) -> None:
        """Say how the export went; ask before replacing an earlier export."""
        if isinstance(result, FileExistsError):
            answer = QMessageBox.question(
                self, self.tr("Export attendance"),
                self.tr("{name} exists (an earlier export). Replace it?").format(
                    name=Path(path).name))
            if answer == QMessageBox.Yes:
                self.export_file(path, replace=True,
                                 then=lambda again: self.on_exported(path, again))
            return
        if isinstance(result, Exception):
            QMessageBox.warning(self, self.tr("Export attendance"), str(result))
            return
        QMessageBox.information(self, self.tr("Export attendance"),
                                self.tr("{count} rows written.").format(count=result))
