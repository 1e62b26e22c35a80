"""The int8 and subspace maths of the matrix's int8 copies (pure numpy, no faiss).

A row's int8 code either keeps every component (:func:`quantize_int8`, with the exact bound of
what rounding loses) or, when the rows lie close to a subspace, as FaceNet's do (about 90 of its
512 dimensions carry all but 0.01 % of the energy), only its coordinates in that subspace plus
two numbers that bound what is left out (:class:`Projection`: 96 bytes a row instead of 512).
Either way a code's score is never below the true similarity, less bounds that are known, so
the scan can prove which rows it may leave out (:mod:`kiosk.matching.prefilter`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

INT8_SCALE = 512.0  # code = round(component * scale), clipped to +-127 (|component| <= 0.248)
QUANTIZE_BLOCK_ROWS = 65_536
PROJECTION_MIN_ROWS = 2048  # rows needed to estimate the subspace of a matrix
BASIS_SAMPLE_ROWS = 8192  # rows (evenly spread) the subspace is estimated from
RESIDUAL_LIMIT = 0.05  # kept dimensions: 99 % of the sampled rows lose at most this share of their norm
CODE_DIM_STEP = 16  # code widths in steps of the scan's SIMD width
PROJECTION_HEADROOM = 1.25  # code range beyond the sample's largest value, for rows added later
PROJECTION_SLACK = 1e-3  # added to squared residuals (relative to the squared norms), see Projection
PROJECT_BLOCK_ROWS = 16_384

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

