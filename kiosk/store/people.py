"""People and their face images: enrolment, the rolling update, deletion, lookup.

Each face image (``faces``) belongs to one person and has one embedding per model that embedded
it (``face_embeddings``: face id, model id, float32 bytes), so that images enrolled with one
model are never compared with another model's. Enrolment images are *pinned*: the rolling
update (:meth:`People.record_match`) never replaces them, so the gallery cannot drift toward an
impostor. Every change is one transaction with its audit row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kiosk.store.base import (
    Store,
    Transaction,
    blob_to_embedding,
    embedding_to_blob,
    now_iso,
    require_person,
)
from kiosk.names import clean_name
from kiosk.types import Embedding

SOURCE_ENROL = "enrol"
SOURCE_AUTO = "auto"


class FaceGate(Protocol):
    """Whether a live face may join a person's images (the rolling update's gate, e.g.
    :class:`kiosk.matching.rule.RollingUpdateGate`)."""

    @property
    def weights(self) -> Mapping[str, float]:
        """The models whose embeddings the gate compares."""

    def admits(self, stored: Mapping[str, np.ndarray], face: Mapping[str, Embedding],
               pinned: np.ndarray | None = None) -> bool:
        """``stored``: model id -> (K, dim) the person's images, row for row; ``pinned``: (K,)
        which of them are enrolment images."""


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


@dataclass(frozen=True, slots=True)
class ImageChange:
    """What a change did to the stored images (to update the matching indexes).

    Attributes:
        added: (image id, person id, {model id: embedding}) of each new image.
        removed: ids of images that were deleted.
    """

    added: tuple[tuple[int, int, dict[str, Embedding]], ...] = ()
    removed: tuple[int, ...] = ()


ImageEmbeddings = Embedding | Mapping[str, Embedding]  # one image: the kiosk model's, or per model


@dataclass(frozen=True, slots=True)
class IncompleteImage:
    """A stored image that lacks the embedding of a model the kiosk uses.

    Attributes:
        image_id: the face image.
        person_id: its person.
        name: the person's name.
        missing: the model ids it has no embedding of.
        has_crop: whether its aligned crop is stored (it can be re-embedded from it).
    """

    image_id: int
    person_id: int
    name: str
    missing: tuple[str, ...]
    has_crop: bool


def farthest_row(candidates: np.ndarray, embedding: Embedding) -> int:
    """Index of the row of ``candidates`` (K, dim), unit vectors, farthest from ``embedding``."""
    return int(np.argmin(np.asarray(candidates, np.float32) @ np.asarray(embedding, np.float32)))


def delete_person_rows(tx: Transaction, person_id: int, has_outbox: bool) -> list[int]:
    """The one deletion of a person, inside the caller's transaction: their embeddings, face
    images, check-ins, what waits for them in the outbox (a kiosk's file) and the person.
    Used by :meth:`People.delete_person` and by the replica when the service deleted someone
    (:mod:`kiosk.store.replica`). The caller calls ``store.forget_deleted()`` after the commit.

    Returns:
        The ids of the deleted face images (none when there was no such person).
    """
    face_ids = [int(r[0]) for r in tx.execute(
        "SELECT id FROM faces WHERE person_id = ?", (person_id,)
    ).fetchall()]
    tx.execute("DELETE FROM face_embeddings WHERE face_id IN "
               "(SELECT id FROM faces WHERE person_id = ?)", (person_id,))
    tx.execute("DELETE FROM faces WHERE person_id = ?", (person_id,))
    tx.execute("DELETE FROM checkins WHERE person_id = ?", (person_id,))
    if has_outbox:
        tx.execute("DELETE FROM outbox WHERE person_id = ?", (person_id,))
    tx.execute("DELETE FROM people WHERE id = ?", (person_id,))
    return face_ids


class People:
    """The people and face tables of a store.

    Args:
        store: the database.
        model_id: the embedding model of this kiosk: new embeddings are stored under it, and
            only images with an embedding of this model count for the rolling update.
        max_images_per_person: the rolling-update limit.
        store_face_crops: keep the aligned face crop (JPEG) of each image.
        extra_model_ids: further models every new image must have an embedding of (dlib's
            encoder with fusion on): new images then come as ``{model id: embedding}``.
    """

    def __init__(
        self, store: Store, model_id: str, max_images_per_person: int = 10,
        store_face_crops: bool = True, extra_model_ids: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.model_id = model_id
        self.model_ids: tuple[str, ...] = (model_id, *[m for m in extra_model_ids if m != model_id])
        self.max_images_per_person = max_images_per_person
        self.store_face_crops = store_face_crops

    def per_model(self, embedding: ImageEmbeddings, name: str = "embeddings") -> dict[str, Embedding]:
        """One image's embeddings as ``{model id: embedding}``, with every model of
        :attr:`model_ids` (a bare vector is this kiosk's model's).

        Raises:
            ValueError: a model of :attr:`model_ids` is missing (naming ``name``).
        """
        embeddings = (dict(embedding) if isinstance(embedding, Mapping)
                      else {self.model_id: embedding})
        missing = [m for m in self.model_ids if m not in embeddings]
        if missing:
            raise ValueError(
                f"{name}: each image needs an embedding of {', '.join(self.model_ids)}; "
                f"missing {', '.join(missing)}"
            )
        return {m: np.asarray(v, np.float32) for m, v in embeddings.items()}

    # -- changes -------------------------------------------------------------------------------

    def _insert_face(
        self, tx: Transaction, person_id: int, embeddings: Mapping[str, Embedding],
        crop_jpeg: bytes | None, source: str, pinned: bool, quality: float | None = None,
    ) -> int:
        face_id = tx.insert("faces", {
            "person_id": person_id,
            "crop_jpeg": crop_jpeg if self.store_face_crops else None,
            "source": source, "pinned": int(pinned), "quality": quality, "created_at": now_iso(),
        })
        tx.executemany(
            "INSERT INTO face_embeddings (face_id, model_id, embedding) VALUES (?, ?, ?)",
            [(face_id, model_id, embedding_to_blob(vector))
             for model_id, vector in embeddings.items()],
        )
        return face_id

    def add_person(
        self,
        name: str,
        embeddings: Sequence[ImageEmbeddings],
        crops_jpeg: Sequence[bytes | None] | None = None,
        external_id: str | None = None,
        actor: str = "admin",
    ) -> tuple[int, ImageChange]:
        """Enrol a person with one or more pinned images, in one transaction.

        Args:
            embeddings: per image, its embedding of this kiosk's model, or ``{model id:
                embedding}`` with every model of :attr:`model_ids` (see :meth:`per_model`).

        Returns:
            The new person's id and the images added.

        Raises:
            ValueError: empty name, no images, an image without an embedding of one of the
                kiosk's models, or an external id that is already taken.
            StoreError: nothing could be stored.
        """
        name = clean_name(name)
        if not embeddings:
            raise ValueError("at least one face image is needed to enrol")
        embeddings = [self.per_model(e) for e in embeddings]
        external_id = (external_id or "").strip() or None
        crops = list(crops_jpeg) if crops_jpeg else [None] * len(embeddings)
        added: list[tuple[int, int, dict[str, Embedding]]] = []
        with self.store.transaction() as tx:
            if external_id is not None and tx.execute(
                "SELECT 1 FROM people WHERE external_id = ?", (external_id,)
            ).fetchone():
                raise ValueError(f"the external id {external_id!r} is already enrolled")
            person_id = tx.insert(
                "people", {"name": name, "external_id": external_id, "created_at": now_iso()}
            )
            for embedding, crop in zip(embeddings, crops):
                face_id = self._insert_face(tx, person_id, embedding, crop, SOURCE_ENROL, True)
                added.append((face_id, person_id, embedding))
            tx.audit(actor, "enrol", person_id=person_id, name=name, external_id=external_id,
                     images=len(embeddings))
        return person_id, ImageChange(added=tuple(added))

    def add_images(
        self, person_id: int, embeddings: Sequence[ImageEmbeddings],
        crops_jpeg: Sequence[bytes | None] | None = None, actor: str = "admin",
    ) -> ImageChange:
        """Add pinned enrolment images to an existing person (re-enrolment), one transaction.

        Enrolment images beyond the per-person limit replace the oldest automatic images first.

        Raises:
            ValueError: unknown person, more pinned images than the limit allows, or an image
                without an embedding of one of the kiosk's models.
        """
        embeddings = [self.per_model(e) for e in embeddings]
        crops = list(crops_jpeg) if crops_jpeg else [None] * len(embeddings)
        added: list[tuple[int, int, dict[str, Embedding]]] = []
        removed: list[int] = []
        with self.store.transaction() as tx:
            require_person(tx, person_id)
            for embedding, crop in zip(embeddings, crops):
                rows = tx.execute(
                    "SELECT id, pinned FROM faces WHERE person_id = ? ORDER BY pinned, id",
                    (person_id,),
                ).fetchall()
                if len(rows) >= self.max_images_per_person:
                    if rows[0][1]:
                        raise ValueError(
                            f"person {person_id} already has {len(rows)} pinned enrolment images"
                        )
                    tx.execute("DELETE FROM faces WHERE id = ?", (rows[0][0],))
                    removed.append(int(rows[0][0]))
                face_id = self._insert_face(tx, person_id, embedding, crop, SOURCE_ENROL, True)
                added.append((face_id, person_id, embedding))
            tx.audit(actor, "re-enrol", person_id=person_id, images=len(embeddings))
        return ImageChange(added=tuple(added), removed=tuple(removed))

    def delete_person(self, person_id: int, actor: str = "admin") -> ImageChange:
        """Delete a person and all their biometric data (images, embeddings, crops,
        check-ins, changes waiting in the outbox), in one transaction (:func:`delete_person_rows`);
        then make sure no copy of the deleted bytes is left (``secure_delete`` overwrites the
        freed pages, the WAL is checkpointed and truncated).

        Raises:
            ValueError: no such person.
            StoreError: nothing was deleted, or (after the deletion) the WAL could not be
                truncated.
        """
        with self.store.transaction() as tx:
            name = require_person(tx, person_id)
            face_ids = delete_person_rows(tx, person_id, self.store.has_outbox)
            tx.audit(actor, "delete person", person_id=person_id, name=name, images=len(face_ids))
        self.store.forget_deleted()
        return ImageChange(removed=tuple(face_ids))

    def rename_person(self, person_id: int, name: str, actor: str = "admin") -> None:
        """Change a person's name.

        Raises:
            ValueError: empty name or no such person.
        """
        name = clean_name(name)
        with self.store.transaction() as tx:
            old = require_person(tx, person_id)
            tx.execute("UPDATE people SET name = ? WHERE id = ?", (name, person_id))
            tx.audit(actor, "rename person", person_id=person_id, old=old, new=name)

    def record_match(
        self, person_id: int, embedding: ImageEmbeddings, crop_jpeg: bytes | None = None,
        quality: float | None = None, gate: FaceGate | None = None,
    ) -> ImageChange:
        """The rolling update after a confident, live match, in one transaction.

        Adds the new face as an unpinned image (with every model's embedding, as
        :meth:`add_person`), when ``gate`` admits it against the person's stored images (all
        of them, pinned or not, read in the same transaction); None admits every face. When
        the person already has the maximum number of images, the unpinned image farthest from
        the new face (by this kiosk's model) is replaced; when every image is pinned
        (enrolment), nothing is added. A person deleted meanwhile gets nothing.

        Raises:
            ValueError: an embedding of one of the kiosk's models is missing.
        """
        embeddings = self.per_model(embedding, "embedding")
        embedding = embeddings[self.model_id]
        replaced: int | None = None
        with self.store.transaction() as tx:
            if not tx.execute("SELECT 1 FROM people WHERE id = ?", (person_id,)).fetchone():
                return ImageChange()
            if gate is not None:
                stored, pinned = self._stored_embeddings(tx, person_id, tuple(gate.weights))
                if not gate.admits(stored, embeddings, pinned):
                    return ImageChange()
            rows = tx.execute(
                "SELECT f.id, e.embedding, f.pinned FROM faces f JOIN face_embeddings e "
                "ON e.face_id = f.id AND e.model_id = ? WHERE f.person_id = ?",
                (self.model_id, person_id),
            ).fetchall()
            if len(rows) >= self.max_images_per_person:
                unpinned = [r for r in rows if not r[2]]
                if not unpinned:
                    return ImageChange()
                stored = np.stack([blob_to_embedding(r[1]) for r in unpinned])
                replaced = int(unpinned[farthest_row(stored, embedding)][0])
                tx.execute("DELETE FROM face_embeddings WHERE face_id = ?", (replaced,))
                tx.execute("DELETE FROM faces WHERE id = ?", (replaced,))
            face_id = self._insert_face(
                tx, person_id, embeddings, crop_jpeg, SOURCE_AUTO, False, quality
            )
        return ImageChange(
            added=((face_id, person_id, embeddings),),
            removed=(replaced,) if replaced is not None else (),
        )

    @staticmethod
    def _stored_embeddings(tx: Transaction, person_id: int, model_ids: Sequence[str],
                           ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """A person's images that have an embedding of every model of ``model_ids``: (model id
        -> (K, dim), row for row; (K,) bool, which are pinned)."""
        marks = ", ".join("?" * len(model_ids))
        rows = tx.execute(
            "SELECT f.id, f.pinned, e.model_id, e.embedding FROM faces f JOIN face_embeddings e "
            f"ON e.face_id = f.id WHERE f.person_id = ? AND e.model_id IN ({marks}) ORDER BY f.id",
            (person_id, *model_ids),
        ).fetchall()
        by_face: dict[int, dict[str, np.ndarray]] = {}
        pinned_faces = set()
        for face_id, pinned, model_id, blob in rows:
            by_face.setdefault(int(face_id), {})[str(model_id)] = blob_to_embedding(blob)
            if pinned:
                pinned_faces.add(int(face_id))
        complete = [f for f, faces in by_face.items() if len(faces) == len(model_ids)]
        stored = {m: (np.stack([by_face[f][m] for f in complete]) if complete
                      else np.empty((0, 0), np.float32)) for m in model_ids}
        return stored, np.array([f in pinned_faces for f in complete], bool)

    def add_many(
        self, people: Sequence[tuple[str, str | None, Any]], actor: str = "admin"
    ) -> int:
        """Enrol many people at once, in one transaction, without crops (benchmarks, soak tests).

        Rows are written with ``executemany`` and ids counted on from the largest id inside the
        write lock, so 1,000,000 images take seconds, not minutes.

        Args:
            people: (name, external id, embeddings) per person: (K, dim) of this table's model,
                or ``{model id: (K, dim)}`` for several models (the same K images).

        Returns:
            The number of images stored.
        """
        at = now_iso()
        with self.store.transaction() as tx:
            next_person = int(tx.execute("SELECT coalesce(max(id), 0) FROM people").fetchone()[0])
            next_face = int(tx.execute("SELECT coalesce(max(id), 0) FROM faces").fetchone()[0])
            person_rows, face_rows, embedding_rows = [], [], []
            for name, external_id, embeddings in people:
                next_person += 1
                person_rows.append((next_person, name, external_id, at))
                per_model = embeddings if isinstance(embeddings, Mapping) else {
                    self.model_id: embeddings}
                images = len(next(iter(per_model.values())))
                for offset in range(images):
                    next_face += 1
                    face_rows.append((next_face, next_person, SOURCE_ENROL, 1, at))
                    for model_id, vectors in per_model.items():
                        embedding_rows.append((next_face, model_id, embedding_to_blob(
                            np.asarray(vectors[offset], np.float32))))
            tx.executemany(
                "INSERT INTO people (id, name, external_id, created_at) VALUES (?, ?, ?, ?)",
                person_rows,
            )
            tx.executemany(
                "INSERT INTO faces (id, person_id, source, pinned, created_at) "
                "VALUES (?, ?, ?, ?, ?)", face_rows,
            )
            tx.executemany(
                "INSERT INTO face_embeddings (face_id, model_id, embedding) VALUES (?, ?, ?)",
                embedding_rows,
            )
            tx.audit(actor, "enrol many", people=len(person_rows), images=len(face_rows))
        return len(face_rows)

    # -- reading -------------------------------------------------------------------------------

    def people(self, search: str = "") -> list[Person]:
        """Everyone enrolled, by name, optionally filtered by a substring of name or external id
        (case-insensitive)."""
        pattern = f"%{search.strip().lower()}%"
        rows = self.store.query(
            "SELECT p.id, p.name, p.external_id, count(f.id) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id "
            "WHERE lower(p.name) LIKE ? OR lower(coalesce(p.external_id, '')) LIKE ? "
            "GROUP BY p.id, p.name, p.external_id ORDER BY lower(p.name), p.id",
            (pattern, pattern),
        )
        return [Person(int(r[0]), str(r[1]), r[2], int(r[3])) for r in rows]

    def person(self, person_id: int) -> Person | None:
        """One person, or None."""
        row = self.store.query_one(
            "SELECT p.id, p.name, p.external_id, count(f.id) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id WHERE p.id = ? "
            "GROUP BY p.id, p.name, p.external_id",
            (person_id,),
        )
        return None if row is None else Person(int(row[0]), str(row[1]), row[2], int(row[3]))

    def person_by_external_id(self, external_id: str) -> Person | None:
        """The person with this external id, or None."""
        row = self.store.query_one("SELECT id FROM people WHERE external_id = ?", (external_id,))
        return None if row is None else self.person(int(row[0]))

    def faces_of(self, person_id: int) -> list[StoredFace]:
        """The stored images of a person, oldest first, with the model of each embedding
        (one entry per image and model)."""
        rows = self.store.query(
            "SELECT f.id, f.person_id, f.source, f.pinned, e.model_id FROM faces f "
            "JOIN face_embeddings e ON e.face_id = f.id WHERE f.person_id = ? "
            "ORDER BY f.id, e.model_id",
            (person_id,),
        )
        return [StoredFace(int(r[0]), int(r[1]), str(r[2]), bool(r[3]), str(r[4])) for r in rows]

    def count_embeddings(self, model_id: str | None = None) -> int:
        """How many stored embeddings there are of one model (this kiosk's by default)."""
        row = self.store.query_one(
            "SELECT count(*) FROM face_embeddings WHERE model_id = ?",
            (model_id or self.model_id,),
        )
        return int(row[0]) if row else 0

    def embeddings(
        self, model_id: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored embedding of one model, read straight into preallocated arrays (no
        intermediate copies: at 100,000 images the matrix alone is 200 MB).

        Returns:
            image ids (N,), person ids (N,), embeddings (N, dim) float32.
        """
        model_id = model_id or self.model_id
        count = self.count_embeddings(model_id)
        ids = np.empty(count, np.int64)
        persons = np.empty(count, np.int64)
        matrix: np.ndarray | None = None
        filled = 0
        for image_id, person_id, blob in self.store.iterate(
            "SELECT f.id, f.person_id, e.embedding FROM face_embeddings e "
            "JOIN faces f ON f.id = e.face_id WHERE e.model_id = ? ORDER BY f.id",
            (model_id,),
        ):
            if filled == count:  # another kiosk added images meanwhile: next reload
                break
            vector = np.frombuffer(blob, "<f4")
            if matrix is None:
                matrix = np.empty((count, len(vector)), np.float32)
            ids[filled], persons[filled] = image_id, person_id
            matrix[filled] = vector
            filled += 1
        if matrix is None:
            matrix = np.empty((0, 512), np.float32)
        return ids[:filled], persons[:filled], matrix[:filled]

    def incomplete_images(self) -> list[IncompleteImage]:
        """The stored images that lack an embedding of one of :attr:`model_ids` (enrolled
        before fusion, or under another FaceNet model), oldest first. They take no part in
        matching until :meth:`set_embeddings` (``python main.py reembed``) fills them in."""
        placeholders = ", ".join("?" for _ in self.model_ids)
        rows = self.store.query(
            "SELECT f.id, f.person_id, p.name, f.crop_jpeg IS NOT NULL, e.model_id FROM faces f "
            "JOIN people p ON p.id = f.person_id "
            f"LEFT JOIN face_embeddings e ON e.face_id = f.id AND e.model_id IN ({placeholders}) "
            "ORDER BY f.id",
            self.model_ids,
        )
        found: dict[int, tuple[int, str, bool, set[str]]] = {}
        for face_id, person_id, name, has_crop, model_id in rows:
            entry = found.setdefault(int(face_id), (int(person_id), str(name), bool(has_crop), set()))
            if model_id is not None:
                entry[3].add(str(model_id))
        return [
            IncompleteImage(face_id, person_id, name,
                            tuple(m for m in self.model_ids if m not in models), has_crop)
            for face_id, (person_id, name, has_crop, models) in found.items()
            if len(models) < len(self.model_ids)
        ]

    def set_embeddings(
        self, embeddings: Mapping[int, Mapping[str, Embedding]], actor: str = "admin",
    ) -> int:
        """Store (or replace) embeddings of existing images, in one transaction with its audit
        row (the re-embedding of a gallery enrolled before a model was added). Images deleted
        meanwhile are skipped.

        Args:
            embeddings: image id -> {model id: embedding}.

        Returns:
            How many images were updated.
        """
        updated = 0
        with self.store.transaction() as tx:
            for face_id, vectors in embeddings.items():
                if not tx.execute("SELECT 1 FROM faces WHERE id = ?", (face_id,)).fetchone():
                    continue
                tx.executemany(
                    "INSERT INTO face_embeddings (face_id, model_id, embedding) VALUES (?, ?, ?) "
                    "ON CONFLICT (face_id, model_id) DO UPDATE SET embedding = excluded.embedding",
                    [(face_id, m, embedding_to_blob(v)) for m, v in vectors.items()],
                )
                updated += 1
            tx.audit(actor, "re-embed", images=updated,
                     models=sorted({m for v in embeddings.values() for m in v}))
        return updated

    def crop_of(self, face_id: int) -> bytes | None:
        """The stored aligned crop (JPEG) of one image, or None."""
        row = self.store.query_one("SELECT crop_jpeg FROM faces WHERE id = ?", (face_id,))
        return None if row is None or row[0] is None else bytes(row[0])
