"""What every console page shares: the signed-in session, roles, CSRF tokens, forms with size
limits, language, templates (autoescaped) and the security headers; :func:`mount` puts the
console on the service's app.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kiosk.auth import AttemptThrottle
from service.console.accounts import Session, ensure_schema, same_token, session_of
from service.console.i18n import LANGUAGE_COOKIE, LANGUAGE_NAMES, LANGUAGES, choose_language, translator
from service.console.live import CheckinFeed

log = logging.getLogger(__name__)

PREFIX = "/console"
SESSION_COOKIE = "console_session"
FLASH_COOKIE = "console_flash"
MAX_FORM_BYTES = 64 * 1024  # an ordinary form
MAX_ADDRESSES = 10_000  # sign-in throttles kept per client address
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class ConsoleError(Exception):
    """A page that cannot be shown: ``status`` with the message of ``key`` (see i18n)."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


class NeedSignIn(Exception):
    """No live session: the browser goes to the sign-in page (and back to ``path`` after)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class Console:
    """The console's state on one app: the service's connection pool and gallery, the live
    feed, the templates, the per-address sign-in throttles."""

    def __init__(self, app: FastAPI, database_url: str) -> None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        self.app = app
        self.pool = app.state.service.pool
        self.gallery = app.state.service.gallery
        self.feed = CheckinFeed(database_url)
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True),
                                     trim_blocks=True, lstrip_blocks=True)
        self.address_throttles: OrderedDict[str, AttemptThrottle] = OrderedDict()
        # per key hash: when its contact was last written, and what it reported then
        self.door_seen_s: dict[str, tuple[float, tuple[int | None, str | None]]] = {}

    def throttle_of(self, address: str) -> AttemptThrottle:
        """The sign-in throttle of a client address (the oldest are forgotten)."""
        throttle = self.address_throttles.pop(address, None) or AttemptThrottle(
            free_attempts=10, max_wait_s=300.0)
        self.address_throttles[address] = throttle
        while len(self.address_throttles) > MAX_ADDRESSES:
            self.address_throttles.popitem(last=False)
        return throttle


def console_of(request: Request) -> Console:
    return request.app.state.console


def language_of(request: Request) -> str:
    return choose_language(request.cookies.get(LANGUAGE_COOKIE),
                           request.headers.get("accept-language"))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of the console only (no other site)."""
    target = target or ""
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith(PREFIX)
            or "//" in target or "\\" in target or any(ord(c) < 32 for c in target)):
        return PREFIX + "/"
    return target


async def current_session(request: Request) -> Session:
    """The signed-in session of this request (a page dependency).

    Raises:
        NeedSignIn: no live session.
    """
    token = request.cookies.get(SESSION_COOKIE, "")
    console = console_of(request)

    def find() -> Session | None:
        with console.pool.borrow() as store:
            return session_of(store, token)

    session = await run_in_threadpool(find) if token else None
    if session is None:
        raise NeedSignIn(request.url.path)
    request.state.session = session
    return session


async def admin_session(request: Request) -> Session:
    """The signed-in session, which must be an admin's (checked here, on the server).

    Raises:
        ConsoleError: 403 for staff.
    """
    session = await current_session(request)
    if session.account.role != "admin":
        raise ConsoleError(403, "forbidden")
    return session


def same_origin(request: Request) -> bool:
    """A browser's POST must come from a page of this site (``Origin`` or ``Referer``); a
    script without either (curl) is let through to its CSRF token check."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin != "null"
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def read_form(request: Request, max_bytes: int = MAX_FORM_BYTES,
                    max_files: int = 0) -> Any:
    """The posted form, refused (413) when larger than ``max_bytes`` or with more files."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > max_bytes:
        raise ConsoleError(413, "bad_form")
    return await request.form(max_files=max_files, max_fields=100,
                              max_part_size=max(MAX_FORM_BYTES, max_bytes))


async def checked_form(request: Request, session: Session, max_bytes: int = MAX_FORM_BYTES,
                       max_files: int = 0) -> Any:
    """The posted form of a signed-in page, after its CSRF token and origin were checked.

    Raises:
        ConsoleError: 403 for a missing or wrong token or another site's origin.
    """
    form = await read_form(request, max_bytes, max_files)
    token = form.get("csrf")
    if not same_origin(request) or not isinstance(token, str) or not same_token(
            token, session.csrf_token):
        raise ConsoleError(403, "bad_form")
    return form


def flash(response: Response, key: str, **values: Any) -> Response:
    """A message for the next page (a short-lived cookie, shown once, escaped as text)."""
    response.set_cookie(FLASH_COOKIE, json.dumps({"key": key, "values": values})[:3000],
                        max_age=60, path=PREFIX, httponly=True, samesite="lax")
    return response


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(safe_next(path), status_code=303)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the browser's language (every value is escaped by the template engine)."""
    language = language_of(request)
    session: Session | None = getattr(request.state, "session", None)
    message = None
    raw = request.cookies.get(FLASH_COOKIE)
    if raw:
        try:
            data = json.loads(raw)
            message = translator(language)(str(data["key"]), **{
                str(k): str(v) for k, v in dict(data.get("values") or {}).items()})
        except (ValueError, KeyError, TypeError, IndexError):
            message = None
    page = console_of(request).templates.get_template(template).render(
        _=translator(language), lang=language, languages=LANGUAGES,
        language_names=LANGUAGE_NAMES, session=session, path=request.url.path,
        prefix=PREFIX, message=message, now_s=time.time(), **context)
    response = HTMLResponse(page, status_code=status)
    if raw:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def secure_cookie(request: Request) -> bool:
    """Cookies are marked Secure when the browser talks TLS (directly or through a proxy
    that uvicorn trusts with ``X-Forwarded-Proto``)."""
    return request.url.scheme == "https"


def mount(app: FastAPI, database_url: str) -> None:
    """Put the console (pages under ``/console``, static files, the schema it needs) on the
    service's app; called once by ``create_app``."""
    from fastapi.staticfiles import StaticFiles

    from service.console import admin, board, pages

    with app.state.service.pool.borrow() as store:
        ensure_schema(store)
    console = Console(app, database_url)
    app.state.console = console

    @app.exception_handler(NeedSignIn)
    async def need_sign_in(request: Request, exc: NeedSignIn) -> Response:
        from urllib.parse import quote

        if request.method != "GET" or request.url.path.endswith("/stream"):
            return Response("sign in first", status_code=401, headers=SECURITY_HEADERS)
        return RedirectResponse(f"{PREFIX}/login?next={quote(safe_next(exc.path))}",
                                status_code=303)

    @app.exception_handler(ConsoleError)
    async def console_error(request: Request, exc: ConsoleError) -> Response:
        return render(request, "error.html", status=exc.status, key=exc.key)

    @app.middleware("http")
    async def console_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        if request.url.path.startswith(PREFIX):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        elif request.url.path.startswith("/api/v1/") and response.status_code < 400:
            await pages.record_door_contact(console, request)
        return response

    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(pages.router)
    app.include_router(board.router)
    app.include_router(admin.router)
