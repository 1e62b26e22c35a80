"""Camera sources (docs/ARCHITECTURE.md, stage 1): which source a setting names, and opening it.

:func:`parse_source` reads a USB index, an RTSP/HTTP URL or a video file path;
:func:`open_capture` opens one source and returns a :class:`Capture` (a ``cv2.VideoCapture`` plus
looping and pacing for video files), or raises :class:`CameraError` with a message a user can act
on. It never waits longer than ``open_timeout_ms`` for a stream. The thread that reads a source
and keeps its newest frame is :class:`kiosk.camera.LatestFrameReader`.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import cv2
import numpy as np

from kiosk.config import CameraSettings
from kiosk.types import FrameBGR

log = logging.getLogger(__name__)

FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
FALLBACK_FILE_FPS = 25.0  # pacing rate for a file that does not state a usable frame rate

_ffmpeg_options_lock = threading.Lock()


class CameraError(RuntimeError):
    """A source cannot be opened; the message says which source and why.

    Attributes:
        permanent: retrying will not help (a missing or undecodable video file). A camera or a
            stream that is absent now may come back, so those errors are not permanent.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SourceKind(enum.Enum):
    """What a source string names."""

    DEVICE = "device"
    STREAM = "stream"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class CameraSource:
    """A parsed source: a USB device index, a network stream URL or a video file path.

    Attributes:
        kind: device, stream or file.
        location: the device index as text, the URL, or the file path.
    """

    kind: SourceKind
    location: str

    @property
    def device_index(self) -> int:
        """The USB device index (only for ``SourceKind.DEVICE``)."""
        if self.kind is not SourceKind.DEVICE:
            raise ValueError(f"{self.location!r} is not a device index")
        return int(self.location)

    @property
    def display_name(self) -> str:
        """The source for messages and logs, with any password in a URL masked."""
        if self.kind is SourceKind.DEVICE:
            return f"camera device {self.location}"
        if self.kind is SourceKind.STREAM:
            return f"stream {mask_url_password(self.location)}"
        return f"video file {self.location}"


def mask_url_password(url: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``; other URLs unchanged."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@]*):[^/@]*@", r"\1:***@", url)


def parse_source(source: str | int) -> CameraSource:
    """Classify a source: a device index (``0``, ``"1"``), a URL (``rtsp://...``) or a file path.

    Raises:
        ValueError: an empty source or a negative device index.
    """
    if isinstance(source, bool):
        raise ValueError(f"source: not a camera source: {source!r}")
    if isinstance(source, int):
        if source < 0:
            raise ValueError(f"source: device index must be >= 0, got {source}")
        return CameraSource(SourceKind.DEVICE, str(source))
    text = str(source).strip()
    if not text:
        raise ValueError("source: must not be empty")
    if re.fullmatch(r"[0-9]+", text):
        return CameraSource(SourceKind.DEVICE, str(int(text)))
    if re.fullmatch(r"-[0-9]+", text):
        raise ValueError(f"source: device index must be >= 0, got {text}")
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    if match and match.group(1).lower() == "file":
        return CameraSource(SourceKind.FILE, urllib.parse.unquote(text[len("file://") :]))
    if match:
        return CameraSource(SourceKind.STREAM, text)
    return CameraSource(SourceKind.FILE, str(Path(text).expanduser()))


