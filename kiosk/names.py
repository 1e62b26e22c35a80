"""One rule for the names of people, used by enrolment, rosters and renames.

A name is stored exactly as :func:`clean_name` returns it: no leading or trailing white space,
no control characters (a newline in a name would break every one-line-per-person listing), and
1 to :data:`MAX_NAME_CHARS` characters. Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 200
_LINE_BREAKING = {"Cc", "Zl", "Zp"}  # control characters, line and paragraph separators


def clean_name(name: str | None, what: str = "the name") -> str:
    """The name as it is stored, or a ``ValueError`` saying what is wrong with it.

    Args:
        name: the name as typed, read from a roster or given on the command line.
        what: how the messages refer to it ("the name", "--name").

    Returns:
        ``name`` without leading and trailing white space.

    Raises:
        ValueError: empty, longer than :data:`MAX_NAME_CHARS` characters, holding a control
            character (newline, tab, escape...), or not valid text (bytes that were not UTF-8).
    """
    text = (name or "").strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > MAX_NAME_CHARS:
        raise ValueError(f"{what} is longer than {MAX_NAME_CHARS} characters ({len(text)})")
    for position, char in enumerate(text, 1):
        if unicodedata.category(char) in _LINE_BREAKING:
            raise ValueError(
                f"{what} holds a control character ({ascii(char)}) at character {position}; "
                "write it on one line"
            )
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(f"{what} is not valid UTF-8 text (at character {position})")
    return text


def is_text(value: str) -> bool:
    """Whether ``value`` is valid text (no lone surrogates, as ``sys.argv`` and ``os.listdir``
    give for bytes that are not UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(value: str) -> str:
    """``value`` safe to print and store: bytes that were not UTF-8 become ``\\xNN``."""
    if is_text(value):
        return value
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from undecodable bytes
        return value.encode("utf-8", "backslashreplace").decode("ascii")
    return raw.decode("utf-8", "backslashreplace")


def one_line(value: str) -> str:
    """``value`` for a one-line-per-item listing: control characters, line separators and
    bytes that were not UTF-8 written as escapes (for names stored before :func:`clean_name`)."""
    return "".join(
        ascii(char)[1:-1] if unicodedata.category(char) in _LINE_BREAKING else char
        for char in printable(value)
    )
