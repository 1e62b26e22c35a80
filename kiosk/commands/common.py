"""What every command module shares, importable without the CLI itself (no import cycle)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class UserError(Exception):
    """An error caused by the input, reported as one line without a traceback."""
