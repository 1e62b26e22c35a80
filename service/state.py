"""What every request of one service process shares: the pool of database connections, the
gallery (the matching index, kept current by the database's notifications), and the bounded
pool that decodes photos and runs the models off the event loop.

The photos are decoded and encoded in processes of their own (:func:`encode_in_worker`), at a
lower scheduling priority (nice 10): the models neither hold this process's GIL nor take the CPU
from the event loop, the database work and the other requests; matching (milliseconds) runs in
a thread here. Tests that pass their own encoder (``encoder_factory``) encode in threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import HTTPException

from kiosk.config import Settings
from kiosk.matching.rule import DlibFirstBand, fusion_weights_of
from kiosk.gallery import Gallery
from service.limits import (
    CPU_QUEUE_PER_WORKER, MAX_DECODE_PIXELS, MAX_IMAGE_BYTES, RETRY_AFTER_S,
)
from service.store.postgres import PostgresStore

log = logging.getLogger(__name__)


class StorePool:
    """A few open stores, one per concurrent request (a psycopg connection serves one
    transaction at a time)."""

    def __init__(self, url: str, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.url = url
        self._free: queue.LifoQueue[PostgresStore] = queue.LifoQueue()
        self._all: list[PostgresStore] = []
        self._lock = threading.Lock()
        self.size = size
        first = PostgresStore(url)  # creates or migrates the schema
        self._all.append(first)
        self._free.put(first)

    @contextlib.contextmanager
    def borrow(self) -> Iterator[PostgresStore]:
        try:
            store = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self._all) < self.size
                if grow:
                    store = PostgresStore(self.url, migrate=False)
                    self._all.append(store)
            if not grow:
                store = self._free.get(timeout=30)
        try:
            yield store
        finally:
            self._free.put(store)

    def close(self) -> None:
        for store in self._all:
            store.close()


WORKER_NICENESS = 10
_worker_encoder: Any = None  # the encoder of an encoding process (see start_encoding_worker)


def start_encoding_worker(settings: Settings) -> None:
    """The initializer of an encoding process: a lower priority, the end of the process with
    its parent (Linux), the models loaded once."""
    global _worker_encoder
    import signal

    from kiosk.face_encoder import FaceEncoder
    from kiosk.stages import load_models

    os.nice(WORKER_NICENESS)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the process ends when its queue closes
        pass
    _worker_encoder = FaceEncoder(load_models(settings), settings)


def encode_in_worker(data: bytes, name: str, single: bool) -> Any:
    """Decode a photo and encode its face, in an encoding process (:func:`decode_and_encode`)."""
    return decode_and_encode(_worker_encoder, data, name, single)


def decode_and_encode(encoder: Any, data: bytes, name: str, single: bool) -> Any:
    """Decode a photo (its header checked first: at most :data:`MAX_DECODE_PIXELS`) and encode
    its one face (or the largest, ``single=False``).

    Raises:
        kiosk.images.ImageError: not a photo, too large, no usable face.
    """
    from kiosk.images import decode_image

    frame_bgr = decode_image(data, name, max_bytes=MAX_IMAGE_BYTES, max_pixels=MAX_DECODE_PIXELS)
    return encoder.encode_photo(frame_bgr, name, single=single)


class CpuPool:
    """A bounded pool for CPU work (decoding photos, the models): threads, or processes.

    At most ``workers`` jobs run at once and ``queue_limit`` more wait; beyond that
    :meth:`run` answers 503 with ``Retry-After`` at once, so a burst of ``identify`` calls
    neither blocks the event loop (sync and check-in batches keep being answered) nor piles up
    without bound.

    Args:
        workers: jobs at once.
        queue_limit: jobs that may wait.
        executor_factory: makes the executor the jobs run in (default: a pool of ``workers``
            threads); called again when a process of a process pool died (the job that was
            running answers 503).
    """

    def __init__(self, workers: int, queue_limit: int,
                 executor_factory: Callable[[], concurrent.futures.Executor] | None = None
                 ) -> None:
        if workers < 1 or queue_limit < 0:
            raise ValueError(f"workers must be >= 1 and queue_limit >= 0, got {workers}, "
                             f"{queue_limit}")
        self.workers = workers
        self.queue_limit = queue_limit
        self._executor_factory = executor_factory or (
            lambda: concurrent.futures.ThreadPoolExecutor(workers, "service-cpu"))
        self._executor = self._executor_factory()
        self._admitted = 0  # changed on the event loop only

    async def run(self, job: Callable[..., Any], *args: Any) -> Any:
        if self._admitted >= self.workers + self.queue_limit:
            raise HTTPException(503, "the service is busy with other photos; try again shortly",
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        self._admitted += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(job, *args))
        except concurrent.futures.BrokenExecutor as exc:
            log.error("a worker of the CPU pool died (%s); starting new ones", exc)
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._executor_factory()
            raise HTTPException(503, "the service restarted its photo workers; try again",
                                headers={"Retry-After": str(RETRY_AFTER_S)}) from exc
        finally:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def default_cpu_workers() -> int:
    """Encoding processes: the cores but one (at least one)."""
    return max(1, (os.cpu_count() or 2) - 1)


class ServiceState:
    """The shared parts of one service process (``app.state.service``).

    Args:
        database_url: ``postgresql://...``.
        settings: recognition settings (threshold, margin, model id, face crops).
        encoder_factory: makes the :class:`kiosk.face_encoder.FaceEncoder` (loaded on first
            use; tests pass the session's).
        pool_size: connections for concurrent requests.
        cpu_workers: processes (threads with ``encoder_factory``) that decode and encode
            photos (default: the cores but one).

    Raises:
        StoreError: the database cannot be reached or has a newer schema.
    """

    def __init__(self, database_url: str, settings: Settings,
                 encoder_factory: Callable[[], Any] | None = None, pool_size: int = 8,
                 cpu_workers: int | None = None) -> None:
        self.settings = settings
        self.database_url = database_url
        self.pool = StorePool(database_url, pool_size)
        self.gallery = Gallery(store=PostgresStore(database_url, migrate=False),
                               model_id=settings.recognition.model_id,
                               max_images_per_person=settings.gallery.max_images_per_person,
                               store_face_crops=settings.gallery.store_face_crops,
                               fusion_weights=fusion_weights_of(settings.recognition),
                               dlib_first=DlibFirstBand.from_settings(settings.recognition))
        self.gallery_lock = threading.Lock()
        workers = cpu_workers or default_cpu_workers()
        def processes() -> concurrent.futures.Executor:
            import multiprocessing

            return concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=start_encoding_worker, initargs=(settings,))

        self.cpu = CpuPool(workers, CPU_QUEUE_PER_WORKER * workers,
                           processes if encoder_factory is None else None)
        self._encoder_factory = encoder_factory
        self._encoder: Any = None
        self._encoder_lock = threading.Lock()

    async def encode(self, data: bytes, name: str, single: bool) -> Any:
        """One photo's face sample, decoded and encoded in the CPU pool.

        Raises:
            HTTPException: 503 when the pool is full.
            kiosk.images.ImageError: not a photo, too large, no usable face.
        """
        if self._encoder_factory is None:
            return await self.cpu.run(encode_in_worker, data, name, single)
        return await self.cpu.run(lambda: decode_and_encode(self.encoder(), data, name, single))

    def encoder(self) -> Any:
        """The face encoder of this process (the tests', or loaded on first use: the start-up
        re-embedding of stored crops)."""
        with self._encoder_lock:
            if self._encoder is None:
                if self._encoder_factory is not None:
                    self._encoder = self._encoder_factory()
                else:
                    from kiosk.face_encoder import FaceEncoder
                    from kiosk.stages import load_models

                    self._encoder = FaceEncoder(load_models(self.settings), self.settings)
            return self._encoder

    def refresh_gallery(self) -> None:
        """Re-read what changed in the database since the index was read (called when the
        database notifies a change, and once at start)."""
        with self.gallery_lock:
            self.gallery.refresh_if_changed()

    def migrate_gallery(self) -> None:
        """Images stored under other models (another FaceNet back-end, fusion turned on) are
        re-embedded from their stored crops before the service answers: the kiosks then get
        every model's embedding at their next sync. What is left (no crop) is logged."""
        from kiosk.reembed import migrate_at_start

        with self.gallery_lock:
            try:
                incomplete = self.gallery.incomplete_images()
                if not incomplete:
                    return
                with_crop = any(image.has_crop for image in incomplete)
                notice = migrate_at_start(self.gallery, self.encoder() if with_crop else None,
                                          _log_migration_progress)
            except Exception:  # noqa: BLE001 - the service still serves what it can match
                log.exception("the start-up migration of the gallery failed")
                return
        if notice:
            log.warning("%s (re-enrol them through POST /api/v1/people)", notice)

    def close(self) -> None:
        self.cpu.close()
        self.pool.close()
        self.gallery.close()


def _log_migration_progress(done: int, total: int) -> None:
    log.info("start-up migration: %d of %d stored images re-embedded", done, total)
