"""Events (meetings with an optional check-in window) and their rosters (who is expected).

Whether an event is open *now* is not decided here but in :mod:`kiosk.decision`, the one place
of the check-in rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kiosk.names import clean_name
from kiosk.store.base import Store, now_iso, parse_time, require_event

EVENT_COLUMNS = ("id", "name", "opens_at", "closes_at", "created_at")


class Events:
    """The events and roster tables of a store.

    Args:
        store: the database.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def create_event(
        self, name: str, opens_at: str | None = None, closes_at: str | None = None,
        actor: str = "admin",
    ) -> int:
        """Create an event with an optional check-in window (ISO times); returns its id.

        Raises:
            ValueError: empty name (or one with a control character, see
                :func:`kiosk.names.clean_name`), unparsable time, or a window that closes before it opens.
        """
        name = clean_name(name, "the event name")
        opens = parse_time(opens_at) if opens_at else None
        closes = parse_time(closes_at) if closes_at else None
        if opens and closes and closes <= opens:
            raise ValueError("the check-in window closes before it opens")
        with self.store.transaction() as tx:
            event_id = tx.insert("events", {
                "name": name,
                "opens_at": opens.isoformat() if opens else None,
                "closes_at": closes.isoformat() if closes else None,
                "created_at": now_iso(),
            })
            tx.audit(actor, "create event", event_id=event_id, name=name)
        return event_id

    def events(self) -> list[dict[str, Any]]:
        """All events, newest first."""
        rows = self.store.query(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id DESC")
        return [dict(zip(EVENT_COLUMNS, row)) for row in rows]

    def event(self, event_id: int) -> dict[str, Any] | None:
        """One event, or None."""
        row = self.store.query_one(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE id = ?", (event_id,)
        )
        return None if row is None else dict(zip(EVENT_COLUMNS, row))

    def replace_roster(
        self, event_id: int, entries: Sequence[tuple[str | None, str]], actor: str = "admin"
    ) -> int:
        """Replace an event's roster with (external id, name) entries, in one transaction.

        Returns:
            The number of entries stored.

        Raises:
            ValueError: no such event.
            StoreError: nothing was changed (the old roster stays).
        """
        with self.store.transaction() as tx:
            require_event(tx, event_id)
            replaced = tx.execute("DELETE FROM roster WHERE event_id = ?", (event_id,)).rowcount
            tx.executemany(
                "INSERT INTO roster (event_id, external_id, name) VALUES (?, ?, ?)",
                [(event_id, external_id, name) for external_id, name in entries],
            )
            tx.audit(actor, "import roster", event_id=event_id, entries=len(entries),
                     replaced=replaced)
        return len(entries)

    def add_to_roster(
        self, event_id: int, name: str, external_id: str | None = None, actor: str = "admin",
    ) -> bool:
        """Put a walk-in on an event's roster (one transaction, audit-logged); False when the
        roster already lists them (same external id, or same name without one).

        Raises:
            ValueError: no such event, or an empty name.
        """
        name = " ".join((name or "").split())
        external_id = (external_id or "").strip() or None
        if not name:
            raise ValueError("the name must not be empty")
        with self.store.transaction() as tx:
            require_event(tx, event_id)
            if external_id is not None:
                found = tx.execute(
                    "SELECT 1 FROM roster WHERE event_id = ? AND external_id = ?",
                    (event_id, external_id),
                ).fetchone()
            else:
                found = tx.execute(
                    "SELECT 1 FROM roster WHERE event_id = ? AND external_id IS NULL AND name = ?",
                    (event_id, name),
                ).fetchone()
            if found is not None:
                return False
            tx.execute("INSERT INTO roster (event_id, external_id, name) VALUES (?, ?, ?)",
                       (event_id, external_id, name))
            tx.audit(actor, "add to roster", event_id=event_id, name=name, external_id=external_id)
        return True

    def roster(self, event_id: int) -> list[tuple[str | None, str]]:
        """An event's roster in import order: (external id, name)."""
        rows = self.store.query(
            "SELECT external_id, name FROM roster WHERE event_id = ? ORDER BY id", (event_id,)
        )
        return [(r[0], str(r[1])) for r in rows]

    def roster_name(self, external_id: str) -> str | None:
        """The newest roster name for an external id (any event), or None."""
        row = self.store.query_one(
            "SELECT name FROM roster WHERE external_id = ? ORDER BY id DESC LIMIT 1",
            (external_id,),
        )
        return None if row is None else str(row[0])
