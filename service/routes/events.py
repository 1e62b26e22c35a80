"""``/api/v1/events``: events (created by admin keys, read by any) and an event's attendance
at every door."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from kiosk.names import MAX_NAME_CHARS
from kiosk.store.events import Events
from service.auth import admin, caller
from service.limits import MAX_ID
from service.routes.common import service_state
from service.state import ServiceState
from service.store.keys import ApiKey
from service.store.receipts import attendance

router = APIRouter(prefix="/api/v1/events", tags=["events"])


class EventIn(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    opens_at: str | None = Field(default=None, max_length=64)
    closes_at: str | None = Field(default=None, max_length=64)


@router.post("", status_code=201)
def create_event(event: EventIn, key: ApiKey = Depends(admin),
                 state: ServiceState = Depends(service_state)) -> dict[str, Any]:
    with state.pool.borrow() as store:
        events = Events(store)
        try:
            event_id = events.create_event(event.name, event.opens_at, event.closes_at,
                                           actor=f"key:{key.name}")
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return dict(events.event(event_id) or {})


@router.get("")
def list_events(_key: ApiKey = Depends(caller),
                state: ServiceState = Depends(service_state)) -> list[dict[str, Any]]:
    with state.pool.borrow() as store:
        return Events(store).events()


@router.get("/{event_id}/checkins")
def event_checkins(event_id: int = Path(ge=1, le=MAX_ID), _key: ApiKey = Depends(caller),
                   state: ServiceState = Depends(service_state)) -> list[dict[str, Any]]:
    with state.pool.borrow() as store:
        rows = attendance(store, event_id)
    if rows is None:
        raise HTTPException(404, f"no event with id {event_id}")
    return rows
