"""The service on 127.0.0.1 in a uvicorn thread (tests and the load benchmark)."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.service.pgcluster import free_port


class ServiceThread:
    """``uvicorn`` serving ``app`` on a free port of 127.0.0.1 in a background thread, with the
    service's own uvicorn options (:func:`service.http_protocol.server_options`).

    Attributes:
        url: ``http://127.0.0.1:PORT``.
    """

    def __init__(self, app: Any, port: int | None = None,
                 header_timeout_s: float | None = None) -> None:
        import uvicorn

        from service.http_protocol import server_options

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = server_options() if header_timeout_s is None else server_options(header_timeout_s)
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", **options,
        ))
        self.thread = threading.Thread(target=self.server.run, name="service", daemon=True)

    def start(self, timeout_s: float = 20.0) -> ServiceThread:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
