"""A connected kiosk's gallery as a replica of the central service's: what one page of the
service's changes writes here (:mod:`kiosk.sync` fetches and decodes them).

People, faces with their embeddings and events keep the service's ids. A person the service
deleted loses all their biometric data here through the one deletion
(:func:`kiosk.store.people.delete_person_rows`); the caller then calls ``forget_deleted``. Each
page is one transaction with the revision it brings the replica to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kiosk.store.base import Store, embedding_to_blob
from kiosk.store.people import delete_person_rows

REVISION_KEY = "server_revision"


@dataclass(frozen=True)
class ReplicaFace:
    """One face image as the service sent it (embeddings decoded)."""

    id: int
    person_id: int
    source: str
    pinned: int
    quality: float | None
    created_at: str
    crop_jpeg: bytes | None
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplicaPage:
    """One page of the service's changes after a revision.

    Attributes:
        revision: the revision the replica reaches with this page.
        people: (id, name, external id, created at).
        faces: new or changed face images.
        deleted_people, deleted_faces: ids the service no longer has.
        events: (id, name, opens at, closes at, created at).
    """

    revision: int
    people: Sequence[tuple[int, str, str | None, str]] = ()
    faces: Sequence[ReplicaFace] = ()
    deleted_people: Sequence[int] = ()
    deleted_faces: Sequence[int] = ()
    events: Sequence[tuple[int, str, str | None, str | None, str]] = ()

    @property
    def empty(self) -> bool:
        return not (self.people or self.faces or self.deleted_people or self.deleted_faces
                    or self.events)


class Replica:
    """The replicated tables of a connected kiosk's store (and the revision it reached)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def revision(self) -> int:
        """The service's revision this replica reached (0: never synced)."""
        row = self.store.query_one("SELECT value FROM settings_store WHERE key = ?",
                                   (REVISION_KEY,))
        return int(row[0]) if row else 0

    def holds_own_data(self) -> bool:
        """People or events exist here: a gallery that was never synced must not have any
        (their ids would collide with the service's)."""
        row = self.store.query_one(
            "SELECT (SELECT count(*) FROM people) + (SELECT count(*) FROM events)")
        return bool(row and int(row[0]))

    def apply(self, page: ReplicaPage) -> bool:
        """Write one page in one transaction; True when something was deleted (the caller
        then calls ``store.forget_deleted()``)."""
        with self.store.transaction() as tx:
            for person_id in page.deleted_people:
                delete_person_rows(tx, int(person_id), self.store.has_outbox)
            for face_id in page.deleted_faces:
                tx.execute("DELETE FROM face_embeddings WHERE face_id = ?", (face_id,))
                tx.execute("DELETE FROM faces WHERE id = ?", (face_id,))
            tx.executemany(
                "INSERT INTO people (id, name, external_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "external_id = excluded.external_id", [tuple(p) for p in page.people])
            for face in page.faces:
                tx.execute("DELETE FROM face_embeddings WHERE face_id = ?", (face.id,))
                tx.execute("DELETE FROM faces WHERE id = ?", (face.id,))
                tx.execute(
                    "INSERT INTO faces (id, person_id, crop_jpeg, source, pinned, quality, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (face.id, face.person_id, face.crop_jpeg, face.source, face.pinned,
                     face.quality, face.created_at))
                tx.executemany(
                    "INSERT INTO face_embeddings (face_id, model_id, embedding) VALUES (?, ?, ?)",
                    [(face.id, model_id, embedding_to_blob(vector))
                     for model_id, vector in face.embeddings.items()])
            tx.executemany(
                "INSERT INTO events (id, name, opens_at, closes_at, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "opens_at = excluded.opens_at, closes_at = excluded.closes_at",
                [tuple(e) for e in page.events])
            tx.execute(
                "INSERT INTO settings_store (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (REVISION_KEY, str(int(page.revision))))
            if page.deleted_people:
                tx.audit("server", "sync deletions", people=list(page.deleted_people))
        return bool(page.deleted_people or page.deleted_faces)
