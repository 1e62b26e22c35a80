"""The HTTP protocol the service runs: uvicorn's h11 protocol with a time limit on a request's
headers.

uvicorn closes an idle keep-alive connection only after a response, and any byte received
cancels that timer: a client that opens connections and sends its headers a byte at a time
("slowloris") would hold each connection for ever, until the service has none left. Here every
connection must deliver a complete request line and headers within
:data:`service.limits.HEADER_READ_TIMEOUT_S` of opening (or of the previous response);
otherwise it is closed. Bodies have their own time-outs (:mod:`service.guard`); nginx in front
has its own as well (docs/DEPLOYMENT.md), this one holds without it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.limits import HEADER_READ_TIMEOUT_S, IDLE_CONNECTION_TIMEOUT_S


class HeaderTimeoutProtocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request headers are not complete
    within :attr:`header_timeout_s`."""

    header_timeout_s: float = HEADER_READ_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._start_header_timer()  # the next request on this connection, if any

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def server_options(header_timeout_s: float = HEADER_READ_TIMEOUT_S) -> dict[str, Any]:
    """The uvicorn options every way of running the service uses: the protocol above and the
    idle keep-alive time-out (``header_timeout_s``: tests shorten it)."""
    protocol: type[HeaderTimeoutProtocol] = HeaderTimeoutProtocol
    if header_timeout_s != HeaderTimeoutProtocol.header_timeout_s:
        protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,),
                        {"header_timeout_s": header_timeout_s})
    return {"http": protocol, "timeout_keep_alive": IDLE_CONNECTION_TIMEOUT_S}
