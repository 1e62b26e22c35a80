"""The organisers' web console: pages under ``/console`` served by the central service (same
process, port and TLS), server-rendered from Jinja2 templates with a small script of its own.
See docs/CONSOLE.md."""

from __future__ import annotations

from typing import Any


def mount_console(app: Any, database_url: str) -> None:
    """Put the console on the service's FastAPI app (see :func:`service.console.web.mount`)."""
    from service.console.web import mount

    mount(app, database_url)
