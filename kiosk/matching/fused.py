"""Fused matching: the open-set decision on the fused distance of FaceNet and dlib's encoder.

Each stored face image keeps one embedding per model id, and a query carries the same models.
The fused distance of a query to a stored image is the weighted sum of the models' Euclidean
distances (:func:`kiosk.matching.rule.model_weights`); the accept test and the threshold are
:mod:`kiosk.matching.rule`'s. With a :class:`~kiosk.matching.rule.DlibFirstBand`, dlib's distance
alone settles the queries it is sure of, before any fused distance is taken.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kiosk.matching.matrix import GalleryMatrix, distance_candidates_of
from kiosk.matching.prefilter import PREFILTER_CANDIDATES
from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.matching.rule import NO_MATCH, DlibFirstBand, Match, decision
from kiosk.types import Embedding

MORE_CANDIDATES = 16  # the second try's candidates, in multiples of the first's
FUSED_BOUND_SLACK = 1e-4  # float32 rounding of the distances and of the floor


class FusedMatcher:
    """The open-set decision on fused distances over one :class:`GalleryMatrix` per model id.

    Only images that have an embedding of every weighted model take part (an image enrolled
    before a model was added is left out until it is re-embedded, never compared on one model
    alone). A person's distance is the smallest fused distance over their images; acceptance
    is :func:`kiosk.matching.rule.accepts`.

    Args:
        indexes: model id -> the matrix of that model's embeddings (same image ids).
        weights: model id -> factor (see :func:`kiosk.matching.rule.model_weights`).
        dlib_first: where dlib's distance alone decides (None: always the fused distance).
    """

    def __init__(self, indexes: Mapping[str, GalleryMatrix], weights: Mapping[str, float],
                 dlib_first: DlibFirstBand | None = None) -> None:
        missing = set(weights) - set(indexes)
        if missing:
            raise ValueError(f"indexes: no matrix for {', '.join(sorted(missing))}")
        if dlib_first is not None and DLIB_MODEL_ID not in weights:
            raise ValueError(f"dlib_first: the fused models have no {DLIB_MODEL_ID!r}")
        self.indexes = dict(indexes)
        self.weights = dict(weights)
        self.dlib_first = dlib_first
        self.full_scans = 0  # large-gallery queries the bound could not prove (scanned in full)
        self._aligned_at: tuple[tuple[int, ...] | None, bool] = (None, False)  # (versions, aligned)

    def prepare(self) -> None:
        """Build the int8 copies large galleries' queries will scan, now rather than at the
        first query (:meth:`GalleryMatrix.prepare`)."""
        for model_id in self.weights:
            self.indexes[model_id].prepare(for_distances=True)

    def nearest_dlib_first(self, dlib_embedding: Embedding) -> Match | None:
        """The decision on dlib's distance alone when :attr:`dlib_first` is sure of it
        (accepted, or nobody), else None: FaceNet's embedding is then needed
        (:meth:`nearest`). None as well without a band."""
        if self.dlib_first is None:
            return None
        index = self.indexes[DLIB_MODEL_ID]
        if len(index) == 0:
            return None
        # dlib's embeddings are not unit vectors (norm about 1.4): the full distance formula,
        # not GalleryMatrix.nearest, which takes the distance from the dot product of unit rows
        person_ids = index.person_ids
        decided = _decide(index.distances(dlib_embedding), person_ids)
        return self.dlib_first.settle(_match(decided, person_ids, index.image_ids,
                                             *self.dlib_first.thresholds))

    def nearest(self, query: Mapping[str, Embedding], threshold: float, min_margin: float) -> Match:
        """The open-set decision for one query (model id -> embedding): dlib's alone where
        :attr:`dlib_first` is sure (then only dlib's embedding is needed), else on the fused
        distance.

        Raises:
            ValueError: a model the decision needs has no embedding in ``query``.
        """
        if DLIB_MODEL_ID in query:
            settled = self.nearest_dlib_first(query[DLIB_MODEL_ID])
            if settled is not None:
                return settled
        missing = set(self.weights) - set(query)
        if missing:
            raise ValueError(f"query: no embedding for {', '.join(sorted(missing))}")
        if any(len(self.indexes[m]) == 0 for m in self.weights):
            return NO_MATCH
        first = self._lead.image_ids
        # A gallery keeps its matrices row for row (the same images in the same rows): then
        # the distances add up row by row, with no copy of any matrix
        versions = tuple(self.indexes[m].version for m in self.weights)
        if versions != self._aligned_at[0]:  # checked again only after a change
            self._aligned_at = (versions, all(np.array_equal(self.indexes[m].image_ids, first)
                                              for m in self.weights))
        aligned = self._aligned_at[1]
        if aligned:
            match = self._nearest_prefiltered(query, threshold, min_margin)
            if match is not None:
                return match
        image_ids: np.ndarray | None = None
        person_ids: np.ndarray | None = None
        total: np.ndarray | None = None
        for model_id, weight in self.weights.items():
            matrix = self.indexes[model_id]
            distances = weight * matrix.distances(query[model_id])
            ids = matrix.image_ids
            if image_ids is None:
                image_ids, person_ids, total = ids, matrix.person_ids, distances
            elif aligned:
                total = total + distances  # type: ignore[operator]
            else:
                common, left, right = np.intersect1d(image_ids, ids, return_indices=True)
                image_ids, person_ids = common, person_ids[left]  # type: ignore[index]
                total = total[left] + distances[right]  # type: ignore[index]
        if image_ids is None or len(image_ids) == 0:
            return NO_MATCH
        assert person_ids is not None and total is not None
        return _match(_decide(total, person_ids), person_ids, image_ids, threshold, min_margin)

    @property
    def _lead(self) -> GalleryMatrix:
        """The first model's matrix (FaceNet's), whose person and image ids every path reads."""
        return self.indexes[next(iter(self.weights))]

    def _nearest_prefiltered(self, query: Mapping[str, Embedding], threshold: float,
                             min_margin: float) -> Match | None:
        """The exhaustive answer through each model's int8 copy, or None (a gallery too
        small for them, or a query the bound cannot prove even with more candidates).

        Each model gives its rows nearest the query and a floor of every other row's distance
        (:meth:`GalleryMatrix.distance_candidates`: an int8 copy of the rows in their subspace,
        80 bytes a row for FaceNet and for dlib). Every candidate of any model is scored
        exactly. A row that is no model's candidate is at least the weighted sum of the floors
        away in the fused distance; when that is above the second person found among the
        candidates, no such row can be the nearest or the second person, and the answer is the
        exhaustive scan's. Otherwise the query is tried again with :data:`MORE_CANDIDATES`
        times as many candidates, then left to the exhaustive scan.
        """
        for count in (PREFILTER_CANDIDATES, PREFILTER_CANDIDATES * MORE_CANDIDATES):
            found = self._candidates(query, count)
            if found is None:
                return None
            rows, floor = found
            total = self._fused_distances(query, rows)
            lead = self._lead
            person_ids = lead.person_ids[rows]
            decided = _decide(total, person_ids)
            if len(rows) == len(lead) or floor > decided[2] + FUSED_BOUND_SLACK:  # above the second
                return _match(decided, person_ids, lead.image_ids[rows], threshold, min_margin)
        self.full_scans += 1
        return None

    def _candidates(self, query: Mapping[str, Embedding], count: int) -> tuple[np.ndarray, float] | None:
        """(sorted rows that are some model's candidate, the smallest fused distance any other
        row can have), or None for galleries too small for the int8 copies."""
        found = distance_candidates_of([(self.indexes[model_id], query[model_id])
                                        for model_id in self.weights], count)
        if found is None:
            return None
        floor = 0.0
        for weight, (_, model_floor) in zip(self.weights.values(), found):
            floor += weight * model_floor if weight > 0 else 0.0  # inf: it took every row
        every_row = [rows for rows, _ in found]
        return np.unique(np.concatenate(every_row)), floor

    def _fused_distances(self, query: Mapping[str, Embedding], rows: np.ndarray) -> np.ndarray:
        """The exact fused distances of the query to these rows, float32."""
        total = np.zeros(len(rows), np.float32)
        for model_id, weight in self.weights.items():
            total += np.float32(weight) * self.indexes[model_id].distances(query[model_id], rows)
        return total


def _decide(total: np.ndarray, person_ids: np.ndarray) -> tuple[int, float, float]:
    """(the position of the nearest row of (N,) fused distances, N >= 1, its distance, the
    nearest other person's distance: inf when there is none)."""
    best = int(np.argmin(total))
    others = person_ids != person_ids[best]
    second = float(np.min(total[others])) if others.any() else float("inf")
    return best, float(total[best]), second


def _match(decided: tuple[int, float, float], person_ids: np.ndarray, image_ids: np.ndarray,
           threshold: float, min_margin: float) -> Match:
    """The open-set decision from :func:`_decide` over rows with these ids: the nearest row's
    person, accepted under ``threshold`` with ``min_margin`` to the next person."""
    best, distance, second = decided
    return decision(int(person_ids[best]), distance, second, int(image_ids[best]),
                    threshold, min_margin)
