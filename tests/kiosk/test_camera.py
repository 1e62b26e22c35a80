"""Camera reader: sources, latest-frame hand-over, reconnection, stop, and ``camera-check``.

The RTSP tests run a real GStreamer RTSP server (``tests/rtsp_server.py``) with the system
Python, which has PyGObject from Debian; they skip, saying why, when those packages are missing
(``apt-get install $(cat .ci/system-packages.txt)``). Video files are generated in ``tmp_path``.
Timing assertions are only generous "does not hang" bounds, and lower bounds that pacing
guarantees.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import os
import select
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from kiosk.camera import CameraFrame, CameraState, LatestFrameReader, StateChange
from kiosk.capture import (
    CameraError,
    CameraSource,
    SourceKind,
    as_bgr,
    ffmpeg_options,
    mask_url_password,
    open_capture,
    parse_source,
)
from kiosk.cli import main as cli_main
from kiosk.config import CameraSettings

TESTS_DIR = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = TESTS_DIR / "rtsp_server.py"
SYSTEM_PYTHON = os.environ.get("KIOSK_SYSTEM_PYTHON", "/usr/bin/python3")
SERVER_FPS = 25
HANG_LIMIT_S = 10.0  # "does not hang" bound for things that should take well under a second


def fast_settings(source: str = "0", **changes: Any) -> CameraSettings:
    """Camera settings with short timeouts and backoff, so failures show up quickly."""
    values: dict[str, Any] = {
        "source": source,
        "open_timeout_ms": 3000,
        "read_timeout_ms": 1500,
        "reconnect_initial_s": 0.2,
        "reconnect_max_s": 1.0,
    }
    values.update(changes)
    return CameraSettings(**values)


def camera_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("camera-")]


@pytest.fixture(autouse=True)
def no_camera_threads_left() -> Iterator[None]:
    """Fail a test that leaves a reader or connection thread running (napari's dangling check)."""
    yield
    deadline = time.monotonic() + 2.0
    while camera_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert camera_threads() == []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_video(
    path: Path, n_frames: int = 20, fps: float = 20.0, size_wh: tuple[int, int] = (64, 48)
) -> Path:
    """A small MJPG .avi whose frame i is a flat gray of level 10 * i (synthetic, no photos)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size_wh)
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(np.full((size_wh[1], size_wh[0], 3), (10 * i) % 256, np.uint8))
    writer.release()
    return path


@pytest.fixture
def video_path(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.avi")


# --------------------------------------------------------------------------- RTSP server


@functools.cache
def rtsp_unavailable_reason() -> str | None:
    """Why the GStreamer RTSP server cannot run here, or None when it can."""
    if not Path(SYSTEM_PYTHON).is_file():
        return f"system Python {SYSTEM_PYTHON} not found (set KIOSK_SYSTEM_PYTHON)"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert Gst.ElementFactory.find('videotestsrc'), 'videotestsrc missing'"
    )
    try:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", probe], check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["?"])[-1]
        return (
            "GStreamer RTSP server not available to the system Python "
            f"(apt-get install $(cat .ci/system-packages.txt)): {last}"
        )
    return None


class RtspServer:
    """``tests/rtsp_server.py`` as a subprocess on 127.0.0.1; can be killed and restarted."""

    def __init__(self, log_path: Path, port: int, fps: int = SERVER_FPS) -> None:
        self.log_path = log_path
        self.port = port
        self.fps = fps
        self.url = f"rtsp://127.0.0.1:{port}/test"
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        command = [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            "--port",
            str(self.port),
            "--fps",
            str(self.fps),
            "--width",
            "320",
            "--height",
            "240",
        ]
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log_file, text=True
            )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("READY"):
            self.kill()
            pytest.fail(f"RTSP server did not start: {line!r}; see {self.log_path}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: the connection drops without an RTSP TEARDOWN, like a camera losing power."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None


@pytest.fixture
def rtsp_server(tmp_path: Path) -> Iterator[RtspServer]:
    reason = rtsp_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    server = RtspServer(tmp_path / "rtsp_server.log", free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


# --------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("source", "kind", "location"),
    [
        (0, SourceKind.DEVICE, "0"),
        ("1", SourceKind.DEVICE, "1"),
        (" 007 ", SourceKind.DEVICE, "7"),
        ("rtsp://cam.local:554/stream1", SourceKind.STREAM, "rtsp://cam.local:554/stream1"),
        ("RTSP://cam/x", SourceKind.STREAM, "RTSP://cam/x"),
        ("http://cam/video.mjpg", SourceKind.STREAM, "http://cam/video.mjpg"),
        ("file:///videos/my%20clip.mp4", SourceKind.FILE, "/videos/my clip.mp4"),
        ("clips/a.mp4", SourceKind.FILE, "clips/a.mp4"),
    ],
)
def test_parse_source(source: str | int, kind: SourceKind, location: str) -> None:
    assert parse_source(source) == CameraSource(kind, location)


@pytest.mark.parametrize("source", ["", "   ", -1, "-2", True])
def test_parse_source_rejects(source: Any) -> None:
    with pytest.raises(ValueError, match="source"):
        parse_source(source)


def test_mask_url_password() -> None:
    assert (
        mask_url_password("rtsp://admin:s3cret@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    )
    assert mask_url_password("rtsp://10.0.0.5/s") == "rtsp://10.0.0.5/s"


@pytest.mark.parametrize(
    ("existing", "changes", "expected"),
    [
        ("", {}, "rtsp_transport;tcp|analyzeduration;200000"),
        ("", {"stream_analyze_ms": 0}, "rtsp_transport;tcp"),
        ("rtsp_transport;udp", {"stream_analyze_ms": 0}, "rtsp_transport;tcp"),
        (
            "stimeout;5000000|rtsp_transport;tcp|analyzeduration;9",
            {"rtsp_transport": "udp", "stream_analyze_ms": 50},
            "rtsp_transport;udp|analyzeduration;50000|stimeout;5000000",
        ),
    ],
)
def test_ffmpeg_options(existing: str, changes: dict[str, Any], expected: str) -> None:
    assert ffmpeg_options(existing, fast_settings(**changes)) == expected


@pytest.mark.parametrize(
    ("frame", "shape"),
    [
        (np.zeros((4, 6, 3), np.uint8), (4, 6, 3)),
        (np.zeros((4, 6), np.uint8), (4, 6, 3)),
        (np.zeros((4, 6, 1), np.uint8), (4, 6, 3)),
        (np.zeros((4, 6, 4), np.uint8), (4, 6, 3)),
        (np.zeros((8, 12, 3), np.uint8)[::2, ::2], (4, 6, 3)),
        (None, None),
        (np.empty((0, 0, 3), np.uint8), None),
        (np.empty((0,), np.uint8), None),
        (np.zeros((4, 6, 3), np.float32), None),
        (np.zeros((4, 6, 2), np.uint8), None),
        (np.zeros((2, 4, 6, 3), np.uint8), None),
        (np.zeros((6,), np.uint8), None),
    ],
)
def test_as_bgr(frame: Any, shape: tuple[int, ...] | None) -> None:
    result = as_bgr(frame)
    if shape is None:
        assert result is None
    else:
        assert result is not None and result.shape == shape and result.flags.c_contiguous


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"rtsp_transport": "http"}, "rtsp_transport"),
        ({"width_px": -1}, "width_px"),
        ({"height_px": 9000}, "height_px"),
        ({"read_timeout_ms": 0}, "read_timeout_ms"),
        ({"reconnect_max_s": 0.1}, "reconnect_max_s"),
        ({"decode_threads": -1}, "decode_threads"),
        ({"stream_analyze_ms": 60_001}, "stream_analyze_ms"),
    ],
)
def test_camera_settings_validation(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=f"^{key}: "):
        fast_settings(**changes)


# --------------------------------------------------------------------------- open_capture


def test_open_missing_file_is_a_clear_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match="video file not found") as info:
        open_capture(str(tmp_path / "nope.mp4"), fast_settings())
    assert info.value.permanent


def test_open_non_video_file_is_a_clear_permanent_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(CameraError, match="cannot open video file") as info:
        open_capture(str(path), fast_settings())
    assert info.value.permanent


def test_open_bad_device_index_is_a_clear_error() -> None:
    t_start = time.monotonic()
    with pytest.raises(CameraError, match="camera device 57"):
        open_capture("57", fast_settings())
    assert time.monotonic() - t_start < HANG_LIMIT_S


def test_open_unreachable_url_is_a_clear_error() -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/x"  # nothing listens there
    t_start = time.monotonic()
    with pytest.raises(CameraError, match="connection refused"):
        open_capture(url, fast_settings())
    assert time.monotonic() - t_start < HANG_LIMIT_S


def test_open_leaves_the_users_ffmpeg_options_as_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;udp|stimeout;1000000")
    with pytest.raises(CameraError):
        open_capture(f"rtsp://127.0.0.1:{free_port()}/x", fast_settings())
    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == "rtsp_transport;udp|stimeout;1000000"
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS")
    with pytest.raises(CameraError):
        open_capture(f"rtsp://127.0.0.1:{free_port()}/x", fast_settings())
    assert "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ


def test_open_silent_server_gives_up_after_the_open_timeout() -> None:
    with socket.socket() as silent:  # accepts TCP but never answers RTSP
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x"
        t_start = time.monotonic()
        with pytest.raises(CameraError, match="cannot open stream"):
            open_capture(url, fast_settings(open_timeout_ms=1000))
        assert time.monotonic() - t_start < HANG_LIMIT_S


def test_file_capture_reads_all_frames_then_ends(video_path: Path) -> None:
    capture = open_capture(str(video_path), fast_settings(pace_file=False))
    try:
        levels = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            levels.append(int(np.mean(frame)))
        assert capture.ended
        assert len(levels) == 20
        assert abs(levels[5] - 50) < 8  # frame 5 is gray level 50 (MJPG is lossy)
    finally:
        capture.release()


def test_looped_paced_file_capture_restarts_at_the_frame_rate(video_path: Path) -> None:
    capture = open_capture(str(video_path), fast_settings(loop_file=True, pace_file=True))
    try:
        assert capture.paced_fps == pytest.approx(20.0)
        t_start = time.monotonic()
        for _ in range(30):
            ok, frame = capture.read()
            assert ok and frame.shape == (48, 64, 3)
        elapsed_s = time.monotonic() - t_start
        assert capture.loops == 1 and not capture.ended
        assert elapsed_s >= 29 / 20.0 - 0.05  # pacing never delivers faster than the file's fps
    finally:
        capture.release()


# --------------------------------------------------------------------------- reader: files


def test_reader_on_missing_file_stops_with_the_error(tmp_path: Path) -> None:
    reader = LatestFrameReader(fast_settings(str(tmp_path / "missing.avi")))
    reader.start()
    change = reader.wait_for_state({CameraState.STOPPED}, HANG_LIMIT_S)
    assert change is not None and "video file not found" in change.reason
    assert reader.stats().last_error is not None
    assert reader.wait_for_frame(0, timeout_s=5.0) is None  # returns at once: reader stopped
    assert reader.stop() is True


def test_reader_reads_a_file_to_its_end_and_stops(video_path: Path) -> None:
    reader = LatestFrameReader(fast_settings(str(video_path), pace_file=False))
    reader.start()
    assert reader.wait_for_state({CameraState.STOPPED}, HANG_LIMIT_S) is not None
    stats = reader.stats()
    assert stats.ended and stats.frames_read == 20 and stats.reconnects == 0
    assert [c.state for c in reader.state_changes()] == [
        CameraState.CONNECTING,
        CameraState.LIVE,
        CameraState.STOPPED,
    ]
    assert reader.stop() is True


def test_reader_on_looped_paced_file_keeps_delivering(video_path: Path) -> None:
    with LatestFrameReader(fast_settings(str(video_path), loop_file=True)) as reader:
        last_id = 0
        for _ in range(25):  # more frames than the file holds
            frame = reader.wait_for_frame(last_id, timeout_s=HANG_LIMIT_S)
            assert frame is not None and frame.frame_id > last_id
            assert frame.frame_bgr.shape == (48, 64, 3)
            assert not frame.frame_bgr.flags.writeable
            last_id = frame.frame_id
        assert reader.state is CameraState.LIVE
        assert reader.stats().frames_read >= 25
    assert reader.state is CameraState.STOPPED


class ScriptedSource:
    """A source that returns scripted frames, including broken ones, then ends."""

    def __init__(self, frames: list[Any]) -> None:
        self._frames = list(frames)
        self.ended = False
        self.released = False

    def read(self) -> tuple[bool, Any]:
        if not self._frames:
            self.ended = True
            return False, None
        return True, self._frames.pop(0)

    def release(self) -> None:
        self.released = True


def test_reader_skips_unusable_frames_without_crashing() -> None:
    good = np.zeros((4, 6, 3), np.uint8)
    script = [
        good,
        None,
        np.empty((0, 0, 3), np.uint8),
        np.zeros((4, 6), np.uint8),  # gray: converted, not skipped
        np.zeros((4, 6, 3), np.float64),
        np.zeros((4, 6, 2), np.uint8),
        good.copy(),
    ]
    source = ScriptedSource(script)
    reader = LatestFrameReader(fast_settings("scripted.avi"), opener=lambda *_: source)
    reader.start()
    assert reader.wait_for_state({CameraState.STOPPED}, HANG_LIMIT_S) is not None
    stats = reader.stats()
    assert (stats.frames_read, stats.frames_skipped, stats.ended) == (3, 4, True)
    assert source.released
    assert reader.stop() is True


# --------------------------------------------------------------------------- reader: failures


def test_reader_on_bad_device_index_reports_lost_and_stops_fast() -> None:
    reader = LatestFrameReader(fast_settings("57"))
    reader.start()
    change = reader.wait_for_state({CameraState.LOST}, HANG_LIMIT_S)
    assert change is not None and "camera device 57" in change.reason
    t_start = time.monotonic()
    assert reader.stop() is True
    assert time.monotonic() - t_start < 1.0
    assert camera_threads() == []


@pytest.mark.parametrize("stop_in", ["backoff", "reconnecting"])
def test_stop_returns_within_a_second_while_reconnecting(stop_in: str) -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/x"
    reader = LatestFrameReader(fast_settings(url, reconnect_initial_s=0.5, reconnect_max_s=5.0))
    reader.start()
    target = CameraState.LOST if stop_in == "backoff" else CameraState.RECONNECTING
    change = reader.wait_for_state({target}, HANG_LIMIT_S)
    assert change is not None
    if stop_in == "backoff":
        assert "connection refused" in change.reason
    t_start = time.monotonic()
    assert reader.stop(timeout_s=1.0) is True
    assert time.monotonic() - t_start < 1.0
    assert camera_threads() == []
    assert reader.state is CameraState.STOPPED


def test_stop_while_opening_a_silent_server_returns_on_time() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"rtsp://127.0.0.1:{silent.getsockname()[1]}/x"
        reader = LatestFrameReader(fast_settings(url, open_timeout_ms=1500))
        reader.start()
        time.sleep(0.3)  # let the connection thread enter OpenCV's blocking open
        t_start = time.monotonic()
        finished = reader.stop(timeout_s=1.0)
        assert time.monotonic() - t_start < 1.0
        assert not reader.is_alive()
        # The connection thread is inside FFmpeg's open; it ends at the open timeout.
        assert finished is False
        for thread in camera_threads():
            thread.join(HANG_LIMIT_S)
        assert camera_threads() == []


def test_stop_before_start_is_clean() -> None:
    reader = LatestFrameReader(fast_settings("57"))
    assert reader.stop() is True
    assert reader.state is CameraState.STOPPED


# --------------------------------------------------------------------------- reader: RTSP


@pytest.mark.rtsp
def test_rtsp_frames_arrive(rtsp_server: RtspServer) -> None:
    changes: list[tuple[str, StateChange]] = []
    reader = LatestFrameReader(fast_settings(rtsp_server.url))
    reader.add_state_listener(lambda c: changes.append((threading.current_thread().name, c)))
    reader.start()
    try:
        first = reader.wait_for_frame(0, timeout_s=HANG_LIMIT_S)
        assert first is not None and first.frame_bgr.shape == (240, 320, 3)
        second = reader.wait_for_frame(first.frame_id, timeout_s=HANG_LIMIT_S)
        assert second is not None and second.frame_id > first.frame_id
        assert second.t_monotonic >= first.t_monotonic
        assert reader.state is CameraState.LIVE
    finally:
        assert reader.stop() is True
    assert [c.state for _, c in changes] == [
        CameraState.CONNECTING,
        CameraState.LIVE,
        CameraState.STOPPED,
    ]
    assert {name for name, _ in changes} == {"camera-reader"}


@pytest.mark.rtsp
def test_rtsp_reconnects_after_the_server_restarts(rtsp_server: RtspServer) -> None:
    reader = LatestFrameReader(fast_settings(rtsp_server.url))
    reader.start()
    try:
        before = reader.wait_for_frame(0, timeout_s=HANG_LIMIT_S)
        assert before is not None
        rtsp_server.kill()
        lost = reader.wait_for_state({CameraState.LOST}, HANG_LIMIT_S)
        assert lost is not None
        rtsp_server.start()  # same port
        live = reader.wait_for_state({CameraState.LIVE}, 20.0, after_change_id=lost.change_id)
        assert live is not None, reader.state_changes()
        after = reader.wait_for_frame(before.frame_id, timeout_s=HANG_LIMIT_S)
        assert after is not None and after.t_monotonic > lost.t_monotonic
        assert reader.stats().reconnects >= 1
        seen = [c.state for c in reader.state_changes()]
        assert seen[:4] == [
            CameraState.CONNECTING,
            CameraState.LIVE,
            CameraState.LOST,
            CameraState.RECONNECTING,
        ]
        assert seen[-1] is CameraState.LIVE
    finally:
        assert reader.stop() is True


@pytest.mark.rtsp
def test_rtsp_stall_is_detected_and_recovered(rtsp_server: RtspServer) -> None:
    reader = LatestFrameReader(fast_settings(rtsp_server.url, read_timeout_ms=1000))
    reader.start()
    try:
        assert reader.wait_for_frame(0, timeout_s=HANG_LIMIT_S) is not None
        rtsp_server.signal(signal.SIGSTOP)  # the TCP connection stays open; no data flows
        lost = reader.wait_for_state({CameraState.LOST}, HANG_LIMIT_S)
        assert lost is not None and ("stalled" in lost.reason or "read failed" in lost.reason)
        rtsp_server.signal(signal.SIGCONT)
        live = reader.wait_for_state({CameraState.LIVE}, 20.0, after_change_id=lost.change_id)
        assert live is not None, reader.state_changes()
    finally:
        assert reader.stop() is True


@pytest.mark.rtsp
def test_stop_while_live_on_rtsp_is_fast(rtsp_server: RtspServer) -> None:
    reader = LatestFrameReader(fast_settings(rtsp_server.url))
    reader.start()
    assert reader.wait_for_frame(0, timeout_s=HANG_LIMIT_S) is not None
    t_start = time.monotonic()
    assert reader.stop(timeout_s=1.0) is True
    assert time.monotonic() - t_start < 1.0
    assert camera_threads() == []


def _slow_consumer(
    reader: LatestFrameReader, work_s: float, n_frames: int
) -> list[tuple[int, float]]:
    """Take ``n_frames`` frames, spending ``work_s`` on each; returns (frame_id, age_s at take)."""
    taken: list[tuple[int, float]] = []
    first = reader.wait_for_frame(0, timeout_s=HANG_LIMIT_S)
    assert first is not None
    last_id = first.frame_id
    time.sleep(0.5)  # skip the start-up burst of an RTSP stream (frames buffered while probing)
    for _ in range(n_frames):
        frame: CameraFrame | None = reader.wait_for_frame(last_id, timeout_s=HANG_LIMIT_S)
        assert frame is not None
        taken.append((frame.frame_id, time.monotonic() - frame.t_monotonic))
        last_id = frame.frame_id
        time.sleep(work_s)  # the consumer's own work
    return taken


@pytest.mark.parametrize("kind", ["file", pytest.param("rtsp", marks=pytest.mark.rtsp)])
def test_slow_consumer_gets_the_newest_frame_not_a_backlog(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if kind == "rtsp":
        source = request.getfixturevalue("rtsp_server").url
    else:
        source = str(make_video(tmp_path / "clip25.avi", n_frames=50, fps=25.0))
    reader = LatestFrameReader(fast_settings(source, loop_file=True, pace_file=True))
    reader.start()
    try:
        work_s = 0.2  # five times slower than the 25 fps source
        taken = _slow_consumer(reader, work_s, n_frames=12)
        steps = [b[0] - a[0] for a, b in itertools.pairwise(taken)]
        assert statistics.median(steps) >= 2, steps  # frames in between were skipped
        ages_s = [age for _, age in taken]
        # The newest frame is at most about one frame interval (0.04 s) old; a backlog would make
        # the age grow by ~0.16 s per frame taken (about 0.9 s at the median take, 1.8 s at the
        # 12th). The median alone is asserted: on a loaded CI machine a scheduling stall delays
        # a few takes (seen: three of eight at 0.09-0.2 s, and once a 1.2 s stall of the whole
        # machine, server included), which says nothing about a backlog.
        assert statistics.median(ages_s) < 0.1, ages_s
        assert reader.stats().frames_dropped >= sum(step - 1 for step in steps)
    finally:
        assert reader.stop() is True


# --------------------------------------------------------------------------- camera-check CLI


@pytest.fixture
def quiet_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run the CLI with default settings, restoring what it changes in the process."""
    monkeypatch.chdir(tmp_path)  # no settings.toml: built-in defaults
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "-8")
    logger = logging.getLogger("kiosk.camera")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("quiet_cli")
