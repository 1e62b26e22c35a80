"""Benchmarks: per-stage latency of the real pipeline on a video, matching time as the gallery
grows, and ``face_recognition`` (dlib HOG + ResNet) on the same frames (docs/ARCHITECTURE.md, Performance
budgets; docs/BENCHMARKS.md).

The pure helpers (:func:`percentile_stats`, :func:`stage_table`, :func:`peak_rss_mb`,
:func:`random_unit_vectors`) are what the tests call; the runners take loaded models so that a
test can hand in the session's models, or fakes.

Timing rules: the video is decoded outside the timed region (decoding is the camera's job, not
the pipeline's); every frame goes through :meth:`kiosk.pipeline.Pipeline.process` as fast as it
can, with the frame's *video* time (index / fps) as its ``t_monotonic``, so that the liveness
window and the embedding interval see the clip's real time whatever the speed of the machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.config import Settings
from kiosk.types import FrameBGR

ASSUMED_FPS = 30.0
DEFAULT_MATCH_SIZES = (1_000, 10_000, 100_000)
DEFAULT_QUERIES = 50
COMPARE_BLOCK = 10  # bench-match: queries timed back to back before the other matcher's turn
IMAGES_PER_PERSON = 10  # bench-match galleries: 10 stored images per person, as in the budget
GATE_STAGES = ("gate", "landmarks", "liveness")  # the 20 ms budget covers these three
# One identification: what face_recognition's detect + encode of one frame is compared with
IDENTIFICATION_STAGES = ("gate", "landmarks", "align", "embed", "embed_dlib", "match")
# The texture cue runs inside the liveness stage on a few frames; reported as its own stage too.
TEXTURE_STAGE = "texture"


# --------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True, slots=True)
class StageStats:
    """Latency of one stage over the frames where it ran.

    Attributes:
        median_ms: median milliseconds per call.
        p95_ms: 95th percentile, milliseconds.
        calls: how many times it ran.
    """

    median_ms: float
    p95_ms: float
    calls: int

    def as_dict(self) -> dict[str, float | int]:
        return {"median_ms": round(self.median_ms, 3), "p95_ms": round(self.p95_ms, 3),
                "calls": self.calls}


def percentile_stats(samples_ms: list[float] | np.ndarray) -> StageStats:
    """Median, 95th percentile and count of a list of milliseconds (zeros for no samples)."""
    values = np.asarray(samples_ms, np.float64).ravel()
    if values.size == 0:
        return StageStats(0.0, 0.0, 0)
    return StageStats(float(np.median(values)), float(np.percentile(values, 95)), int(values.size))


def stage_table(per_frame_timings: list[dict[str, float]], stages: tuple[str, ...]) -> dict[str, StageStats]:
    """Per-stage statistics from each frame's ``timings_ms`` (a stage counts where it ran)."""
    return {
        name: percentile_stats([t[name] for t in per_frame_timings if name in t]) for name in stages
    }


def identification_ms(per_frame_timings: list[dict[str, float]]) -> StageStats:
    """One identification per frame that made one (a ``match`` stage), in one run: the gate's
    median (the face must be found; the tracker runs the gate on some frames only) plus that
    frame's landmarks, align, embeddings that ran (dlib's, FaceNet's where dlib was unsure)
    and match. Zeros when no frame identified."""
    gate = [t["gate"] for t in per_frame_timings if "gate" in t]
    gate_ms = float(np.median(gate)) if gate else 0.0
    return percentile_stats([
        gate_ms + sum(t.get(name, 0.0) for name in IDENTIFICATION_STAGES if name != "gate")
        for t in per_frame_timings if "match" in t
    ])


