"""Open-set matching against the whole gallery held in memory (docs/ARCHITECTURE.md, stage 7).

All stored face images are rows of one float32 matrix. A person's distance is the best (smallest)
Euclidean distance over their rows. A match is accepted only when that distance is under the
threshold and the next person is at least ``min_margin`` farther away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.types import Embedding

@dataclass(frozen=True, slots=True)
class Match:
    """The nearest person to a query embedding and whether it is accepted.

    Attributes:
        person_id: the nearest person (also when not accepted), or None for an empty gallery.
        distance: Euclidean distance to that person's best stored image (inf when empty).
        margin: distance of the second-nearest person minus ``distance`` (inf with one person).
        accepted: under the threshold and with at least the minimum margin.
        image_id: the stored image that gave ``distance``.
    """

    person_id: int | None
    distance: float
    margin: float
    accepted: bool
    image_id: int | None = None


class GalleryMatrix:
    """The stored embeddings as one growable float32 matrix with row -> image and person ids.

    Rows are appended in amortised O(1) (capacity doubles) and removed by swapping in the last
    row, so the matrix is updated incrementally and never rebuilt per query.

    Args:
        dim: embedding size.
    """

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim
        self._embeddings = np.empty((0, dim), np.float32)
        self._image_ids = np.empty(0, np.int64)
        self._person_ids = np.empty(0, np.int64)
        self._count = 0
        self._row_of_image: dict[int, int] = {}

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

    @property
    def embeddings(self) -> np.ndarray:
        """The live rows, shape (N, dim) (a view: do not modify)."""
        return self._embeddings[: self._count]

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
        for offset, image_id in enumerate(np.asarray(image_ids).tolist()):
            self._row_of_image[int(image_id)] = start + offset
        self._count = end

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
            self._row_of_image[int(self._image_ids[row])] = row
        self._count = last

    def remove_person(self, person_id: int) -> None:
        """Remove every row of one person."""
        for image_id in self.image_ids[self.person_ids == person_id].tolist():
            self.remove_image(int(image_id))

    def nearest(self, embedding: Embedding, threshold: float, min_margin: float) -> Match:
        """The open-set decision for one query (see the module docstring)."""
        return nearest(
            embedding, self.embeddings, self.person_ids, self.image_ids, threshold, min_margin
        )


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
        threshold: accept only distances below this.
        min_margin: and only when the second person is at least this much farther.
    """
    if len(embeddings) == 0:
        return Match(None, float("inf"), float("inf"), False)
    similarities = embeddings @ np.asarray(embedding, np.float32)
    best_row = int(np.argmax(similarities))
    best_person = int(person_ids[best_row])
    distance = _distance(float(similarities[best_row]))
    others = person_ids != best_person
    if others.any():
        second = float(np.max(np.where(others, similarities, -np.inf)))
        margin = _distance(second) - distance
    else:
        margin = float("inf")
    accepted = distance < threshold and margin >= min_margin
    return Match(best_person, distance, margin, accepted, int(image_ids[best_row]))


def _distance(similarity: float) -> float:
    """Euclidean distance between unit vectors from their dot product."""
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * similarity)))
