"""Open-set matching against the whole gallery held in memory (docs/ARCHITECTURE.md, stage 7).

All stored face images are rows of one float32 matrix. A person's distance is the best (smallest)
Euclidean distance over their rows. A match is accepted only when that distance is under the
threshold and the next person is at least ``min_margin`` farther away.

From :data:`INDEX_MIN_ROWS` rows on, a query first scans an int8 copy of the matrix
(:class:`Int8Prefilter`, scanned by faiss in shards claimed by one thread per core,
:func:`search_threads`) and then re-checks in float32 only the rows that can still be the
nearest or the second person. When the rows lie close to a subspace, as FaceNet's do (about 90
of its 512 dimensions carry all but 0.01 % of the energy), the copy keeps only their
coordinates in that subspace plus two numbers that bound what is left out
(:class:`Projection`: 96 bytes a row instead of 512); otherwise it keeps every component (a
quarter of the float32 bytes). Either way every score of the copy is an upper bound of the
true similarity, so the result is that of the exhaustive scan (:func:`nearest`); when the bound
cannot prove it, the exhaustive scan runs instead.

Fused matching (:mod:`kiosk.fusion`) asks each model's matrix for its nearest rows and a floor
of every other row's distance instead (:meth:`GalleryMatrix.distance_candidates`, rows need not
be unit vectors): a second int8 copy, :class:`Int8FloorIndex`, scanned with Euclidean distances
(80 bytes a row for FaceNet and for dlib), several matrices in one pass
(:func:`distance_candidates_of`).
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kiosk.types import Embedding

log = logging.getLogger(__name__)

INDEX_MIN_ROWS = 20_000  # below this the exhaustive scan takes about a millisecond
INT8_SCALE = 512.0  # code = round(component * scale), clipped to +-127 (|component| <= 0.248)
PREFILTER_CANDIDATES = 256  # rows taken from the int8 scan (spread over its shards) for the exact re-check
SHARDS_PER_THREAD = 4  # small shards claimed in turn: a thread the OS holds back delays no other
TAKEOVER_SHARDS = 1.5  # shard-times the caller waits for another thread before scanning its shard
MAX_STALE_ROWS = 4096  # rows whose int8 copy is out of date before it is rebuilt
MAX_SEARCH_THREADS = 2  # the kiosk's target machine has 2 cores; the camera and FaceNet need theirs
QUANTIZE_BLOCK_ROWS = 65_536
BOUND_SLACK = 1e-4  # float32 rounding of the int8 scan and of the bound itself
PROJECTION_MIN_ROWS = 2048  # rows needed to estimate the subspace of a matrix
BASIS_SAMPLE_ROWS = 8192  # rows (evenly spread) the subspace is estimated from
RESIDUAL_LIMIT = 0.05  # kept dimensions: 99 % of the sampled rows lose at most this share of their norm
CODE_DIM_STEP = 16  # code widths in steps of the scan's SIMD width
PROJECTION_HEADROOM = 1.25  # code range beyond the sample's largest value, for rows added later
PROJECTION_SLACK = 1e-3  # added to squared residuals (relative to the squared norms), see Projection
PROJECT_BLOCK_ROWS = 16_384
FLOOR_RESIDUAL_LIMIT = 0.10  # distance copy (Int8FloorIndex): 99 % of rows keep all but this share of their norm


def quantize_int8(embeddings: np.ndarray, scale: float = INT8_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes of rows and the exact bound of what they lose.

    Args:
        embeddings: (N, dim) float32 rows.
        scale: code = round(component * scale), clipped to [-127, 127].

    Returns:
        ((N, dim) int8 codes, (N,) float32 ``||row - code / scale||``): for any query ``q``,
        ``|q . row - q . code / scale| <= ||q|| * bound`` (Cauchy-Schwarz); clipped
        components only make the bound larger, never wrong.
    """
    embeddings = np.asarray(embeddings, np.float32)
    codes = np.clip(np.rint(embeddings * scale), -127, 127).astype(np.int8)
    bounds = np.linalg.norm(embeddings - codes.astype(np.float32) / np.float32(scale), axis=1)
    return codes, bounds.astype(np.float32)


