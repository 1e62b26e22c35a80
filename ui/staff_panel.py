"""The staff panel: who has arrived and who has not, manual check-in and undo, export (CSV or
Excel), roster import (admin) and the refused spoof attempts of the current event."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt, QTimer, pyqtSlot
from PyQt5.QtGui import QFont, QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QHeaderView, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QListWidget,
    QListWidgetItem, QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QTabWidget,
    QVBoxLayout, QWidget, QComboBox, QDialog, QDialogButtonBox, QFormLayout,
)

from kiosk.auth import Role, require_role
from kiosk.gallery import Gallery, GalleryError
from kiosk.store.checkins import MAX_REASON_CHARS
from kiosk.roster import (
    ExportRefused, RosterError, attendance, attendance_counts, export_event_attendance,
    import_roster, read_roster_file,
)
from ui.text import short_time

REFRESH_MS = 5000


def staff_operator() -> str:
    """Who is at the staff panel, for the audit log (the OS user)."""
    try:
        return f"staff:{getpass.getuser()}"
    except Exception:  # noqa: BLE001
        return "staff"


class ManualCheckInDialog(QDialog):
    """Choose a person (enrolled people) and give a reason."""

    def __init__(self, gallery: Gallery, person_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Manual check-in"))
        layout = QFormLayout(self)
        self.person_combo = QComboBox(self)
        self.person_combo.setEditable(True)
        self.person_combo.setInsertPolicy(QComboBox.NoInsert)
        for person in gallery.people():
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
            the service: the lists then show every door's check-ins, with the door.

    Attributes:
        rows: the attendance rows shown (from :func:`kiosk.roster.attendance`).
        operator: the name written to the audit log.
        all_doors: the rows shown are every door's (False: this kiosk's own).
    """

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
        self.resize(900, 640)
        self._build()
        self.refresh()
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_MS)
        self.refresh_timer.timeout.connect(self.refresh)
        self.refresh_timer.start()
        if server_link is not None:  # every door's list arrives with each sync round
            server_link.round_done.connect(self.refresh)
            server_link.watch_event(event_id)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self.server_link is not None:
            self.server_link.round_done.disconnect(self.refresh)
            self.server_link.watch_event(None)
        super().closeEvent(event)

    def _build(self) -> None:
        event = self.gallery.event(self.event_id) if self.event_id is not None else None
        self.setWindowTitle(self.tr("Staff - {event}").format(
            event=event["name"] if event else self.tr("no event")))
        layout = QVBoxLayout(self)
        self.title_label = QLabel(event["name"] if event else self.tr("No event is open"), self)
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

    @pyqtSlot()
    def refresh(self) -> None:
        """Reload the attendance and spoof attempts from the gallery."""
        if self.event_id is None:
            self.counts_label.setText(self.tr("Choose an event in Admin > Events."))
            return
        try:
            checkins = None
            if self.server_link is not None:
                checkins = self.server_link.attendance(self.event_id, self.gallery.store)
            self.all_doors = checkins is not None
            self.rows = attendance(self.gallery, self.event_id, checkins)
        except GalleryError as exc:
            self.counts_label.setText(str(exc))
            return
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
        self._fill_spoofs()

    def _matches(self, row: dict[str, Any]) -> bool:
        needle = self.search_edit.text().strip().casefold()
        return not needle or needle in f"{row['name']} {row['external_id'] or ''}".casefold()

    def _fill_tables(self) -> None:
        arrived = [r for r in self.rows if r["status"] == "arrived" and self._matches(r)]
        missing = [r for r in self.rows if r["status"] != "arrived" and self._matches(r)]
        how = {"auto": self.tr("face"), "manual": self.tr("manual")}
        self.arrived_table.setRowCount(len(arrived))
        for i, row in enumerate(arrived):
            values = [row["name"], row["external_id"] or "", short_time(row["at"]),
                      how.get(row["method"], row["method"] or ""), row["reason"] or ""]
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

    def door_text(self, row: dict[str, Any]) -> str:
        """Where an arrival was checked in: the door (its key's name on the service)."""
        if not self.all_doors:
            return self.tr("this door")
        return row.get("door") or self.tr("this door (not uploaded yet)")

    def _fill_spoofs(self) -> None:
        spoofs = getattr(self.gallery, "spoof_attempts", None)
        attempts = spoofs(self.event_id) if spoofs is not None else []
        self.spoof_list.clear()
        for attempt in attempts:
            pixmap = QPixmap()
            if attempt.get("thumbnail_jpeg"):
                pixmap.loadFromData(attempt["thumbnail_jpeg"], "JPG")
            item = QListWidgetItem(QIcon(pixmap), f"{short_time(attempt['at'])}\n{attempt['reason']}")
            self.spoof_list.addItem(item)
        self.tabs.setTabText(2, self.tr("Refused spoof attempts ({count})").format(
            count=len(attempts)))

    # -- actions (called by the buttons; tests call them directly) ---------------------------

    def manual_check_in(self, person_id: int, reason: str) -> bool:
        """Check a person in by hand (audit-logged); False when they already were."""
        new, _at = self.gallery.check_in(person_id, self.event_id, "manual",
                                         operator=self.operator, reason=reason)
        if self.server_link is not None:
            self.server_link.sync_now()
        self.refresh()
        return new

    def undo_check_in(self, person_id: int, reason: str) -> bool:
        """Remove a check-in (audit-logged)."""
        removed = self.gallery.undo_check_in(person_id, self.event_id, self.operator, reason)
        if self.server_link is not None:
            self.server_link.sync_now()  # the undo waits in the outbox until it is uploaded
        self.refresh()
        return removed

    def export_file(self, path: str | Path, replace: bool = False) -> int:
        """Write the attendance shown (arrived and missing; every door's, with the door, on a
        connected kiosk) as ``.csv`` or ``.xlsx``; returns the rows.

        Raises:
            ExportRefused: the gallery, a settings file or a file that is not an export.
            FileExistsError: an earlier export is there and ``replace`` is False.
        """
        self.refresh()
        return export_event_attendance(self.gallery, self.event_id, path, self.operator,
                                       self.settings_files, replace, rows=self.rows)

    def import_roster_file(self, path: str | Path) -> int:
        """Replace the event's roster with a CSV or .xlsx file (admin only, audit-logged).

        Raises:
            PermissionError: the panel was opened with the staff PIN.
        """
        require_role(self.role, Role.ADMIN)
        count = import_roster(self.gallery, self.event_id, read_roster_file(path), actor=self.operator)
        self.refresh()
        return count

    # -- slots -------------------------------------------------------------------------------

    @pyqtSlot(object)
    def on_check_in_recorded(self, _decision: object) -> None:
        """The kiosk made a decision: refresh the lists."""
        self.refresh()

    @pyqtSlot(str)
    def on_search_changed(self, _text: str) -> None:
        """Filter both lists."""
        self._fill_tables()

    def _selected_missing_person(self) -> int | None:
        items = self.missing_table.selectedItems()
        if not items or self.tabs.currentIndex() != 1:
            return None
        row = items[0].data(Qt.UserRole)
        person = None
        if row.get("external_id"):
            person = self.gallery.person_by_external_id(row["external_id"])
        if person is None:
            person = next((p for p in self.gallery.people(row["name"]) if p.name == row["name"]), None)
        return person.id if person else None

    @pyqtSlot()
    def on_checkin_clicked(self) -> None:
        """Manual check-in of the selected (or a chosen) person, with a reason."""
        dialog = ManualCheckInDialog(self.gallery, self._selected_missing_person(), self)
        if not dialog.exec_():
            return
        person_id, reason = dialog.person_id(), dialog.reason_edit.text().strip()
        if person_id is None or not reason:
            QMessageBox.warning(self, self.tr("Manual check-in"),
                                self.tr("Choose a person and give a reason."))
            return
        try:
            if not self.manual_check_in(person_id, reason):
                QMessageBox.information(self, self.tr("Manual check-in"),
                                        self.tr("This person was already checked in."))
        except (ValueError, GalleryError) as exc:
            QMessageBox.warning(self, self.tr("Manual check-in"), str(exc))

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
            try:
                self.undo_check_in(int(person_id), reason.strip())
            except (ValueError, GalleryError) as exc:  # a reason the service would refuse
                QMessageBox.warning(self, self.tr("Undo check-in"), str(exc))

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
        try:
            count = self.import_roster_file(path)
        except (RosterError, ValueError, OSError, GalleryError, PermissionError) as exc:
            QMessageBox.warning(self, self.tr("Import roster"), str(exc))
            return
        QMessageBox.information(self, self.tr("Import roster"),
                                self.tr("{count} people on the roster.").format(count=count))

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
        try:
            try:
                count = self.export_file(path)
            except FileExistsError:
                answer = QMessageBox.question(
                    self, self.tr("Export attendance"),
                    self.tr("{name} exists (an earlier export). Replace it?").format(
                        name=Path(path).name))
                if answer != QMessageBox.Yes:
                    return
                count = self.export_file(path, replace=True)
        except (ExportRefused, OSError, GalleryError) as exc:
            QMessageBox.warning(self, self.tr("Export attendance"), str(exc))
            return
        QMessageBox.information(self, self.tr("Export attendance"),
                                self.tr("{count} rows written.").format(count=count))
