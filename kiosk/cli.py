"""The command line: ``python main.py SUBCOMMAND ...``.

Each group of subcommands lives in a module of :mod:`kiosk.commands` that exposes
``register(subparsers)``; a subcommand sets ``handler(args, settings) -> int`` as its default.
Errors the user can fix (bad input, bad settings) print one clear line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk.config import Settings, SettingsError, load_settings

COMMAND_MODULES = (
    "kiosk.commands.recognition",
    "kiosk.commands.camera",
    "kiosk.commands.liveness",
    "kiosk.commands.events",
    "kiosk.commands.bench",
    "kiosk.commands.server",
)

# Modules that extend subcommands of the others (``run --headless``): registered last.
LATE_MODULES = ("kiosk.commands.sync",)

DEFAULT_SETTINGS = Path("settings.toml")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class UserError(Exception):
    """An error caused by the input, reported as one line without a traceback."""


def build_parser(extra: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser with every subcommand of the modules that are present.

    Args:
        extra: further modules with a ``register(subparsers)`` (the GUI adds ``run`` this way).
    """
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Face check-in kiosk. With no subcommand, starts the kiosk window.",
    )
    parser.add_argument("--settings", default=str(DEFAULT_SETTINGS), help="settings file (TOML)")
    parser.add_argument("--db", default=None, help="gallery database (overrides settings)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (*COMMAND_MODULES, *extra, *LATE_MODULES):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Load the settings named by ``--settings`` and apply ``--db``.

    A missing default ``settings.toml`` means built-in defaults; a missing file that the user
    named is an error.
    """
    path = Path(args.settings)
    if not path.exists() and path == DEFAULT_SETTINGS:
        settings = Settings()
    else:
        settings = load_settings(path)
    if args.db:
        settings = settings.replace("gallery", db_path=str(args.db))
    return settings


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    """The names of the registered subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def main(argv: Sequence[str] | None = None, extra: Sequence[str] = ()) -> int:
    """Parse ``argv`` and run the subcommand; returns the process exit code."""
    parser = build_parser(extra)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        if "run" not in _subcommands(parser):
            parser.print_help()
            return EXIT_USAGE
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "run"])
    try:
        settings = resolve_settings(args)
        return int(args.handler(args, settings))
    except (SettingsError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
