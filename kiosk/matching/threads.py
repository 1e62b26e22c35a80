"""Threads and operating-system tuning of the int8 scan.

One query's shards are scanned by the calling thread and a few pool threads, each claiming the
next unscanned shard (:func:`scan_shards`), at most :data:`MAX_SEARCH_THREADS` (the kiosk's
target machine has 2 cores, and the camera and the encoders need theirs). faiss runs each call
on one OpenMP thread (:func:`one_openmp_thread`), and the codes sit on huge pages where the
kernel allows it (:func:`use_huge_pages`).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MAX_SEARCH_THREADS = 2  # the kiosk's target machine has 2 cores; the camera and FaceNet need theirs
TAKEOVER_SHARDS = 1.5  # shard-times the caller waits for another thread before scanning its shard

ShardJob = tuple[object, np.ndarray, int]  # (a faiss shard, query codes (1, code_dim), rows wanted)


def search_threads() -> int:
    """Threads for one query's int8 scan: the cores this process may run on, at most
    :data:`MAX_SEARCH_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_SEARCH_THREADS, cores))


def scan_shards(jobs: list[ShardJob], pool: ThreadPoolExecutor | None,
                threads: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every job's :func:`search_shard` (a shard, its query codes, the rows wanted), scanned
    by this thread and ``threads - 1`` threads of ``pool`` (this thread alone without one), each
    claiming the next unscanned job.

    When this thread has no job left to claim, it waits for the others' at most
    :data:`TAKEOVER_SHARDS` times its own time per job, then scans what they have not finished
    itself: a pool thread the OS has preempted (another process on the core) costs a shard or
    two, not its whole time slice. Both scans of a shard give the same result, so either may
    be kept.
    """
    one_openmp_thread()
    if pool is None or threads < 2:
        return [search_shard(*job) for job in jobs]
    results: list = [None] * len(jobs)
    claims = itertools.count()  # next() is atomic under the GIL: each job claimed once
    left = [len(jobs)]
    lock, done = threading.Lock(), threading.Event()

    def scan() -> int:
        scanned = 0
        while (i := next(claims)) < len(jobs):
            try:
                results[i] = search_shard(*jobs[i])
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
        results = [search_shard(*job) if result is None else result
                   for job, result in zip(jobs, list(results))]
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


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


def one_openmp_thread() -> None:
    """Run this thread's faiss calls on one OpenMP thread (a per-thread setting).

    A single query gains nothing from faiss's OpenMP team, and after each call the team's
    threads spin for a while: on 2 cores they took the core the other shard (or the camera)
    needed, and a 3,000-row scan went from 0.1 ms to 11 ms median on a loaded machine.
    """
    import faiss

    faiss.omp_set_num_threads(1)


def search_shard(shard: object, query_codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """One shard's best ``min(count, rows)`` rows: (K,) int8 scores best first, (K,) shard rows."""
    if shard.ntotal == 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    scores, rows = shard.search(query_codes, min(count, int(shard.ntotal)))
    keep = rows[0] >= 0
    return scores[0][keep], rows[0][keep]
