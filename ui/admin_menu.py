"""The kiosk window's staff button and admin menu, and the launchers of the dialogs they open
(staff panel, enrolment, people, folder enrolment, events, settings), each behind the staff or
admin unlock of :class:`ui.access.AccessSessions`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt5.QtCore import QObject, Qt, pyqtSlot
from PyQt5.QtWidgets import QAction, QMenu, QMessageBox, QToolButton

from ui.access import AccessSessions

if TYPE_CHECKING:
    from ui.main_window import KioskWindow

BUTTON_STYLE = ("QToolButton { color: white; background: #37474f; padding: 6px 14px;"
                " border-radius: 4px; font-size: 14pt; }")


class AdminMenu(QObject):
    """The Staff button and the Admin menu of a kiosk window.

    The dialogs read what they need from the window (settings, gallery, camera reader, event,
    service link, encoder factory) when they open, and report back through its slots
    (``on_gallery_changed``, ``set_event``, ``apply_settings``).

    Args:
        window: the kiosk window (the dialogs' parent).

    Attributes:
        staff_button, admin_button: the two buttons of the top bar.
        sessions: the staff and admin unlocks.
    """

    def __init__(self, window: KioskWindow) -> None:
        super().__init__(window)
        self.window = window
        self.sessions = AccessSessions(window, window.gallery)
        self.staff_button = QToolButton(window)
        self.admin_button = QToolButton(window)
        self.admin_button.setPopupMode(QToolButton.InstantPopup)
        for button in (self.staff_button, self.admin_button):
            button.setStyleSheet(BUTTON_STYLE)
        self.menu = QMenu(window)
        self.enroll_action = QAction(window)
        self.people_action = QAction(window)
        self.folder_action = QAction(window)
        self.events_action = QAction(window)
        self.settings_action = QAction(window)
        for action, slot in ((self.enroll_action, self.on_enroll_triggered),
                             (self.people_action, self.on_people_triggered),
                             (self.folder_action, self.on_folder_triggered),
                             (self.events_action, self.on_events_triggered),
                             (self.settings_action, self.on_settings_triggered)):
            self.menu.addAction(action)
            action.triggered.connect(slot)
        self.admin_button.setMenu(self.menu)
        self.staff_button.clicked.connect(self.on_staff_clicked)

    def retranslate(self) -> None:
        """Set every text again (after a language change)."""
        self.staff_button.setText(self.tr("Staff"))
        self.admin_button.setText(self.tr("Admin"))
        self.enroll_action.setText(self.tr("Enrol a person..."))
        self.people_action.setText(self.tr("People..."))
        self.folder_action.setText(self.tr("Enrol a folder of photos..."))
        self.events_action.setText(self.tr("Events..."))
        self.settings_action.setText(self.tr("Settings..."))

    # -- guards ------------------------------------------------------------------------------

    def models_not_ready(self) -> bool:
        """Tell the user when enrolment must wait for the models; True when it must."""
        if self.window.encoder_factory is not None:
            return False
        QMessageBox.information(self.window, self.tr("Face check-in"), self.tr(
            "The face models are still loading. Try again in a few seconds."))
        return True

    def managed_by_service(self) -> bool:
        """On a kiosk connected to the service, say that people are managed there; True then.

        This file is a replica of the service's gallery: a person changed only here would
        differ from the other doors (and be overwritten by the next sync)."""
        if self.window.server_link is None:
            return False
        QMessageBox.information(self.window, self.tr("Face check-in"), self.tr(
            "This kiosk is connected to the service: enrol people one by one with "
            "\"Enrol a person...\" (they reach every door), or with enroll / enroll-folder "
            "--server on the command line; people are deleted through the service's API."))
        return True

    # -- launchers ---------------------------------------------------------------------------

    @pyqtSlot()
    def on_staff_clicked(self) -> None:
        """Open the staff panel for the current event."""
        from ui.staff_panel import StaffPanelWidget

        role = self.sessions.require_staff()
        if role is None:
            return
        window = self.window
        panel = StaffPanelWidget(window.gallery, window.event_id, parent=window, role=role,
                                 settings_files=(window.settings_path,),
                                 server_link=window.server_link)
        window.check_in_recorded.connect(panel.on_check_in_recorded)
        panel.setAttribute(Qt.WA_DeleteOnClose)
        panel.show()

    @pyqtSlot()
    def on_enroll_triggered(self) -> None:
        """Admin: enrol one person."""
        if self.models_not_ready() or not self.sessions.require_admin():
            return
        from ui.enroll_dialog import EnrollDialog

        window = self.window
        dialog = EnrollDialog(window.settings, window.gallery, window.encoder_factory,
                              window.reader, parent=window, event_id=window.event_id,
                              server_link=window.server_link)
        dialog.person_enrolled.connect(window.on_gallery_changed)
        dialog.exec_()

    @pyqtSlot()
    def on_people_triggered(self) -> None:
        """Admin: the people manager."""
        if self.managed_by_service() or self.models_not_ready() or \
                not self.sessions.require_admin():
            return
        from ui.people_dialog import PeopleDialog

        window = self.window
        dialog = PeopleDialog(window.settings, window.gallery, window.encoder_factory,
                              window.reader, parent=window)
        dialog.gallery_changed.connect(window.on_gallery_changed)
        dialog.exec_()

    @pyqtSlot()
    def on_folder_triggered(self) -> None:
        """Admin: bulk enrolment from a folder."""
        if self.managed_by_service() or self.models_not_ready() or \
                not self.sessions.require_admin():
            return
        from ui.folder_enroll_dialog import FolderEnrollDialog

        window = self.window
        dialog = FolderEnrollDialog(window.settings, window.gallery, window.encoder_factory,
                                    parent=window)
        dialog.gallery_changed.connect(window.on_gallery_changed)
        dialog.exec_()

    @pyqtSlot()
    def on_events_triggered(self) -> None:
        """Admin: create events and choose the current one."""
        if not self.sessions.require_admin():
            return
        from ui.settings_dialog import EventsDialog

        window = self.window
        dialog = EventsDialog(window.gallery, window.event_id, parent=window,
                              server_link=window.server_link)
        if dialog.exec_():
            window.set_event(dialog.chosen_event_id())

    @pyqtSlot()
    def on_settings_triggered(self) -> None:
        """Admin: thresholds, camera source, language."""
        if not self.sessions.require_admin():
            return
        from ui.settings_dialog import SettingsDialog

        window = self.window
        dialog = SettingsDialog(window.settings, window.gallery, path=window.settings_path,
                                parent=window)
        if dialog.exec_() and dialog.saved_settings is not None:
            window.apply_settings(dialog.saved_settings)
