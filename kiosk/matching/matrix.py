"""The stored embeddings of one model as one growable float32 matrix, and its exact decision.

All stored face images are rows of the matrix. A person's distance is the best (smallest)
Euclidean distance over their rows; the decision is :func:`kiosk.matching.rule.accepts`.

From :data:`INDEX_MIN_ROWS` rows on, a query first scans an int8 copy of the matrix
(:class:`~kiosk.matching.prefilter.Int8Prefilter`) and then re-checks in float32 only the rows
that can still be the nearest or the second person; when the copy's bound cannot prove the
result, the exhaustive scan (:func:`nearest`) runs instead, so the answer is always the
exhaustive scan's. Fused matching (:mod:`kiosk.matching.fused`) asks each model's matrix for its
nearest rows and a floor of every other row's distance instead (:meth:`GalleryMatrix.distance_candidates`,
:func:`distance_candidates_of`).
"""

from __future__ import annotations

import logging

import numpy as np

from kiosk.matching.prefilter import (
    PREFILTER_CANDIDATES, Int8FloorIndex, Int8Prefilter, prefilter_candidates, search_floors,
)
from kiosk.matching.rule import NO_MATCH, Match, decision
from kiosk.matching.threads import search_threads
from kiosk.types import Embedding

log = logging.getLogger(__name__)

INDEX_MIN_ROWS = 20_000  # below this the exhaustive scan takes about a millisecond


