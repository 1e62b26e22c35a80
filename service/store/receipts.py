"""Check-ins and undos received from doors, each done once per UUID (``checkin_receipts``).

A door sends each item of its outbox with a UUID and may send it again after a lost answer;
the receipt (UUID, event, person, the door's key name, the result) is written in the same
transaction as the change, so a retried item is answered ``duplicate`` and done once. The
receipt of a stored check-in also says which door made it: the attendance lists it, and a door
may undo only its own check-ins.
"""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass
from typing import Any

from kiosk.store.base import Store, Transaction, now_iso

ATTENDANCE_COLUMNS = ("person_id", "name", "external_id", "at", "method", "distance",
                      "liveness", "operator", "reason", "door")


@dataclass(frozen=True)
class DoorCheckIn:
    """One check-in made at a door (already checked: ids, time, texts)."""

    uuid: uuid_module.UUID
    event_id: int
    person_id: int
    at: str
    method: str = "auto"
    distance: float | None = None
    liveness: float | None = None
    operator: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DoorUndo:
    """The undo of a check-in, made by staff at a door."""

    uuid: uuid_module.UUID
    event_id: int
    person_id: int
    at: str
    operator: str | None = None
    reason: str | None = None


def _claim(tx: Transaction, item: DoorCheckIn | DoorUndo, door: str) -> bool:
    """Record that this item's UUID was received (result pending, set by the caller in the same
    transaction); False when it was received before."""
    return tx.execute(
        "INSERT INTO checkin_receipts (uuid, event_id, person_id, door, received_at, result) "
        "VALUES (?, ?, ?, ?, ?, 'pending') ON CONFLICT (uuid) DO NOTHING RETURNING uuid",
        (item.uuid, item.event_id, item.person_id, door, now_iso()),
    ).fetchone() is not None


def _settle(tx: Transaction, item: DoorCheckIn | DoorUndo, result: str) -> str:
    tx.execute("UPDATE checkin_receipts SET result = ? WHERE uuid = ?", (result, item.uuid))
    return result


def store_checkin(store: Store, item: DoorCheckIn, door: str) -> str:
    """Store one check-in once: ``stored`` (new), ``already`` (this person was checked in to
    this event before, at any door), ``duplicate`` (this UUID was received before: the first
    answer is kept), ``unknown_person`` / ``unknown_event`` (deleted or never known)."""
    with store.transaction() as tx:
        if not _claim(tx, item, door):
            return "duplicate"
        if tx.execute("SELECT 1 FROM people WHERE id = ?", (item.person_id,)).fetchone() is None:
            return _settle(tx, item, "unknown_person")
        if tx.execute("SELECT 1 FROM events WHERE id = ?", (item.event_id,)).fetchone() is None:
            return _settle(tx, item, "unknown_event")
        inserted = tx.execute(
            "INSERT INTO checkins (event_id, person_id, at, method, distance, liveness, "
            "operator, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (event_id, person_id) DO NOTHING RETURNING id",
            (item.event_id, item.person_id, item.at, item.method, item.distance,
             item.liveness, item.operator, item.reason),
        ).fetchone()
        return _settle(tx, item, "stored" if inserted is not None else "already")


def undo_checkin(store: Store, item: DoorUndo, door: str, any_door: bool) -> tuple[str, str | None]:
    """Apply one undo once (audit-logged with the key, the operator and the reason).

    Args:
        item: the undo.
        door: the key's name.
        any_door: the key may undo check-ins of every door (an admin key); a door's key
            undoes only the check-ins its own door made.

    Returns:
        (result, reason): ``undone`` (the check-in was removed), ``not_checked_in`` (there was
        none), ``duplicate`` (this UUID was received before: nothing is done again), or
        ``rejected`` with the reason (the check-in was made at another door).
    """
    with store.transaction() as tx:
        if tx.execute("SELECT 1 FROM checkin_receipts WHERE uuid = ?", (item.uuid,)).fetchone():
            return "duplicate", None  # received before: the first answer stands
        found = tx.execute(
            "SELECT c.id, r.door FROM checkins c LEFT JOIN checkin_receipts r "
            "ON r.event_id = c.event_id AND r.person_id = c.person_id AND r.result = 'stored' "
            "WHERE c.event_id = ? AND c.person_id = ?", (item.event_id, item.person_id),
        ).fetchone()
        if found is not None and not any_door and found[1] != door:
            made_at = f"door {found[1]}" if found[1] else "the service"
            return "rejected", (f"this check-in was made at {made_at}; a door's key undoes only "
                                "its own door's check-ins (ask there, or use an admin key)")
        if not _claim(tx, item, door):
            return "duplicate", None
        removed = tx.execute(
            "DELETE FROM checkins WHERE event_id = ? AND person_id = ? RETURNING id",
            (item.event_id, item.person_id),
        ).fetchone()
        result = "undone" if removed is not None else "not_checked_in"
        if removed is not None:  # the door of a later check-in is that check-in's receipt
            tx.execute("UPDATE checkin_receipts SET result = 'stored, undone' WHERE "
                       "event_id = ? AND person_id = ? AND result = 'stored'",
                       (item.event_id, item.person_id))
        _settle(tx, item, result)
        tx.audit(f"key:{door}", "undo check-in", event_id=item.event_id,
                 person_id=item.person_id, operator=item.operator, reason=item.reason,
                 at=item.at, uuid=str(item.uuid), result=result)
    return result, None


def attendance(store: Store, event_id: int) -> list[dict[str, Any]] | None:
    """Every door's check-ins of an event in time order, each with the door that made it
    (the key's name; None for one stored at the service); None when there is no such event."""
    if store.query_one("SELECT 1 FROM events WHERE id = ?", (event_id,)) is None:
        return None
    return event_checkins(store, event_id)


def event_checkins(store: Store, event_id: int) -> list[dict[str, Any]]:
    """The check-ins of an event (none when there is no such event), oldest first, each with
    the door that made it (:data:`ATTENDANCE_COLUMNS`).

    The door is looked up per check-in (a correlated subquery on the receipts' index): a join
    was planned as a nested loop over every pair while a meeting's first minutes left the
    table statistics behind (2 s for 2,500 arrivals instead of milliseconds). A check-in has
    at most one ``stored`` receipt (an undo marks it ``stored, undone``)."""
    rows = store.query(
        "SELECT c.person_id, p.name, p.external_id, c.at, c.method, c.distance, c.liveness, "
        "c.operator, c.reason, (SELECT r.door FROM checkin_receipts r "
        "WHERE r.event_id = c.event_id AND r.person_id = c.person_id AND r.result = 'stored' "
        "LIMIT 1) FROM checkins c JOIN people p ON p.id = c.person_id "
        "WHERE c.event_id = ? ORDER BY c.at, c.id", (event_id,))
    return [dict(zip(ATTENDANCE_COLUMNS, row)) for row in rows]
