"""The admin password: set on first use, asked before any admin screen (kiosk.auth stores it hashed)."""

from __future__ import annotations

from PyQt5.QtCore import QCoreApplication
from PyQt5.QtWidgets import (
    QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QMessageBox, QWidget,
)

from kiosk.auth import has_admin_password, set_admin_password, verify_admin_password
from kiosk.gallery import Gallery, GalleryError


class PasswordDialog(QDialog):
    """Asks for the admin password, or for a new one twice on first use.

    Attributes:
        first_use: no password is set yet.
    """

    def __init__(self, first_use: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.first_use = first_use
        self.setWindowTitle(self.tr("Admin"))
        layout = QFormLayout(self)
        self.message = QLabel(
            self.tr("No admin password is set yet. Choose one (at least 6 characters).")
            if first_use else self.tr("Enter the admin password."), self)
        self.message.setWordWrap(True)
        layout.addRow(self.message)
        self.password_edit = QLineEdit(self)
        self.password_edit.setEchoMode(QLineEdit.Password)
        layout.addRow(self.tr("Password:"), self.password_edit)
        self.repeat_edit = QLineEdit(self)
        self.repeat_edit.setEchoMode(QLineEdit.Password)
        if first_use:
            layout.addRow(self.tr("Repeat:"), self.repeat_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)


def ask_admin_password(parent: QWidget | None, gallery: Gallery) -> bool:
    """Ask for (or, on first use, set) the admin password; True when the user may go on."""
    first_use = not has_admin_password(gallery)
    while True:
        dialog = PasswordDialog(first_use, parent)
        if not dialog.exec_():
            return False
        password = dialog.password_edit.text()
        if first_use:
            if password != dialog.repeat_edit.text():
                QMessageBox.warning(parent, QCoreApplication.translate("PasswordDialog", "Admin"), QCoreApplication.translate("PasswordDialog", "The passwords differ."))
                continue
            try:
                set_admin_password(gallery, password, actor="admin")
            except (ValueError, GalleryError) as exc:
                QMessageBox.warning(parent, QCoreApplication.translate("PasswordDialog", "Admin"), str(exc))
                continue
            return True
        if verify_admin_password(gallery, password):
            return True
        QMessageBox.warning(parent, QCoreApplication.translate("PasswordDialog", "Admin"), QCoreApplication.translate("PasswordDialog", "Wrong password."))
