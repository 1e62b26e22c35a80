"""The first thing every API request meets (an ASGI middleware): the key, from the headers,
before a byte of the body is read; then the body, counted as it arrives and cut at the
limit of the key's role, with time-outs for slow senders.

- No key, an unknown or revoked one: 401 at once; the body is never read.
- ``Content-Length`` over the role's limit: 413 at once. Both ``Content-Length`` and
  ``Transfer-Encoding`` (an ambiguous length, the shape of request smuggling): 400.
- A chunked body, or one longer than it said: counted as it is read and cut with 413 at the
  limit, whoever reads it (JSON, multipart parser).
- A body whose next piece takes longer than :data:`~service.limits.BODY_READ_TIMEOUT_S`, or
  that is not complete after :data:`~service.limits.BODY_TOTAL_TIMEOUT_S`: 408.

The key found is kept in the request's state for :mod:`service.auth`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from fastapi import HTTPException
from fastapi.responses import JSONResponse

from kiosk.store.base import StoreError
from service.limits import BODY_LIMIT_BYTES, BODY_READ_TIMEOUT_S, BODY_TOTAL_TIMEOUT_S
from service.store.keys import ApiKey

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
PUBLIC_PATHS = frozenset({"/api/v1/health"})
KEY_STATE = "api_key"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request is larger than {limit} bytes")


class BodyTooSlow(HTTPException):
    def __init__(self) -> None:
        super().__init__(408, "the request body arrived too slowly")


def bearer_key(headers: Mapping[str, str]) -> str | None:
    """The key of ``Authorization: Bearer KEY``, or None."""
    scheme, _, key = headers.get("authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


class Guard:
    """The ASGI middleware (see the module docstring).

    Args:
        app: the application behind it.
        authenticate: key text -> the live key or None (a database read, run in a thread).
        limits: the body limit per role.
        read_timeout_s, total_timeout_s: the time-outs of a body.
    """

    def __init__(self, app: Any, authenticate: Callable[[str], ApiKey | None],
                 limits: Mapping[str, int] = BODY_LIMIT_BYTES,
                 read_timeout_s: float = BODY_READ_TIMEOUT_S,
                 total_timeout_s: float = BODY_TOTAL_TIMEOUT_S) -> None:
        self.app = app
        self.authenticate = authenticate
        self.limits = dict(limits)
        self.read_timeout_s = read_timeout_s
        self.total_timeout_s = total_timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (scope["type"] != "http" or not scope["path"].startswith(API_PREFIX)
                or scope["path"] in PUBLIC_PATHS):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        key_text = bearer_key(headers)
        if key_text is None:
            await _refuse(scope, receive, send, 401,
                          "an API key is required: Authorization: Bearer KEY")
            return
        try:
            key = await anyio.to_thread.run_sync(self.authenticate, key_text)
        except StoreError as exc:
            log.error("database: %s", exc)
            await _refuse(scope, receive, send, 503,
                          "the database is not available right now; try again")
            return
        if key is None:
            await _refuse(scope, receive, send, 401, "unknown or revoked API key")
            return
        limit = self.limits.get(key.role, min(self.limits.values()))
        length = headers.get("content-length")
        if length is not None and "transfer-encoding" in headers:
            await _refuse(scope, receive, send, 400,
                          "send either Content-Length or Transfer-Encoding, not both")
            return
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _refuse(scope, receive, send, 413 if length.isdigit() else 400,
                          f"the request is larger than {limit} bytes" if length.isdigit()
                          else "Content-Length is not a number")
            return
        scope.setdefault("state", {})[KEY_STATE] = key
        await self.app(scope, self._counting(receive, limit), send)

    def _counting(self, receive: Any, limit: int) -> Any:
        received = 0
        deadline = time.monotonic() + self.total_timeout_s

        async def counted() -> dict[str, Any]:
            nonlocal received
            wait_s = min(self.read_timeout_s, deadline - time.monotonic())
            if wait_s <= 0:
                raise BodyTooSlow()
            with anyio.move_on_after(wait_s) as scope:
                message = await receive()
            if scope.cancelled_caught:
                raise BodyTooSlow()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return counted


async def _refuse(scope: dict[str, Any], receive: Any, send: Any, status: int,
                  message: str) -> None:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    await JSONResponse({"error": message}, status_code=status, headers=headers)(
        scope, receive, send)
