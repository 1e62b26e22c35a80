"""The int8 copies of a matrix, scanned by faiss: the prefilter and the floor index.

:class:`Int8Prefilter` (dot products, unit rows): the best rows of each shard and the ceiling
of every other row's similarity, so that the exact re-check of a few hundred rows gives the
exhaustive scan's answer (:func:`kiosk.matching.matrix.nearest_prefiltered`).
:class:`Int8FloorIndex` (Euclidean distances, rows need not be unit vectors, as dlib's): the
nearest rows and a floor of every other row's distance, for fused matching; several copies are
scanned in one pass (:func:`search_floors`). The codes are :mod:`kiosk.matching.quantize`'s, the
threads :mod:`kiosk.matching.threads`'.
"""

from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from kiosk.matching.quantize import (
    BASIS_SAMPLE_ROWS, CODE_DIM_STEP, PROJECT_BLOCK_ROWS, PROJECTION_HEADROOM,
    QUANTIZE_BLOCK_ROWS, Projection, int8_scale, quantize_int8, subspace_basis,
)
from kiosk.matching.threads import ShardJob, one_openmp_thread, scan_shards, use_huge_pages
from kiosk.types import Embedding

PREFILTER_CANDIDATES = 256  # rows taken from the int8 scan (spread over its shards) for the exact re-check
SHARDS_PER_THREAD = 4  # small shards claimed in turn: a thread the OS holds back delays no other
MAX_STALE_ROWS = 4096  # rows whose int8 copy is out of date before it is rebuilt
BOUND_SLACK = 1e-4  # float32 rounding of the int8 scan and of the bound itself
FLOOR_RESIDUAL_LIMIT = 0.10  # distance copy (Int8FloorIndex): 99 % of rows keep all but this share of their norm


@dataclass(frozen=True, slots=True)
class PrefilterHits:
    """What one int8 scan of a :class:`Int8Prefilter` found.

    Attributes:
        rows: (K,) matrix rows taken as candidates (the best of each shard), plus every row
            whose int8 code is not valid (stale or out of the code's range).
        ceiling: the highest true similarity any other row can have: the largest last
            candidate score of a shard that had more rows than candidates, plus the bounds of
            what quantisation changed (-inf when every row was taken).
    """

    rows: np.ndarray
    ceiling: float