def test_camera_check_json_on_a_looped_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = make_video(tmp_path / "clip.avi", n_frames=10, fps=25.0)
    code = cli_main(["camera-check", str(path), "--seconds", "1", "--json", "--loop"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert set(report) == {
        "frames",
        "fps",
        "age_ms_mean",
        "age_ms_max",
        "dropped",
        "reconnects",
        "states",
    }
    assert report["frames"] > 10  # looped past the end
    assert report["reconnects"] == 0
    assert report["states"] == ["connecting", "live", "stopped"]
    assert 0.0 <= report["age_ms_mean"] <= report["age_ms_max"]


@pytest.mark.rtsp
@pytest.mark.usefixtures("quiet_cli")
def test_camera_check_text_on_rtsp(
    capsys: pytest.CaptureFixture[str], rtsp_server: RtspServer
) -> None:
    assert cli_main(["camera-check", rtsp_server.url, "--seconds", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("frames", "frame age", "dropped", "reconnects", "states"):
        assert label in out


@pytest.mark.parametrize("source", ["missing.avi", "57", "unreachable"])
@pytest.mark.usefixtures("quiet_cli")
def test_camera_check_unopenable_source_is_one_line_and_exit_1(
    source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if source == "unreachable":
        source = f"rtsp://127.0.0.1:{free_port()}/x"
    t_start = time.monotonic()
    code = cli_main(["camera-check", source, "--seconds", "1", "--json"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert time.monotonic() - t_start < HANG_LIMIT_S


def test_dataclasses_are_frozen() -> None:
    frame = CameraFrame(1, 0.0, np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.frame_id = 2  # type: ignore[misc]
