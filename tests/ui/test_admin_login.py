"""The password check reads the secrets and verifies the password on a task thread (the kiosk
keeps drawing), and still answers as before: right password in, wrong one refused."""

from __future__ import annotations

import threading

from PyQt5.QtWidgets import QDialog, QMessageBox

import ui.admin_login
from kiosk.auth import AttemptThrottle, Role, set_admin_password


def test_the_password_is_checked_off_the_gui_thread(qtbot, gallery, monkeypatch):
    from ui.admin_login import PasswordDialog, ask_admin_password

    set_admin_password(gallery, "correct horse", actor="test")
    monkeypatch.setattr(ui.admin_login, "THROTTLES",
                        {Role.ADMIN: AttemptThrottle(), Role.STAFF: AttemptThrottle()})
    typed = ["correct horse", "wrong", None]

    def exec_(dialog: PasswordDialog) -> int:
        password = typed.pop(0)
        if password is None:
            return QDialog.Rejected
        dialog.password_edit.setText(password)
        return QDialog.Accepted

    said = []
    monkeypatch.setattr(PasswordDialog, "exec_", exec_)
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: said.append(text))
    threads: list[int] = []
    gallery.store._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))
    assert ask_admin_password(None, gallery) is True
    assert ask_admin_password(None, gallery) is False  # wrong, then cancelled
    gallery.store._conn.set_trace_callback(None)
    assert said == ["Wrong password."]
    assert threads and threading.get_ident() not in threads
