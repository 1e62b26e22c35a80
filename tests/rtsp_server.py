#!/usr/bin/env python3
"""A tiny RTSP server for the camera tests: GStreamer's ``gst-rtsp-server`` on 127.0.0.1.

Run it with the *system* Python, which has PyGObject from Debian (``python3-gi``); the project's
virtualenv cannot import ``gi``. The Debian packages are listed in ``.ci/system-packages.txt``.

It serves a synthetic live stream (``videotestsrc is-live=true``) encoded as H.264 when ``x264enc``
is installed (gstreamer1.0-plugins-ugly), else as motion JPEG (plugins-good), at
``rtsp://127.0.0.1:PORT/PATH``. Every client shares one pipeline, as with a real IP camera.

With ``--stamp`` the picture is instead a gray frame whose top row of 32 blocks (10x10 px, white
= 1, most significant bit first) encodes ``time.monotonic()`` in milliseconds modulo 2**32 at the
moment the frame enters the encoder; CLOCK_MONOTONIC is shared by all processes of a Linux machine,
so a client can measure the true age of a frame (encode + RTSP + decode + hand-over).

When the server listens it prints one line ``READY rtsp://127.0.0.1:PORT/PATH`` on stdout; on
SIGTERM or SIGINT it stops. Example::

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --fps 25
    python main.py camera-check rtsp://127.0.0.1:8554/test --seconds 5
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

ENCODERS = ("auto", "h264", "jpeg")
STAMP_BITS = 32
STAMP_BLOCK_PX = 10


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--path", default="/test", help="mount point, e.g. /test")
    parser.add_argument("--width", type=int, default=640, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=480, help="frame height in pixels")
    parser.add_argument("--fps", type=int, default=25, help="frames per second")
    parser.add_argument("--encoder", choices=ENCODERS, default="auto", help="video codec")
    parser.add_argument(
        "--stamp", action="store_true", help="encode time.monotonic() (ms) into each frame"
    )
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
    caps = f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
    if args.stamp:
        source = (
            "appsrc name=stampsrc is-live=true do-timestamp=true format=time "
            f'caps="{caps},format=GRAY8" '
        )
    else:
        source = f"videotestsrc is-live=true pattern=ball ! {caps} "
    if encoder == "h264":
        encode = (
            "! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
            "! rtph264pay name=pay0 pt=96 config-interval=1"
        )
    else:
        encode = (  # RTP/JPEG carries 4:2:0 (or 4:2:2) JPEG only
            "! videoconvert ! video/x-raw,format=I420 ! jpegenc quality=80 "
            "! rtpjpegpay name=pay0 pt=26"
        )
    return f"( {source}{encode} )"


def stamp_frame(width: int, height: int, t_ms: int) -> bytes:
    """A GRAY8 frame: mid gray, with ``t_ms`` in the top row of blocks (white = 1)."""
    block = STAMP_BLOCK_PX
    row = bytearray()
    for bit in range(STAMP_BITS):
        value = 255 if (t_ms >> (STAMP_BITS - 1 - bit)) & 1 else 0
        row += bytes([value]) * block
    row = (row + bytes([128]) * width)[:width]
    return bytes(row) * block + bytes([128]) * (width * (height - block))


class StampFeeder:
    """Pushes stamped frames into the ``appsrc`` of each prepared media, at the stream's rate."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def on_media_configure(self, _factory: object, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_child_by_name("stampsrc")
        interval_ms = max(1, round(1000 / self.args.fps))
        GLib.timeout_add(interval_ms, self.push, appsrc)

    def push(self, appsrc: Gst.Element) -> bool:
        t_ms = int(time.monotonic() * 1000) % (1 << STAMP_BITS)
        data = stamp_frame(self.args.width, self.args.height, t_ms)
        result = appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(data))
        return bool(result == Gst.FlowReturn.OK)  # stop when the media is torn down


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
    if args.stamp:
        factory.connect("media-configure", StampFeeder(args).on_media_configure)
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