def summed_per_frame(per_frame_timings: list[dict[str, float]], stages: tuple[str, ...]) -> np.ndarray:
    """Per frame, the milliseconds spent in ``stages`` together, shape (frames,)."""
    return np.array([sum(t.get(name, 0.0) for name in stages) for t in per_frame_timings], np.float64)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def current_rss_mb() -> float:
    """Resident memory of this process now, MB (Linux ``/proc/self/statm``; NaN elsewhere),
    after handing freed heap memory back to the system (glibc ``malloc_trim``), so that a
    difference of two readings counts what was allocated in between."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def random_unit_vectors(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """``count`` random L2-normalised float32 vectors, shape (count, dim)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def video_frames(
    path: str | Path, max_frames: int | None = None, start_frame: int = 0
) -> Iterator[tuple[int, float, FrameBGR]]:
    """``(index, video time s, frame)`` of a video file, the time being index / the file's fps.

    ``start_frame`` frames are decoded and skipped first (the index and time stay the file's).

    Raises:
        ValueError: the file cannot be opened as a video.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: cannot open as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or ASSUMED_FPS
    try:
        index = 0
        yielded = 0
        while max_frames is None or yielded < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            if index >= start_frame:
                yield index, index / fps, frame
                yielded += 1
            index += 1
    finally:
        capture.release()


def video_frame(path: str | Path, index: int | None = None) -> FrameBGR:
    """One frame of a video (the middle one when ``index`` is None).

    Raises:
        ValueError: the file cannot be read or has no such frame.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: cannot open as a video")
    try:
        if index is None:
            index = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) // 2)
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        raise ValueError(f"{path}: no frame {index}")
    return frame


# --------------------------------------------------------------------------- bench --video


@dataclass
class VideoBench:
    """What ``bench --video`` measured.

    Attributes:
        frames: frames processed.
        stages: per-stage statistics.
        gate_landmarks_liveness: statistics of gate + landmarks + liveness summed per frame.
        total: statistics of the whole :meth:`Pipeline.process` call per frame.
        fps: frames per second of the whole pipeline (frames / time inside ``process``).
        embeddings: FaceNet calls (frames where ``embedded`` was set).
        decision: the first decision's outcome, or None.
        decision_video_s: video time of the frame with the first decision (from the first frame).
        decision_wall_s: wall time from starting the first frame to the end of that frame.
        checkin_video_s: like ``decision_video_s`` but only for CHECKED_IN / ALREADY_CHECKED_IN.
        checkin_wall_s: the wall time for that.
        first_face_video_s: video time of the first frame with a face.
        peak_rss_mb: peak resident memory of the process after the run.
        identification: :func:`identification_ms` of the frames that identified the face.
        identifications_with_facenet: how many of those needed FaceNet (dlib unsure).
    """

    frames: int = 0
    stages: dict[str, StageStats] = field(default_factory=dict)
    gate_landmarks_liveness: StageStats = field(default_factory=lambda: StageStats(0, 0, 0))
    total: StageStats = field(default_factory=lambda: StageStats(0, 0, 0))
    fps: float = 0.0
    embeddings: int = 0
    decision: str | None = None
    decision_video_s: float | None = None
    decision_wall_s: float | None = None
    checkin_video_s: float | None = None
    checkin_wall_s: float | None = None
    first_face_video_s: float | None = None
    peak_rss_mb: float = 0.0
    per_frame_total_ms: list[float] = field(default_factory=list)
    identification: StageStats = field(default_factory=lambda: StageStats(0, 0, 0))
    identifications_with_facenet: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "stages": {name: s.as_dict() for name, s in self.stages.items()},
            "gate_landmarks_liveness": self.gate_landmarks_liveness.as_dict(),
            "per_frame": self.total.as_dict(),
            "fps": round(self.fps, 2),
            "embeddings": self.embeddings,
            "decision": self.decision,
            "decision_video_s": _round(self.decision_video_s),
            "decision_wall_s": _round(self.decision_wall_s),
            "time_to_checkin_s": _round(self.checkin_video_s),
            "time_to_checkin_wall_s": _round(self.checkin_wall_s),
            "first_face_video_s": _round(self.first_face_video_s),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "identification": self.identification.as_dict(),
            "identifications_with_facenet": self.identifications_with_facenet,
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def run_video_bench(
    pipeline: Any,
    frames: Iterator[tuple[int, float, FrameBGR]],
    stages: tuple[str, ...],
    checked_in_outcomes: tuple[Any, ...] = (),
    clock: Callable[[], float] = time.perf_counter,
) -> VideoBench:
    """Run ``pipeline.process`` over frames as fast as possible and collect the figures.

    Args:
        pipeline: a :class:`kiosk.pipeline.Pipeline` (or anything with the same ``process``).
        frames: ``(index, video time s, frame)`` as from :func:`video_frames`.
        stages: the stage names to report.
        checked_in_outcomes: outcomes that count as "checked in" for the time to check-in.
        clock: the timer (tests inject one).
    """
    result = VideoBench()
    timings: list[dict[str, float]] = []
    totals: list[float] = []
    busy_s = 0.0
    first_wall = first_video = 0.0
    for index, t_video, frame in frames:
        started = clock()
        if not timings:
            first_wall, first_video = started, t_video
        texture = getattr(getattr(pipeline, "liveness", None), "texture", None)
        texture_calls = getattr(texture, "calls", 0)
        frame_result = pipeline.process(frame, t_video, index)
        ended = clock()
        busy_s += ended - started
        totals.append((ended - started) * 1000.0)
        timings.append(dict(frame_result.timings_ms))
        if texture is not None and texture.calls > texture_calls:  # part of "liveness" already
            timings[-1][TEXTURE_STAGE] = float(texture.last_ms)
        result.embeddings += int(bool(frame_result.embedded))
        if frame_result.box_xyxy is not None and result.first_face_video_s is None:
            result.first_face_video_s = t_video - first_video
        decision = frame_result.decision
        if decision is not None and result.decision is None:
            result.decision = str(getattr(decision.outcome, "value", decision.outcome))
            result.decision_video_s = t_video - first_video
            result.decision_wall_s = ended - first_wall
        if (
            decision is not None
            and decision.outcome in checked_in_outcomes
            and result.checkin_video_s is None
        ):
            result.checkin_video_s = t_video - first_video
            result.checkin_wall_s = ended - first_wall
    result.frames = len(timings)
    result.stages = stage_table(timings, stages)
    result.identification = identification_ms(timings)
    result.identifications_with_facenet = sum(1 for t in timings if "match" in t and "embed" in t)
    result.gate_landmarks_liveness = percentile_stats(summed_per_frame(timings, GATE_STAGES))
    result.total = percentile_stats(totals)
    result.per_frame_total_ms = totals
    result.fps = result.frames / busy_s if busy_s > 0 else 0.0
    result.peak_rss_mb = peak_rss_mb()
    return result


