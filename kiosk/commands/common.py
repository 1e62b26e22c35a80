"""What every command module shares, importable without the CLI itself (no import cycle)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class UserError(Exception):
    """An error caused by the input, reported as one line without a traceback."""


def enrollment_identity(name: str, external_id: str | None) -> tuple[str, str | None]:
    """``enroll``'s ``--name`` and ``--external-id`` checked and cleaned (local or on a server).

    Raises:
        UserError: the name is empty or not text, or the id is not UTF-8 text.
    """
    from kiosk.names import clean_name, is_text, printable

    try:
        name = clean_name(name, "--name")
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    external_id = (external_id or "").strip() or None
    if external_id is not None and not is_text(external_id):
        raise UserError(f"--external-id {printable(external_id)!r} is not valid UTF-8 text; "
                        "give the id as it is written on the roster")
    return name, external_id
