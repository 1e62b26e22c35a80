"""Sign-in and sign-out, the language switch, the list of events, and the doors' last contact
(recorded as kiosks call the API)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kiosk.store.events import Events
from kiosk.sync.report import MODEL_HEADER, OUTBOX_HEADER, clean_model, read_outbox
from service.console.accounts import Session, SignInRefused, sign_in, sign_out
from service.console.backend import hash_key, save_door_contact
from service.console.i18n import LANGUAGE_COOKIE, LANGUAGES
from service.console.web import (
    PREFIX, SESSION_COOKIE, Console, checked_form, client_address, console_of, current_session,
    read_form, redirect, render, safe_next, same_origin, secure_cookie,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

DOOR_RECORD_EVERY_S = 5.0  # a door's unchanged last contact is written at most this often


@router.get("/login")
async def login_page(request: Request, next: str = "") -> Response:  # noqa: A002
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    """Form fields ``username``, ``password`` (and ``next``): sets the session cookie."""
    form = await read_form(request)
    target = safe_next(str(form.get("next") or ""))
    console = console_of(request)
    address = client_address(request)
    throttle = console.throttle_of(address)
    if not same_origin(request):
        return render(request, "login.html", status=403, next=target, error=("bad_form", {}))
    if throttle.wait_s() > 0:
        return render(request, "login.html", status=429, next=target,
                      error=("wait", {"s": int(throttle.wait_s()) + 1}))

    def attempt() -> Any:
        with console.pool.borrow() as store:
            return sign_in(store, str(form.get("username") or ""),
                           str(form.get("password") or ""), address)

    try:
        found = await run_in_threadpool(attempt)
    except SignInRefused as exc:
        return render(request, "login.html", status=429, next=target,
                      error=("wait", {"s": int(exc.wait_s) + 1}))
    if found is None:
        throttle.failed()
        return render(request, "login.html", status=401, next=target,
                      error=("wrong_password", {}))
    throttle.succeeded()
    token, _session = found
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path=PREFIX,
                        secure=secure_cookie(request))
    return response


@router.post("/logout")
async def logout(request: Request, session: Session = Depends(current_session)) -> Response:
    await checked_form(request, session)
    console = console_of(request)

    def end() -> None:
        with console.pool.borrow() as store:
            sign_out(store, session)

    await run_in_threadpool(end)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/lang/{language}")
async def switch_language(request: Request, language: str, next: str = "") -> Response:  # noqa: A002
    response = redirect(next)
    if language in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, path=PREFIX,
                            samesite="lax", httponly=True, secure=secure_cookie(request))
    return response


@router.get("")
async def root() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=303)


@router.get("/")
async def index(request: Request, session: Session = Depends(current_session)) -> Response:
    """The events, newest first, each with a link to its board (admins also create here)."""
    console = console_of(request)

    def load() -> list[dict[str, Any]]:
        with console.pool.borrow() as store:
            return Events(store).events()

    return render(request, "events.html", events=await run_in_threadpool(load))


async def record_door_contact(console: Console, request: Request) -> None:
    """Note when a key last reached the API, with what the kiosk reports of itself in
    ``X-Kiosk-Outbox`` (check-ins waiting) and ``X-Kiosk-Model`` (its model settings): written
    when the report changed, else at most every few seconds per key. The two headers are
    untrusted: a count that is not a whole number in range is ignored, the model text is
    cleaned and cut (:mod:`kiosk.sync.report`); the page shows both as text."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return
    hashed = hash_key(key.strip())
    now_s = time.time()
    outbox = read_outbox(request.headers.get(OUTBOX_HEADER))
    model = clean_model(request.headers.get(MODEL_HEADER))
    last_s, last_report = console.door_seen_s.get(hashed, (0.0, None))
    if now_s - last_s < DOOR_RECORD_EVERY_S and last_report == (outbox, model):
        return
    console.door_seen_s[hashed] = (now_s, (outbox, model))

    def write() -> None:
        with console.pool.borrow() as store:
            save_door_contact(store, hashed, now_s, outbox, model, client_address(request))

    try:
        await run_in_threadpool(write)
    except Exception:  # noqa: BLE001 - the kiosk's answer must not depend on this note
        import logging

        logging.getLogger(__name__).exception("could not record a door's contact")