def int8_scale(embeddings: np.ndarray) -> float:
    """The code scale of a matrix: its largest component maps to 127, so that no component is
    clipped (dlib's rows, not unit vectors, have components far beyond FaceNet's); the
    default :data:`INT8_SCALE` for an empty matrix. Read in blocks (no full-size temporary)."""
    largest = 0.0
    for start in range(0, len(embeddings), QUANTIZE_BLOCK_ROWS):
        block = embeddings[start : start + QUANTIZE_BLOCK_ROWS]
        largest = max(largest, float(np.max(np.abs(block))) if block.size else 0.0)
    return 127.0 / largest if largest > 0.0 else INT8_SCALE


@dataclass(frozen=True, slots=True)
class Projection:
    """The int8 copy's reduced space: a row's coordinates in the subspace where the rows lie,
    plus two numbers that bound what the coordinates leave out.

    With ``V`` the ``k`` orthonormal directions of largest energy (of the rows' second
    moment), a row ``x`` keeps ``h = V^T x`` and ``r = ||x - V h||``; for any query ``q``,
    ``q . x <= (V^T q) . h + ||q - V V^T q|| * r`` (Cauchy-Schwarz on the left-out part).
    Each coordinate is scaled to use the whole int8 range; the code of a row is its
    ``k`` rounded coordinates, its residual ``r`` rounded up, and the error of the rounded
    coordinates ``e`` rounded up. The query's vector (:meth:`query`) pairs those two with
    its own residual and norm, so its int8 score with a row's code is never below the true
    similarity: ``q . x <= score + (query rounding) + slack`` for every row the code fits
    (:meth:`codes` says which do not: they are re-checked exactly). Both squared residuals
    get :data:`PROJECTION_SLACK` times the squared norm added, so the residual term is at
    least ``1e-3 * ||q|| * ||x||``: more than float32 rounding of the coordinates and of the
    basis can take away (at most about ``3e-4 * ||q|| * ||x||`` for 512 dimensions).

    Attributes:
        basis: (dim, k) float32, orthonormal columns.
        head_scales: (k,) the coordinate that maps to code 127, per direction.
        residual_scale: the residual that maps to code 127.
        error_scale: the rounding error that maps to code 127.
        basis64: ``basis`` as float64, for queries (:func:`query_coordinates`).
    """

    basis: np.ndarray
    head_scales: np.ndarray
    residual_scale: float
    error_scale: float
    basis64: np.ndarray

    @property
    def code_dim(self) -> int:
        """Bytes of a row's code: ``k`` coordinates, the residual and the rounding error."""
        return self.basis.shape[1] + 2

    @classmethod
    def fit(cls, embeddings: np.ndarray) -> Projection | None:
        """The narrowest projection (``k + 2`` a multiple of :data:`CODE_DIM_STEP`, at most half
        the width) that keeps 99 % of the sampled rows within :data:`RESIDUAL_LIMIT` of their
        norm, or None when no such subspace exists (random rows) or there are fewer than
        :data:`PROJECTION_MIN_ROWS` rows: the copy then keeps every component."""
        dim = embeddings.shape[1]
        widths = range(2 * CODE_DIM_STEP - 2, dim // 2 - 1, CODE_DIM_STEP)  # k; the code adds 2
        found = subspace_basis(embeddings, widths, RESIDUAL_LIMIT)
        if found is None:
            return None
        basis, sample = found
        head = sample @ basis
        residuals = residual_norms(sample, head)
        k = basis.shape[1]
        head_scales = PROJECTION_HEADROOM * np.maximum(np.abs(head).max(axis=0), 1e-12)
        return cls(basis, head_scales.astype(np.float64),
                   float(PROJECTION_HEADROOM * residuals.max()),
                   # the largest rounding error without clipping, with room for some clipping
                   float(PROJECTION_HEADROOM * np.sqrt(k) * 0.5 / 127.0),
                   basis.astype(np.float64))

    def codes(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The int8 codes of rows, (N, code_dim), and which rows they fit, (N,) bool: a row
        whose residual or rounding error is beyond its code's range has no valid code."""
        embeddings = np.asarray(embeddings, np.float32)
        head = embeddings @ self.basis
        residuals = residual_norms(embeddings, head)
        scaled = head / self.head_scales
        head_codes = np.clip(np.rint(scaled * 127.0), -127, 127)
        errors = np.linalg.norm(scaled - head_codes / 127.0, axis=1)
        residual_codes = np.ceil(residuals / self.residual_scale * 127.0)
        error_codes = np.ceil(errors / self.error_scale * 127.0)
        fits = (residual_codes <= 127) & (error_codes <= 127)
        codes = np.empty((len(embeddings), self.code_dim), np.int8)
        codes[:, :-2] = head_codes
        codes[:, -2] = np.minimum(residual_codes, 127)
        codes[:, -1] = np.minimum(error_codes, 127)
        return codes, fits

    def query(self, embedding: np.ndarray) -> np.ndarray:
        """The query's vector, (code_dim,) float64: its int8-code-scaled dot product with a
        row's code (divided by 127) is at least the true similarity, up to float32 rounding
        (:data:`PROJECTION_SLACK`)."""
        head, residual = query_coordinates(embedding, self.basis64)
        scaled = head * self.head_scales
        return np.concatenate([scaled, [residual * self.residual_scale,
                                        float(np.linalg.norm(scaled)) * self.error_scale]])


def subspace_basis(
    embeddings: np.ndarray, widths: Iterable[int], limit: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The directions of largest energy of a matrix's rows, as few as keep them close.

    Args:
        embeddings: (N, dim) rows; fewer than :data:`PROJECTION_MIN_ROWS` give None.
        widths: numbers of directions to try, increasing.
        limit: the first width where 99 % of the sampled rows keep all but this share of their
            norm (:func:`residual_norms`, slack included) is taken.

    Returns:
        ((dim, k) float32 orthonormal columns, largest energy first; the (S, dim) float32
        sample of rows they were estimated on), or None when no width is close enough.
    """
    rows = len(embeddings)
    if rows < PROJECTION_MIN_ROWS:
        return None
    step = max(1, rows // BASIS_SAMPLE_ROWS)
    sample = np.ascontiguousarray(embeddings[::step][:BASIS_SAMPLE_ROWS], np.float32)
    squared_norms = np.einsum("ij,ij->i", sample, sample, dtype=np.float64)
    sample, squared_norms = sample[squared_norms > 0], squared_norms[squared_norms > 0]
    if len(sample) < PROJECTION_MIN_ROWS // 2:
        return None
    # float32 products: the basis need not be exact, the bounds account for what it misses
    _, directions = np.linalg.eigh((sample.T @ sample).astype(np.float64) / len(sample))
    directions = np.ascontiguousarray(directions[:, ::-1], np.float32)  # largest energy first
    kept = np.cumsum(np.square(sample @ directions), axis=1)  # energy within the first j+1
    for k in widths:
        lost = np.maximum(squared_norms - kept[:, k - 1], 0.0) / squared_norms
        if np.quantile(np.sqrt(lost + PROJECTION_SLACK), 0.99) <= limit:
            return np.ascontiguousarray(directions[:, :k]), sample
    return None


def residual_norms(embeddings: np.ndarray, head: np.ndarray) -> np.ndarray:
    """``||x - V V^T x||`` of rows (N, dim) from their coordinates ``head = x V``, (N, k), as
    float64, with :data:`PROJECTION_SLACK` times the squared norm added under the root: a bound
    that float32 rounding of the coordinates cannot push below the true residual."""
    squared_norms = np.einsum("ij,ij->i", embeddings, embeddings, dtype=np.float64)
    kept = np.einsum("ij,ij->i", head, head, dtype=np.float64)
    return np.sqrt(np.maximum(squared_norms - kept, 0.0) + PROJECTION_SLACK * squared_norms)


def query_coordinates(embedding: np.ndarray, basis64: np.ndarray) -> tuple[np.ndarray, float]:
    """A query's coordinates in a subspace, (k,) float64, and its residual bound
    (:func:`residual_norms`), computed in float64 (once per query)."""
    query = np.asarray(embedding, np.float64)
    head = query @ basis64
    return head, float(residual_norms(query[None], head[None])[0])


def search_threads() -> int:
    """Threads for one query's int8 scan: the cores this process may run on, at most
    :data:`MAX_SEARCH_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_SEARCH_THREADS, cores))


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
                threads - 1, thread_name_prefix="match-scan", initializer=_one_openmp_thread
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
        :func:`scan_shards` over :meth:`_jobs`."""
        return self._hits_of(scan_shards(self._jobs(query_codes, count), self._pool, self.threads))

    def _jobs(self, query_codes: np.ndarray, count: int) -> list[tuple[object, np.ndarray, int]]:
        """(shard, query codes (1, code_dim), rows wanted) of each shard, ``count`` in all."""
        per_shard = -(-count // len(self._shards))
        return [(shard, query_codes, per_shard) for shard in self._shards]

    def _hits_of(self, results: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list[float]]:
        """The shards' :func:`_search_shard` results as ((K,) the rows found and every row
        without a valid code (stale or out of range); the last (worst) score of each shard that
        had more rows than it gave)."""
        last_scores = []
        rows = [np.fromiter(self.stale_rows | self.unfit_rows, np.int64)]
        for start, shard, (scores, shard_rows) in zip(self._starts, self._shards, results):
            if len(shard_rows) < shard.ntotal:
                last_scores.append(float(scores[-1]))
            rows.append(shard_rows + start)
        return np.concatenate(rows), last_scores


def scan_shards(jobs: list[tuple[object, np.ndarray, int]], pool: ThreadPoolExecutor | None,
                threads: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every job's :func:`_search_shard` (a shard, its query codes, the rows wanted), scanned
    by this thread and ``threads - 1`` threads of ``pool`` (this thread alone without one), each
    claiming the next unscanned job.

    When this thread has no job left to claim, it waits for the others' at most
    :data:`TAKEOVER_SHARDS` times its own time per job, then scans what they have not finished
    itself: a pool thread the OS has preempted (another process on the core) costs a shard or
    two, not its whole time slice. Both scans of a shard give the same result, so either may
    be kept.
    """
    _one_openmp_thread()
    if pool is None or threads < 2:
        return [_search_shard(*job) for job in jobs]
    results: list = [None] * len(jobs)
    claims = itertools.count()  # next() is atomic under the GIL: each job claimed once
    left = [len(jobs)]
    lock, done = threading.Lock(), threading.Event()

    def scan() -> int:
        scanned = 0
        while (i := next(claims)) < len(jobs):
            try:
                results[i] = _search_shard(*jobs[i])
            except BaseException as exc:  # raised again on the calling thread
                results[i] = exc
            scanned += 1
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    done.set()
        return scanned

    for _ in range(threads - 1):
        pool.submit(scan)
    started = time.perf_counter()
    own = scan()
    if own == 0:
        done.wait()
    elif not done.wait(TAKEOVER_SHARDS * (time.perf_counter() - started) / own):
        results = [_search_shard(*job) if result is None else result
                   for job, result in zip(jobs, list(results))]
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


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

    def _query_codes(self, embedding: Embedding) -> tuple[np.ndarray, float]:
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

    def _floor_hits(self, results: list, query_error: float) -> FloorHits:
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
        codes, error = index._query_codes(embedding)
        jobs += index._jobs(codes, count)
        splits.append(len(jobs))
        errors.append(error)
    first = requests[0][0]
    results = scan_shards(jobs, first._pool, first.threads)
    return [index._floor_hits(results[start:end], error)
            for (index, _), start, end, error in zip(requests, splits, splits[1:], errors)]


HUGE_PAGE_BYTES = 2 << 20
_MADV_HUGEPAGE, _MADV_COLLAPSE = 14, 25


def use_huge_pages(array: np.ndarray) -> bool:
    """Back an array's whole 2 MB pages by huge pages now (Linux, best effort).

    A scan touches every 4 KB page of the codes once per query; huge pages spare those TLB
    misses (about 10 % of a one-thread scan of 100,000-500,000 rows here). faiss's arrays are
    written before Python sees them, so the pages are collapsed after the fact
    (``MADV_COLLAPSE``, Linux 6.1+); anything else leaves the array as it was.

    Returns:
        Whether the kernel accepted it.
    """
    if sys.platform != "linux" or array.nbytes < 2 * HUGE_PAGE_BYTES:
        return False
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return False
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    address = array.ctypes.data
    start = address + (-address) % HUGE_PAGE_BYTES
    end = (address + array.nbytes) // HUGE_PAGE_BYTES * HUGE_PAGE_BYTES
    if end <= start:
        return False
    return (madvise(start, end - start, _MADV_HUGEPAGE) == 0
            and madvise(start, end - start, _MADV_COLLAPSE) == 0)


def _one_openmp_thread() -> None:
    """Run this thread's faiss calls on one OpenMP thread (a per-thread setting).

    A single query gains nothing from faiss's OpenMP team, and after each call the team's
    threads spin for a while: on 2 cores they took the core the other shard (or the camera)
    needed, and a 3,000-row scan went from 0.1 ms to 11 ms median on a loaded machine.
    """
    import faiss

    faiss.omp_set_num_threads(1)


def _search_shard(shard: object, query_codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """One shard's best ``min(count, rows)`` rows: (K,) int8 scores best first, (K,) shard rows."""
    if shard.ntotal == 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    scores, rows = shard.search(query_codes, min(count, int(shard.ntotal)))
    keep = rows[0] >= 0
    return scores[0][keep], rows[0][keep]


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
        prefilter = self._current_prefilter()
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
            self._current_floor_index()
        else:
            self._current_prefilter()

    def distance_candidates(self, embedding: Embedding,
                            count: int = PREFILTER_CANDIDATES) -> tuple[np.ndarray, float] | None:
        """The rows nearest a query by the int8 copy of :class:`Int8FloorIndex` (rows need
        not be unit vectors), with every row whose code is not valid, sorted, and the smallest
        Euclidean distance any other row can have (inf when none was left out); None for a
        gallery too small for it (or without faiss). :func:`distance_candidates_of` does
        several matrices at once."""
        found = distance_candidates_of([(self, embedding)], count)
        return None if found is None else found[0]

    def _current_prefilter(self) -> Int8Prefilter | None:
        """The int8 copy for dot products, built at the first query of a large gallery and
        rebuilt when too many of its rows are stale; None for small galleries or without faiss."""
        self._prefilter = self._current_copy(self._prefilter, Int8Prefilter)
        return self._prefilter

    def _current_floor_index(self) -> Int8FloorIndex | None:
        """The int8 copy for distances (:meth:`distance_candidates`), built and rebuilt alike."""
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
    indexes = [matrix._current_floor_index() for matrix, _ in requests]
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
        threshold: accept only distances below this.
        min_margin: and only when the second person is at least this much farther.
    """
    if len(embeddings) == 0:
        return Match(None, float("inf"), float("inf"), False)
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
        margin = _distance(second) - distance
    else:
        second, margin = -np.inf, float("inf")
    accepted = distance < threshold and margin >= min_margin
    return Match(best_person, distance, margin, accepted, int(image_ids[best_row])), second


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


def _distance(similarity: float) -> float:
    """Euclidean distance between unit vectors from their dot product."""
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * similarity)))
