"""The ``run`` subcommand: start the kiosk window (also what ``python main.py`` does)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kiosk.config import Settings


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the kiosk on ``--source`` (default: [camera] source) and ``--event``.

    When the window has closed, every thread is stopped and the gallery is closed; the process
    then ends without the interpreter's teardown, in which TensorFlow and Qt free shared memory
    in a clashing order ("free(): invalid pointer", seen under X11).
    """
    from ui.display_check import display_problem

    problem = display_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    # The kiosk's own log: start-up times, camera states and the start-up migration at INFO
    # (docs/GUI.md).
    for name in ("ui", "kiosk.camera", "kiosk.reembed"):
        if logging.getLogger(name).getEffectiveLevel() > logging.INFO:
            logging.getLogger(name).setLevel(logging.INFO)
    from ui.app import run_kiosk

    from kiosk.cli import settings_save_path

    if getattr(args, "fullscreen", False):
        settings = settings.replace("ui", fullscreen=True)
    code = run_kiosk(settings, getattr(args, "source", None), getattr(args, "event", None),
                     settings_path=settings_save_path(args))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run``."""
    parser = subparsers.add_parser(
        "run", help="start the kiosk window (the default with no subcommand)",
        description="Start the kiosk window on a camera source and an event.",
    )
    parser.add_argument("--source", default=None,
                        help="camera index, rtsp:// URL or video file (default: [camera] source)")
    parser.add_argument("--event", type=int, default=None,
                        help="event id (default: the event whose check-in window contains now)")
    parser.add_argument("--fullscreen", action="store_true",
                        help="full screen (kiosk mode) whatever [ui] fullscreen says")
    parser.set_defaults(handler=cmd_run)
