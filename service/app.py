"""The central service's HTTP API: FastAPI over PostgreSQL (see docs/DEPLOYMENT.md).

Every request under ``/api/v1`` (but ``/health``) carries ``Authorization: Bearer KEY``; the
key is looked up (by its hash) on every request, before any of the body is read
(:mod:`service.guard`), so a revoked key stops working at once. What a key may do is in
:mod:`service.auth`. Errors are JSON: ``{"error": "message"}``.

:func:`create_app` takes further routers (``routers=``), so a console or another API mounts
on the same app and shares :class:`service.state.ServiceState` (``app.state.service``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kiosk.config import Settings
from kiosk.store.base import StoreError
from service.guard import Guard
from service.limits import BODY_READ_TIMEOUT_S
from service.routes import checkins, events, health, identify, people, sync
from service.state import ServiceState
from service.store.keys import ApiKey, authenticate

log = logging.getLogger(__name__)

# The API's routers, one per resource; create_app(routers=...) adds more.
API_ROUTERS: tuple[APIRouter, ...] = (health.router, people.router, identify.router,
                                      events.router, checkins.router, sync.router)
DATABASE_VARIABLE = "KIOSK_SERVICE_DATABASE"  # serve --workers: the URL for each worker
SETTINGS_VARIABLE = "KIOSK_SERVICE_SETTINGS"  # and the settings file, if one was named


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_answers(app: FastAPI) -> None:
    """Every error as ``{"error": message}``; a database problem as 503."""

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return _error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        log.error("database: %s", exc)
        return _error(503, "the database is not available right now; try again",
                      {"Retry-After": "5"})


def create_app(
    database_url: str,
    settings: Settings | None = None,
    encoder_factory: Callable[[], Any] | None = None,
    pool_size: int = 8,
    routers: Sequence[APIRouter] = (),
    cpu_workers: int | None = None,
    listen: bool = True,
    body_read_timeout_s: float = BODY_READ_TIMEOUT_S,
) -> FastAPI:
    """The service over one PostgreSQL database (its schema is created or migrated here).

    Args:
        database_url: ``postgresql://...``.
        settings: recognition settings (threshold, margin, model id, face crops).
        encoder_factory: makes the :class:`kiosk.face_encoder.FaceEncoder` (loaded on the first
            request with an image; tests pass the session's).
        pool_size: connections for concurrent requests.
        routers: further routers, mounted after the API's (they find the shared state in
            ``request.app.state.service``).
        cpu_workers: processes that decode photos and run the models (threads when
            ``encoder_factory`` is given; default: the cores but one).
        listen: keep the gallery current through the database's notifications (several
            instances over one database); False reads it once.
        body_read_timeout_s: the longest wait for the next piece of a request body.

    Raises:
        StoreError: the database cannot be reached or has a newer schema.
    """
    state = ServiceState(database_url, settings or Settings(), encoder_factory, pool_size,
                         cpu_workers)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        from service.store.notifications import ChangeListener

        state.migrate_gallery()
        listener = ChangeListener(database_url, state.refresh_gallery) if listen else None
        if listener is not None:
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            state.close()

    app = FastAPI(title="Face check-in kiosk service", version="1", lifespan=lifespan)
    install_error_answers(app)

    def lookup(key: str) -> ApiKey | None:
        with state.pool.borrow() as store:
            return authenticate(store, key)

    app.add_middleware(Guard, authenticate=lookup, read_timeout_s=body_read_timeout_s)
    for router in (*API_ROUTERS, *routers):
        app.include_router(router)
    app.state.service = state
    from service.console import mount_console  # the organisers' web console (docs/CONSOLE.md)
    mount_console(app, database_url)
    return app


def app_from_environment() -> FastAPI:
    """The app of one ``serve --workers N`` worker process (uvicorn's factory): the database
    URL and the settings file come from :data:`DATABASE_VARIABLE` and
    :data:`SETTINGS_VARIABLE`."""
    from kiosk.cli import DEFAULT_SETTINGS
    from kiosk.settings_files import LOCAL_SETTINGS, load_layered_settings, load_settings

    path = os.environ.get(SETTINGS_VARIABLE)
    settings = (load_settings(path) if path
                else load_layered_settings(DEFAULT_SETTINGS, LOCAL_SETTINGS))
    return create_app(os.environ[DATABASE_VARIABLE], settings)
