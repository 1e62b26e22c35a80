"""Writing a file so that a crash or a full disk never leaves half of it: a temporary file in
the same folder (mode 0600), flushed to disk, then renamed over the target."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    Args:
        path: the file to write.
        mode: ``"w"`` (text, with ``open_kwargs`` such as ``encoding``) or ``"wb"``.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full (``path`` is then
            left as it was and the temporary file removed).
    """
    path = Path(path)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, mode, **open_kwargs) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
