"""Measure the camera reader against the local GStreamer RTSP server (docs/CAMERA.md).

It starts ``tests/rtsp_server.py --stamp`` with the system Python (PyGObject from Debian, see
``.ci/system-packages.txt``); every frame then carries ``time.monotonic()`` in milliseconds from
the moment it entered the encoder, so the *true* age of a frame (encode + RTSP + decode +
hand-over) is measured, not only the time since the reader's ``read()`` returned.

Three measurements:

* ``latency``: a consumer that takes every frame; frame age at hand-over, for each
  ``decode_threads`` setting (1, the default, and 0 = one per core);
* ``slow``: consumers that spend ``--work-ms`` on each frame; age at hand-over and at the end of
  the work, next to a naive loop that calls ``cv2.VideoCapture.read()`` itself at the same pace;
* ``reconnect``: the server is killed, left down ``--down-s`` and restarted on the same port,
  ``--restarts`` times; time from kill to LOST, from restart to LIVE.

Each measurement skips its first 1.5 s; ``dropped`` counts the frames dropped after that.
``reader_age`` is measured from the reader's ``t_monotonic`` (when ``read()`` returned),
``true_age`` from the stamp. Usage::

    python scripts/measure_camera.py --seconds 10 --restarts 5
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.camera import CameraFrame, CameraState, LatestFrameReader  # noqa: E402
from kiosk.config import CameraSettings  # noqa: E402
from kiosk.types import FrameBGR  # noqa: E402

SERVER_SCRIPT = ROOT / "tests" / "rtsp_server.py"
SYSTEM_PYTHON = os.environ.get("KIOSK_SYSTEM_PYTHON", "/usr/bin/python3")
STAMP_BITS = 32
STAMP_BLOCK_PX = 10
WARMUP_S = 1.5  # skip the burst of frames FFmpeg buffers while probing a new stream


def read_stamp_ms(frame_bgr: FrameBGR) -> int:
    """The ``time.monotonic()`` milliseconds (mod 2**32) the server wrote into a frame."""
    block = STAMP_BLOCK_PX
    top = frame_bgr[:block, : STAMP_BITS * block, 1].astype(np.float32)
    centres = top.reshape(block, STAMP_BITS, block)[2:-2, :, 2:-2].mean(axis=(0, 2))
    value = 0
    for bit in centres > 128.0:
        value = (value << 1) | int(bit)
    return value


def true_age_ms(frame_bgr: FrameBGR) -> float:
    now_ms = int(time.monotonic() * 1000) % (1 << STAMP_BITS)
    return float((now_ms - read_stamp_ms(frame_bgr)) % (1 << STAMP_BITS))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The stamped RTSP test server as a subprocess."""

    def __init__(self, port: int, fps: int, width: int, height: int) -> None:
        self.command = [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            "--port",
            str(port),
            "--fps",
            str(fps),
            "--width",
            str(width),
            "--height",
            str(height),
            "--stamp",
        ]
        self.url = f"rtsp://127.0.0.1:{port}/test"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> float:
        """Start and wait for READY; returns ``time.monotonic()`` when it listens."""
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 15.0)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("READY"):
            raise SystemExit(f"RTSP server did not start: {line!r}")
        return time.monotonic()

    def kill(self) -> float:
        """SIGKILL; returns ``time.monotonic()`` of the kill."""
        assert self.process is not None
        t_kill = time.monotonic()
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        return t_kill


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 1),
        "p50": round(statistics.median(values), 1),
        "max": round(max(values), 1),
    }


def consumed_frames(reader: LatestFrameReader, seconds: float) -> Iterator[tuple[CameraFrame, int]]:
    """After the warm-up, every frame a consumer takes for ``seconds``, with the id step since
    the frame it took before (how many frames it skipped)."""
    frame = reader.wait_for_frame(0, timeout_s=10.0)
    assert frame is not None, reader.stats()
    time.sleep(WARMUP_S)
    last_id = frame.frame_id
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = reader.wait_for_frame(last_id, timeout_s=1.0)
        if frame is None:
            continue
        step, last_id = frame.frame_id - last_id, frame.frame_id
        yield frame, step


def measure_latency(url: str, seconds: float, decode_threads: int) -> dict[str, Any]:
    settings = CameraSettings(source=url, decode_threads=decode_threads)
    true_ms: list[float] = []
    reader_ms: list[float] = []
    with LatestFrameReader(settings) as reader:
        dropped_before = None
        for frame, _ in consumed_frames(reader, seconds):
            if dropped_before is None:
                dropped_before = reader.stats().frames_dropped
            reader_ms.append(1000.0 * (time.monotonic() - frame.t_monotonic))
            true_ms.append(true_age_ms(frame.frame_bgr))
        stats = reader.stats()
    return {
        "decode_threads": decode_threads,
        "fps": round(stats.fps, 2),
        "true_age_ms": summary(true_ms),
        "reader_age_ms": summary(reader_ms),
        "dropped": stats.frames_dropped - (dropped_before or 0),
    }


