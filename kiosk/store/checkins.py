"""Check-ins (one per person and event) and refused spoof attempts.

"Once per event" is a constraint of the table (``UNIQUE (event_id, person_id)``), so two kiosks
checking the same person in at the same moment store one check-in. *Whether* a recognised
attendee is checked in (liveness, the match policy, the event's window) is decided in
:mod:`kiosk.decision`.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from typing import Any

from kiosk.store.base import Store, now_iso, parse_time, require_person

MAX_OPERATOR_CHARS = 200  # the service refuses longer ones: checked here before anything is queued
MAX_REASON_CHARS = 1000
MAX_TIME_CHARS = 64
_CONTROL = {"Cc", "Zl", "Zp"}  # control characters, line and paragraph separators


def clean_note(text: str | None, what: str, max_chars: int) -> str | None:
    """An operator name or a reason as it is stored and sent to the service: stripped, at
    most ``max_chars`` characters, on one line without control characters (a NUL cannot be
    stored by PostgreSQL, an escape would reach every terminal that lists it); None when
    empty. The service applies the same rule to what doors send.

    Raises:
        ValueError: too long, or holding a control character (saying which and where).
    """
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > max_chars:
        raise ValueError(f"{what} is longer than {max_chars} characters ({len(text)})")
    for position, char in enumerate(text, 1):
        if unicodedata.category(char) in _CONTROL or 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(f"{what} holds a control character ({ascii(char)}) at character "
                             f"{position}; write it on one line")
    return text


CHECKIN_COLUMNS = ("person_id", "name", "external_id", "event_id", "at", "method", "distance",
                   "liveness", "operator", "reason")
SPOOF_COLUMNS = ("id", "event_id", "at", "reason", "thumbnail_jpeg")


class CheckIns:
    """The check-in and spoof-attempt tables of a store.

    Args:
        store: the database.
        store_face_crops: keep the thumbnails of refused spoof attempts.
    """

    def __init__(self, store: Store, store_face_crops: bool = True) -> None:
        self.store = store
        self.store_face_crops = store_face_crops
        # A kiosk connected to the central service (kiosk.sync) also queues each new
        # check-in in its outbox, in the same transaction.
        self.outbox = False

    def check_in(
        self, person_id: int, event_id: int, method: str = "auto", distance: float | None = None,
        liveness: float | None = None, operator: str | None = None, reason: str | None = None,
    ) -> tuple[bool, str]:
        """Check a person in to an event once; returns (new, time of the check-in).

        A second call for the same person and event changes nothing and returns the first time.
        Manual check-ins are audit-logged with the operator and reason. The check-in is
        committed (durable) when this returns.

        Raises:
            ValueError: no such person, or an operator or reason the service would refuse
                (:func:`clean_note`); nothing is stored.
            StoreError: it could not be stored.
        """
        operator = clean_note(operator, "the operator", MAX_OPERATOR_CHARS)
        reason = clean_note(reason, "the reason", MAX_REASON_CHARS)
        with self.store.transaction() as tx:
            row = tx.execute(
                "SELECT at FROM checkins WHERE event_id = ? AND person_id = ?",
                (event_id, person_id),
            ).fetchone()
            if row is not None:
                return False, str(row[0])
            require_person(tx, person_id)
            at = now_iso()
            # ON CONFLICT: on a server database another door may store the same check-in
            # between the SELECT above and this INSERT; the constraint decides, nothing fails.
            inserted = tx.execute(
                "INSERT INTO checkins (event_id, person_id, at, method, distance, liveness, "
                "operator, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (event_id, person_id) DO NOTHING RETURNING id",
                (event_id, person_id, at, method, distance, liveness, operator, reason),
            ).fetchone()
            if inserted is None:
                row = tx.execute(
                    "SELECT at FROM checkins WHERE event_id = ? AND person_id = ?",
                    (event_id, person_id),
                ).fetchone()
                return False, str(row[0])
            if self.outbox:
                tx.execute(
                    "INSERT INTO outbox (uuid, event_id, person_id, at, method, distance, "
                    "liveness, operator, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (str(uuid.uuid4()), event_id, person_id, at, method, distance, liveness,
                     operator, reason),
                )
            if method == "manual":
                tx.audit(operator or "staff", "manual check-in", event_id=event_id,
                         person_id=person_id, reason=reason)
        return True, at

    def undo_check_in(
        self, person_id: int, event_id: int, operator: str, reason: str = ""
    ) -> bool:
        """Remove a check-in (audit-logged); False when there was none.

        With the outbox on (a kiosk connected to the service), the undo is also queued for the
        server in the same transaction, even when the check-in was made at another door and
        is not in this file; it then returns True.

        Raises:
            ValueError: an operator or reason the service would refuse (:func:`clean_note`);
                nothing is changed.
        """
        operator = clean_note(operator, "the operator", MAX_OPERATOR_CHARS) or "staff"
        reason = clean_note(reason, "the reason", MAX_REASON_CHARS) or ""
        with self.store.transaction() as tx:
            cursor = tx.execute(
                "DELETE FROM checkins WHERE event_id = ? AND person_id = ?", (event_id, person_id)
            )
            if cursor.rowcount == 0 and not self.outbox:
                return False
            if self.outbox:
                tx.execute(
                    "INSERT INTO outbox (uuid, event_id, person_id, at, method, operator, "
                    "reason) VALUES (?, ?, ?, ?, 'undo', ?, ?)",
                    (str(uuid.uuid4()), event_id, person_id, now_iso(), operator, reason),
                )
            tx.audit(operator, "undo check-in", event_id=event_id, person_id=person_id,
                     reason=reason)
        return True

    def checkins(self, event_id: int) -> list[dict[str, Any]]:
        """Check-ins of an event, in time order, with the person's name and external id."""
        rows = self.store.query(
            "SELECT c.person_id, p.name, p.external_id, c.event_id, c.at, c.method, c.distance, "
            "c.liveness, c.operator, c.reason FROM checkins c JOIN people p ON p.id = c.person_id "
            "WHERE c.event_id = ? ORDER BY c.at, c.id",
            (event_id,),
        )
        return [dict(zip(CHECKIN_COLUMNS, row)) for row in rows]

    # -- refused spoof attempts ---------------------------------------------------------------

    def add_spoof_attempt(
        self, event_id: int | None, reason: str, thumbnail_jpeg: bytes | None = None,
    ) -> int:
        """Record a refused presentation attack (a photo or screen held to the camera).

        The thumbnail lets staff review what was refused; it is dropped when face crops are
        not stored (``store_face_crops = false``) and purged after the retention period
        (:meth:`purge_old_spoof_attempts`). Returns the new record's id.

        Raises:
            ValueError: empty reason.
        """
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("the reason of a spoof attempt must not be empty")
        with self.store.transaction() as tx:
            return tx.insert("spoof_attempts", {
                "event_id": event_id, "at": now_iso(), "reason": reason,
                "thumbnail_jpeg": thumbnail_jpeg if self.store_face_crops and thumbnail_jpeg
                else None,
            })

    def spoof_attempts(self, event_id: int | None = None) -> list[dict[str, Any]]:
        """Refused spoof attempts, newest first, with their thumbnails (JPEG bytes or None).

        Args:
            event_id: only those of one event; None for all.
        """
        where, params = ("WHERE event_id = ?", (event_id,)) if event_id is not None else ("", ())
        rows = self.store.query(
            f"SELECT {', '.join(SPOOF_COLUMNS)} FROM spoof_attempts {where} ORDER BY id DESC",
            params,
        )
        return [dict(zip(SPOOF_COLUMNS, row)) for row in rows]

    def purge_old_spoof_attempts(self, days: int, now: dt.datetime | None = None) -> int:
        """Delete spoof attempts older than ``days`` days (0: all); returns how many.

        Run at start-up and hourly with ``[gallery] spoof_retention_days``. Deleted pictures
        are overwritten (``secure_delete``) and the WAL is checkpointed, as for people.

        Args:
            days: the retention period in days.
            now: the current time (aware or local); for tests.

        Raises:
            ValueError: negative ``days``.
        """
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        current = now if now is not None else dt.datetime.now().astimezone()
        if current.tzinfo is None:
            current = current.astimezone()
        cutoff = current - dt.timedelta(days=days)
        with self.store.transaction() as tx:
            old = [
                int(row[0])
                for row in tx.execute("SELECT id, at FROM spoof_attempts").fetchall()
                if _older_than(str(row[1]), cutoff)
            ]
            tx.executemany("DELETE FROM spoof_attempts WHERE id = ?", [(i,) for i in old])
            if old:
                tx.audit("system", "purge spoof attempts", count=len(old), retention_days=days)
        if old:
            self.store.forget_deleted()
        return len(old)


def _older_than(at: str, cutoff: dt.datetime) -> bool:
    """Whether a stored ISO time is before ``cutoff``; unreadable times count as old."""
    try:
        return parse_time(at) < cutoff
    except ValueError:
        return True