class Int8Prefilter:
    """The int8 copy of a :class:`GalleryMatrix`, row for row, scanned by faiss.

    The copy keeps either every component of a row (with the exact bound of its rounding) or,
    when the rows lie close to a subspace, the row's :class:`Projection` code; either way a
    row's score is never below its true similarity, less the bounds the scan adds.

    The rows are split into contiguous shards of about equal size (:data:`SHARDS_PER_THREAD`
    per thread), one faiss index each. A query's shards are scanned at once by the calling
    thread and ``threads - 1`` pool threads (faiss releases the GIL), each claiming the next
    unscanned shard until none is left, so a thread that the OS does not run (a loaded
    machine) holds back at most the shard it claimed; the best rows of each shard are kept.

    Rows are appended to the last shard as the matrix grows (the owner rebuilds the copy when
    it has doubled, :meth:`needs_rebuild`). A row the matrix overwrites (a removal moves its
    last row into the hole) is marked stale and always re-checked exactly, until
    :data:`MAX_STALE_ROWS` stale rows make the owner rebuild the copy. A row added later whose
    projection code does not fit (far from the subspace) is re-checked exactly the same way.

    Args:
        embeddings: (N, dim) the matrix rows to start from.
        threads: threads scanning a query, >= 1 (one shard when 1).

    Raises:
        ValueError: ``threads`` < 1.
    """

    def __init__(self, embeddings: np.ndarray, threads: int = 1) -> None:
        import faiss  # imported here: only galleries of INDEX_MIN_ROWS rows and more need it

        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.dim = embeddings.shape[1]
        self._fit(embeddings)
        self.stale_rows: set[int] = set()
        self.unfit_rows: set[int] = set()  # rows whose projection code is out of range
        self.threads = threads
        shards = 1 if threads == 1 else threads * self.shards_per_thread
        shard_rows = -(-len(embeddings) // shards)  # ceiling division; the last may be smaller
        starts = [min(i * shard_rows, len(embeddings)) for i in range(shards)]
        self._starts = np.array(starts, np.int64)
        self._shards = []
        for start, end in zip(starts, starts[1:] + [len(embeddings)]):
            shard = faiss.IndexScalarQuantizer(
                self.code_dim, faiss.ScalarQuantizer.QT_8bit_direct_signed,
                faiss.METRIC_L2 if self.metric_l2 else faiss.METRIC_INNER_PRODUCT,
            )
            self._shards.append(shard)
            self._fill(shard, embeddings[start:end], start)
        self.built_rows = len(embeddings)
        self._pool: ThreadPoolExecutor | None = None
        if threads > 1:
            self._pool = ThreadPoolExecutor(
                threads - 1, thread_name_prefix="match-scan", initializer=one_openmp_thread
            )
            # a matrix dropped without close() still ends its threads
            weakref.finalize(self, self._pool.shutdown, wait=False)

    metric_l2 = False  # the scan's scores: dot products (the largest first)
    shards_per_thread = SHARDS_PER_THREAD

    def _fit(self, embeddings: np.ndarray) -> None:
        """Choose the codes of these rows: sets ``code_dim`` and what :meth:`_encode` needs."""
        self.projection = Projection.fit(embeddings)
        self.code_dim = self.dim if self.projection is None else self.projection.code_dim
        # a code's value is code / scale: the projection's codes use the whole range
        self.scale = int8_scale(embeddings) if self.projection is None else 127.0
        self.max_bound = 0.0  # rounding bound of full-width codes (projection codes carry theirs)
        self.max_code_norm = 0.0

    def __len__(self) -> int:
        return int(self._starts[-1]) + int(self._shards[-1].ntotal)

    def close(self) -> None:
        """End the scan threads (waits for a running scan). Searching after close is an error."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def needs_rebuild(self) -> bool:
        """Too many rows re-checked exactly (stale or with codes out of range), or the last
        shard holds most rows (the copy has doubled)."""
        return (len(self.stale_rows) + len(self.unfit_rows) > MAX_STALE_ROWS
                or len(self) > 2 * max(self.built_rows, 1))

    @property
    def _block_rows(self) -> int:
        """Rows encoded at a time (the projection's temporaries are wider per row)."""
        return QUANTIZE_BLOCK_ROWS if self.projection is None else PROJECT_BLOCK_ROWS

    def _encode(self, embeddings: np.ndarray, first_row: int) -> np.ndarray:
        """The int8 codes of rows that start at matrix row ``first_row``, (K, code_dim); notes
        their bounds and the rows whose codes are not valid."""
        if self.projection is None:
            codes, bounds = quantize_int8(embeddings, self.scale)
            self.max_bound = max(self.max_bound, float(bounds.max()))
        else:
            codes, fits = self.projection.codes(embeddings)
            self.unfit_rows.update((np.flatnonzero(~fits) + first_row).tolist())
        code_norms = np.linalg.norm(codes.astype(np.float32), axis=1) / self.scale
        self.max_code_norm = max(self.max_code_norm, float(code_norms.max()))
        return codes

    def _fill(self, shard: object, embeddings: np.ndarray, first_row: int) -> None:
        """Quantise rows into an empty shard's code array, in blocks (no full-size temporaries)."""
        import faiss

        shard.codes.resize(len(embeddings) * self.code_dim)
        if len(embeddings) == 0:
            return
        codes_out = faiss.rev_swig_ptr(shard.codes.data(), len(embeddings) * self.code_dim)
        codes_out = codes_out.reshape(len(embeddings), self.code_dim)
        for start in range(0, len(embeddings), self._block_rows):
            codes = self._encode(embeddings[start : start + self._block_rows], first_row + start)
            # faiss's byte for the signed value v is v + 128: flipping the sign bit of int8
            np.bitwise_xor(codes.view(np.uint8), np.uint8(0x80), out=codes_out[start : start + len(codes)])
        shard.ntotal = len(embeddings)
        use_huge_pages(codes_out)

    def append(self, embeddings: np.ndarray) -> None:
        """Add rows at the end (to the last shard), shape (K, dim)."""
        if len(embeddings) == 0:
            return
        first_row = len(self)
        for start in range(0, len(embeddings), self._block_rows):
            codes = self._encode(embeddings[start : start + self._block_rows], first_row + start)
            self._shards[-1].add(codes.astype(np.float32))  # integral values: encoded exactly

    def mark_stale(self, row: int) -> None:
        """The matrix changed this row."""
        self.stale_rows.add(int(row))

    def search(self, embedding: Embedding, count: int) -> PrefilterHits:
        """About ``count`` rows with the highest int8 similarity to the query (the best
        ``ceil(count / shards)`` of each shard), and the ceiling of every other row's.

        faiss scans int8 codes against an int8 query (exact integer dot products), so the
        query is quantised too, with its own scale.
        """
        embedding = np.asarray(embedding, np.float32).reshape(-1)
        if self.projection is None:
            query = embedding.astype(np.float64)
            row_error = float(np.linalg.norm(query)) * self.max_bound
        else:
            query = self.projection.query(embedding)
            row_error = 0.0  # within each code's score
        query_scale = 127.0 / max(float(np.abs(query).max()), 1e-12)
        query_codes = np.rint(query * query_scale).astype(np.float32)[None]
        query_error = float(np.linalg.norm(query - query_codes[0] / query_scale)) * self.max_code_norm
        rows, last_scores = self._scan(query_codes, count)
        ceiling = -np.inf
        if last_scores:  # rows left out: none above the last candidate of its shard
            ceiling = (max(last_scores) / (self.scale * query_scale)
                       + row_error + query_error + BOUND_SLACK)
        return PrefilterHits(rows, ceiling)

    def _scan(self, query_codes: np.ndarray, count: int) -> tuple[np.ndarray, list[float]]:
        """Scan every shard for about ``count`` best rows in all: :meth:`_hits_of` of
        :meth:`run` over :meth:`shard_jobs`."""
        return self._hits_of(self.run(self.shard_jobs(query_codes, count)))

    def shard_jobs(self, query_codes: np.ndarray, count: int) -> list[ShardJob]:
        """(shard, query codes (1, code_dim), rows wanted) of each shard, ``count`` in all."""
        per_shard = -(-count // len(self._shards))
        return [(shard, query_codes, per_shard) for shard in self._shards]

    def run(self, jobs: list[ShardJob]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Scan shard jobs (this copy's or other copies') with this copy's threads:
        :func:`~kiosk.matching.threads.scan_shards`."""
        return scan_shards(jobs, self._pool, self.threads)

    def _hits_of(self, results: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list[float]]:
        """The shards' :func:`~kiosk.matching.threads.search_shard` results as ((K,) the rows found and every row
        without a valid code (stale or out of range); the last (worst) score of each shard that
        had more rows than it gave)."""
        last_scores = []
        rows = [np.fromiter(self.stale_rows | self.unfit_rows, np.int64)]
        for start, shard, (scores, shard_rows) in zip(self._starts, self._shards, results):
            if len(shard_rows) < shard.ntotal:
                last_scores.append(float(scores[-1]))
            rows.append(shard_rows + start)
        return np.concatenate(rows), last_scores


@dataclass(frozen=True, slots=True)
class FloorHits:
    """What one scan of an :class:`Int8FloorIndex` found.

    Attributes:
        rows: (K,) rows taken as candidates (the nearest of each shard by their codes), plus
            every row whose code is not valid (stale or out of the code's range).
        floor: the smallest true Euclidean distance any other row can have (inf when every
            row was taken).
    """

    rows: np.ndarray
    floor: float


class Int8FloorIndex(Int8Prefilter):
    """An int8 copy of a matrix whose rows need not be unit vectors (dlib's), scanned for the
    rows nearest a query and a floor of every other row's distance.

    A row ``x`` becomes ``y = [V^T x, ||x - V V^T x||]`` (float64, ``V`` the ``k``
    orthonormal directions of largest energy of the rows, :func:`subspace_basis`), and its code
    ``c = rint((y - centre) R * scale)`` (``R`` a fixed random rotation, which keeps distances
    and spreads the energy evenly, so one scale suits every component). For any query ``q``
    with ``y_q`` alike,
    ``||q - x|| >= ||y_q - y||`` (the part in the subspace, and the reverse triangle inequality
    on the part outside it), and ``||y_q - y|| >= ||y_q - y_c|| - e`` where ``y_c`` is the code
    read back and ``e`` the largest rounding error of any valid code. faiss scans the codes with
    Euclidean distances against the query's int8 code, so every row that is not a candidate is
    at least the last candidate's (scan) distance, less ``e`` and the query's rounding error,
    away. A code that would be clipped is not valid: its row is re-checked exactly, like a
    stale row.

    The shards, the threads, appends, stale rows and rebuilds are :class:`Int8Prefilter`'s.
    """

    metric_l2 = True
    # fused matching scans two models' copies in one pass: as many shards in all as one copy had
    shards_per_thread = SHARDS_PER_THREAD // 2

    def _fit(self, embeddings: np.ndarray) -> None:
        dim = self.dim
        widths = list(range(CODE_DIM_STEP - 1, dim - 1, CODE_DIM_STEP)) + [dim - 1]  # k + 1 bytes
        found = subspace_basis(embeddings, widths, FLOOR_RESIDUAL_LIMIT)
        if found is None:  # too few rows to estimate a subspace (or none close): the axes
            basis, sample = np.eye(dim, dim - 1), np.asarray(embeddings[:BASIS_SAMPLE_ROWS], np.float32)
        else:
            basis, sample = found
        # float64 and orthonormal to its precision: the floor holds up to float64 rounding
        self.basis64 = np.linalg.qr(np.asarray(basis, np.float64))[0]
        self.code_dim = self.basis64.shape[1] + 1
        # a fixed random rotation spreads the energy evenly over the code's components, so
        # one scale (the scan's distances must be Euclidean) suits them all
        random = np.random.default_rng(0).standard_normal((self.code_dim, self.code_dim))
        self.rotation = np.linalg.qr(random)[0]
        # _centred in one product a row: x @ (V R_head), the residual times R's last row
        k = self.basis64.shape[1]
        self._turned_basis = self.basis64 @ self.rotation[:k]
        self._turned_centre = np.zeros(self.code_dim)
        turned = self._centred(sample)  # not centred yet: the centre is their mean
        if len(turned):
            self._turned_centre = turned.mean(axis=0)
        spread = float(np.abs(turned - self._turned_centre).max()) if len(turned) else 1.0
        self.scale = 127.0 / (PROJECTION_HEADROOM * max(spread, 1e-12))
        self.max_error = 0.0  # the largest rounding error of a valid code, in distance units

    @property
    def _block_rows(self) -> int:
        return PROJECT_BLOCK_ROWS

    def _centred(self, embeddings: np.ndarray) -> np.ndarray:
        """Rows' coordinates ``[V^T x, ||x - V V^T x||]`` moved to the centre and rotated
        (distances unchanged), (N, k + 1) float64, computed as ``x V R_head + r R_last -
        centre R`` (the rotation's rows are orthonormal, so ``||x V R_head|| = ||x V||`` gives
        the residual)."""
        rows = np.asarray(embeddings, np.float64).reshape(-1, self.dim)
        turned = rows @ self._turned_basis
        residual = np.einsum("ij,ij->i", rows, rows) - np.einsum("ij,ij->i", turned, turned)
        turned += np.sqrt(np.maximum(residual, 0.0))[:, None] * self.rotation[-1]
        return turned - self._turned_centre

    def _encode(self, embeddings: np.ndarray, first_row: int) -> np.ndarray:
        scaled = self._centred(embeddings) * self.scale
        codes = np.rint(scaled)
        fits = np.all(np.abs(codes) <= 127, axis=1)
        self.unfit_rows.update((np.flatnonzero(~fits) + first_row).tolist())
        codes = np.clip(codes, -127, 127)
        if fits.any():
            errors = np.linalg.norm(scaled[fits] - codes[fits], axis=1) / self.scale
            self.max_error = max(self.max_error, float(errors.max()))
        return codes.astype(np.int8)

    def search(self, embedding: Embedding, count: int) -> FloorHits:  # type: ignore[override]
        """About ``count`` rows nearest the query by their codes (the nearest
        ``ceil(count / shards)`` of each shard), and the floor of every other row's distance."""
        return search_floors([(self, embedding)], count)[0]

    def query_codes(self, embedding: Embedding) -> tuple[np.ndarray, float]:
        """The query's int8 code, (1, code_dim) float32 integral values, and its rounding error
        in distance units.

        faiss scans int8 codes against an int8 query, so the query is rounded here. Moving it
        into the codes' box first brings it no nearer any code than it was (the box is convex
        and holds them all), so that costs nothing.
        """
        scaled = self._centred(np.asarray(embedding, np.float32))[0] * self.scale
        inside = np.clip(scaled, -127.0, 127.0)
        codes = np.rint(inside)
        return codes.astype(np.float32)[None], float(np.linalg.norm(inside - codes)) / self.scale

    def floor_hits(self, results: list[tuple[np.ndarray, np.ndarray]],
                   query_error: float) -> FloorHits:
        """The :class:`FloorHits` of this copy's shard results (:meth:`shard_jobs` run by
        :meth:`run`) for a query of this rounding error (:meth:`query_codes`)."""
        rows, last_scores = self._hits_of(results)
        floor = np.inf
        if last_scores:  # faiss's scores are squared distances, in code units
            floor = max(0.0, float(np.sqrt(max(min(last_scores), 0.0))) / self.scale
                        - query_error - self.max_error - BOUND_SLACK)
        return FloorHits(rows, floor)


def search_floors(requests: list[tuple[Int8FloorIndex, Embedding]], count: int) -> list[FloorHits]:
    """:meth:`Int8FloorIndex.search` of several copies (one query each) in one pass: the
    shards of all of them are claimed in turn by the threads of the first, so one model's scan
    never waits for another's to end."""
    jobs, splits, errors = [], [0], []
    for index, embedding in requests:
        codes, error = index.query_codes(embedding)
        jobs += index.shard_jobs(codes, count)
        splits.append(len(jobs))
        errors.append(error)
    results = requests[0][0].run(jobs)
    return [index.floor_hits(results[start:end], error)
            for (index, _), start, end, error in zip(requests, splits, splits[1:], errors)]


def prefilter_candidates(
    embedding: Embedding, prefilter: Int8Prefilter, count_rows: int, candidates: int,
) -> tuple[np.ndarray, float]:
    """The rows to re-check exactly and the ceiling of every other row's similarity.

    Args:
        embedding: the query (any length; rows need not be unit vectors).
        prefilter: the int8 copy of the matrix.
        count_rows: the matrix's live rows.
        candidates: rows taken from the int8 scan.

    Returns:
        ((K,) sorted rows: the best of the int8 scan and every row without a valid code; the
        highest true similarity any row left out can have, -inf when no row was left out,
        see :meth:`Int8Prefilter.search`).
    """
    hits = prefilter.search(embedding, candidates)
    rows = hits.rows
    # sorted, as in the matrix: a tie goes to the same (first) row as in the exhaustive scan
    return np.unique(rows[rows < count_rows]), hits.ceiling
