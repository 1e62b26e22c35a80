"""The ``run`` subcommand: start the kiosk window (also what ``python main.py`` does)."""

from __future__ import annotations

import argparse

from kiosk.config import Settings


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the kiosk on ``--source`` (default: [camera] source) and ``--event``."""
    from ui.app import run_kiosk

    return run_kiosk(settings, getattr(args, "source", None), getattr(args, "event", None))


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
    parser.set_defaults(handler=cmd_run)
