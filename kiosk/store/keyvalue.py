"""Small named values kept in the database (for example the admin password's hash)."""

from __future__ import annotations

from kiosk.store.base import Store


class KeyValues:
    """The ``settings_store`` table of a store.

    Args:
        store: the database.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str) -> str | None:
        """The value of ``key``, or None."""
        row = self.store.query_one("SELECT value FROM settings_store WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def put(self, key: str, value: str, actor: str, action: str) -> bool:
        """Set ``key`` in one transaction, audit-logged as ``action`` (without the value).

        Returns:
            Whether the key existed before.
        """
        with self.store.transaction() as tx:
            existed = tx.execute(
                "SELECT 1 FROM settings_store WHERE key = ?", (key,)
            ).fetchone() is not None
            tx.execute(
                "INSERT INTO settings_store (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            tx.audit(actor, action)
        return existed
