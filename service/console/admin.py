"""Admin pages: events (create, window, close, roster upload), people (search, thumbnails,
rename, enrol from photos, delete), doors, the audit log and refused spoof attempts. Every
route checks the admin role on the server (:func:`service.console.web.admin_session`)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kiosk.roster import (
    MAX_ROSTER_BYTES, RosterError, decode_roster_bytes, import_roster, parse_roster_text,
    read_roster_xlsx,
)
from kiosk.store.base import Store, audit_log, now_iso, parse_time
from kiosk.store.events import Events
from kiosk.store.people import People
from service.console.accounts import Session
from service.console.backend import (
    ApiKey, change_event_window, door_rows, enroll_person, people_with_crops, spoof_rows,
    spoof_thumbnail_jpeg, thumbnail_jpeg, uploads_per_door,
)
from service.console.board import RosterSource
from service.console.web import (
    PREFIX, ConsoleError, admin_session, checked_form, console_of, flash, redirect, render,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

MAX_PHOTOS = 10
MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_LISTED = 500  # people, audit rows and spoof attempts on one page
ONLINE_S = 120.0  # a door that reached the service this recently is online


async def _in_store(request: Request, work: Any) -> Any:
    console = console_of(request)

    def run() -> Any:
        with console.pool.borrow() as store:
            return work(store)

    return await run_in_threadpool(run)


def _actor(session: Session) -> str:
    return f"console:{session.account.name}"


# -- events -----------------------------------------------------------------------------------

def _window_time(text: str) -> str | None:
    """An ISO time from a form (``2026-11-23T09:00`` from a datetime-local field), or None."""
    text = (text or "").strip()
    return parse_time(text).isoformat() if text else None


def set_event_window(store: Store, event_id: int, opens_at: str | None, closes_at: str | None,
                     actor: str) -> None:
    """Change an event's check-in window (one transaction, audit-logged; kiosks get it at
    their next sync).

    Raises:
        ValueError: no such event, or a window that closes before it opens.
    """
    if opens_at and closes_at and parse_time(closes_at) <= parse_time(opens_at):
        raise ValueError("the check-in window closes before it opens")
    if not change_event_window(store, event_id, opens_at, closes_at, actor):
        raise ValueError(f"no event with id {event_id}")


@router.post("/events")
async def create_event(request: Request, session: Session = Depends(admin_session)) -> Response:
    form = await checked_form(request, session)
    try:
        opens, closes = _window_time(str(form.get("opens_at") or "")), \
            _window_time(str(form.get("closes_at") or ""))
        event_id = await _in_store(request, lambda store: Events(store).create_event(
            str(form.get("name") or "")[:200], opens, closes, actor=_actor(session)))
    except ValueError as exc:
        return flash(redirect(f"{PREFIX}/"), str(exc))
    return redirect(f"{PREFIX}/events/{event_id}/settings")


@router.get("/events/{event_id}/settings")
async def event_settings(request: Request, event_id: int,
                         _session: Session = Depends(admin_session)) -> Response:
    def load(store: Store) -> dict[str, Any]:
        event = Events(store).event(event_id)
        if event is None:
            raise ConsoleError(404, "not_found")
        return {"event": event, "roster": Events(store).roster(event_id)[:MAX_LISTED],
                "roster_size": len(Events(store).roster(event_id))}

    return render(request, "event_settings.html", **await _in_store(request, load))


@router.post("/events/{event_id}/window")
async def edit_window(request: Request, event_id: int,
                      session: Session = Depends(admin_session)) -> Response:
    form = await checked_form(request, session)
    back = f"{PREFIX}/events/{event_id}/settings"
    try:
        opens, closes = _window_time(str(form.get("opens_at") or "")), \
            _window_time(str(form.get("closes_at") or ""))
        await _in_store(request, lambda store: set_event_window(
            store, event_id, opens, closes, _actor(session)))
    except ValueError as exc:
        return flash(redirect(back), str(exc))
    return flash(redirect(back), "saved")


@router.post("/events/{event_id}/close")
async def close_event(request: Request, event_id: int,
                      session: Session = Depends(admin_session)) -> Response:
    """Close the check-in window now (a window that would open later is dropped)."""
    await checked_form(request, session)

    def close(store: Store) -> None:
        event = Events(store).event(event_id)
        if event is None:
            raise ConsoleError(404, "not_found")
        now = now_iso()
        opens = event["opens_at"]
        if opens and parse_time(opens) >= parse_time(now):
            opens = None
        set_event_window(store, event_id, opens, now, _actor(session))

    await _in_store(request, close)
    return flash(redirect(f"{PREFIX}/events/{event_id}/settings"), "event_closed")


@router.post("/events/{event_id}/roster")
async def upload_roster(request: Request, event_id: int,
                        session: Session = Depends(admin_session)) -> Response:
    """Replace the roster from an uploaded .xlsx or .csv (the CLI's parser); a bad file
    changes nothing and its error, naming the line, is shown."""
    form = await checked_form(request, session, MAX_ROSTER_BYTES + 64 * 1024, max_files=1)
    upload = form.get("roster")
    back = f"{PREFIX}/events/{event_id}/settings"
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            return flash(redirect(back), "roster_error")
        data = await upload.read(MAX_ROSTER_BYTES + 1)
        name = Path(upload.filename).name[:100]
    finally:
        await form.close()
    try:
        if len(data) > MAX_ROSTER_BYTES:
            raise RosterError(f"{name}: the file is too large for a roster")
        if name.lower().endswith(".xlsx"):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "roster.xlsx"
                path.write_bytes(data)
                entries = read_roster_xlsx(path)
        else:
            entries = parse_roster_text(decode_roster_bytes(data, name), name)
        count = await _in_store(request, lambda store: import_roster(
            RosterSource(store), event_id, entries, actor=_actor(session)))
    except (RosterError, ValueError) as exc:
        message = str(exc).replace(str(Path(tempfile.gettempdir())), "")
        if "roster.xlsx" in message:
            message = name + message[message.index("roster.xlsx") + len("roster.xlsx"):]
        return flash(redirect(back), "roster_failed", error=message)
    return flash(redirect(back), "roster_done", n=count)


# -- people -----------------------------------------------------------------------------------

@router.get("/people")
async def people(request: Request, q: str = "",
                 _session: Session = Depends(admin_session)) -> Response:
    search = q[:200]

    def load(store: Store) -> dict[str, Any]:
        found = People(store, "any").people(search)
        with_crops = people_with_crops(store)
        return {"people": found[:MAX_LISTED], "total": len(found), "with_crops": with_crops}

    return render(request, "people.html", q=search, **await _in_store(request, load))


async def _jpeg(request: Request, read: Callable[[Store], bytes | None],
                headers: dict[str, str] | None = None) -> Response:
    """The JPEG ``read`` finds in the store (on a worker thread), or 404."""
    jpeg = await _in_store(request, read)
    if jpeg is None:
        raise ConsoleError(404, "not_found")
    return Response(jpeg, media_type="image/jpeg", headers=headers)


@router.get("/people/{person_id}/thumbnail")
async def thumbnail(request: Request, person_id: int,
                    _session: Session = Depends(admin_session)) -> Response:
    return await _jpeg(request, lambda store: thumbnail_jpeg(store, person_id),
                       {"Cache-Control": "private, max-age=300"})


@router.post("/people/{person_id}/rename")
async def rename(request: Request, person_id: int,
                 session: Session = Depends(admin_session)) -> Response:
    form = await checked_form(request, session)
    name = str(form.get("name") or "")[:200]
    try:
        await _in_store(request, lambda store: People(store, "any").rename_person(
            person_id, name, actor=_actor(session)))
    except ValueError as exc:
        return flash(redirect(f"{PREFIX}/people"), str(exc))
    return flash(redirect(f"{PREFIX}/people"), "saved")


@router.post("/people/{person_id}/delete")
async def delete(request: Request, person_id: int,
                 session: Session = Depends(admin_session)) -> Response:
    """Delete a person with every picture, embedding and check-in (then VACUUM); kiosks
    delete them at their next sync."""
    await checked_form(request, session)

    def remove(store: Store) -> str:
        person = People(store, "any").person(person_id)
        if person is None:
            raise ConsoleError(404, "not_found")
        People(store, "any").delete_person(person_id, actor=_actor(session))
        return person.name

    name = await _in_store(request, remove)
    return flash(redirect(f"{PREFIX}/people"), "deleted", name=name)


@router.post("/people")
async def enroll(request: Request, session: Session = Depends(admin_session)) -> Response:
    """Enrol from uploaded photos through the service's own enrolment (face quality checks,
    look-alike refusal unless allowed)."""
    form = await checked_form(request, session, MAX_PHOTOS * MAX_PHOTO_BYTES + 64 * 1024,
                              max_files=MAX_PHOTOS)
    try:
        return await _enroll(request, session, form)
    finally:
        await form.close()


async def _enroll(request: Request, session: Session, form: Any) -> Response:
    photos = [f for f in form.getlist("photos") if isinstance(f, UploadFile) and f.filename]
    back = redirect(f"{PREFIX}/people")
    if not photos:
        return flash(back, "no_photo")
    key = ApiKey(id=0, name=f"console ({session.account.name})", role="admin",
                 created_at="", revoked_at=None)
    state = request.app.state.service
    from fastapi import HTTPException

    try:
        answer = await enroll_person(name=str(form.get("name") or "")[:200],
                                external_id=(str(form.get("external_id") or "").strip()[:200]
                                             or None),
                                allow_duplicate=form.get("allow_duplicate") == "on",
                                images=photos, key=key, state=state)
    except HTTPException as exc:
        return flash(back, str(exc.detail))
    if isinstance(answer, Response):
        return flash(back, str(json.loads(bytes(answer.body)).get("error")))
    return flash(back, "enrolled", name=answer["name"], id=answer["id"])


# -- doors, audit, spoofs ---------------------------------------------------------------------

@router.get("/doors")
async def doors(request: Request, _session: Session = Depends(admin_session)) -> Response:
    """Each API key: last contact, check-ins uploaded and the last, what it reported of its
    outbox and model, online or not."""
    def load(store: Store) -> list[dict[str, Any]]:
        uploads = uploads_per_door(store)
        rows = door_rows(store)
        now_s = time.time()
        return [{"id": r[0], "name": r[1], "role": r[2], "revoked": r[3] is not None,
                 "last_seen": r[4], "online": r[5] is not None and now_s - float(r[5]) < ONLINE_S,
                 "outbox": r[6], "model": r[7], "uploads": uploads.get(str(r[1]), (0, None))[0],
                 "last_upload": uploads.get(str(r[1]), (0, None))[1]} for r in rows]

    return render(request, "doors.html", doors=await _in_store(request, load))


@router.get("/audit")
async def audit(request: Request, _session: Session = Depends(admin_session)) -> Response:
    return render(request, "audit.html",
                  rows=await _in_store(request, lambda store: audit_log(store, MAX_LISTED)))


@router.get("/spoofs")
async def spoofs(request: Request, _session: Session = Depends(admin_session)) -> Response:
    rows = await _in_store(request, lambda store: spoof_rows(store, MAX_LISTED))
    return render(request, "spoofs.html", rows=rows)


@router.get("/spoofs/{spoof_id}/thumbnail")
async def spoof_thumbnail(request: Request, spoof_id: int,
                          _session: Session = Depends(admin_session)) -> Response:
    return await _jpeg(request, lambda store: spoof_thumbnail_jpeg(store, spoof_id))

