"""What the web console's board and admin pages read of the service's tables, and the one
change they make there themselves (an event's check-in window); the console's own tables are
in :mod:`service.store.console`. Every other change goes through the shared table modules
(:mod:`kiosk.store.people`, :mod:`~kiosk.store.events`) and :mod:`service.store.receipts`."""

from __future__ import annotations

from collections.abc import Sequence

from kiosk.store.base import Row, Store

# The receipts of check-ins a door uploaded (stored, later undone, or already there).
_UPLOADED = "('stored', 'stored, undone', 'already')"


# -- the board --------------------------------------------------------------------------------

def people_ids_by_external_id(store: Store, external_ids: Sequence[str]) -> dict[str, int]:
    """The enrolled person of each external id that has one."""
    if not external_ids:
        return {}
    return {str(r[1]): int(r[0]) for r in store.query(
        "SELECT id, external_id FROM people WHERE external_id = ANY(?)", (list(external_ids),))}


def people_named(store: Store, lower_names: Sequence[str]) -> list[tuple[int, str]]:
    """(id, name) of the enrolled people whose lower-cased name is one of ``lower_names``."""
    if not lower_names:
        return []
    return [(int(r[0]), str(r[1])) for r in store.query(
        "SELECT id, name FROM people WHERE lower(name) = ANY(?)", (list(lower_names),))]


def people_to_check_in(store: Store, event_id: int, query: str, limit: int) -> list[Row]:
    """(id, name, external_id) of the first ``limit`` people, by name, not checked in to the
    event whose lower-cased name or external id contains ``query``."""
    pattern = f"%{query}%"
    return store.query(
        "SELECT id, name, external_id FROM people WHERE id NOT IN "
        "(SELECT person_id FROM checkins WHERE event_id = ?) AND (lower(name) LIKE ? OR "
        "lower(coalesce(external_id, '')) LIKE ?) ORDER BY lower(name), id LIMIT ?",
        (event_id, pattern, pattern, limit))


def person_name(store: Store, person_id: int) -> str | None:
    row = store.query_one("SELECT name FROM people WHERE id = ?", (person_id,))
    return None if row is None else str(row[0])


# -- events -----------------------------------------------------------------------------------

def change_event_window(store: Store, event_id: int, opens_at: str | None,
                        closes_at: str | None, actor: str) -> bool:
    """Set an event's check-in window (one transaction, audit-logged); False (nothing
    written) when there is no such event."""
    with store.transaction() as tx:
        changed = tx.execute("UPDATE events SET opens_at = ?, closes_at = ? WHERE id = ?",
                             (opens_at, closes_at, event_id)).rowcount
        if not changed:
            return False
        tx.audit(actor, "change event window", event_id=event_id, opens_at=opens_at,
                 closes_at=closes_at)
    return True


# -- people -----------------------------------------------------------------------------------

def people_with_crops(store: Store) -> set[int]:
    """The ids of the people with at least one stored face crop."""
    return {int(r[0]) for r in store.query(
        "SELECT DISTINCT person_id FROM faces WHERE crop_jpeg IS NOT NULL")}


def thumbnail_jpeg(store: Store, person_id: int) -> bytes | None:
    """A person's first stored face crop (pinned first), or None."""
    row = store.query_one(
        "SELECT crop_jpeg FROM faces WHERE person_id = ? AND crop_jpeg IS NOT NULL "
        "ORDER BY pinned DESC, id LIMIT 1", (person_id,))
    return None if row is None else bytes(row[0])


# -- doors and spoof attempts -----------------------------------------------------------------

def uploads_per_door(store: Store) -> dict[str, tuple[int, str | None]]:
    """Per door (the key's name): the check-ins it uploaded and when the last was received."""
    return {str(r[0]): (int(r[1]), r[2]) for r in store.query(
        "SELECT door, count(*), max(received_at) FROM checkin_receipts "
        f"WHERE result IN {_UPLOADED} GROUP BY door")}


def spoof_rows(store: Store, limit: int) -> list[Row]:
    """The newest ``limit`` refused spoof attempts: (id, event_id, at, reason, has a
    thumbnail)."""
    return store.query(
        "SELECT id, event_id, at, reason, thumbnail_jpeg IS NOT NULL FROM spoof_attempts "
        "ORDER BY id DESC LIMIT ?", (limit,))


def spoof_thumbnail_jpeg(store: Store, spoof_id: int) -> bytes | None:
    row = store.query_one(
        "SELECT thumbnail_jpeg FROM spoof_attempts WHERE id = ? AND thumbnail_jpeg IS NOT NULL",
        (spoof_id,))
    return None if row is None else bytes(row[0])
