#!/usr/bin/env python3
"""A tiny RTSP server for the camera tests: GStreamer's ``gst-rtsp-server`` on 127.0.0.1.

Run it with the *system* Python, which has PyGObject from Debian (``python3-gi``); the project's
virtualenv cannot import ``gi``. The Debian packages are listed in ``.ci/system-packages.txt``.

It serves a synthetic live stream (``videotestsrc is-live=true``) encoded as H.264 when ``x264enc``
is installed (gstreamer1.0-plugins-ugly), else as motion JPEG (plugins-good), at
``rtsp://127.0.0.1:PORT/PATH``. Every client shares one pipeline, as with a real IP camera.

When the server listens it prints one line ``READY rtsp://127.0.0.1:PORT/PATH`` on stdout; on
SIGTERM or SIGINT it stops. Example::

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --fps 25
    /tmp/venv/bin/python main.py camera-check rtsp://127.0.0.1:8554/test --seconds 5
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODERS = ("auto", "h264", "jpeg")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--path", default="/test", help="mount point, e.g. /test")
    parser.add_argument("--width", type=int, default=640, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=480, help="frame height in pixels")
    parser.add_argument("--fps", type=int, default=25, help="frames per second")
    parser.add_argument("--encoder", choices=ENCODERS, default="auto", help="video codec")
    return parser.parse_args(argv)


def pick_encoder(requested: str) -> str:
    """``h264`` when x264enc and rtph264pay exist (or were asked for), else ``jpeg``."""
    has_h264 = all(Gst.ElementFactory.find(name) for name in ("x264enc", "rtph264pay"))
    if requested == "h264" and not has_h264:
        raise SystemExit("x264enc/rtph264pay missing: install gstreamer1.0-plugins-ugly")
    if requested == "auto":
        return "h264" if has_h264 else "jpeg"
    return requested


def launch_line(args: argparse.Namespace, encoder: str) -> str:
    """The gst-launch description of the media pipeline (the payloader must be ``pay0``)."""
    source = (
        "videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
    )
    if encoder == "h264":
        encode = (
            "! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
            "! rtph264pay name=pay0 pt=96 config-interval=1"
        )
    else:
        encode = "! videoconvert ! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26"
    return f"( {source}{encode} )"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    Gst.init(None)
    encoder = pick_encoder(args.encoder)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args, encoder))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"ERROR cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, lambda *_: loop.quit() or False)
    print(f"READY rtsp://{args.host}:{args.port}{args.path} {encoder}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