# --------------------------------------------------------------------------- bench-match


@dataclass(frozen=True, slots=True)
class MatchBench:
    """Matching time for one gallery size, the kiosk's matcher beside the exhaustive scan.

    Attributes:
        size: stored images.
        query_ms_median: median milliseconds of one open-set query
            (:meth:`kiosk.matching.matrix.GalleryMatrix.nearest`: the int8 prefilter from
            :data:`kiosk.matching.matrix.INDEX_MIN_ROWS` images on), queries back to back.
        query_ms_p95: 95th percentile.
        exhaustive_ms_median: median of the exhaustive float32 scan (:func:`kiosk.matching.matrix.nearest`)
            on the same queries, timed in blocks alternating with the matcher's in the same run.
        exhaustive_ms_p95: its 95th percentile.
        cold_query_ms_median: median of the matcher's first query of each block, which follows
            the exhaustive scan's pass over the float32 matrix (its caches evicted, as other
            work between attendees may leave them).
        same_decisions: queries where both gave the same person, image, acceptance, distance
            and margin.
        queries: queries timed (half near a stored image, half random).
        full_scans: queries where the prefilter's bound could not prove the answer and the
            matcher scanned every row instead.
        threads: threads of the int8 scan (:func:`kiosk.matching.threads.search_threads`; 0 when not used).
        index_build_s: seconds to build the int8 copy (at the first query; 0 when not used).
        index_mb: memory of the int8 copy (codes), besides the float32 matrix.
        code_bytes: bytes a query reads per stored image: the int8 copy's code width
            (512 with every component, fewer in the rows' subspace), or the float32 row's
            bytes when no copy is used.
        matrix_mb: memory of the float32 matrix.
        gallery_rss_mb: what the open gallery added to the process's resident memory (matrix,
            ids, int8 copy, lookups), measured after the queries (NaN when not measurable).
        load_s: seconds to open the SQLite gallery and read its matrix.
        gallery: ``"random"`` (random unit vectors) or ``"face-like"`` (:class:`FaceLikeVectors`).
        matcher: ``"facenet"`` (FaceNet's matrix) or ``"fused"`` (with fusion on: FaceNet's
            and dlib's distances, :class:`kiosk.matching.fused.FusedMatcher`; the exhaustive scan is
            then the fused one over every row).
    """

    size: int
    query_ms_median: float
    query_ms_p95: float
    exhaustive_ms_median: float
    exhaustive_ms_p95: float
    cold_query_ms_median: float
    same_decisions: int
    queries: int
    full_scans: int
    threads: int
    index_build_s: float
    index_mb: float
    matrix_mb: float
    gallery_rss_mb: float
    load_s: float
    code_bytes: int = 0
    gallery: str = "random"
    matcher: str = "facenet"

    def as_dict(self) -> dict[str, float | int]:
        return {name: (round(value, 3) if isinstance(value, float) else value)
                for name, value in ((f, getattr(self, f)) for f in self.__slots__)}


