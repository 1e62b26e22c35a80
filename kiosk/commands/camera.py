"""``camera-check SOURCE``: read a camera source for a few seconds and report how it behaves.

It runs the kiosk's own :class:`kiosk.camera.LatestFrameReader` with a consumer that takes every
frame as soon as it is there, and prints the frames taken, their rate, the age of each frame when
the consumer got it (mean and max, ms), the frames dropped, the reconnections and the states seen.
``--json`` prints one JSON object with exactly the keys ``frames``, ``fps``, ``age_ms_mean``,
``age_ms_max``, ``dropped``, ``reconnects`` and ``states``.

The measurement window starts at the first frame (opening an RTSP stream takes about a second of
probing) and lasts ``--seconds``. A source that cannot be opened gives one line on stderr and exit
code 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import time
from typing import Any

from kiosk.commands.common import EXIT_OK, UserError
from kiosk.config import CameraSettings, Settings

FIRST_FRAME_GRACE_S = 2.0  # beyond open_timeout_ms: stream probing before the first frame


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``camera-check`` subcommand."""
    p = subparsers.add_parser(
        "camera-check",
        help="read a camera source for N seconds and report fps, frame age, drops, reconnects",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        help="USB device index, rtsp:// URL or video file (default: [camera] source)",
    )
    p.add_argument("--seconds", type=float, default=5.0, help="how long to read (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--transport", choices=("tcp", "udp"), default=None, help="RTSP transport override"
    )
    p.add_argument(
        "--loop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="restart a video file at its end (default: [camera] loop_file)",
    )
    p.add_argument(
        "--pace",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="deliver a video file at its own frame rate (default: [camera] pace_file)",
    )
    p.set_defaults(handler=cmd_camera_check)


def _camera_settings(args: argparse.Namespace, settings: CameraSettings) -> CameraSettings:
    changes: dict[str, Any] = {}
    if args.source is not None:
        changes["source"] = args.source
    if args.transport is not None:
        changes["rtsp_transport"] = args.transport
    if args.loop is not None:
        changes["loop_file"] = args.loop
    if args.pace is not None:
        changes["pace_file"] = args.pace
    try:
        return dataclasses.replace(settings, **changes)
    except ValueError as exc:
        raise UserError(f"camera-check: {exc}") from exc


def measure(camera: CameraSettings, seconds: float) -> dict[str, Any]:
    """Read ``camera.source`` for ``seconds`` after its first frame and summarise.

    Returns:
        The report with the keys ``frames``, ``fps``, ``age_ms_mean``, ``age_ms_max``,
        ``dropped``, ``reconnects`` and ``states``.

    Raises:
        UserError: the source cannot be opened, or gave no frame in time.
    """
    from kiosk.camera import CameraState, LatestFrameReader

    if not (seconds > 0.0 and math.isfinite(seconds)):
        raise UserError(f"camera-check: --seconds must be > 0, got {seconds}")
    try:
        reader = LatestFrameReader(camera)
    except ValueError as exc:
        raise UserError(f"camera-check: {exc}") from exc
    reader.start()
    try:
        first_limit_s = camera.open_timeout_ms / 1000.0 + FIRST_FRAME_GRACE_S
        first_state = reader.wait_for_state(
            (CameraState.LIVE, CameraState.LOST, CameraState.STOPPED), first_limit_s
        )
        live = first_state is not None and first_state.state is CameraState.LIVE
        first = reader.wait_for_frame(0, timeout_s=0.5) if live else None
        if first is None:
            error = reader.stats().last_error or (
                f"no frame from {reader.source.display_name} within {first_limit_s:.1f} s"
            )
            raise UserError(error)
        ages_s = [time.monotonic() - first.t_monotonic]
        t_first = first.t_monotonic
        t_last = first.t_monotonic
        last_id = first.frame_id
        deadline = time.monotonic() + seconds
        while (remaining_s := deadline - time.monotonic()) > 0.0:
            frame = reader.wait_for_frame(last_id, timeout_s=min(remaining_s, 0.25))
            if frame is None:
                if reader.stats().ended:
                    break
                continue
            ages_s.append(time.monotonic() - frame.t_monotonic)
            last_id = frame.frame_id
            t_last = frame.t_monotonic
        stats = reader.stats()
    finally:
        reader.stop()
    states: list[str] = []
    for change in reader.state_changes():
        if not states or states[-1] != change.state.value:
            states.append(change.state.value)
    span_s = t_last - t_first
    return {
        "frames": len(ages_s),
        "fps": round((len(ages_s) - 1) / span_s, 2) if span_s > 0.0 else 0.0,
        "age_ms_mean": round(1000.0 * sum(ages_s) / len(ages_s), 3),
        "age_ms_max": round(1000.0 * max(ages_s), 3),
        "dropped": stats.frames_dropped,
        "reconnects": stats.reconnects,
        "states": states,
    }


def cmd_camera_check(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of ``camera-check``."""
    camera = _camera_settings(args, settings.camera)
    if not args.verbose:
        _quiet_opencv()
    report = measure(camera, args.seconds)
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    print(f"source      {camera.source}")
    print(f"frames      {report['frames']} ({report['fps']:.2f} fps)")
    print(
        f"frame age   mean {report['age_ms_mean']:.2f} ms, max {report['age_ms_max']:.2f} ms "
        "(from read to hand-over to the consumer)"
    )
    print(f"dropped     {report['dropped']}")
    print(f"reconnects  {report['reconnects']}")
    print(f"states      {' -> '.join(report['states'])}")
    return EXIT_OK


def _quiet_opencv() -> None:
    """Keep OpenCV's, FFmpeg's and the reader's warnings off stderr (``-v`` shows them).

    An unopenable source then gives the one error line the CLI prints. FFmpeg's level is read
    once, when OpenCV first loads FFmpeg, so this runs before the first capture is opened.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    logging.getLogger("kiosk.camera").setLevel(logging.ERROR)