def measure_slow(url: str, seconds: float, work_ms: int) -> dict[str, Any]:
    settings = CameraSettings(source=url)
    take_ms: list[float] = []
    true_take_ms: list[float] = []
    true_done_ms: list[float] = []
    steps: list[int] = []
    with LatestFrameReader(settings) as reader:
        dropped_before = None
        for frame, step in consumed_frames(reader, seconds):
            if dropped_before is None:
                dropped_before = reader.stats().frames_dropped
            take_ms.append(1000.0 * (time.monotonic() - frame.t_monotonic))
            true_take_ms.append(true_age_ms(frame.frame_bgr))
            steps.append(step)
            time.sleep(work_ms / 1000.0)  # the consumer's own work
            true_done_ms.append(true_age_ms(frame.frame_bgr))
        stats = reader.stats()
    return {
        "work_ms": work_ms,
        "frames_taken": len(take_ms),
        "mean_id_step": round(statistics.fmean(steps[1:]), 2) if len(steps) > 1 else None,
        "reader_age_at_take_ms": summary(take_ms),
        "true_age_at_take_ms": summary(true_take_ms),
        "true_age_after_work_ms": summary(true_done_ms),
        "dropped": stats.frames_dropped - (dropped_before or 0),
    }


def measure_naive(url: str, seconds: float, work_ms: int) -> dict[str, Any]:
    """What the reader avoids: read() and the work in one loop, so frames queue up."""
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    ages: list[float] = []
    try:
        t_start = time.monotonic()
        while time.monotonic() - t_start < WARMUP_S + seconds:
            ok, frame = capture.read()
            if not ok:
                break
            ages.append(true_age_ms(frame))
            time.sleep(work_ms / 1000.0)
    finally:
        capture.release()
    return {"work_ms": work_ms, "true_age_first_ms": ages[:1], "true_age_last_ms": ages[-1:]}


def measure_reconnect(server: Server, restarts: int, down_s: float) -> list[dict[str, float]]:
    settings = CameraSettings(source=server.url)
    runs: list[dict[str, float]] = []
    with LatestFrameReader(settings) as reader:
        assert reader.wait_for_frame(0, timeout_s=10.0) is not None
        for _ in range(restarts):
            time.sleep(1.0)
            before_kill = _last(reader)
            t_kill = server.kill()
            lost = reader.wait_for_state({CameraState.LOST}, 30.0, after_change_id=before_kill)
            assert lost is not None
            time.sleep(down_s)
            t_ready = server.start()
            live = reader.wait_for_state({CameraState.LIVE}, 60.0, after_change_id=lost.change_id)
            assert live is not None, reader.state_changes()
            runs.append(
                {
                    "kill_to_lost_s": round(lost.t_monotonic - t_kill, 3),
                    "restart_to_live_s": round(live.t_monotonic - t_ready, 3),
                    "kill_to_live_s": round(live.t_monotonic - t_kill, 3),
                }
            )
        runs.append({"reconnect_attempts": reader.stats().reconnects})
    return runs


def _last(reader: LatestFrameReader) -> int:
    changes = reader.state_changes()
    return changes[-1].change_id if changes else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--restarts", type=int, default=5, help="server restarts to time")
    parser.add_argument("--down-s", type=float, default=1.0, help="server down time per restart")
    parser.add_argument("--work-ms", default="0,40,100,200,500", help="slow consumer work times")
    parser.add_argument(
        "--parts", default="latency,slow,naive,reconnect", help="measurements to run"
    )
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args(argv)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    server = Server(free_port(), args.fps, args.width, args.height)
    server.start()
    report: dict[str, Any] = {"stream": f"{args.width}x{args.height} H.264 @ {args.fps} fps"}
    try:
        parts = set(args.parts.split(","))
        if "latency" in parts:
            report["latency"] = [measure_latency(server.url, args.seconds, n) for n in (1, 0)]
        if "slow" in parts:
            work = [int(w) for w in args.work_ms.split(",") if w]
            report["slow_consumer"] = [measure_slow(server.url, args.seconds, w) for w in work]
        if "naive" in parts:
            report["naive_loop"] = measure_naive(server.url, args.seconds, 200)
        if "reconnect" in parts:
            report["reconnect"] = measure_reconnect(server, args.restarts, args.down_s)
    finally:
        if server.process is not None:
            server.kill()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
