"""The gallery: one store with its table modules, and the in-memory matching index kept in step.

:class:`Gallery` is what the kiosk and the CLI open. The rules of each table live in
:mod:`kiosk.store` (:class:`~kiosk.store.people.People`, :class:`~kiosk.store.events.Events`,
:class:`~kiosk.store.checkins.CheckIns`, :class:`~kiosk.store.keyvalue.KeyValues`); the database
itself (connection, schema version, migrations, transactions, audit) is a
:class:`~kiosk.store.base.Store`. The matching index (:class:`kiosk.matching.matrix.GalleryMatrix`, every
stored embedding of this kiosk's model as one float32 matrix) is read only when something
matches (:attr:`Gallery.index`), updated together with every change made through the gallery,
and re-read when another process changed the file (:meth:`Gallery.refresh_if_changed`).

With fusion (``fusion_weights``), every image keeps an embedding of each fused model and the
gallery holds one matrix per model (:attr:`Gallery.indexes`, the same images in the same rows);
:attr:`Gallery.matcher` is then a :class:`kiosk.matching.fused.FusedMatcher` and queries are
``{model id: embedding}``. Images that lack one of the models' embeddings (enrolled before
fusion) are left out of every matrix until ``python main.py reembed`` fills them in
(:meth:`Gallery.incomplete_images`): never matched on one model alone.

The methods below are the gallery's public operations; each is one call into the module that
owns the rule, plus the index update where images change.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.config import GallerySettings, Settings
from kiosk.decision import current_event_id
from kiosk.matching.fused import FusedMatcher
from kiosk.matching.matrix import GalleryMatrix
from kiosk.matching.rule import DlibFirstBand, Match, fusion_weights_of
from kiosk.store.base import (
    Store,
    StoreError,
    audit_log,
    blob_to_embedding,
    embedding_to_blob,
    now_iso,
    parse_time,
    record_action,
)
from kiosk.store.checkins import CheckIns
from kiosk.store.events import Events
from kiosk.store.keyvalue import KeyValues
from kiosk.store.people import (
    SOURCE_AUTO,
    SOURCE_ENROL,
    FaceGate,
    ImageChange,
    ImageEmbeddings,
    IncompleteImage,
    People,
    Person,
    StoredFace,
)
from kiosk.store.sqlite import SQLiteStore
from kiosk.types import Embedding

GalleryError = StoreError  # the name the rest of the kiosk uses for storage errors

__all__ = [
    "Gallery", "GalleryError", "Person", "StoredFace", "SOURCE_AUTO", "SOURCE_ENROL",
    "blob_to_embedding", "embedding_to_blob", "now_iso", "open_gallery", "parse_time",
]


class Gallery:
    """A store, its table modules and the matching index (see the module docstring).

    Args:
        path: the SQLite file; its folder must exist. ``":memory:"`` for tests.
        model_id: the embedding model of this kiosk; only images of this model are matched.
        max_images_per_person: the rolling-update limit.
        store_face_crops: keep the aligned face crop (JPEG) of each image.
        busy_timeout_ms: how long to wait for another kiosk's write lock.
        store: an already open store to use instead of ``path``.
        fusion_weights: with fusion, model id -> factor of the fused distance
            (:func:`kiosk.matching.rule.model_weights`, ``model_id`` among them); None matches with
            ``model_id`` alone.
        dlib_first: with fusion, where dlib's distance alone decides
            (:class:`kiosk.matching.rule.DlibFirstBand.from_settings`); None: always fused.

    Attributes:
        store: the database.
        people_table, events_table, checkins_table, values: the table modules.
        read_only: the database is not writable: reading and matching work, every change
            raises :class:`GalleryError`.

    Raises:
        GalleryError: the database cannot be opened (see :class:`kiosk.store.sqlite.SQLiteStore`).
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        model_id: str = "facenet-20180408-102900/flip",
        max_images_per_person: int = 10,
        store_face_crops: bool = True,
        busy_timeout_ms: int = 5000,
        store: Store | None = None,
        fusion_weights: Mapping[str, float] | None = None,
        dlib_first: DlibFirstBand | None = None,
    ) -> None:
        if fusion_weights is not None and model_id not in fusion_weights:
            raise ValueError(f"fusion_weights: no weight for the kiosk's model {model_id!r}")
        self.fusion_weights = dict(fusion_weights) if fusion_weights is not None else None
        self.dlib_first = dlib_first if fusion_weights is not None else None
        self.store: Store = store if store is not None else SQLiteStore(path, busy_timeout_ms)
        self.path = self.store.name
        self.model_id = model_id
        self.max_images_per_person = max_images_per_person
        self.store_face_crops = store_face_crops
        self.people_table = People(self.store, model_id, max_images_per_person, store_face_crops,
                                   extra_model_ids=tuple(self.fusion_weights or ()))
        self.model_ids = self.people_table.model_ids
        self.events_table = Events(self.store)
        self.checkins_table = CheckIns(self.store, store_face_crops)
        self.values = KeyValues(self.store)
        self._index: GalleryMatrix | None = None
        self._indexes: dict[str, GalleryMatrix] = {}
        self._index_version: int | None = None
        self._fused_matcher: FusedMatcher | None = None

    @property
    def read_only(self) -> bool:
        return self.store.read_only

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database (and end the matching indexes' scan threads, if any)."""
        matrices = [self._index, *self._indexes.values()]
        for index in {id(m): m for m in matrices if m is not None}.values():
            index.close()
        self.store.close()

    # -- the matching index --------------------------------------------------------------------

    @property
    def fused(self) -> bool:
        """Whether decisions are taken on the fused distance of several models."""
        return self.fusion_weights is not None

    @property
    def indexes(self) -> dict[str, GalleryMatrix]:
        """One matrix per model of :attr:`model_ids` (the same images, row for row).

        Raises:
            GalleryError: the database cannot be read.
        """
        if self._index is None:
            self.reload()
        return self._indexes

    @property
    def matcher(self) -> GalleryMatrix | FusedMatcher:
        """What decides a query: the kiosk model's matrix, or with fusion a
        :class:`~kiosk.matching.fused.FusedMatcher` over :attr:`indexes` (queries are then
        ``{model id: embedding}``)."""
        if self.fusion_weights is None:
            return self.index
        indexes = self.indexes
        matcher = self._fused_matcher
        # kept while the matrices are (it remembers that they hold the same rows)
        if matcher is None or any(matcher.indexes.get(m) is not x for m, x in indexes.items()):
            matcher = self._fused_matcher = FusedMatcher(indexes, self.fusion_weights,
                                                         self.dlib_first)
        return matcher

    def prepare_matching(self) -> None:
        """Read the matrices and build the int8 copies of a large gallery now, so the first
        attendee does not wait for them (about 1 s at 100,000 images, 7 s at 1,000,000).

        Raises:
            GalleryError: the database cannot be read.
        """
        self.matcher.prepare()

    @property
    def index(self) -> GalleryMatrix:
        """Every stored embedding of this kiosk's model, read on first use.

        Raises:
            GalleryError: the database cannot be read.
        """
        if self._index is None:
            self.reload()
        assert self._index is not None
        return self._index


    def reload(self) -> None:
        """Re-read the index from the database (the old one is kept when that fails).

        Raises:
            GalleryError: the database cannot be read.
        """
        version = self.store.data_version()
        loaded = {m: self.people_table.embeddings(m) for m in self.model_ids}
        if len(loaded) > 1:  # only images with every model's embedding, in the same rows
            common = loaded[self.model_id][0]
            for image_ids, _, _ in loaded.values():
                common = np.intersect1d(common, image_ids, assume_unique=True)
            for model_id, (image_ids, person_ids, embeddings) in loaded.items():
                keep = np.isin(image_ids, common, assume_unique=True)
                loaded[model_id] = (image_ids[keep], person_ids[keep], embeddings[keep])
        indexes = {m: GalleryMatrix.adopt(*arrays) if len(arrays[0]) else GalleryMatrix(model_dim(m))
                   for m, arrays in loaded.items()}
        self._index, self._indexes = indexes[self.model_id], indexes
        self._index_version = version

    def refresh_if_changed(self) -> bool:
        """Re-read the index when another process changed the database since it was read
        (people enrolled or deleted from the CLI or another kiosk). Cheap: one PRAGMA.

        Returns:
            Whether it was re-read.

        Raises:
            GalleryError: the database cannot be read.
        """
        if self._index is None or self.store.data_version() == self._index_version:
            return False
        self.reload()
        return True

    def _apply(self, change: ImageChange) -> None:
        if self._index is None:
            return
        for image_id in change.removed:
            for index in self._indexes.values():
                index.remove_image(image_id)
        for image_id, person_id, embeddings in change.added:
            for model_id, index in self._indexes.items():
                index.add(image_id, person_id, embeddings[model_id])

    def query_of(self, embedding: ImageEmbeddings) -> Embedding | dict[str, Embedding]:
        """What :attr:`matcher` takes for a face: the kiosk model's embedding, or with fusion
        ``{model id: embedding}`` of every fused model.

        Raises:
            ValueError: with fusion, a fused model's embedding is missing.
        """
        if self.fusion_weights is None:
            return embedding[self.model_id] if isinstance(embedding, Mapping) else embedding
        return self.people_table.per_model(embedding, "embedding")

    def match(self, embedding: ImageEmbeddings, threshold: float, min_margin: float) -> Match:
        """The open-set decision against every stored image (see :mod:`kiosk.matching`; with
        fusion ``embedding`` is ``{model id: embedding}`` and ``threshold`` the fused one)."""
        return self.matcher.nearest(self.query_of(embedding), threshold, min_margin)

    def lookalike(
        self, embedding: ImageEmbeddings, threshold: float, min_margin: float,
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

    # -- people (kiosk.store.people) ---------------------------------------------------------

    def add_person(
        self, name: str, embeddings: list[ImageEmbeddings], crops_jpeg: list[bytes | None] | None = None,
        external_id: str | None = None, actor: str = "admin",
    ) -> int:
        """Enrol a person (see :meth:`People.add_person`); returns the new id."""
        person_id, change = self.people_table.add_person(
            name, embeddings, crops_jpeg, external_id, actor
        )
        self._apply(change)
        return person_id

    def add_images(
        self, person_id: int, embeddings: list[ImageEmbeddings],
        crops_jpeg: list[bytes | None] | None = None, actor: str = "admin",
    ) -> list[int]:
        """Add pinned images to a person (see :meth:`People.add_images`); returns their ids."""
        change = self.people_table.add_images(person_id, embeddings, crops_jpeg, actor)
        self._apply(change)
        return [image_id for image_id, _, _ in change.added]

    def delete_person(self, person_id: int, actor: str = "admin") -> None:
        """Delete a person and all their biometric data (see :meth:`People.delete_person`)."""
        try:
            change = self.people_table.delete_person(person_id, actor)
        except StoreError:
            self._index = None  # the deletion may be committed: re-read on next use
            raise
        self._apply(change)

    def record_match(
        self, person_id: int, embedding: ImageEmbeddings, crop_jpeg: bytes | None = None,
        quality: float | None = None, gate: FaceGate | None = None,
    ) -> int | None:
        """The rolling update (see :meth:`People.record_match`), when ``gate`` admits the face
        (the kiosk's :class:`~kiosk.decision.CheckInDesk` passes
        :class:`kiosk.matching.rule.RollingUpdateGate`; None: every face); returns the new
        image id, None when nothing was added."""
        change = self.people_table.record_match(person_id, embedding, crop_jpeg, quality, gate)
        self._apply(change)
        return change.added[0][0] if change.added else None

    def rename_person(self, person_id: int, name: str, actor: str = "admin") -> None:
        self.people_table.rename_person(person_id, name, actor)

    def people(self, search: str = "") -> list[Person]:
        return self.people_table.people(search)

    def person(self, person_id: int) -> Person | None:
        return self.people_table.person(person_id)

    def person_by_external_id(self, external_id: str) -> Person | None:
        return self.people_table.person_by_external_id(external_id)

    def faces_of(self, person_id: int) -> list[StoredFace]:
        return self.people_table.faces_of(person_id)

    def incomplete_images(self) -> list[IncompleteImage]:
        """Images without an embedding of one of :attr:`model_ids`: not matched until
        re-embedded (``python main.py reembed``) or their person is re-enrolled."""
        return self.people_table.incomplete_images()

    def set_embeddings(
        self, embeddings: Mapping[int, Mapping[str, Embedding]], actor: str = "admin",
    ) -> int:
        """Store embeddings of existing images in one transaction (see
        :meth:`People.set_embeddings`); the index is re-read at its next use."""
        try:
            return self.people_table.set_embeddings(embeddings, actor)
        finally:
            self._index = None

    # -- events and rosters (kiosk.store.events) -------------------------------------------

    def create_event(
        self, name: str, opens_at: str | None = None, closes_at: str | None = None,
        actor: str = "admin",
    ) -> int:
        return self.events_table.create_event(name, opens_at, closes_at, actor)

    def events(self) -> list[dict[str, Any]]:
        return self.events_table.events()

    def open_event_id(self, now_s: float | None = None) -> int | None:
        """The newest event open at ``now_s`` (default: now); the rule is in :mod:`kiosk.decision`."""
        return current_event_id(self.events(), time.time() if now_s is None else now_s)

    def event(self, event_id: int) -> dict[str, Any] | None:
        return self.events_table.event(event_id)

    def add_to_roster(
        self, event_id: int, name: str, external_id: str | None = None, actor: str = "admin",
    ) -> bool:
        return self.events_table.add_to_roster(event_id, name, external_id, actor)

    # -- check-ins and spoof attempts (kiosk.store.checkins) -------------------------------

    def check_in(
        self, person_id: int, event_id: int, method: str = "auto", distance: float | None = None,
        liveness: float | None = None, operator: str | None = None, reason: str | None = None,
    ) -> tuple[bool, str]:
        return self.checkins_table.check_in(
            person_id, event_id, method, distance, liveness, operator, reason
        )

    def undo_check_in(self, person_id: int, event_id: int, operator: str, reason: str = "") -> bool:
        return self.checkins_table.undo_check_in(person_id, event_id, operator, reason)

    def checkins(self, event_id: int) -> list[dict[str, Any]]:
        return self.checkins_table.checkins(event_id)

    def add_spoof_attempt(
        self, event_id: int | None, reason: str, thumbnail_jpeg: bytes | None = None,
    ) -> int:
        return self.checkins_table.add_spoof_attempt(event_id, reason, thumbnail_jpeg)

    def spoof_attempts(self, event_id: int | None = None) -> list[dict[str, Any]]:
        return self.checkins_table.spoof_attempts(event_id)

    def purge_old_spoof_attempts(self, days: int, now: dt.datetime | None = None) -> int:
        return self.checkins_table.purge_old_spoof_attempts(days, now)

    # -- audit --------------------------------------------------------------------------------

    def record_action(self, actor: str, action: str, **details: Any) -> None:
        """Audit an action that changes nothing else (a settings file saved, an export)."""
        record_action(self.store, actor, action, **details)

    def audit_log(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest audit entries first."""
        return audit_log(self.store, limit)


def model_dim(model_id: str) -> int:
    """The embedding size of a model id: dlib's ResNet encoder 128, FaceNet 512."""
    from kiosk.dlib_encoder import DLIB_EMBEDDING_SIZE, DLIB_MODEL_ID
    from kiosk.embed import EMBEDDING_SIZE

    return DLIB_EMBEDDING_SIZE if model_id == DLIB_MODEL_ID else EMBEDDING_SIZE


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
        fusion_weights=fusion_weights_of(settings.recognition),
        dlib_first=DlibFirstBand.from_settings(settings.recognition),
    )