def as_bgr(frame: Any) -> FrameBGR | None:
    """A usable ``(H, W, 3)`` uint8 BGR frame made from what a capture returned, or None.

    Gray ``(H, W)`` / ``(H, W, 1)`` and BGRA ``(H, W, 4)`` frames are converted; anything else
    (None, zero-sized, another dtype or shape) is unusable and gives None.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.size == 0:
        return None
    if frame.ndim == 2:
        return cast(FrameBGR, cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    if frame.ndim != 3:
        return None
    channels = frame.shape[2]
    if channels == 3:
        return np.ascontiguousarray(frame)
    if channels == 1:
        gray = np.ascontiguousarray(frame[:, :, 0])
        return cast(FrameBGR, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    if channels == 4:
        return cast(FrameBGR, cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGRA2BGR))
    return None


class FrameSource(Protocol):
    """What :class:`LatestFrameReader` needs from an opened source (:class:`Capture` is one)."""

    @property
    def ended(self) -> bool:
        """True once a (non-looped) video file has no more frames."""
        ...

    def read(self) -> tuple[bool, Any]:
        """The next frame as ``(True, array)``, or ``(False, None)`` on failure or end."""
        ...

    def release(self) -> None:
        """Free the device, connection or file."""
        ...


class Capture:
    """An opened source: a ``cv2.VideoCapture`` plus looping and pacing for video files.

    Use :func:`open_capture` to make one. ``read()`` and ``release()`` belong to one thread.

    Attributes:
        source: what was opened.
        nominal_fps: the frame rate the source states (0.0 when unknown).
        paced_fps: the rate ``read()`` delivers a file at (0.0 when not pacing).
        loop: whether a file restarts at its end.
        loops: how many times a looped file restarted.
    """

    def __init__(
        self,
        capture: cv2.VideoCapture,
        source: CameraSource,
        *,
        loop: bool = False,
        pace: bool = False,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self._capture = capture
        self.source = source
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.nominal_fps = fps if np.isfinite(fps) and 0.0 < fps <= 1000.0 else 0.0
        is_file = source.kind is SourceKind.FILE
        self.loop = loop and is_file
        if pace and is_file:
            usable = self.nominal_fps if 1.0 <= self.nominal_fps <= 240.0 else FALLBACK_FILE_FPS
            self.paced_fps = usable
        else:
            self.paced_fps = 0.0
        self.loops = 0
        self._cancel = cancel_event if cancel_event is not None else threading.Event()
        self._ended = False
        self._frames_since_rewind = 0
        self._t_due: float | None = None

    @property
    def ended(self) -> bool:
        """True once a non-looped file (or a looped file that yields nothing) has ended."""
        return self._ended

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next frame, ``(False, None)`` at the end, on a failure, or when cancelled.

        A looped file rewinds at its end; a paced file waits until the frame is due (the wait
        ends early when the ``cancel_event`` given to :func:`open_capture` is set).
        """
        if self._ended or self._cancel.is_set():
            return False, None
        ok, frame = cast(tuple[bool, "np.ndarray | None"], self._capture.read())
        if not ok and self.source.kind is SourceKind.FILE:
            ok, frame = self._rewind_or_end()
        if not ok:
            return False, None
        self._frames_since_rewind += 1
        if self.paced_fps > 0.0 and not self._wait_until_due():
            return False, None
        return True, frame

    def _rewind_or_end(self) -> tuple[bool, np.ndarray | None]:
        if not self.loop or self._frames_since_rewind == 0:
            self._ended = True
            return False, None
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._frames_since_rewind = 0
        self.loops += 1
        ok, frame = cast(tuple[bool, "np.ndarray | None"], self._capture.read())
        if not ok:
            self._ended = True
            return False, None
        return True, frame

    def _wait_until_due(self) -> bool:
        interval_s = 1.0 / self.paced_fps
        now = time.monotonic()
        if self._t_due is None or now - self._t_due > interval_s:
            self._t_due = now  # first frame, or fell behind by over a frame: restart the clock
        delay_s = self._t_due - now
        if delay_s > 0.0 and self._cancel.wait(delay_s):
            return False
        self._t_due += interval_s
        return True

    def get(self, prop_id: int) -> float:
        """A ``cv2.CAP_PROP_*`` value of the underlying capture."""
        return float(self._capture.get(prop_id))

    def release(self) -> None:
        """Release the underlying ``cv2.VideoCapture`` (idempotent)."""
        self._capture.release()


def ffmpeg_options(existing: str, settings: CameraSettings) -> str:
    """``OPENCV_FFMPEG_CAPTURE_OPTIONS`` text for a stream: ``existing`` plus the settings' keys.

    The format is ``key;value|key;value``. ``rtsp_transport`` and (unless
    ``stream_analyze_ms`` is 0) ``analyzeduration`` (microseconds) come from the settings and
    replace the same keys in ``existing``; other keys the user set are kept.
    """
    ours = {"rtsp_transport": settings.rtsp_transport}
    if settings.stream_analyze_ms > 0:
        ours["analyzeduration"] = str(settings.stream_analyze_ms * 1000)
    kept = [p for p in existing.split("|") if p and p.split(";", 1)[0] not in ours]
    return "|".join([*(f"{key};{value}" for key, value in ours.items()), *kept])


def _open_stream(source: CameraSource, settings: CameraSettings) -> cv2.VideoCapture:
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        settings.open_timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        settings.read_timeout_ms,
        cv2.CAP_PROP_N_THREADS,
        settings.decode_threads,
    ]
    # The FFmpeg backend reads the options variable at every open; the lock keeps two readers
    # with different transports from seeing each other's value.
    with _ffmpeg_options_lock:
        previous = os.environ.get(FFMPEG_OPTIONS_ENV)
        os.environ[FFMPEG_OPTIONS_ENV] = ffmpeg_options(previous or "", settings)
        try:
            return cv2.VideoCapture(source.location, cv2.CAP_FFMPEG, params)
        finally:
            if previous is None:
                os.environ.pop(FFMPEG_OPTIONS_ENV, None)
            else:
                os.environ[FFMPEG_OPTIONS_ENV] = previous


