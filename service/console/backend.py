"""The service's own modules that the console uses, imported here only.

These lines name where the central service lives; they are the ones to change when it moves
(the console's tests and scripts import the service through this module too).
"""

from __future__ import annotations

# --- imports of the central service (change these when the service moves) ----------------
from service.app import create_app
from service.routes.people import enroll_person
from service.store.keys import ApiKey, create_key, hash_key
from service.store.postgres import PostgresStore
from service.store.receipts import (
    DoorCheckIn, DoorUndo, event_checkins, store_checkin, undo_checkin,
)
# -------------------------------------------------------------------------------------------

__all__ = ["ApiKey", "DoorCheckIn", "DoorUndo", "PostgresStore", "create_app", "create_key",
           "enroll_person", "event_checkins", "hash_key", "store_checkin", "undo_checkin"]

