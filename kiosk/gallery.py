"""The gallery: people, face images, events, check-ins and the audit log in SQLite.

One file (``data/faces.sqlite`` by default), opened through sqlite-utils in WAL mode with a busy
time-out, so that a second kiosk can share it. Every change that touches more than one row runs
in one ``BEGIN IMMEDIATE`` transaction (:meth:`Gallery.transaction`): a crash or an error leaves
either all of it or none of it. The embeddings of every stored image are also held in memory as
one matrix (:class:`kiosk.match.GalleryMatrix`), updated together with the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from kiosk.config import GallerySettings, Settings
from kiosk.match import GalleryMatrix, Match, farthest_row
from kiosk.names import clean_name
from kiosk.types import Embedding

APPLICATION_ID = 0x4B494F53  # "KIOS": marks a file as this kiosk's gallery
SCHEMA_VERSION = 1
SOURCE_ENROL = "enrol"
SOURCE_AUTO = "auto"


class GalleryError(RuntimeError):
    """The database cannot be used: missing folder, foreign or corrupt file, full disk, read-only."""


@dataclass(frozen=True, slots=True)
class Person:
    """One enrolled person."""

    id: int
    name: str
    external_id: str | None
    images: int


@dataclass(frozen=True, slots=True)
class StoredFace:
    """One stored face image (without its crop)."""

    id: int
    person_id: int
    source: str
    pinned: bool
    model_id: str


def now_iso() -> str:
    """Local time, ISO 8601 with offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def embedding_to_blob(embedding: Embedding) -> bytes:
    """float32 little-endian bytes of an embedding."""
    return np.asarray(embedding, "<f4").tobytes()


def blob_to_embedding(blob: bytes) -> Embedding:
    """The embedding stored by :func:`embedding_to_blob`."""
    return np.frombuffer(blob, "<f4").astype(np.float32)


