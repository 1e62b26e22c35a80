"""The live board of an event (staff and admins): counts, the arrived and not-yet lists,
arrivals over time per door, manual check-in and undo, the attendance download, and the
Server-Sent Events stream that makes an open board fetch itself anew."""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid as uuid_module
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from kiosk.roster import (
    STATUS_ARRIVED, STATUS_MISSING, attendance, attendance_counts, local_time, name_key,
    write_attendance_csv, write_attendance_xlsx,
)
from kiosk.store.base import Store, now_iso, record_action
from kiosk.store.events import Events
from service.console.accounts import Session
from service.console.backend import (
    DoorCheckIn, DoorUndo, event_checkins, people_ids_by_external_id, people_named,
    people_to_check_in, person_name, store_checkin, undo_checkin,
)
from service.console.live import TooManyBoards, event_stream
from service.console.web import (
    PREFIX, ConsoleError, checked_form, console_of, current_session, flash, redirect, render,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)

MAX_REASON_CHARS = 1000
MAX_CHOICES = 100  # people offered in the manual check-in list (narrowed by the search)
MAX_ROWS = 100  # rows of each list on the board (narrowed by the search)
MAX_QUERY_CHARS = 200
CHART_WIDTH, CHART_HEIGHT, MAX_BARS = 640, 150, 24
BUCKET_MINUTES = (1, 5, 15, 30, 60, 120, 240, 480, 1440)
DOWNLOADS = {"xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                      write_attendance_xlsx),
             "csv": ("text/csv; charset=utf-8", write_attendance_csv)}


class RosterSource:
    """What :mod:`kiosk.roster`'s functions read of a gallery (its events table), over one
    borrowed connection of the service."""

    def __init__(self, store: Store) -> None:
        self.events_table = Events(store)


def console_door(session: Session) -> str:
    """The "door" a console action is recorded under (receipts and audit rows)."""
    return f"console ({session.account.name})"


def _enrolled_matches(store: Store, missing: list[dict[str, Any]]) -> None:
    """Give each not-yet roster row the id of the enrolled person it names (``person_id``,
    None when nobody enrolled matches): by external id, else by one person of that name."""
    by_id = people_ids_by_external_id(
        store, [r["external_id"] for r in missing if r["external_id"]])
    names = sorted({r["name"].lower() for r in missing if not r["external_id"]})
    by_name: dict[str, list[int]] = {}
    for person_id, name in people_named(store, names):
        by_name.setdefault(name_key(name), []).append(person_id)
    for row in missing:
        if row["external_id"]:
            row["person_id"] = by_id.get(row["external_id"])
        else:
            found = by_name.get(name_key(row["name"]), [])
            row["person_id"] = found[0] if len(found) == 1 else None


