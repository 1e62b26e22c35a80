"""The service's own modules that the console uses, imported here only.

These lines name where the central service lives; they are the ones to change when it moves
(the console's tests and scripts import the service through this module too).
"""

from __future__ import annotations

# --- imports of the central service (change these when the service moves) ----------------
from kiosk.server.app import CheckInItem, UndoItem, create_app
from kiosk.server.app import _store_checkin as store_checkin
from kiosk.server.app import _undo_checkin as undo_checkin
from kiosk.server.keys import ApiKey, create_key, hash_key
from kiosk.store.postgres import PostgresStore
# -------------------------------------------------------------------------------------------

__all__ = ["ApiKey", "CheckInItem", "PostgresStore", "UndoItem", "create_app", "create_key",
           "enroll_endpoint", "hash_key", "store_checkin", "undo_checkin"]


def enroll_endpoint(app):  # noqa: ANN001, ANN201 - the service's FastAPI app and its handler
    """The service's own enrolment handler (``POST /api/v1/people``), which the console's
    enrolment form calls so that photos pass the same quality and look-alike checks."""
    for route in app.routes:
        if getattr(route, "path", "") == "/api/v1/people" and "POST" in getattr(route, "methods", ()):
            return route.endpoint
    raise RuntimeError("the service has no POST /api/v1/people")
