"""The command line: ``python main.py SUBCOMMAND ...``.

Each group of subcommands lives in a module of :mod:`kiosk.commands` that exposes
``register(subparsers)``; a subcommand sets ``handler(args, settings) -> int`` as its default.
Errors the user can fix (bad input, bad settings) print one clear line and exit non-zero.

Settings: ``settings.toml`` (the documented defaults) with ``data/settings.local.toml`` (the
site's values) on top; ``--settings FILE`` uses that one file instead.

Relative paths the user types (``roster import my.csv``, ``--db mine.sqlite``) are resolved
against the folder the user was in: ``run.sh`` changes into the repository and passes that
folder in ``KIOSK_CALLER_DIR``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk.config import Settings, SettingsError
from kiosk.settings_files import LOCAL_SETTINGS, load_layered_settings, load_settings

COMMAND_MODULES = (
    "kiosk.commands.recognition",
    "kiosk.commands.camera",
    "kiosk.commands.liveness",
    "kiosk.commands.events",
    "kiosk.commands.bench",
    "kiosk.commands.operator",
)

# Modules that extend subcommands of the others (``run --headless``): registered last.
LATE_MODULES = ("kiosk.commands.sync",)

DEFAULT_SETTINGS = Path("settings.toml")
CALLER_DIR_VARIABLE = "KIOSK_CALLER_DIR"
# Arguments that name files or folders the user typed (argparse ``dest`` names).
PATH_ARGUMENTS = ("settings", "db", "csv", "out", "folder", "images", "manifest", "pairs_file",
                  "root", "video", "enroll", "source")

from kiosk.commands.common import EXIT_ERROR, EXIT_USAGE, UserError


def build_parser(extra: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser with every subcommand of the modules that are present.

    Args:
        extra: further modules with a ``register(subparsers)`` (the GUI adds ``run`` this way).
    """
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Face check-in kiosk. With no subcommand, starts the kiosk window.",
    )
    parser.add_argument(
        "--settings", default=None,
        help=f"settings file (TOML); default: {DEFAULT_SETTINGS} with {LOCAL_SETTINGS} on top")
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


def settings_save_path(args: argparse.Namespace) -> Path:
    """Where the GUI saves settings: the ``--settings`` file, else the site's layer file."""
    return Path(args.settings) if getattr(args, "settings", None) else LOCAL_SETTINGS


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Load the settings and apply ``--db``.

    Without ``--settings``: ``settings.toml`` (built-in defaults when missing) with
    ``data/settings.local.toml`` on top when it exists. With ``--settings FILE``: that file
    alone (a missing file the user named is an error).
    """
    if getattr(args, "settings", None):
        settings = load_settings(args.settings)
    else:
        settings = load_layered_settings(DEFAULT_SETTINGS, LOCAL_SETTINGS)
    if args.db:
        settings = settings.replace("gallery", db_path=str(args.db))
    return settings


def caller_path(text: str, caller_dir: str | Path | None) -> str:
    """``text`` resolved against ``caller_dir`` when it is a relative file path.

    Absolute paths, ``~`` paths, URLs (``rtsp://...``) and device indexes (``0``) are kept.
    """
    if caller_dir is None or not text or re.fullmatch(r"[0-9]+", text) or "://" in text:
        return text
    path = Path(text).expanduser()
    if path.is_absolute():
        return str(path)
    return str(Path(caller_dir) / path)


def resolve_caller_paths(args: argparse.Namespace, caller_dir: str | Path | None) -> None:
    """Resolve the path arguments of ``args`` (:data:`PATH_ARGUMENTS`) against the caller's
    folder, in place; nothing happens without one."""
    if not caller_dir:
        return
    for name in PATH_ARGUMENTS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, caller_path(value, caller_dir))
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            setattr(args, name, [caller_path(v, caller_dir) for v in value])


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
    resolve_caller_paths(args, os.environ.get(CALLER_DIR_VARIABLE) or None)
    try:
        settings = resolve_settings(args)
        return int(args.handler(args, settings))
    except (SettingsError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
