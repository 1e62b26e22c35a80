"""The outbox of a kiosk connected to the central service: check-ins and undos made here, each
with a UUID, waiting to be uploaded (:mod:`kiosk.sync`).

Rows are written by :class:`kiosk.store.checkins.CheckIns` in the transaction of the check-in or
undo itself; this module reads them in order, counts failed attempts, removes what the service
answered, and sets aside what the service refused for good (with its reason, kept for staff in
``outbox_rejected``), so that one bad item never holds back the ones behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kiosk.store.base import Store, now_iso

UNDO_METHOD = "undo"  # the ``method`` of a queued undo (check-ins: auto / manual)
OUTBOX_COLUMNS = ("uuid", "event_id", "person_id", "at", "method", "distance", "liveness",
                  "operator", "reason")
REJECTED_COLUMNS = ("uuid", "event_id", "person_id", "at", "method", "operator", "reason",
                    "rejected_at", "rejection")
MAX_ERROR_CHARS = 500


class Outbox:
    """The ``outbox`` and ``outbox_rejected`` tables of a kiosk's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self) -> int:
        """Check-ins and undos waiting to be uploaded."""
        row = self.store.query_one("SELECT count(*) FROM outbox")
        return int(row[0]) if row else 0

    def oldest(self, limit: int) -> list[dict[str, Any]]:
        """The oldest ``limit`` waiting items, in the order they were made."""
        rows = self.store.query(
            f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox ORDER BY rowid LIMIT ?", (limit,))
        return [dict(zip(OUTBOX_COLUMNS, row)) for row in rows]

    def record_failure(self, uuids: Sequence[str], error: str) -> None:
        """One more failed attempt for these items (they stay queued)."""
        with self.store.transaction() as tx:
            tx.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE uuid = ?",
                [(error[:MAX_ERROR_CHARS], uuid) for uuid in uuids])

    def settle(self, done: Iterable[str], rejected: Iterable[tuple[str, str]] = ()) -> None:
        """In one transaction: remove the items the service answered (``done``), and move the
        ones it refused for good to ``outbox_rejected`` with the reason
        (``rejected``: (uuid, reason)), audit-logged."""
        rejected = list(rejected)
        with self.store.transaction() as tx:
            for uuid, reason in rejected:
                row = tx.execute(
                    f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox WHERE uuid = ?", (uuid,)
                ).fetchone()
                if row is None:
                    continue
                item = dict(zip(OUTBOX_COLUMNS, row))
                tx.execute(
                    "INSERT INTO outbox_rejected (uuid, event_id, person_id, at, method, "
                    "operator, reason, rejected_at, rejection) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (uuid) DO NOTHING",
                    (uuid, item["event_id"], item["person_id"], item["at"], item["method"],
                     item["operator"], item["reason"], now_iso(), reason[:MAX_ERROR_CHARS]))
                tx.execute("DELETE FROM outbox WHERE uuid = ?", (uuid,))
                tx.audit("server", "outbox item rejected", uuid=uuid, method=item["method"],
                         event_id=item["event_id"], person_id=item["person_id"],
                         rejection=reason[:MAX_ERROR_CHARS])
            tx.executemany("DELETE FROM outbox WHERE uuid = ?", [(uuid,) for uuid in done])

    def rejected_count(self) -> int:
        """How many items the service refused for good (kept in ``outbox_rejected``)."""
        row = self.store.query_one("SELECT count(*) FROM outbox_rejected")
        return int(row[0]) if row else 0

    def rejected(self, limit: int = 100) -> list[dict[str, Any]]:
        """What the service refused for good, newest first, with the service's reason."""
        rows = self.store.query(
            f"SELECT {', '.join(REJECTED_COLUMNS)} FROM outbox_rejected "
            "ORDER BY rejected_at DESC, rowid DESC LIMIT ?", (limit,))
        return [dict(zip(REJECTED_COLUMNS, row)) for row in rows]

    def rejected_of_event(self, event_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """What the service refused for good of one event, newest first, each with the
        person's ``name`` and ``external_id`` (None when the person was deleted since)."""
        columns = ", ".join(f"r.{c}" for c in REJECTED_COLUMNS)
        rows = self.store.query(
            f"SELECT {columns}, p.name, p.external_id FROM outbox_rejected r "
            "LEFT JOIN people p ON p.id = r.person_id WHERE r.event_id = ? "
            "ORDER BY r.rejected_at DESC, r.rowid DESC LIMIT ?", (event_id, limit))
        return [dict(zip((*REJECTED_COLUMNS, "name", "external_id"), row)) for row in rows]

    def last_change_per_person(self, event_id: int) -> dict[int, str]:
        """Person id -> the method of the newest waiting item of this event (``undo``,
        ``auto`` or ``manual``)."""
        last: dict[int, str] = {}
        for person_id, method in self.store.query(
            "SELECT person_id, method FROM outbox WHERE event_id = ? ORDER BY rowid", (event_id,)
        ):
            last[int(person_id)] = str(method)
        return last