class GalleryMatrix:
    """The stored embeddings as one growable float32 matrix with row -> image and person ids.

    Rows are appended in amortised O(1) (capacity doubles) and removed by swapping in the last
    row, so the matrix is updated incrementally and never rebuilt per query.

    From ``index_min_rows`` rows on, the int8 prefilter's scan threads live until :meth:`close`
    (or until the matrix is garbage-collected).

    Args:
        dim: embedding size.
        index_min_rows: rows from which queries go through the int8 prefilter, >= 1.
        threads: threads (and shards) of the int8 scan, >= 1; None: :func:`search_threads`.

    Raises:
        ValueError: ``index_min_rows`` or ``threads`` < 1.
    """

    def __init__(
        self, dim: int = 512, index_min_rows: int = INDEX_MIN_ROWS, threads: int | None = None
    ) -> None:
        if index_min_rows < 1:
            raise ValueError(f"index_min_rows must be >= 1, got {index_min_rows}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.dim = dim
        self.index_min_rows = index_min_rows
        self.threads = search_threads() if threads is None else threads
        self.full_scans = 0  # prefiltered queries the bound could not prove (exhaustive instead)
        self.version = 0  # counts the changes to the rows
        self._embeddings = np.empty((0, dim), np.float32)
        self._image_ids = np.empty(0, np.int64)
        self._person_ids = np.empty(0, np.int64)
        self._count = 0
        self._row_of_image: dict[int, int] = {}
        self._squared_norms: np.ndarray | None = None  # per row, computed at first use
        self._prefilter: Int8Prefilter | None = None
        self._floor_index: Int8FloorIndex | None = None
        self._prefilter_failed = False

    @classmethod
    def adopt(
        cls, image_ids: np.ndarray, person_ids: np.ndarray, embeddings: np.ndarray
    ) -> GalleryMatrix:
        """A matrix that takes over these arrays without copying them (the start-up load)."""
        matrix = cls(embeddings.shape[1] if embeddings.ndim == 2 and len(embeddings) else 512)
        matrix._embeddings = np.ascontiguousarray(embeddings, np.float32)
        matrix._image_ids = np.asarray(image_ids, np.int64)
        matrix._person_ids = np.asarray(person_ids, np.int64)
        matrix._count = len(matrix._embeddings)
        matrix._row_of_image = {int(i): row for row, i in enumerate(matrix._image_ids.tolist())}
        return matrix

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        """End the int8 scan threads, if any (the matrix stays usable: a later large query
        builds the int8 copies again)."""
        for copy in self.int8_copies():
            copy.close()
        self._prefilter = self._floor_index = None

    def int8_copies(self) -> list[Int8Prefilter]:
        """The int8 copies built so far (kept row for row with the matrix)."""
        return [copy for copy in (self._prefilter, self._floor_index) if copy is not None]

    @property
    def embeddings(self) -> np.ndarray:
        """The live rows, shape (N, dim) (a view: do not modify)."""
        return self._embeddings[: self._count]

    @property
    def squared_norms(self) -> np.ndarray:
        """``||row||^2`` of each live row, shape (N,) float32, kept up to date after the first
        use (for distances to rows that are not unit vectors, e.g. dlib's embeddings)."""
        if self._squared_norms is None:
            norms = np.empty(len(self._embeddings), np.float32)
            norms[: self._count] = np.einsum("ij,ij->i", self.embeddings, self.embeddings)
            self._squared_norms = norms
        return self._squared_norms[: self._count]

    @property
    def person_ids(self) -> np.ndarray:
        """Person id of each row, shape (N,)."""
        return self._person_ids[: self._count]

    @property
    def image_ids(self) -> np.ndarray:
        """Image id of each row, shape (N,)."""
        return self._image_ids[: self._count]

    def _grow(self, needed: int) -> None:
        capacity = len(self._embeddings)
        if needed <= capacity:
            return
        new_capacity = max(needed, 2 * capacity, 64)
        embeddings = np.empty((new_capacity, self.dim), np.float32)
        embeddings[: self._count] = self.embeddings
        image_ids = np.empty(new_capacity, np.int64)
        image_ids[: self._count] = self.image_ids
        person_ids = np.empty(new_capacity, np.int64)
        person_ids[: self._count] = self.person_ids
        if self._squared_norms is not None:
            norms = np.empty(new_capacity, np.float32)
            norms[: self._count] = self._squared_norms[: self._count]
            self._squared_norms = norms
        self._embeddings, self._image_ids, self._person_ids = embeddings, image_ids, person_ids

    def add_many(
        self, image_ids: np.ndarray, person_ids: np.ndarray, embeddings: np.ndarray
    ) -> None:
        """Append rows, shape (K,), (K,), (K, dim)."""
        embeddings = np.asarray(embeddings, np.float32).reshape(-1, self.dim)
        count = len(embeddings)
        self._grow(self._count + count)
        start, end = self._count, self._count + count
        self._embeddings[start:end] = embeddings
        self._image_ids[start:end] = image_ids
        self._person_ids[start:end] = person_ids
        if self._squared_norms is not None:
            self._squared_norms[start:end] = np.einsum("ij,ij->i", embeddings, embeddings)
        for offset, image_id in enumerate(np.asarray(image_ids).tolist()):
            self._row_of_image[int(image_id)] = start + offset
        self._count = end
        self.version += 1
        for copy in self.int8_copies():
            # rows past the int8 copy's end (after removals) are overwritten: re-check them
            for row in range(start, min(end, len(copy))):
                copy.mark_stale(row)
            copy.append(embeddings[max(0, len(copy) - start):])

    def add(self, image_id: int, person_id: int, embedding: Embedding) -> None:
        """Append one row."""
        self.add_many(np.array([image_id]), np.array([person_id]), embedding[None])

    def remove_image(self, image_id: int) -> None:
        """Remove one row (no-op when absent) by moving the last row into its place."""
        row = self._row_of_image.pop(int(image_id), None)
        if row is None:
            return
        last = self._count - 1
        if row != last:
            self._embeddings[row] = self._embeddings[last]
            self._image_ids[row] = self._image_ids[last]
            self._person_ids[row] = self._person_ids[last]
            if self._squared_norms is not None:
                self._squared_norms[row] = self._squared_norms[last]
            self._row_of_image[int(self._image_ids[row])] = row
            for copy in self.int8_copies():
                copy.mark_stale(row)
        self._count = last
        self.version += 1

    def remove_person(self, person_id: int) -> None:
        """Remove every row of one person."""
        for image_id in self.image_ids[self.person_ids == person_id].tolist():
            self.remove_image(int(image_id))

    def nearest(self, embedding: Embedding, threshold: float, min_margin: float) -> Match:
        """The open-set decision for one query (see the module docstring): always that of
        the exhaustive :func:`nearest`, through the int8 prefilter on large galleries."""
        prefilter = self.prefilter()
        if prefilter is not None:
            match = nearest_prefiltered(
                embedding, prefilter, self.embeddings, self.person_ids, self.image_ids,
                threshold, min_margin,
            )
            if match is not None:
                return match
            self.full_scans += 1
        return nearest(
            embedding, self.embeddings, self.person_ids, self.image_ids, threshold, min_margin
        )

    def distances(self, embedding: Embedding, rows: np.ndarray | None = None) -> np.ndarray:
        """Euclidean distances of a query to each row, or to ``rows``, float32 (rows need not
        be unit vectors: the full formula with the rows' cached squared norms)."""
        vector = np.asarray(embedding, np.float32)
        if rows is None:
            return _distances_from(self.squared_norms, vector, self.embeddings @ vector)
        return _distances_from(self.squared_norms[rows], vector, self.embeddings[rows] @ vector)

    def prepare(self, for_distances: bool = False) -> None:
        """Build the int8 copy a large matrix's queries will scan now (at start-up) rather than
        at its first query: the dot-product copy of :meth:`nearest`, or with ``for_distances``
        the copy of :meth:`distance_candidates`. Nothing for small matrices."""
        if for_distances:
            self.floor_index()
        else:
            self.prefilter()

    def distance_candidates(self, embedding: Embedding,
                            count: int = PREFILTER_CANDIDATES) -> tuple[np.ndarray, float] | None:
        """The rows nearest a query by the int8 copy of :class:`Int8FloorIndex` (rows need
        not be unit vectors), with every row whose code is not valid, sorted, and the smallest
        Euclidean distance any other row can have (inf when none was left out); None for a
        gallery too small for it (or without faiss). :func:`distance_candidates_of` does
        several matrices at once."""
        found = distance_candidates_of([(self, embedding)], count)
        return None if found is None else found[0]

    def prefilter(self) -> Int8Prefilter | None:
        """The int8 copy for dot products (:meth:`nearest`), built at the first query of a
        large gallery and rebuilt when too many of its rows are stale; None for small galleries
        or without faiss."""
        self._prefilter = self._current_copy(self._prefilter, Int8Prefilter)
        return self._prefilter

    def floor_index(self) -> Int8FloorIndex | None:
        """The int8 copy for distances (:meth:`distance_candidates`), built at first use and
        rebuilt like the prefilter's; None for small galleries or without faiss."""
        self._floor_index = self._current_copy(self._floor_index, Int8FloorIndex)
        return self._floor_index

    def _current_copy(self, copy: Int8Prefilter | None, kind: type) -> Int8Prefilter | None:
        if self._count < self.index_min_rows or self._prefilter_failed:
            return None
        if copy is not None and not copy.needs_rebuild():
            return copy
        if copy is not None:
            copy.close()
        try:
            return kind(self.embeddings, self.threads)
        except ImportError as exc:
            log.warning("faiss is not installed (%s): matching scans every row", exc)
            self._prefilter_failed = True
            return None


def distance_candidates_of(
    requests: list[tuple[GalleryMatrix, Embedding]], count: int = PREFILTER_CANDIDATES,
) -> list[tuple[np.ndarray, float]] | None:
    """:meth:`GalleryMatrix.distance_candidates` of several matrices (one query each),
    scanned in one pass (:func:`search_floors`); None when any of them is too small for its
    int8 copy (or without faiss)."""
    indexes = [matrix.floor_index() for matrix, _ in requests]
    if any(index is None for index in indexes):
        return None
    hits = search_floors([(index, embedding) for index, (_, embedding) in zip(indexes, requests)],
                         count)
    return [(np.unique(found.rows[found.rows < len(matrix)]), found.floor)
            for found, (matrix, _) in zip(hits, requests)]


def _distances_from(squared_norms: np.ndarray, vector: np.ndarray, dots: np.ndarray) -> np.ndarray:
    """``sqrt(||x||^2 + ||q||^2 - 2 q . x)`` per row, float32, never the root of a negative."""
    squared = squared_norms + np.float32(vector @ vector) - np.float32(2.0) * dots
    return np.sqrt(np.maximum(squared, np.float32(0.0)))


def nearest(
    embedding: Embedding,
    embeddings: np.ndarray,
    person_ids: np.ndarray,
    image_ids: np.ndarray,
    threshold: float,
    min_margin: float,
) -> Match:
    """Open-set nearest person.

    Args:
        embedding: the query, (dim,), L2-normalised.
        embeddings: stored rows, (N, dim), L2-normalised.
        person_ids: (N,) person of each row.
        image_ids: (N,) image of each row.
        threshold, min_margin: of the accept test, :func:`kiosk.matching.rule.accepts`.
    """
    if len(embeddings) == 0:
        return NO_MATCH
    similarities = embeddings @ np.asarray(embedding, np.float32)
    return _decide(similarities, person_ids, image_ids, threshold, min_margin)[0]


def _decide(
    similarities: np.ndarray, person_ids: np.ndarray, image_ids: np.ndarray,
    threshold: float, min_margin: float,
) -> tuple[Match, float]:
    """The decision over (N,) row similarities, N >= 1, and the second person's best
    similarity (-inf with one person)."""
    best_row = int(np.argmax(similarities))
    best_person = int(person_ids[best_row])
    distance = _distance(float(similarities[best_row]))
    others = person_ids != best_person
    if others.any():
        second = float(np.max(np.where(others, similarities, -np.inf)))
        second_distance = _distance(second)
    else:
        second, second_distance = -np.inf, float("inf")
    return decision(best_person, distance, second_distance, int(image_ids[best_row]),
                    threshold, min_margin), second


def nearest_prefiltered(
    embedding: Embedding,
    prefilter: Int8Prefilter,
    embeddings: np.ndarray,
    person_ids: np.ndarray,
    image_ids: np.ndarray,
    threshold: float,
    min_margin: float,
    candidates: int = PREFILTER_CANDIDATES,
) -> Match | None:
    """:func:`nearest` through the int8 prefilter, or None when its bound cannot prove the result.

    The best rows of each shard's int8 scan (``candidates`` in all) and every stale row are
    re-checked in float32. Any other row's true similarity is at most the highest last candidate's int8
    similarity plus the rows' and the query's quantisation bounds; when that is below the
    second-best person found exactly, no other row can be the nearest or the second person, so
    :func:`nearest` on the re-checked rows is the exhaustive answer (same person, image,
    distance and margin).
    """
    query = np.asarray(embedding, np.float32)
    checked, ceiling = prefilter_candidates(query, prefilter, len(embeddings), candidates)
    if len(checked) == 0:
        return None
    similarities = embeddings[checked] @ query
    match, second = _decide(similarities, person_ids[checked], image_ids[checked],
                            threshold, min_margin)
    if ceiling == -np.inf or second > ceiling:  # every row checked, or none left out can matter
        return match
    return None


def _distance(similarity: float) -> float:
    """Euclidean distance between unit vectors from their dot product."""
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * similarity)))
