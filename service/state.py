"""What every request of one service process shares: the pool of database connections, the
gallery (the matching index, kept current by the database's notifications), the encoder, and
the bounded pool that runs CPU work off the event loop."""

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
from kiosk.matching.rule import fusion_weights_of
from kiosk.gallery import Gallery
from service.limits import CPU_QUEUE_PER_WORKER, RETRY_AFTER_S
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


class CpuPool:
    """A bounded pool of threads for CPU work (image decoding, the models, matching).

    At most ``workers`` jobs run at once and ``queue_limit`` more wait; beyond that
    :meth:`run` answers 503 with ``Retry-After`` at once, so a burst of ``identify`` calls
    neither blocks the event loop (sync and check-in batches keep being answered) nor piles up
    without bound.
    """

    def __init__(self, workers: int, queue_limit: int) -> None:
        if workers < 1 or queue_limit < 0:
            raise ValueError(f"workers must be >= 1 and queue_limit >= 0, got {workers}, "
                             f"{queue_limit}")
        self.workers = workers
        self.queue_limit = queue_limit
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, "service-cpu")
        self._admitted = 0  # changed on the event loop only

    async def run(self, job: Callable[..., Any], *args: Any) -> Any:
        if self._admitted >= self.workers + self.queue_limit:
            raise HTTPException(503, "the service is busy with other photos; try again shortly",
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        self._admitted += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(job, *args))
        finally:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def default_cpu_workers() -> int:
    """One core is left to the event loop and the database work."""
    return max(1, (os.cpu_count() or 2) - 1)


class ServiceState:
    """The shared parts of one service process (``app.state.service``).

    Args:
        database_url: ``postgresql://...``.
        settings: recognition settings (threshold, margin, model id, face crops).
        encoder_factory: makes the :class:`kiosk.face_encoder.FaceEncoder` (loaded on first
            use; tests pass the session's).
        pool_size: connections for concurrent requests.
        cpu_workers: threads for CPU work (default: the cores but one).

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
                               fusion_weights=fusion_weights_of(settings.recognition))
        self.gallery_lock = threading.Lock()
        workers = cpu_workers or default_cpu_workers()
        self.cpu = CpuPool(workers, CPU_QUEUE_PER_WORKER * workers)
        self._encoder_factory = encoder_factory
        self._encoder: Any = None
        self._encoder_lock = threading.Lock()

    def encoder(self) -> Any:
        """The face encoder, loaded on first use."""
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
