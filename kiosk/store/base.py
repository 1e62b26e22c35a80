"""The small interface every storage backend implements, and what all of them share.

A *store* owns the connection, the schema and its version, the migrations, the transactions and
the audit log. The modules next to this one (:mod:`kiosk.store.people`, :mod:`kiosk.store.events`,
:mod:`kiosk.store.checkins`, :mod:`kiosk.store.keyvalue`) hold the rules of their tables and talk
to a store only through :class:`Store` and :class:`Transaction`, in portable SQL: ``?``
placeholders, ``INSERT ... RETURNING id`` (through :meth:`Transaction.insert`), ``ON CONFLICT``,
no backend-specific functions or collations. The kiosk's SQLite file
(:class:`kiosk.store.sqlite.SQLiteStore`) is one implementation; a server database is another
implementation of the same two protocols, not a copy of the table code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from kiosk.types import Embedding

Row = tuple[Any, ...]


class StoreError(RuntimeError):
    """The database cannot be used: missing folder, foreign or corrupt file, full disk,
    read-only, a schema of a newer version. The message says what to do."""


class Transaction(Protocol):
    """One open write transaction (everything in it is committed together or not at all)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor with ``fetchone``, ``fetchall``, ``rowcount``."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""

    def insert(self, table: str, values: dict[str, Any]) -> int:
        """Insert one row and return its new ``id``."""

    def audit(self, actor: str, action: str, **details: Any) -> None:
        """Append one entry to the audit log, inside this transaction."""


class Store(Protocol):
    """A database holding the kiosk's tables.

    Attributes:
        name: what to call the database in messages (a file path or a server address).
        read_only: reading works, every transaction raises :class:`StoreError`.
        has_outbox: the database keeps an outbox of changes waiting for the central service
            (a kiosk's file, :mod:`kiosk.store.outbox`); a server database does not.
    """

    name: str
    read_only: bool
    has_outbox: bool


    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Hold the lock called ``name`` that every process and thread using this database
        shares (for a check-then-write that a transaction alone cannot protect, such as
        enrolment's look-alike check against the gallery in memory).

        Raises:
            StoreError: the lock was not free within the store's lock timeout.
        """

    def transaction(self) -> AbstractContextManager[Transaction]:
        """A write transaction: committed when the block ends, rolled back on any error.

        Raises:
            StoreError: the change could not be stored (nothing of it was).
        """

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """All rows of one read-only statement."""

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of one read-only statement, or None."""

    def iterate(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Row]:
        """The rows of one read-only statement, one at a time (large results)."""

    def data_version(self) -> int:
        """A number that changes whenever another connection or process committed a change."""

    def forget_deleted(self) -> None:
        """Make sure rows deleted so far leave no bytes behind (biometric data)."""

    def close(self) -> None:
        """Release the connection."""


LOCK_POLL_S = 0.02  # how often a waiting exclusive() tries its lock again


def wait_for_lock(try_lock: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Call ``try_lock`` (True: taken) until it succeeds or ``timeout_s`` has passed.

    Raises:
        StoreError: not taken in time, naming ``what``.
    """
    deadline = time.monotonic() + timeout_s
    while not try_lock():
        if time.monotonic() >= deadline:
            raise StoreError(f"{what}: still held by another kiosk or service after "
                             f"{timeout_s:.0f} s; nothing was changed, try again")
        time.sleep(LOCK_POLL_S)


@contextlib.contextmanager
def one_thread_at_a_time(locks: dict[str, threading.Lock], name: str, timeout_s: float,
                         what: str) -> Iterator[None]:
    """Hold this process's lock ``name`` of ``locks`` (made at first use) for the block: the
    first half of a store's :meth:`Store.exclusive` (the database-wide half is the store's).

    Raises:
        StoreError: not taken within ``timeout_s`` (see :func:`wait_for_lock`).
    """
    lock = locks.setdefault(name, threading.Lock())
    wait_for_lock(lambda: lock.acquire(blocking=False), timeout_s, what)
    try:
        yield
    finally:
        lock.release()


class SqlTransaction:
    """What every backend's transaction shares: :meth:`insert` and :meth:`audit` in portable
    SQL over the backend's own :meth:`execute` (which translates placeholders if it must)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover
        raise NotImplementedError

    def insert(self, table: str, values: dict[str, Any]) -> int:
        """Insert one row and return its new ``id``."""
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        row = self.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id", tuple(values.values())
        ).fetchone()
        return int(row[0])

    def audit(self, actor: str, action: str, **details: Any) -> None:
        """Append one entry to the audit log, inside this transaction."""
        self.execute(
            "INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)",
            (now_iso(), actor, action, json.dumps(details, ensure_ascii=False, sort_keys=True)),
        )


def now_iso() -> str:
    """Local time, ISO 8601 with offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time; without an offset it is taken as local time.

    Raises:
        ValueError: naming the text.
    """
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO time: {text!r} (example: 2026-11-22T09:00)") from exc
    if value.tzinfo is None:
        value = value.astimezone()
    return value


def embedding_to_blob(embedding: Embedding) -> bytes:
    """float32 little-endian bytes of an embedding."""
    return np.asarray(embedding, "<f4").tobytes()


def blob_to_embedding(blob: bytes) -> Embedding:
    """The embedding stored by :func:`embedding_to_blob`."""
    return np.frombuffer(blob, "<f4").astype(np.float32)


def require_person(tx: Transaction, person_id: int) -> str:
    """The name of a person, inside a transaction.

    Raises:
        ValueError: no such person.
    """
    row = tx.execute("SELECT name FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        raise ValueError(f"no person with id {person_id}")
    return str(row[0])


def require_event(tx: Transaction, event_id: int) -> None:
    """Raises ValueError when the event does not exist (inside a transaction)."""
    if tx.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
        raise ValueError(f"no event with id {event_id}")


def record_action(store: Store, actor: str, action: str, **details: Any) -> None:
    """Audit an admin or staff action that changes nothing else in the database (a settings
    file saved, an attendance list exported), in its own transaction."""
    with store.transaction() as tx:
        tx.audit(actor, action, **details)


AUDIT_COLUMNS = ("id", "at", "actor", "action", "details")


def audit_log(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """The newest audit entries first."""
    rows = store.query(
        f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [dict(zip(AUDIT_COLUMNS, row)) for row in rows]