def arrivals_chart(arrived: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked bars of arrivals per time bucket and door, laid out for an SVG."""
    times = [(local_time(r["at"]), r.get("door") or "?") for r in arrived if r["at"]]
    if not times:
        return {"bars": [], "doors": [], "labels": [], "width": CHART_WIDTH,
                "height": CHART_HEIGHT}
    start = min(t for t, _ in times)
    span_min = (max(t for t, _ in times) - start).total_seconds() / 60
    bucket = next((b for b in BUCKET_MINUTES if span_min / b < MAX_BARS), BUCKET_MINUTES[-1])
    start = start.replace(second=0, microsecond=0)
    start -= dt.timedelta(minutes=(start.hour * 60 + start.minute) % bucket)
    doors = sorted({door for _, door in times})
    counts: dict[tuple[int, str], int] = {}
    for at, door in times:
        index = int((at - start).total_seconds() // (bucket * 60))
        counts[(index, door)] = counts.get((index, door), 0) + 1
    n_buckets = max(index for index, _ in counts) + 1
    totals = [sum(v for (i, _), v in counts.items() if i == b) for b in range(n_buckets)]
    scale = (CHART_HEIGHT - 20) / max(totals)
    width = CHART_WIDTH / max(n_buckets, 1)
    bars, labels = [], []
    for b in range(n_buckets):
        y = CHART_HEIGHT - 16.0
        for d, door in enumerate(doors):
            height = counts.get((b, door), 0) * scale
            if height:
                y -= height
                bars.append({"x": round(b * width + 1, 1), "y": round(y, 1),
                             "w": round(max(width - 2, 1), 1), "h": round(height, 1),
                             "door": d % 8, "title": f"{door}: {counts[(b, door)]}"})
        if b % max(1, n_buckets // 6) == 0:
            labels.append({"x": round(b * width + 2, 1),
                           "text": (start + dt.timedelta(minutes=b * bucket)).strftime("%H:%M")})
    return {"bars": bars, "doors": [(d % 8, door) for d, door in enumerate(doors)],
            "labels": labels, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _matches(row: dict[str, Any], query: str) -> bool:
    return not query or query in name_key(f"{row['name']} {row['external_id'] or ''}")


def board_data(store: Store, event_id: int, query: str = "") -> dict[str, Any]:
    """Everything the board shows of one event: the counts and the chart of everyone, the
    newest :data:`MAX_ROWS` arrivals and the first :data:`MAX_ROWS` not yet arrived that
    match ``query`` (a part of a name or external id), and the people to check in by hand.

    Raises:
        ConsoleError: 404 for an unknown event.
    """
    event = Events(store).event(event_id)
    if event is None:
        raise ConsoleError(404, "not_found")
    query = name_key(query)[:MAX_QUERY_CHARS]
    checkins = event_checkins(store, event_id)
    order = {c["person_id"]: index for index, c in enumerate(checkins)}  # by time, then id
    rows = attendance(RosterSource(store), event_id, checkins)
    arrived_all = sorted((r for r in rows if r["status"] == STATUS_ARRIVED),
                         key=lambda r: order.get(r["person_id"], -1), reverse=True)
    arrived = [r for r in arrived_all if _matches(r, query)]
    missing = [r for r in rows if r["status"] == STATUS_MISSING and _matches(r, query)]
    shown = {"arrived": len(arrived), "missing": len(missing)}
    arrived, missing = arrived[:MAX_ROWS], missing[:MAX_ROWS]
    _enrolled_matches(store, missing)
    form_uuid = uuid_module.uuid4()
    for row in arrived:
        at = local_time(row["at"])
        row["time"] = at.strftime("%H:%M:%S") if at else ""
        row["undo_uuid"] = str(uuid_module.uuid5(form_uuid, f"undo {row['person_id']}"))
    choices = people_to_check_in(store, event_id, query, MAX_CHOICES)
    return {"event": event, "counts": attendance_counts(rows), "arrived": arrived,
            "missing": missing, "matching": shown, "query": query, "max_rows": MAX_ROWS,
            "chart": arrivals_chart(arrived_all),
            "choices": [{"id": int(c[0]), "name": str(c[1]), "external_id": c[2]}
                        for c in choices],
            "form_uuid": str(form_uuid)}


async def _board(request: Request, event_id: int) -> dict[str, Any]:
    console = console_of(request)
    query = request.query_params.get("q", "")[:MAX_QUERY_CHARS]

    def load() -> dict[str, Any]:
        with console.pool.borrow() as store:
            return board_data(store, event_id, query)

    return await run_in_threadpool(load)


@router.get("/events/{event_id}")
async def board(request: Request, event_id: int,
                _session: Session = Depends(current_session)) -> Response:
    """The board's page: names every arrived person."""
    return render(request, "board.html", **await _board(request, event_id))


@router.get("/events/{event_id}/board")
async def board_part(request: Request, event_id: int,
                     _session: Session = Depends(current_session)) -> Response:
    """The live part of the board alone (fetched by the page's script on each change)."""
    return render(request, "board_live.html", **await _board(request, event_id))


@router.get("/events/{event_id}/stream")
async def stream(request: Request, event_id: int,
                 _session: Session = Depends(current_session)) -> Response:
    """Server-Sent Events: ``change`` whenever a check-in of this event is stored or undone."""
    try:
        body = event_stream(console_of(request).feed, event_id, request.is_disconnected)
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    except TooManyBoards as exc:
        return Response(str(exc), status_code=503)


def _form_text(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    text = " ".join(str(value).split()) if isinstance(value, str) else ""
    return text[:limit]


def _form_uuid(form: Any) -> uuid_module.UUID:
    try:
        return uuid_module.UUID(str(form.get("uuid") or ""))
    except ValueError:
        return uuid_module.uuid4()


def _form_int(form: Any, name: str) -> int:
    try:
        return int(str(form.get(name) or ""))
    except ValueError as exc:
        raise ConsoleError(422, "bad_form") from exc


@router.post("/events/{event_id}/checkin")
async def manual_checkin(request: Request, event_id: int,
                         session: Session = Depends(current_session)) -> Response:
    """A manual check-in with a reason: stored once per event like a kiosk's upload (the
    form's UUID makes a second submission a no-op), audit-logged in the same transaction."""
    form = await checked_form(request, session)
    person_id = _form_int(form, "person_id")
    reason = _form_text(form, "reason", MAX_REASON_CHARS)
    back = f"{PREFIX}/events/{event_id}"
    if not reason:
        return flash(redirect(back), "reason_needed")
    item = DoorCheckIn(uuid=_form_uuid(form), event_id=event_id, person_id=person_id,
                       at=now_iso(), method="manual", operator=session.account.name,
                       reason=reason)
    console = console_of(request)

    def store_it() -> tuple[str, str]:
        with console.pool.borrow() as store:
            with store.transaction() as tx:
                result = store_checkin(store, item, console_door(session))
                if result == "stored":
                    tx.audit(f"console:{session.account.name}", "manual check-in",
                             event_id=event_id, person_id=person_id, reason=reason,
                             uuid=str(item.uuid))
            name = person_name(store, person_id)
        return result, name if name is not None else str(person_id)

    result, name = await run_in_threadpool(store_it)
    key = {"stored": "checked_in", "already": "already", "duplicate": "already"}.get(
        result, "not_found")
    return flash(redirect(back), key, name=name)


@router.post("/events/{event_id}/undo")
async def undo(request: Request, event_id: int,
               session: Session = Depends(current_session)) -> Response:
    """Undo a check-in made at any door: the service's undo of a kiosk (audit row with the
    operator and reason; the form's UUID makes a second submission a no-op)."""
    form = await checked_form(request, session)
    person_id = _form_int(form, "person_id")
    item = DoorUndo(uuid=_form_uuid(form), event_id=event_id, person_id=person_id,
                    at=now_iso(), operator=session.account.name,
                    reason=_form_text(form, "reason", MAX_REASON_CHARS) or None)
    console = console_of(request)

    def undo_it() -> tuple[str, str]:
        with console.pool.borrow() as store:
            name = person_name(store, person_id)
            result, _reason = undo_checkin(store, item, console_door(session), any_door=True)
            return result, name if name is not None else str(person_id)

    result, name = await run_in_threadpool(undo_it)
    key = "undone" if result in ("undone", "duplicate") else "not_checked_in"
    return flash(redirect(f"{PREFIX}/events/{event_id}"), key, name=name)


@router.get("/events/{event_id}/attendance.{kind}")
async def download(request: Request, event_id: int, kind: str,
                   session: Session = Depends(current_session)) -> Response:
    """The attendance list of every door as the kiosk exports it (.xlsx or .csv)."""
    if kind not in DOWNLOADS:
        raise ConsoleError(404, "not_found")
    media_type, write = DOWNLOADS[kind]
    console = console_of(request)

    def export() -> bytes:
        with console.pool.borrow() as store:
            if Events(store).event(event_id) is None:
                raise ConsoleError(404, "not_found")
            rows = attendance(RosterSource(store), event_id, event_checkins(store, event_id))
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"attendance.{kind}"
                write(path, rows)
                data = path.read_bytes()
            record_action(store, f"console:{session.account.name}", "export attendance",
                          event_id=event_id, format=kind, rows=len(rows))
        return data

    data = await run_in_threadpool(export)
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="attendance-event-{event_id}.{kind}"'})