@dataclass(frozen=True, slots=True)
class FaceLikeVectors:
    """A Gaussian model of real faces' embeddings, for galleries of any size like real ones.

    Person centres are drawn around the mean of real people's mean embeddings with their
    covariance (between people), and each image around its person's centre with the pooled
    covariance of real images around their person's mean (within a person); the first
    ``unit_width`` components (FaceNet's) are then L2-normalised as the embedder's are, the rest
    (dlib's, with fusion) kept as drawn. The covariances come from embeddings of real photos
    (:meth:`fit`), so the galleries keep what matters for matching: the subspace the
    embeddings lie in and how far apart people and photos of one person are.

    Attributes:
        mean: (dim,) mean of the people's mean embeddings.
        between: (dim, dim) a square root of the between-person covariance.
        within: (dim, dim) a square root of the within-person covariance.
        fitted_people: real people it was fitted on.
        fitted_images: real images it was fitted on.
        unit_width: leading components normalised to a unit vector (the rest are not).
    """

    mean: np.ndarray
    between: np.ndarray
    within: np.ndarray
    fitted_people: int
    fitted_images: int
    unit_width: int

    @classmethod
    def fit(cls, embeddings: np.ndarray, person_of_row: np.ndarray,
            unit_width: int | None = None) -> FaceLikeVectors:
        """From real embeddings, (N, dim), and the person of each, (N,); ``unit_width``: the
        leading components that form a unit vector (None: all of them).

        Raises:
            ValueError: fewer than 2 people with 2 or more images (no within-person spread).
        """
        embeddings = np.asarray(embeddings, np.float64)
        people, person_index = np.unique(np.asarray(person_of_row), return_inverse=True)
        means = np.stack([embeddings[person_index == i].mean(axis=0) for i in range(len(people))])
        counts = np.bincount(person_index, minlength=len(people))
        if np.sum(counts >= 2) < 2:
            raise ValueError("embeddings: need at least 2 people with 2 or more images each")
        deviations = embeddings - means[person_index]
        within = deviations.T @ deviations / max(1, len(embeddings) - len(people))
        between = np.cov(means, rowvar=False)
        return cls(means.mean(axis=0), _square_root(between), _square_root(within),
                   len(people), len(embeddings),
                   embeddings.shape[1] if unit_width is None else unit_width)

    def centres(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` new person centres, (count, dim)."""
        return self.mean + rng.standard_normal((count, len(self.mean))) @ self.between.T

    def images(self, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One image embedding per centre, (len(centres), dim) float32 (the first
        ``unit_width`` components a unit vector)."""
        rows = centres + rng.standard_normal(centres.shape) @ self.within.T
        unit = rows[:, : self.unit_width]
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        return rows.astype(np.float32)


def _square_root(covariance: np.ndarray) -> np.ndarray:
    """A matrix ``A`` with ``A @ A.T == covariance`` (negative rounding eigenvalues dropped)."""
    values, vectors = np.linalg.eigh(covariance)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def similarity_spread(rows: np.ndarray, person_of_row: np.ndarray) -> dict[str, float]:
    """Mean and spread of the dot products between rows of different people and of one person
    (the figures that make a gallery hard or easy to match)."""
    rows = np.asarray(rows, np.float64)
    similarities = rows @ rows.T
    same = np.asarray(person_of_row)[:, None] == np.asarray(person_of_row)[None, :]
    other = similarities[~same]
    one = similarities[same & ~np.eye(len(rows), dtype=bool)]
    return {"other_people_mean": float(other.mean()), "other_people_std": float(other.std()),
            "same_person_mean": float(one.mean()) if one.size else float("nan")}


def face_like_gallery(
    faces: FaceLikeVectors, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` face-like rows, :data:`IMAGES_PER_PERSON` per person in a row, (size, dim), and
    the people's centres, (people, dim)."""
    rng = np.random.default_rng(seed)
    centres = faces.centres(-(-size // IMAGES_PER_PERSON), rng)
    return faces.images(np.repeat(centres, IMAGES_PER_PERSON, axis=0)[:size], rng), centres


def face_like_probes(faces: FaceLikeVectors, centres: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Queries for the match bench on a face-like gallery, (count, dim): the first half new
    images of enrolled people (genuine attendees), the rest images of new people (strangers)."""
    rng = np.random.default_rng(seed)
    near = count // 2
    enrolled = centres[rng.integers(0, len(centres), near)]
    return np.vstack([faces.images(enrolled, rng), faces.images(faces.centres(count - near, rng), rng)])


def random_probes(
    embeddings: dict[str, np.ndarray], unit_model: str, count: int, seed: int
) -> list[dict[str, np.ndarray]]:
    """Queries for the match bench on a random gallery, model id -> (dim,) each: the first
    half a stored image's rows plus noise of 0.6 times a row's norm (about a genuine attendee's
    distance), the rest random rows (strangers); ``unit_model``'s are unit vectors."""
    rng = np.random.default_rng(seed)
    near = count // 2
    rows = rng.integers(0, len(embeddings[unit_model]), near)
    probes: dict[str, np.ndarray] = {}
    for model, matrix in embeddings.items():
        dim = matrix.shape[1]
        scale = float(np.sqrt(np.mean(np.sum(np.square(matrix[rows]), axis=1)) / dim))
        noisy = matrix[rows] + rng.normal(0.0, 0.6 * scale, (near, dim)).astype(np.float32)
        strangers = rng.normal(0.0, scale, (count - near, dim)).astype(np.float32)
        probes[model] = np.vstack([noisy, strangers])
        if model == unit_model:
            probes[model] /= np.linalg.norm(probes[model], axis=1, keepdims=True)
    return [{model: probes[model][i] for model in probes} for i in range(count)]


def _by_model(row: np.ndarray, model_id: str, unit_width: int,
              weights: dict[str, float] | None) -> dict[str, np.ndarray]:
    """Drawn face-like rows, (dim,) or (N, dim), split by model: model id -> FaceNet's first
    ``unit_width`` components, and with fusion dlib's -> the rest."""
    from kiosk.dlib_encoder import DLIB_MODEL_ID

    split = {model_id: row[..., :unit_width]}
    if weights is not None:
        split[DLIB_MODEL_ID] = row[..., unit_width:]
    return split


def _code_bytes(matrix: Any) -> int:
    """Bytes a query reads per row of a matrix: its int8 copy's code, else the float32 row."""
    copies = matrix.int8_copies()
    return copies[0].code_dim if copies else 4 * matrix.dim


def _unindexed(matrix: Any) -> Any:
    """A matrix over the same arrays (not copied) that always scans every row."""
    from kiosk.matching.matrix import GalleryMatrix

    copy = GalleryMatrix.adopt(matrix.image_ids, matrix.person_ids, matrix.embeddings)
    copy.index_min_rows = 2**62
    return copy


def write_random_gallery(path: str | Path, size: int, model_id: str, dim: int = 512, seed: int = 0) -> None:
    """Create a gallery file with ``size`` random unit-vector images, 10 per person."""
    write_gallery(path, {model_id: random_unit_vectors(size, dim, seed)}, model_id)


def random_dlib_like(count: int, seed: int) -> np.ndarray:
    """``count`` random 128-d rows of norm about 1 (dlib's rows are not unit vectors)."""
    from kiosk.dlib_encoder import DLIB_EMBEDDING_SIZE

    rng = np.random.default_rng(seed)
    return (0.09 * rng.standard_normal((count, DLIB_EMBEDDING_SIZE))).astype(np.float32)


def write_gallery(path: str | Path, vectors: dict[str, np.ndarray], model_id: str) -> None:
    """Create a gallery file of these image embeddings, model id -> (N, dim), row for row:
    :data:`IMAGES_PER_PERSON` consecutive rows per person.

    Uses the bulk path (:meth:`kiosk.store.people.People.add_many`): going through enrolment
    100,000 times would measure the enrolment path, not the start-up load.
    """
    from kiosk.gallery import Gallery

    size = len(vectors[model_id])
    people = [
        (f"person {start // IMAGES_PER_PERSON + 1}", None,
         {model: rows[start:start + IMAGES_PER_PERSON] for model, rows in vectors.items()})
        for start in range(0, size, IMAGES_PER_PERSON)
    ]
    with Gallery(path, model_id) as gallery:
        gallery.people_table.add_many(people, actor="benchmark")



def same_match(a: Any, b: Any) -> bool:
    """Same person, image and acceptance, distance and margin equal to float32 rounding."""
    return ((a.person_id, a.image_id, a.accepted) == (b.person_id, b.image_id, b.accepted)
            and math.isclose(a.distance, b.distance, abs_tol=1e-6)
            and math.isclose(a.margin, b.margin, abs_tol=1e-6))


def compare_queries(
    matrix: Any, queries: Any, threshold: float, min_margin: float,
    block: int = COMPARE_BLOCK, exhaustive: Any = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Time the matcher and the exhaustive scan on the same queries, in alternating blocks.

    Each block of ``block`` queries goes through the kiosk's matcher back to back (as a kiosk
    matches attendee after attendee), then through the exhaustive scan, so both see their own
    steady state and the same load; the first matcher query of a block follows the
    exhaustive scan's pass over the whole float32 matrix.

    Args:
        exhaustive: what answers the same queries by scanning every row (with ``nearest``
            like the matcher's); None: :func:`kiosk.matching.matrix.nearest` on the matcher's matrix.

    Returns:
        ((Q,) matcher ms, (Q,) exhaustive ms, queries where both decided the same, see
        :func:`same_match`).
    """
    from kiosk.matching.matrix import nearest

    fast, slow = np.empty(len(queries)), np.empty(len(queries))
    same = 0
    for first in range(0, len(queries), block):
        matches = []
        for i in range(first, min(first + block, len(queries))):
            started = time.perf_counter()
            matches.append(matrix.nearest(queries[i], threshold, min_margin))
            fast[i] = (time.perf_counter() - started) * 1000.0
        for i, a in zip(range(first, min(first + block, len(queries))), matches):
            started = time.perf_counter()
            if exhaustive is None:
                b = nearest(queries[i], matrix.embeddings, matrix.person_ids, matrix.image_ids,
                            threshold, min_margin)
            else:
                b = exhaustive.nearest(queries[i], threshold, min_margin)
            slow[i] = (time.perf_counter() - started) * 1000.0
            same += same_match(a, b)
    return fast, slow, same


def run_match_bench(
    sizes: list[int], settings: Settings, queries: int = DEFAULT_QUERIES, folder: str | None = None,
    threads: int | None = None, faces: FaceLikeVectors | None = None,
) -> list[MatchBench]:
    """For each size: write a gallery to SQLite, time its load, then time queries with the
    kiosk's matcher and with the exhaustive scan, in alternating blocks, in the same run.

    Args:
        threads: threads of the int8 scan; None: the kiosk's (:func:`kiosk.matching.threads.search_threads`).
        faces: draw the gallery and the queries from this model of real faces' embeddings;
            None: random unit vectors (no subspace: the int8 copy keeps every component) and
            :func:`random_probes`.
    """
    from kiosk.dlib_encoder import DLIB_MODEL_ID
    from kiosk.gallery import Gallery
    from kiosk.matching.fused import FusedMatcher
    from kiosk.matching.rule import DlibFirstBand, fusion_weights_of, match_threshold

    recognition = settings.recognition
    weights = fusion_weights_of(recognition)
    dlib_first = DlibFirstBand.from_settings(recognition)  # as the kiosk opens its gallery
    threshold, margin = match_threshold(recognition), recognition.min_margin
    results = []
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        for size in sizes:
            path = Path(tmp) / f"gallery-{size}.sqlite"
            if faces is None:
                vectors = {recognition.model_id: random_unit_vectors(size, 512, seed=0)}
                if weights is not None:
                    vectors[DLIB_MODEL_ID] = random_dlib_like(size, seed=1)
            else:
                rows, centres = face_like_gallery(faces, size, seed=size)
                vectors = _by_model(rows, recognition.model_id, faces.unit_width, weights)
            write_gallery(path, vectors, recognition.model_id)
            del vectors  # the gallery reads its own copy
            rss_before = current_rss_mb()
            started = time.perf_counter()
            gallery = Gallery(path, recognition.model_id, fusion_weights=weights,
                              dlib_first=dlib_first)
            try:
                matrices = gallery.indexes  # read at first use
                load_s = time.perf_counter() - started
                matcher = gallery.matcher
                if threads is not None:
                    for matrix in matrices.values():
                        matrix.threads = threads
                if faces is None:
                    probe = random_probes({m: x.embeddings for m, x in matrices.items()},
                                          recognition.model_id, queries, seed=size + 1)
                else:
                    probe = face_like_probes(faces, centres, queries, seed=size + 1)
                    probe = [_by_model(row, recognition.model_id, faces.unit_width, weights)
                             for row in probe]
                if weights is None:
                    probe = [query[recognition.model_id] for query in probe]
                    exhaustive = None
                else:  # the same rows, never through a prefilter
                    exhaustive = FusedMatcher({m: _unindexed(x) for m, x in matrices.items()},
                                              weights, dlib_first)
                started = time.perf_counter()
                matcher.nearest(probe[0], threshold, margin)
                first_s = time.perf_counter() - started
                copies = [copy for matrix in matrices.values() for copy in matrix.int8_copies()]
                index_mb = sum(len(copy) * copy.code_dim for copy in copies) / 1e6
                # bytes a query reads per image: each model's int8 code, or its float32 row
                code_bytes = sum(_code_bytes(matrix) for matrix in matrices.values())
                compare_queries(matcher, probe[:3], threshold, margin,
                                exhaustive=exhaustive)  # warm the caches and BLAS threads
                full_scans_before = matcher.full_scans
                fast, slow, same = compare_queries(matcher, probe, threshold, margin,
                                                   exhaustive=exhaustive)
                full_scans = matcher.full_scans - full_scans_before
                matrix_mb = sum(matrix.embeddings.nbytes for matrix in matrices.values()) / 1e6
                gallery_rss_mb = current_rss_mb() - rss_before
            finally:
                gallery.close()
            fast_stats, slow_stats = percentile_stats(fast), percentile_stats(slow)
            cold = float(np.median(fast[::COMPARE_BLOCK]))
            results.append(MatchBench(
                size, fast_stats.median_ms, fast_stats.p95_ms, slow_stats.median_ms,
                slow_stats.p95_ms, cold, same, len(probe), full_scans,
                copies[0].threads if copies else 0,
                first_s if copies else 0.0, index_mb, matrix_mb, gallery_rss_mb,
                load_s, code_bytes, "random" if faces is None else "face-like",
                "facenet" if weights is None else "fused",
            ))
            with contextlib.suppress(OSError):
                path.unlink()
    return results


# --------------------------------------------------------------------------- face_recognition


def face_recognition_available() -> tuple[bool, str]:
    """Whether ``face_recognition`` imports, and the reason when not."""
    try:
        import face_recognition  # noqa: F401
    except Exception as exc:  # ImportError, or its models package missing (it calls quit())
        return False, f"{type(exc).__name__}: {exc}"
    except SystemExit:
        return False, "face_recognition exited on import (face_recognition_models missing?)"
    return True, ""


@dataclass(frozen=True, slots=True)
class FaceRecognitionBench:
    """``face_recognition`` on the same frames: HOG detection + ResNet encoding, per frame.

    Attributes:
        frames: frames timed.
        detect: ``face_locations(model="hog")`` per frame.
        encode: ``face_encodings`` of the found faces, per frame that had a face.
        per_frame: detect + encode per frame.
        faces_found: frames with at least one face.
        kiosk_identification: the kiosk's identification of the same frames, each timed just
            before face_recognition's (so that both see the same load); None when not asked.
        kiosk_facenet_runs: how many of those identifications needed FaceNet (dlib unsure).
    """

    frames: int
    detect: StageStats
    encode: StageStats
    per_frame: StageStats
    faces_found: int
    kiosk_identification: StageStats | None = None
    kiosk_facenet_runs: int | None = None

    def as_dict(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "frames": self.frames, "detect": self.detect.as_dict(),
            "encode": self.encode.as_dict(), "per_frame": self.per_frame.as_dict(),
            "faces_found": self.faces_found,
        }
        if self.kiosk_identification is not None:
            ours = self.kiosk_identification
            figures["kiosk_identification"] = ours.as_dict()
            figures["kiosk_facenet_runs"] = self.kiosk_facenet_runs
            figures["ratio_interleaved"] = (
                round(self.per_frame.median_ms / ours.median_ms, 2) if ours.median_ms > 0 else None
            )
        return figures


class KioskIdentifier:
    """One identification as the pipeline makes it, for a frame: the face gate on the whole
    frame, landmarks, then :class:`kiosk.identification.FaceIdentifier` (dlib first with a fused
    gallery, FaceNet where dlib is unsure, the kiosk's :class:`~kiosk.decision.MatchPolicy`).
    Calling it returns whether a face was found.

    Attributes:
        facenet_runs: identifications so far in which FaceNet ran.
    """

    def __init__(self, models: Any, gallery: Any, settings: Any) -> None:
        from kiosk.identification import FaceIdentifier

        self.models = models
        self.gallery = gallery
        self.identifier = FaceIdentifier.for_gallery(models, gallery, settings.recognition)
        self.facenet_runs = 0

    def __call__(self, frame_bgr: FrameBGR) -> bool:
        from kiosk.detect import to_gray

        face = self.models.detector.detect(frame_bgr).face
        if face is None:
            return False
        landmarks = self.models.landmarks.predict(to_gray(frame_bgr), face.box_xyxy)
        found = self.identifier.identify(self.gallery.matcher, frame_bgr, landmarks, {})
        self.facenet_runs += int(found.facenet is not None)
        return True


def run_face_recognition_bench(
    frames_bgr: list[FrameBGR], kiosk_identify: Callable[[FrameBGR], bool] | None = None,
) -> FaceRecognitionBench:
    """Time ``face_recognition`` per frame: its HOG detection as its default (the image
    upsampled once), then the encoding of the first face (5-point chip, one jitter).

    Args:
        kiosk_identify: when given (:class:`KioskIdentifier`), the kiosk's identification of
            each frame is timed right before face_recognition's, frame by frame.
    """
    import face_recognition

    detect_ms: list[float] = []
    encode_ms: list[float] = []
    totals: list[float] = []
    ours_ms: list[float] = []
    found = 0
    for frame in frames_bgr:
        if kiosk_identify is not None:
            started = time.perf_counter()
            if kiosk_identify(frame):
                ours_ms.append((time.perf_counter() - started) * 1000.0)
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        started = time.perf_counter()
        locations = face_recognition.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
        detected = time.perf_counter()
        if locations:
            face_recognition.face_encodings(rgb, locations[:1])
            found += 1
        ended = time.perf_counter()
        detect_ms.append((detected - started) * 1000.0)
        if locations:
            encode_ms.append((ended - detected) * 1000.0)
        totals.append((ended - started) * 1000.0)
    return FaceRecognitionBench(
        len(frames_bgr), percentile_stats(detect_ms), percentile_stats(encode_ms),
        percentile_stats(totals), found,
        percentile_stats(ours_ms) if kiosk_identify is not None else None,
        getattr(kiosk_identify, "facenet_runs", None),
    )


def sample_evenly(items: list[Any], count: int) -> list[Any]:
    """At most ``count`` items spread evenly over the list (all of them when fewer)."""
    if count <= 0 or len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]
