"""The staff and admin unlocks of the kiosk window: who may open the staff panel and the admin
screens, and for how long an unlock lasts after the last action."""

from __future__ import annotations

import time

from PyQt5.QtWidgets import QWidget

import ui.admin_login
from kiosk.auth import Role
from kiosk.gallery import Gallery

ADMIN_SESSION_S = 300.0  # an unlock ends this long after the last staff or admin action


class AccessSessions:
    """Asks for the staff PIN or the admin password, and remembers an unlock for
    ``ADMIN_SESSION_S`` after the last action, so a kiosk left after enrolment does not stay
    open to the next person at the door.

    Args:
        parent: the widget the password dialogs belong to.
        gallery: where the secrets are stored (hashed).

    Attributes:
        admin_until_s: monotonic time the admin unlock ends.
        staff_until_s: monotonic time the staff unlock ends.
    """

    def __init__(self, parent: QWidget, gallery: Gallery) -> None:
        self.parent = parent
        self.gallery = gallery
        self.admin_until_s = -1.0
        self.staff_until_s = -1.0

    def require_staff(self) -> str | None:
        """Ask for the staff PIN or the admin password; the role granted ("staff" / "admin").

        An admin unlock still running counts; a staff unlock lasts like an admin one.
        """
        now = time.monotonic()
        if now < self.admin_until_s:
            self.admin_until_s = now + ADMIN_SESSION_S
            return Role.ADMIN.value
        if now < self.staff_until_s:
            self.staff_until_s = now + ADMIN_SESSION_S
            return Role.STAFF.value
        role = ui.admin_login.ask_staff_access(self.parent, self.gallery)
        if role is None:
            return None
        if role is Role.ADMIN:
            self.admin_until_s = time.monotonic() + ADMIN_SESSION_S
        else:
            self.staff_until_s = time.monotonic() + ADMIN_SESSION_S
        return role.value

    def require_admin(self) -> bool:
        """Ask for the admin password; True when granted (never offers to set one: that is
        ``admin set-password`` on the command line)."""
        if time.monotonic() >= self.admin_until_s:
            if not ui.admin_login.ask_admin_password(self.parent, self.gallery):
                return False
        self.admin_until_s = time.monotonic() + ADMIN_SESSION_S
        return True

    def end(self) -> None:
        """Lock again now (both roles)."""
        self.admin_until_s = self.staff_until_s = -1.0