def _explain(exc: sqlite3.Error, path: str) -> GalleryError:
    """A :class:`GalleryError` that names the problem in words an operator can act on."""
    message = str(exc).lower()
    if "full" in message:
        return GalleryError(
            f"{path}: the disk is full (or the database reached its size limit); nothing was "
            f"saved and what was already stored is intact. Free some disk space ({exc})"
        )
    if "readonly" in message or "read-only" in message:
        return GalleryError(
            f"{path}: the database or its folder is read-only; nothing was saved. Make both "
            f"writable by the user running the kiosk ({exc})"
        )
    if "malformed" in message or "not a database" in message or "file is encrypted" in message:
        return GalleryError(
            f"{path}: the database file is damaged or not a database ({exc}); "
            "restore it from a backup or move it away to start a new gallery"
        )
    if "locked" in message or "busy" in message:
        return GalleryError(
            f"{path}: another kiosk or program kept the database locked too long; nothing was "
            f"saved, try again ({exc})"
        )
    if "unable to open" in message:
        return GalleryError(
            f"{path}: cannot open the database file: check that it and its folder exist and "
            f"are readable and writable by the user running the kiosk ({exc})"
        )
    if "disk i/o" in message:
        return GalleryError(
            f"{path}: the disk reported an input/output error (removed, failing or full?); "
            f"nothing was saved ({exc})"
        )
    return GalleryError(f"{path}: database error: {exc}")


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
    embedding BLOB NOT NULL,
    model_id TEXT NOT NULL,
    crop_jpeg BLOB,
    source TEXT NOT NULL CHECK (source IN ('enrol', 'auto')),
    pinned INTEGER NOT NULL DEFAULT 0,
    quality REAL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_person ON faces(person_id);
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
"""


class Gallery:
    """The SQLite gallery and its in-memory embedding matrix.

    Args:
        path: the database file; its folder must exist. ``":memory:"`` for tests.
        model_id: the embedding model of this kiosk; only images of this model are matched.
        max_images_per_person: the rolling-update limit.
        store_face_crops: keep the aligned face crop (JPEG) of each image.
        busy_timeout_ms: how long to wait for another kiosk's write lock.

    Attributes:
        read_only: the database file is not writable by this user: reading and matching
            work, every change raises :class:`GalleryError`.

    Raises:
        GalleryError: the folder is missing or read-only, the file is unreadable, or the file
            is not this kiosk's database (it is then left untouched).
    """

    def __init__(
        self,
        path: str | Path,
        model_id: str,
        max_images_per_person: int = 10,
        store_face_crops: bool = True,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.path = str(path)
        self.model_id = model_id
        self.max_images_per_person = max_images_per_person
        self.store_face_crops = store_face_crops
        self.busy_timeout_ms = busy_timeout_ms
        self.read_only = False
        self.matrix = GalleryMatrix()
        self._conn = self._connect()
        self.db = sqlite_utils.Database(self._conn)
        try:
            self._load_matrix()
        except sqlite3.Error as exc:  # a file damaged past its first page
            self.close()
            raise _explain(exc, self.path) from exc

    # -- opening -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        in_memory = self.path == ":memory:"
        if not in_memory:
            folder = Path(self.path).resolve().parent
            if not folder.is_dir():
                raise GalleryError(
                    f"{self.path}: the folder {folder} does not exist; create it first"
                )
        new_file = in_memory or not Path(self.path).exists() or Path(self.path).stat().st_size == 0
        if not in_memory:
            self._check_access(new_file)
        if new_file and not in_memory:
            # Created readable by the owner only: the gallery holds biometric data.
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise GalleryError(
                    f"{self.path}: cannot create the database file: {exc.strerror or exc}. "
                    "Make its folder writable by the user running the kiosk"
                ) from exc
            os.close(fd)
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_ms / 1000.0, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            conn.close()
            text = str(exc).lower()
            if "not a database" in text or "malformed" in text or "encrypted" in text:
                raise GalleryError(
                    f"{self.path}: not a kiosk gallery ({exc}); it was left untouched. "
                    "Point --db or [gallery] db_path to another file, or move this one away"
                ) from exc
            raise _explain(exc, self.path) from exc
        if application_id != APPLICATION_ID and tables > 0:
            conn.close()
            raise GalleryError(
                f"{self.path}: this SQLite file belongs to another program; it was left "
                "untouched. Point --db or [gallery] db_path to another file"
            )
        try:
            if not in_memory:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA synchronous = NORMAL" if not in_memory else "PRAGMA synchronous = OFF")
            if tables == 0:
                self._retrying(lambda: self._create_schema(conn))
        except sqlite3.Error as exc:
            conn.close()
            raise _explain(exc, self.path) from exc
        return conn

    def _check_access(self, new_file: bool) -> None:
        """Refuse, with the reason, a file or folder this user cannot use.

        SQLite itself would only say "unable to open database file". A gallery in WAL mode
        creates ``-wal`` and ``-shm`` files next to the database, so its folder must be
        writable. A database file that is read-only (in a writable folder) is opened for
        reading: matching works, and every change raises a "read-only" :class:`GalleryError`
        (:attr:`read_only` tells the GUI in advance). The superuser passes these checks
        whatever the modes.
        """
        path = Path(self.path)
        folder = path.resolve().parent
        if not new_file and not os.access(path, os.R_OK):
            raise GalleryError(
                f"{self.path}: no permission to read the database file; run the kiosk as its "
                "owner or fix its permissions (readable and writable by the kiosk user only, "
                "mode 0600)"
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise GalleryError(
                f"{self.path}: the folder {folder} is read-only for this user; the gallery "
                "needs to create its files (and the -wal and -shm files of SQLite) there. "
                "Make the folder writable or point --db or [gallery] db_path elsewhere"
            )
        if not new_file and not os.access(path, os.W_OK):
            self.read_only = True

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

    def _retrying(self, action: Any) -> Any:
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

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def _load_matrix(self) -> None:
        """Read every embedding of this model straight into one preallocated matrix (no
        intermediate copies: at 100,000 images the matrix alone is 200 MB)."""
        count = self._conn.execute(
            "SELECT count(*) FROM faces WHERE model_id = ?", (self.model_id,)
        ).fetchone()[0]
        matrix = GalleryMatrix()
        if count:
            embeddings = np.empty((count, matrix.dim), np.float32)
            ids = np.empty(count, np.int64)
            persons = np.empty(count, np.int64)
            rows = self._conn.execute(
                "SELECT id, person_id, embedding FROM faces WHERE model_id = ? ORDER BY id",
                (self.model_id,),
            )
            filled = 0
            for image_id, person_id, blob in rows:
                if filled == count:  # another kiosk added images meanwhile: next reload
                    break
                ids[filled], persons[filled] = image_id, person_id
                embeddings[filled] = np.frombuffer(blob, "<f4")
                filled += 1
            matrix = GalleryMatrix.adopt(ids[:filled], persons[:filled], embeddings[:filled])
        self.matrix = matrix

    def reload(self) -> None:
        """Re-read the matrix from the file (after another kiosk changed it).

        Raises:
            GalleryError: the file cannot be read (the old matrix is kept).
        """
        previous = self.matrix
        try:
            self._load_matrix()
        except sqlite3.Error as exc:
            self.matrix = previous
            raise _explain(exc, self.path) from exc

    # -- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` write transaction; rolled back on any error.

        Raises:
            GalleryError: the disk is full, the file is read-only or damaged, or the lock of
                another kiosk was not released in time.
        """
        try:
            self._retrying(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from exc
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise _explain(exc, self.path) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    def audit(self, conn: sqlite3.Connection, actor: str, action: str, **details: Any) -> None:
        """Append to the audit log inside the caller's transaction."""
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, details) VALUES (?, ?, ?, ?)",
            (now_iso(), actor, action, json.dumps(details, ensure_ascii=False, sort_keys=True)),
        )

    # -- people ------------------------------------------------------------------------------

    def add_person(
        self,
        name: str,
        embeddings: list[Embedding],
        crops_jpeg: list[bytes | None] | None = None,
        external_id: str | None = None,
        actor: str = "admin",
    ) -> int:
        """Enrol a person with one or more pinned images, in one transaction; returns the id.

        Raises:
            ValueError: empty name, no images, or an external id that is already taken.
        """
        name = clean_name(name)
        if not embeddings:
            raise ValueError("at least one face image is needed to enrol")
        external_id = (external_id or "").strip() or None
        crops = crops_jpeg or [None] * len(embeddings)
        added: list[tuple[int, Embedding]] = []
        try:
            with self.transaction() as conn:
                cursor = conn.execute(
                    "INSERT INTO people (name, external_id, created_at) VALUES (?, ?, ?)",
                    (name, external_id, now_iso()),
                )
                person_id = int(cursor.lastrowid or 0)
                for embedding, crop in zip(embeddings, crops):
                    added.append((self._insert_face(conn, person_id, embedding, crop, SOURCE_ENROL, True), embedding))
                self.audit(conn, actor, "enrol", person_id=person_id, name=name,
                           external_id=external_id, images=len(embeddings))
        except GalleryError as exc:
            if "UNIQUE constraint failed: people.external_id" in str(exc):
                raise ValueError(f"the external id {external_id!r} is already enrolled") from exc
            raise
        for image_id, embedding in added:
            self.matrix.add(image_id, person_id, embedding)
        return person_id

    def _insert_face(
        self, conn: sqlite3.Connection, person_id: int, embedding: Embedding,
        crop_jpeg: bytes | None, source: str, pinned: bool, quality: float | None = None,
    ) -> int:
        cursor = conn.execute(
            "INSERT INTO faces (person_id, embedding, model_id, crop_jpeg, source, pinned, "
            "quality, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, embedding_to_blob(embedding), self.model_id,
             crop_jpeg if self.store_face_crops else None, source, int(pinned), quality, now_iso()),
        )
        return int(cursor.lastrowid or 0)

    def add_images(
        self, person_id: int, embeddings: list[Embedding], crops_jpeg: list[bytes | None] | None = None,
        actor: str = "admin",
    ) -> list[int]:
        """Add pinned enrolment images to an existing person (re-enrolment), one transaction.

        Enrolment images beyond the per-person limit replace the oldest automatic images first.

        Raises:
            ValueError: unknown person, or more pinned images than the limit allows.
        """
        crops = crops_jpeg or [None] * len(embeddings)
        added: list[tuple[int, Embedding]] = []
        removed: list[int] = []
        with self.transaction() as conn:
            self._require_person(conn, person_id)
            for embedding, crop in zip(embeddings, crops):
                rows = conn.execute(
                    "SELECT id, pinned FROM faces WHERE person_id = ? ORDER BY pinned, id",
                    (person_id,),
                ).fetchall()
                if len(rows) >= self.max_images_per_person:
                    if rows[0][1]:
                        raise ValueError(
                            f"person {person_id} already has {len(rows)} pinned enrolment images"
                        )
                    conn.execute("DELETE FROM faces WHERE id = ?", (rows[0][0],))
                    removed.append(int(rows[0][0]))
                added.append((self._insert_face(conn, person_id, embedding, crop, SOURCE_ENROL, True), embedding))
            self.audit(conn, actor, "re-enrol", person_id=person_id, images=len(embeddings))
        for image_id in removed:
            self.matrix.remove_image(image_id)
        for image_id, embedding in added:
            self.matrix.add(image_id, person_id, embedding)
        return [image_id for image_id, _ in added]

    def _require_person(self, conn: sqlite3.Connection, person_id: int) -> str:
        row = conn.execute("SELECT name FROM people WHERE id = ?", (person_id,)).fetchone()
        if row is None:
            raise ValueError(f"no person with id {person_id}")
        return str(row[0])

    def delete_person(self, person_id: int, actor: str = "admin") -> None:
        """Delete a person and all their biometric data (images, crops, check-ins), one transaction.

        ``secure_delete`` overwrites the freed pages, and the WAL is checkpointed and truncated
        afterwards, so the deleted embeddings do not linger in the file.

        Raises:
            ValueError: no such person.
        """
        with self.transaction() as conn:
            name = self._require_person(conn, person_id)
            images = conn.execute("SELECT count(*) FROM faces WHERE person_id = ?", (person_id,)).fetchone()[0]
            conn.execute("DELETE FROM faces WHERE person_id = ?", (person_id,))
            conn.execute("DELETE FROM checkins WHERE person_id = ?", (person_id,))
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
            self.audit(conn, actor, "delete person", person_id=person_id, name=name, images=images)
        self.matrix.remove_person(person_id)
        self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the WAL into the main file and truncate it (best effort)."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def rename_person(self, person_id: int, name: str, actor: str = "admin") -> None:
        """Change a person's name.

        Raises:
            ValueError: empty name or no such person.
        """
        name = clean_name(name)
        with self.transaction() as conn:
            old = self._require_person(conn, person_id)
            conn.execute("UPDATE people SET name = ? WHERE id = ?", (name, person_id))
            self.audit(conn, actor, "rename person", person_id=person_id, old=old, new=name)

    def people(self, search: str = "") -> list[Person]:
        """Everyone enrolled, by name, optionally filtered by a substring of name or external id."""
        pattern = f"%{search.strip()}%"
        rows = self._conn.execute(
            "SELECT p.id, p.name, p.external_id, count(f.id) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id "
            "WHERE p.name LIKE ? OR coalesce(p.external_id, '') LIKE ? "
            "GROUP BY p.id ORDER BY p.name COLLATE NOCASE, p.id",
            (pattern, pattern),
        ).fetchall()
        return [Person(int(r[0]), str(r[1]), r[2], int(r[3])) for r in rows]

    def person(self, person_id: int) -> Person | None:
        """One person, or None."""
        row = self._conn.execute(
            "SELECT p.id, p.name, p.external_id, count(f.id) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id WHERE p.id = ? GROUP BY p.id",
            (person_id,),
        ).fetchone()
        return None if row is None else Person(int(row[0]), str(row[1]), row[2], int(row[3]))

    def person_by_external_id(self, external_id: str) -> Person | None:
        """The person with this external id, or None."""
        row = self._conn.execute(
            "SELECT id FROM people WHERE external_id = ?", (external_id,)
        ).fetchone()
        return None if row is None else self.person(int(row[0]))

    def faces_of(self, person_id: int) -> list[StoredFace]:
        """The stored images of a person, oldest first."""
        rows = self._conn.execute(
            "SELECT id, person_id, source, pinned, model_id FROM faces WHERE person_id = ? "
            "ORDER BY id",
            (person_id,),
        ).fetchall()
        return [StoredFace(int(r[0]), int(r[1]), str(r[2]), bool(r[3]), str(r[4])) for r in rows]

    # -- matching and the rolling update ----------------------------------------------------

    def match(self, embedding: Embedding, threshold: float, min_margin: float) -> Match:
        """The open-set decision against every stored image (see :mod:`kiosk.match`)."""
        return self.matrix.nearest(embedding, threshold, min_margin)

    def lookalike(
        self, embedding: Embedding, threshold: float, min_margin: float,
        except_person_id: int | None = None,
    ) -> tuple[Match, str] | None:
        """The enrolled person a new face would be taken for (enrolment's duplicate check).

        Returns:
            (the accepted match, that person's name), or None when the face matches nobody, or
            only ``except_person_id`` (the person being re-enrolled).
        """
        match = self.match(embedding, threshold, min_margin)
        if not match.accepted or match.person_id is None or match.person_id == except_person_id:
            return None
        other = self.person(match.person_id)
        return match, other.name if other else "?"

    def record_match(
        self, person_id: int, embedding: Embedding, crop_jpeg: bytes | None = None,
        quality: float | None = None,
    ) -> int | None:
        """The rolling update after a confident, live match, in one transaction.

        Adds the new face as an unpinned image. When the person already has the maximum number
        of images, the unpinned image farthest from the new face is replaced; when every image
        is pinned (enrolment), nothing is added. Returns the new image id, or None.
        """
        replaced: int | None = None
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT id, embedding, pinned FROM faces WHERE person_id = ? AND model_id = ?",
                (person_id, self.model_id),
            ).fetchall()
            if not conn.execute("SELECT 1 FROM people WHERE id = ?", (person_id,)).fetchone():
                return None
            if len(rows) >= self.max_images_per_person:
                unpinned = [r for r in rows if not r[2]]
                if not unpinned:
                    return None
                stored = np.stack([blob_to_embedding(r[1]) for r in unpinned])
                replaced = int(unpinned[farthest_row(stored, embedding)][0])
                conn.execute("DELETE FROM faces WHERE id = ?", (replaced,))
            image_id = self._insert_face(conn, person_id, embedding, crop_jpeg, SOURCE_AUTO, False, quality)
        if replaced is not None:
            self.matrix.remove_image(replaced)
        self.matrix.add(image_id, person_id, embedding)
        return image_id

    # -- events and check-ins ---------------------------------------------------------------

    def create_event(
        self, name: str, opens_at: str | None = None, closes_at: str | None = None,
        actor: str = "admin",
    ) -> int:
        """Create an event with an optional check-in window (ISO times); returns its id.

        Raises:
            ValueError: empty name, unparsable time, or a window that closes before it opens.
        """
        name = (name or "").strip()
        if not name:
            raise ValueError("the event name must not be empty")
        opens = parse_time(opens_at) if opens_at else None
        closes = parse_time(closes_at) if closes_at else None
        if opens and closes and closes <= opens:
            raise ValueError("the check-in window closes before it opens")
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO events (name, opens_at, closes_at, created_at) VALUES (?, ?, ?, ?)",
                (name, opens.isoformat() if opens else None, closes.isoformat() if closes else None, now_iso()),
            )
            event_id = int(cursor.lastrowid or 0)
            self.audit(conn, actor, "create event", event_id=event_id, name=name)
        return event_id

    def events(self) -> list[dict[str, Any]]:
        """All events, newest first."""
        return list(self.db["events"].rows_where(order_by="id desc"))

    def event(self, event_id: int) -> dict[str, Any] | None:
        """One event, or None."""
        rows = list(self.db["events"].rows_where("id = ?", [event_id]))
        return rows[0] if rows else None

    def check_in(
        self, person_id: int, event_id: int, method: str = "auto", distance: float | None = None,
        liveness: float | None = None, operator: str | None = None, reason: str | None = None,
    ) -> tuple[bool, str]:
        """Check a person in to an event once; returns (new, time of the check-in).

        A second call for the same person and event changes nothing and returns the first time.
        Manual check-ins are audit-logged with the operator and reason.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT at FROM checkins WHERE event_id = ? AND person_id = ?", (event_id, person_id)
            ).fetchone()
            if row is not None:
                return False, str(row[0])
            self._require_person(conn, person_id)
            at = now_iso()
            conn.execute(
                "INSERT INTO checkins (event_id, person_id, at, method, distance, liveness, "
                "operator, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, person_id, at, method, distance, liveness, operator, reason),
            )
            if method == "manual":
                self.audit(conn, operator or "staff", "manual check-in", event_id=event_id,
                           person_id=person_id, reason=reason)
        return True, at

    def undo_check_in(self, person_id: int, event_id: int, operator: str, reason: str = "") -> bool:
        """Remove a check-in (audit-logged); False when there was none."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM checkins WHERE event_id = ? AND person_id = ?", (event_id, person_id)
            )
            if cursor.rowcount == 0:
                return False
            self.audit(conn, operator, "undo check-in", event_id=event_id, person_id=person_id,
                       reason=reason)
        return True

    def checkins(self, event_id: int) -> list[dict[str, Any]]:
        """Check-ins of an event, in time order, with the person's name and external id."""
        cursor = self._conn.execute(
            "SELECT c.person_id, p.name, p.external_id, c.event_id, c.at, c.method, c.distance, "
            "c.liveness, c.operator, c.reason FROM checkins c JOIN people p ON p.id = c.person_id "
            "WHERE c.event_id = ? ORDER BY c.at, c.id",
            (event_id,),
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def audit_log(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest audit entries first."""
        return list(self.db["audit_log"].rows_where(order_by="id desc", limit=limit))

    # -- refused spoof attempts -------------------------------------------------------------

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
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO spoof_attempts (event_id, at, reason, thumbnail_jpeg) "
                "VALUES (?, ?, ?, ?)",
                (event_id, now_iso(), reason,
                 thumbnail_jpeg if self.store_face_crops and thumbnail_jpeg else None),
            )
        return int(cursor.lastrowid or 0)

    def spoof_attempts(self, event_id: int | None = None) -> list[dict[str, Any]]:
        """Refused spoof attempts, newest first, with their thumbnails (JPEG bytes or None).

        Args:
            event_id: only those of one event; None for all.
        """
        where, params = ("WHERE event_id = ?", (event_id,)) if event_id is not None else ("", ())
        cursor = self._conn.execute(
            "SELECT id, event_id, at, reason, thumbnail_jpeg FROM spoof_attempts "
            f"{where} ORDER BY id DESC",
            params,
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def purge_old_spoof_attempts(self, days: int, now: dt.datetime | None = None) -> int:
        """Delete spoof attempts older than ``days`` days (0: all); returns how many.

        Run at start-up and daily with ``[gallery] spoof_retention_days``. Deleted pictures
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
        with self.transaction() as conn:
            old = [
                int(row[0])
                for row in conn.execute("SELECT id, at FROM spoof_attempts").fetchall()
                if _older_than(str(row[1]), cutoff)
            ]
            conn.executemany("DELETE FROM spoof_attempts WHERE id = ?", [(i,) for i in old])
            if old:
                self.audit(conn, "system", "purge spoof attempts", count=len(old),
                           retention_days=days)
        if old:
            self.checkpoint()
        return len(old)


def _older_than(at: str, cutoff: dt.datetime) -> bool:
    """Whether a stored ISO time is before ``cutoff``; unreadable times count as old."""
    try:
        return parse_time(at) < cutoff
    except ValueError:
        return True


def open_gallery(settings: Settings) -> Gallery:
    """The gallery that the settings describe (``[gallery]`` and the recognition model id).

    The default folder (``data/``) is created on first use, readable by its owner only; a
    folder named by the user (``--db``, ``[gallery] db_path``) must exist.

    Raises:
        GalleryError: see :class:`Gallery`.
    """
    if settings.gallery.db_path == GallerySettings().db_path:
        Path(settings.gallery.db_path).parent.mkdir(mode=0o700, exist_ok=True)
    return Gallery(
        settings.gallery.db_path,
        model_id=settings.recognition.model_id,
        max_images_per_person=settings.gallery.max_images_per_person,
        store_face_crops=settings.gallery.store_face_crops,
        busy_timeout_ms=settings.gallery.busy_timeout_ms,
    )


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
