"""The kiosk's SQLite file: connection, schema and its version, migrations, transactions.

One file (``data/faces.sqlite`` by default) in WAL mode with a busy time-out, so that a second
kiosk or a CLI command can share it. Every change runs in one ``BEGIN IMMEDIATE`` transaction
(:meth:`SQLiteStore.transaction`): a crash or an error leaves either all of it or none of it.

The file is marked as this kiosk's (``PRAGMA application_id``) and carries its schema version
(``PRAGMA user_version``). On open: a new file gets the current schema; an older version is
migrated in one transaction after a backup copy is written next to it; a newer version, a
foreign file or one with missing tables is refused and left byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kiosk.store.base import (
    Row, SqlTransaction, StoreError, now_iso, one_thread_at_a_time, wait_for_lock,
)

APPLICATION_ID = 0x4B494F53  # "KIOS": marks a file as this kiosk's gallery
SCHEMA_VERSION = 4

def _explain(exc: sqlite3.Error, path: str) -> StoreError:
    """A :class:`StoreError` that names the problem in words an operator can act on."""
    message = str(exc).lower()
    if "full" in message:
        return StoreError(
            f"{path}: the disk is full (or the database reached its size limit); nothing was "
            f"saved and what was already stored is intact. Free some disk space ({exc})"
        )
    if "readonly" in message or "read-only" in message:
        return StoreError(
            f"{path}: the database or its folder is read-only; nothing was saved. Make both "
            f"writable by the user running the kiosk ({exc})"
        )
    if "malformed" in message or "not a database" in message or "file is encrypted" in message:
        return StoreError(
            f"{path}: the database file is damaged or not a database ({exc}); "
            "restore it from a backup or move it away to start a new gallery"
        )
    if "locked" in message or "busy" in message:
        return StoreError(
            f"{path}: another kiosk or program kept the database locked too long; nothing was "
            f"saved, try again ({exc})"
        )
    if "unable to open" in message:
        return StoreError(
            f"{path}: cannot open the database file: check that it and its folder exist and "
            f"are readable and writable by the user running the kiosk ({exc})"
        )
    if "disk i/o" in message:
        return StoreError(
            f"{path}: the disk reported an input/output error (removed, failing or full?); "
            f"nothing was saved ({exc})"
        )
    return StoreError(f"{path}: database error: {exc}")


SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL CHECK (length(trim(name)) > 0),
    external_id TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    crop_jpeg BLOB,
    source TEXT NOT NULL CHECK (source IN ('enrol', 'auto')),
    pinned INTEGER NOT NULL DEFAULT 0,
    quality REAL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_person ON faces(person_id);
CREATE TABLE IF NOT EXISTS face_embeddings (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (face_id, model_id)
);
CREATE INDEX IF NOT EXISTS face_embeddings_model ON face_embeddings(model_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL CHECK (length(trim(name)) > 0),
    opens_at TEXT,
    closes_at TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('auto', 'manual')),
    distance REAL,
    liveness REAL,
    operator TEXT,
    reason TEXT,
    UNIQUE (event_id, person_id)
);
CREATE TABLE IF NOT EXISTS roster (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    external_id TEXT,
    name TEXT NOT NULL,
    UNIQUE (event_id, external_id)
);
CREATE TABLE IF NOT EXISTS spoof_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER REFERENCES events(id) ON DELETE SET NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    thumbnail_jpeg BLOB
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings_store (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
""" + """
CREATE TABLE IF NOT EXISTS outbox (
    uuid TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    method TEXT NOT NULL,
    distance REAL,
    liveness REAL,
    operator TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
""" + """
CREATE TABLE IF NOT EXISTS outbox_rejected (
    uuid TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    at TEXT NOT NULL,
    method TEXT NOT NULL,
    operator TEXT,
    reason TEXT,
    rejected_at TEXT NOT NULL,
    rejection TEXT NOT NULL
);
"""
TABLES = ("people", "faces", "face_embeddings", "events", "checkins", "roster", "spoof_attempts",
          "audit_log", "settings_store", "outbox", "outbox_rejected")


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Version 1 kept one embedding per face (``faces.embedding``, ``faces.model_id``);
    version 2 keeps one row per face and model in ``face_embeddings``."""
    conn.execute(
        "CREATE TABLE face_embeddings (face_id INTEGER NOT NULL REFERENCES faces(id) "
        "ON DELETE CASCADE, model_id TEXT NOT NULL, embedding BLOB NOT NULL, "
        "PRIMARY KEY (face_id, model_id))"
    )
    conn.execute("CREATE INDEX face_embeddings_model ON face_embeddings(model_id)")
    conn.execute(
        "INSERT INTO face_embeddings (face_id, model_id, embedding) "
        "SELECT id, model_id, embedding FROM faces"
    )
    conn.execute("ALTER TABLE faces DROP COLUMN embedding")
    conn.execute("ALTER TABLE faces DROP COLUMN model_id")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Version 3 adds the outbox: check-ins waiting to be uploaded to the central service
    (:mod:`kiosk.sync`), written in the transaction of the check-in itself."""
    conn.execute(SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS outbox"):].split(";")[0])


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """Version 4 adds ``outbox_rejected``: outbox items the service refused for good, with its
    reason, set aside so that they no longer hold back the queue (:mod:`kiosk.store.outbox`)."""
    conn.execute(SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS outbox_rejected"):].split(";")[0])


# MIGRATIONS[v] turns a version-v file into version v+1 (inside one transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4,
}
# The tables each version must have (a file missing one is damaged, not old).
_TABLES_3 = tuple(t for t in TABLES if t != "outbox_rejected")
_TABLES_2 = tuple(t for t in _TABLES_3 if t != "outbox")
TABLES_OF_VERSION = {1: tuple(t for t in _TABLES_2 if t != "face_embeddings"), 2: _TABLES_2,
                     3: _TABLES_3, 4: TABLES}


class _SQLiteTransaction(SqlTransaction):
    """:class:`kiosk.store.base.Transaction` over an open ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


def _try_flock(fd: int) -> bool:
    """Take an exclusive ``flock`` on ``fd`` without waiting; whether it was taken."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class SQLiteStore:
    """The kiosk's SQLite database (see the module docstring); implements
    :class:`kiosk.store.base.Store`.

    Args:
        path: the database file; its folder must exist. ``":memory:"`` for tests.
        busy_timeout_ms: how long to wait for another kiosk's write lock.

    Attributes:
        name: the path, for messages.
        read_only: the file is not writable by this user: reading works, every change raises
            :class:`StoreError`.
        migrated_from: the schema version the file had before it was migrated on open (None
            when it needed no migration); ``backup_path`` is the copy made first.

    Raises:
        StoreError: the folder is missing or read-only, the file is unreadable, damaged, of a
            newer schema version, or not this kiosk's database (it is then left untouched).
    """

    has_outbox = True

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self.name = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = False
        self.migrated_from: int | None = None
        self.backup_path: Path | None = None
        self._conn = self._connect()
        self._identity = self._file_identity()
        self._exclusive_threads: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """:meth:`kiosk.store.base.Store.exclusive`: a thread lock of this store, then an
        ``flock`` on ``<database>.<name>.lock`` next to the file (every process on this
        machine that opens the file); waits up to ``busy_timeout_ms``. An in-memory or
        read-only database has the thread lock only (a read-only one refuses every write with
        its own message)."""
        timeout_s = self.busy_timeout_ms / 1000.0
        what = f"{self.name}: {name}"
        with one_thread_at_a_time(self._exclusive_threads, name, timeout_s, what):
            if self.name == ":memory:" or self.read_only:
                yield
                return
            lock_path = f"{self.name}.{name}.lock"
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StoreError(f"{lock_path}: cannot open the lock file: "
                                 f"{exc.strerror or exc}; nothing was changed") from exc
            try:
                wait_for_lock(lambda: _try_flock(fd), timeout_s, what)
                yield
            finally:
                os.close(fd)  # closing releases the flock

    # -- opening -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        in_memory = self.name == ":memory:"
        if not in_memory:
            folder = Path(self.name).resolve().parent
            if not folder.is_dir():
                raise StoreError(
                    f"{self.name}: the folder {folder} does not exist; create it first"
                )
        new_file = in_memory or not Path(self.name).exists() or Path(self.name).stat().st_size == 0
        if not in_memory:
            self._check_access(new_file)
        if new_file and not in_memory:
            # Created readable by the owner only: the gallery holds biometric data.
            try:
                fd = os.open(self.name, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StoreError(
                    f"{self.name}: cannot create the database file: {exc.strerror or exc}. "
                    "Make its folder writable by the user running the kiosk"
                ) from exc
            os.close(fd)
        try:
            conn = sqlite3.connect(
                self.name, timeout=self.busy_timeout_ms / 1000.0, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise _explain(exc, self.name) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            conn.close()
            text = str(exc).lower()
            if "not a database" in text or "malformed" in text or "encrypted" in text:
                raise StoreError(
                    f"{self.name}: not a kiosk gallery ({exc}); it was left untouched. "
                    "Point --db or [gallery] db_path to another file, or move this one away"
                ) from exc
            raise _explain(exc, self.name) from exc
        if application_id != APPLICATION_ID and tables > 0:
            conn.close()
            raise StoreError(
                f"{self.name}: this SQLite file belongs to another program; it was left "
                "untouched. Point --db or [gallery] db_path to another file"
            )
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            if tables > 0:  # before anything writes to the file: refuse or migrate
                self._check_schema(conn)
            if not in_memory:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL" if not in_memory else "PRAGMA synchronous = OFF")
            if tables == 0:
                self._retrying(lambda: self._create_schema(conn))
        except sqlite3.Error as exc:
            conn.close()
            raise _explain(exc, self.name) from exc
        except StoreError:
            conn.close()
            raise
        return conn

    def _check_access(self, new_file: bool) -> None:
        """Refuse, with the reason, a file or folder this user cannot use.

        SQLite itself would only say "unable to open database file". A gallery in WAL mode
        creates ``-wal`` and ``-shm`` files next to the database, so its folder must be
        writable. A database file that is read-only (in a writable folder) is opened for
        reading: matching works, and every change raises a "read-only" :class:`StoreError`
        (:attr:`read_only` tells the GUI in advance). The superuser passes these checks
        whatever the modes.
        """
        path = Path(self.name)
        folder = path.resolve().parent
        if not new_file and not os.access(path, os.R_OK):
            raise StoreError(
                f"{self.name}: no permission to read the database file; run the kiosk as its "
                "owner or fix its permissions (readable and writable by the kiosk user only, "
                "mode 0600)"
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(
                f"{self.name}: the folder {folder} is read-only for this user; the gallery "
                "needs to create its files (and the -wal and -shm files of SQLite) there. "
                "Make the folder writable or point --db or [gallery] db_path elsewhere"
            )
        if not new_file and not os.access(path, os.W_OK):
            self.read_only = True

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """Refuse a newer or damaged schema; migrate an older one (backup first)."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.name}: this gallery was written by a newer version of the kiosk (schema "
                f"{version}, this version reads up to {SCHEMA_VERSION}); it was left untouched. "
                "Update the kiosk, or point --db or [gallery] db_path to another file"
            )
        expected = TABLES_OF_VERSION.get(version)
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted(set(expected or TABLES) - present)
        if expected is None or missing:
            what = f"tables {', '.join(missing)} are missing" if missing else f"unknown schema {version}"
            raise StoreError(
                f"{self.name}: the gallery is damaged ({what}); it was left untouched. Restore "
                "it from a backup, or move it away to start a new gallery"
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise StoreError(
                f"{self.name}: the gallery has schema version {version} and must be upgraded to "
                f"{SCHEMA_VERSION}, but the file is read-only; make it writable and start again"
            )
        self.backup_path = self._backup(conn, version)
        self._retrying(lambda: self._migrate(conn, version))
        self.migrated_from = version

    def _backup(self, conn: sqlite3.Connection, version: int) -> Path:
        """A consistent copy of the file (mode 0600) before a migration."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        target = Path(f"{self.name}.v{version}-backup-{stamp}")
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        copy = sqlite3.connect(target)
        try:
            conn.backup(copy)
        finally:
            copy.close()
        return target

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have
            while current < SCHEMA_VERSION:
                MIGRATIONS[current](conn)
                current += 1
                conn.execute(f"PRAGMA user_version = {current}")
            conn.execute(
                "INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)",
                (now_iso(), "system", "migrate schema",
                 json.dumps({"from": version, "to": SCHEMA_VERSION})),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _retrying(self, action: Callable[[], Any]) -> Any:
        """Run ``action``, retrying while another writer holds the lock past the busy time-out."""
        deadline = time.monotonic() + max(1.0, 3 * self.busy_timeout_ms / 1000.0)
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    # -- the Store interface -------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[_SQLiteTransaction]:
        """One ``BEGIN IMMEDIATE`` write transaction; rolled back on any error.

        Raises:
            StoreError: the disk is full, the file is read-only or damaged, or the lock of
                another kiosk was not released in time.
        """
        self._check_still_there("nothing was saved")
        try:
            self._retrying(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.Error as exc:
            raise _explain(exc, self.name) from exc
        try:
            yield _SQLiteTransaction(self._conn)
            self._conn.execute("COMMIT")
            self._check_still_there("the change went into a file that no longer exists there")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise _explain(exc, self.name) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    def _file_identity(self) -> tuple[int, int] | None:
        """(device, inode) of the database file, None in memory or when it is gone."""
        if self.name == ":memory:":
            return None
        try:
            stat = os.stat(self.name)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _check_still_there(self, consequence: str) -> None:
        """Refuse to call a change stored when the file was deleted or replaced under the open
        connection: SQLite would go on writing into the deleted file, and nothing would be
        left of it after a restart.

        Raises:
            StoreError: the file at the path is gone or is another file.
        """
        if self._identity is not None and self._file_identity() != self._identity:
            raise StoreError(
                f"{self.name}: the database file (or its folder) was deleted or replaced while "
                f"the kiosk was running; {consequence}. Restore it from a backup or restart the "
                "kiosk to start a new gallery"
            )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _explain(exc, self.name) from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            row: Row | None = self._conn.execute(sql, tuple(params)).fetchone()
        except sqlite3.Error as exc:
            raise _explain(exc, self.name) from exc
        return row

    def iterate(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Row]:
        try:
            yield from self._conn.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise _explain(exc, self.name) from exc

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes when another connection commits."""
        try:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise _explain(exc, self.name) from exc

    def forget_deleted(self) -> None:
        """Copy the WAL into the main file and truncate it, so that deleted pages (overwritten
        by ``secure_delete``) leave no copy in the WAL. When another connection keeps the WAL
        from being truncated, retry briefly, then raise.

        Raises:
            StoreError: the WAL could not be checkpointed (another reader held it).
        """
        if self.name == ":memory:":
            return
        deadline = time.monotonic() + max(1.0, self.busy_timeout_ms / 1000.0)
        while True:
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise _explain(exc, self.name) from exc
            if not busy:
                return
            if time.monotonic() > deadline:
                raise StoreError(
                    f"{self.name}: the deletion is stored, but another program kept the "
                    "database busy, so old copies of the deleted data may remain in the "
                    "-wal file until the next checkpoint; close the other kiosk or command "
                    "and run the deletion again"
                )
            time.sleep(0.05)

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
