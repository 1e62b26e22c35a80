"""The service's own modules that the console uses, imported here only.

These lines name where the central service lives; they are the ones to change when it moves
(the console's tests and scripts import the service through this module too).
"""

from __future__ import annotations

# --- imports of the central service (change these when the service moves) ----------------
from service.app import create_app
from service.commands import open_store
from service.routes.people import enroll_person
from service.store.console import (
    account_rows, checkin_notifications, disable_account_row, door_rows, end_session,
    ensure_console_schema, insert_account, record_refused_sign_in, renew_session,
    save_door_contact, session_row, sign_in_row, start_session,
)
from service.store.console_pages import (
    change_event_window, people_ids_by_external_id, people_named, people_to_check_in,
    people_with_crops, person_name, spoof_rows, spoof_thumbnail_jpeg, thumbnail_jpeg,
    uploads_per_door,
)
from service.store.keys import ApiKey, create_key, hash_key
from service.store.postgres import PostgresStore
from service.store.receipts import (
    DoorCheckIn, DoorUndo, event_checkins, store_checkin, undo_checkin,
)
# -------------------------------------------------------------------------------------------

__all__ = [
    "ApiKey", "DoorCheckIn", "DoorUndo", "PostgresStore", "open_store", "account_rows",
    "change_event_window", "checkin_notifications", "create_app", "create_key",
    "disable_account_row", "door_rows", "end_session", "enroll_person", "ensure_console_schema",
    "event_checkins", "hash_key", "insert_account", "people_ids_by_external_id", "people_named",
    "people_to_check_in", "people_with_crops", "person_name", "record_refused_sign_in",
    "renew_session", "save_door_contact", "session_row", "sign_in_row", "spoof_rows",
    "spoof_thumbnail_jpeg", "start_session", "store_checkin", "thumbnail_jpeg", "undo_checkin",
    "uploads_per_door",
]

