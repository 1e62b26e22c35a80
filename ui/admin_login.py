"""The admin password and the staff PIN, asked before the admin and staff screens.

Both are set by the operator on the command line (``admin set-password``, ``staff set-pin``)
before the kiosk faces the public; the kiosk never offers to set the admin password to whoever
touches it first. kiosk.auth stores them hashed; a growing wait follows wrong attempts.
Reading the secrets and checking a password run on a task thread
(:func:`ui.tasks.call_and_wait`): the kiosk's picture keeps moving meanwhile.
"""

from __future__ import annotations

from PyQt5.QtCore import QCoreApplication
from PyQt5.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QMessageBox, QWidget,
)

from kiosk.auth import AttemptThrottle, Role, authenticate, has_admin_password, has_staff_pin
from kiosk.gallery import Gallery
from ui.tasks import call_and_wait

# One throttle per process for each role: the wait grows across dialogs, not per dialog.
THROTTLES = {Role.ADMIN: AttemptThrottle(), Role.STAFF: AttemptThrottle()}


def _tr(text: str) -> str:
    return QCoreApplication.translate("PasswordDialog", text)


class PasswordDialog(QDialog):
    """Asks for the admin password, or for the staff PIN (the admin password also opens it).

    Attributes:
        needed: the role asked for.
    """

    def __init__(self, needed: Role = Role.ADMIN, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.needed = needed
        self.setWindowTitle(self.tr("Admin") if needed is Role.ADMIN else self.tr("Staff"))
        layout = QFormLayout(self)
        self.message = QLabel(
            self.tr("Enter the admin password.") if needed is Role.ADMIN
            else self.tr("Enter the staff PIN (or the admin password)."), self)
        self.message.setWordWrap(True)
        layout.addRow(self.message)
        self.password_edit = QLineEdit(self)
        self.password_edit.setEchoMode(QLineEdit.Password)
        layout.addRow(self.tr("Password:"), self.password_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)


def not_set_message(needed: Role) -> str:
    """What the kiosk says when the secret for ``needed`` has not been set on the command line."""
    if needed is Role.ADMIN:
        return _tr("No admin password is set, so the admin screens stay closed. On this PC, "
                   "run:  ./run.sh admin set-password")
    return _tr("No staff PIN is set, so the staff panel stays closed. On this PC, run:  "
               "./run.sh staff set-pin  (or ./run.sh admin set-password)")


def ask_access(parent: QWidget | None, gallery: Gallery, needed: Role) -> Role | None:
    """Ask for the secret that opens ``needed``; the role granted, or None.

    Nothing is asked (and None returned, with a message) when no secret that could open it is
    set. After wrong attempts the dialog refuses input for a growing number of seconds.
    """
    admin_set, staff_set = call_and_wait(
        lambda: (has_admin_password(gallery), has_staff_pin(gallery)))
    if not admin_set and (needed is Role.ADMIN or not staff_set):
        QMessageBox.information(parent, _tr("Admin") if needed is Role.ADMIN else _tr("Staff"),
                                not_set_message(needed))
        return None
    throttle = THROTTLES[needed]
    while True:
        wait_s = throttle.wait_s()
        if wait_s > 0:
            QMessageBox.warning(parent, _tr("Admin"), _tr(
                "Too many wrong attempts. Try again in {seconds} s.").format(
                    seconds=int(wait_s + 0.999)))
            return None
        dialog = PasswordDialog(needed, parent)
        if not dialog.exec_():
            return None
        password = dialog.password_edit.text()
        role = call_and_wait(lambda: authenticate(gallery, password, needed))
        if role is not None:
            throttle.succeeded()
            return role
        throttle.failed()
        QMessageBox.warning(parent, _tr("Admin"), _tr("Wrong password."))


def ask_admin_password(parent: QWidget | None, gallery: Gallery) -> bool:
    """Ask for the admin password; True when the user may go on."""
    return ask_access(parent, gallery, Role.ADMIN) is Role.ADMIN


def ask_staff_access(parent: QWidget | None, gallery: Gallery) -> Role | None:
    """Ask for the staff PIN or the admin password; the role granted, or None."""
    return ask_access(parent, gallery, Role.STAFF)