def _why_stream_failed(url: str, timeout_s: float) -> str:
    """A best guess at why FFmpeg could not open a stream, from a plain TCP connect."""
    parts = urllib.parse.urlsplit(url)
    default_ports = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443, "rtmp": 1935}
    try:
        port = parts.port or default_ports.get(parts.scheme.lower())
    except ValueError:
        return "the URL has an invalid port"
    if not parts.hostname or port is None or parts.scheme.lower() in ("udp", "rtp", "srt"):
        return "not reachable, or not a video stream"
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except ConnectionRefusedError:
        return f"connection refused by {parts.hostname}:{port} (no server listening)"
    except TimeoutError:
        return f"{parts.hostname}:{port} did not answer (host unreachable or firewalled)"
    except OSError as exc:
        return f"cannot connect to {parts.hostname}:{port}: {exc.strerror or exc}"
    # A TCP connect proves little: a proxy or firewall may accept it for an unreachable host.
    return (f"a TCP connection to {parts.hostname}:{port} opened but no video stream came "
            "(wrong path, credentials or codec, or a proxy or firewall in between?)")


def _open_device(source: CameraSource, settings: CameraSettings) -> cv2.VideoCapture:
    index = source.device_index
    if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
        raise CameraError(f"camera device {index} not found: /dev/video{index} does not exist")
    capture = cv2.VideoCapture(index)
    if capture.isOpened():
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver keeps one frame: less latency
        if settings.width_px:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width_px)
        if settings.height_px:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height_px)
    return capture


def _open_file(source: CameraSource, settings: CameraSettings) -> cv2.VideoCapture:
    path = Path(source.location)
    if not path.exists():
        raise CameraError(f"video file not found: {path}", permanent=True)
    if path.is_dir():
        raise CameraError(f"video file is a directory: {path}", permanent=True)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        settings.open_timeout_ms,
        cv2.CAP_PROP_N_THREADS,
        settings.decode_threads,
    ]
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        capture = cv2.VideoCapture(str(path))  # other backends: image sequences, MJPEG
    return capture


def open_capture(
    source: str | int | CameraSource,
    settings: CameraSettings,
    *,
    cancel_event: threading.Event | None = None,
) -> Capture:
    """Open a USB device index, an ``rtsp://`` (or other FFmpeg) URL or a video file.

    Streams go through the FFmpeg backend with ``settings.rtsp_transport`` and
    ``settings.stream_analyze_ms`` (set through ``OPENCV_FFMPEG_CAPTURE_OPTIONS``), the open and read timeouts of the settings (so neither
    opening nor a read blocks much longer than those) and ``settings.decode_threads`` (each
    decoder frame thread delays frames by one frame interval). Video files are looped and paced at their
    own frame rate as ``settings.loop_file`` and ``settings.pace_file`` say.

    Args:
        source: ``0`` / ``"0"`` (device index), a URL, a path, or a parsed :class:`CameraSource`.
        settings: the ``[camera]`` settings.
        cancel_event: when set, a paced ``read()`` stops waiting and returns ``(False, None)``.

    Returns:
        The opened capture; the caller must ``release()`` it.

    Raises:
        CameraError: the source cannot be opened (the message names it and says why).
        ValueError: the source text is not a source at all (empty, negative index).
    """
    parsed = source if isinstance(source, CameraSource) else parse_source(source)
    if parsed.kind is SourceKind.STREAM:
        capture = _open_stream(parsed, settings)
    elif parsed.kind is SourceKind.DEVICE:
        capture = _open_device(parsed, settings)
    else:
        capture = _open_file(parsed, settings)
    if not capture.isOpened():
        capture.release()
        if parsed.kind is SourceKind.STREAM:
            why = _why_stream_failed(parsed.location, min(1.0, settings.open_timeout_ms / 1000))
            raise CameraError(f"cannot open {parsed.display_name}: {why}")
        if parsed.kind is SourceKind.DEVICE:
            raise CameraError(
                f"cannot open {parsed.display_name} (in use by another program, "
                "not a video capture device, or no permission)"
            )
        raise CameraError(
            f"cannot open {parsed.display_name}: not a video OpenCV/FFmpeg can decode",
            permanent=True,
        )
    return Capture(
        capture,
        parsed,
        loop=settings.loop_file,
        pace=settings.pace_file,
        cancel_event=cancel_event,
    )
