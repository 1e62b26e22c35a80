"""``/api/v1/checkins``: batches of check-ins and of undos from doors, each item judged on its
own: ``stored``, ``already``, ``duplicate``, ``unknown_person``, ``unknown_event``, ``undone``,
``not_checked_in``, or ``rejected`` with a ``reason`` (a field the service refuses, a time far
from its clock, another door's check-in). A rejected item never holds back the others, and a
door drops it from its outbox, keeping the reason for staff.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuid_module
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kiosk.store.checkins import MAX_OPERATOR_CHARS, MAX_REASON_CHARS, MAX_TIME_CHARS, clean_note
from service.auth import caller
from service.limits import CHECKIN_MAX_AGE_S, CHECKIN_MAX_AHEAD_S, MAX_BATCH, MAX_ID
from service.routes.common import service_state
from service.state import ServiceState
from service.store.keys import ApiKey
from service.store.receipts import DoorCheckIn, DoorUndo, store_checkin, undo_checkin

router = APIRouter(prefix="/api/v1/checkins", tags=["checkins"])
REJECTED = "rejected"


def checked_time(text: str, now: dt.datetime | None = None) -> str:
    """A check-in time as a door sends it: ISO 8601 with an offset, not later than the
    service's clock plus :data:`CHECKIN_MAX_AHEAD_S` nor older than :data:`CHECKIN_MAX_AGE_S`.

    Raises:
        ValueError: saying which rule it breaks.
    """
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise ValueError("the time has no offset (example: 2026-11-23T09:00:00+01:00)")
    now = now or dt.datetime.now(dt.timezone.utc)
    ahead_s = (value - now).total_seconds()
    if ahead_s > CHECKIN_MAX_AHEAD_S:
        raise ValueError(f"the time is {ahead_s:.0f} s ahead of the service's clock (at most "
                         f"{CHECKIN_MAX_AHEAD_S} s); check the door's clock")
    if -ahead_s > CHECKIN_MAX_AGE_S:
        raise ValueError(f"the time is more than {CHECKIN_MAX_AGE_S // 86400} days old")
    return value.isoformat()


class _DoorItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    uuid: uuid_module.UUID
    event_id: int = Field(ge=1, le=MAX_ID)
    person_id: int = Field(ge=1, le=MAX_ID)
    at: str = Field(min_length=1, max_length=MAX_TIME_CHARS)
    operator: str | None = None
    reason: str | None = None

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        return checked_time(value)

    @field_validator("operator")
    @classmethod
    def _operator(cls, value: str | None) -> str | None:
        return clean_note(value, "the operator", MAX_OPERATOR_CHARS)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        return clean_note(value, "the reason", MAX_REASON_CHARS)


class CheckInItem(_DoorItem):
    """One check-in made at a door (the UUID makes re-sending it harmless)."""

    method: str = Field(default="auto", pattern="^(auto|manual)$")
    distance: float | None = Field(default=None, allow_inf_nan=False)
    liveness: float | None = Field(default=None, allow_inf_nan=False)


class UndoItem(_DoorItem):
    """The undo of a check-in, made by staff at a door."""


class CheckInBatch(BaseModel):
    checkins: list[Any] = Field(max_length=MAX_BATCH)


class UndoBatch(BaseModel):
    undos: list[Any] = Field(max_length=MAX_BATCH)


def _reason_of(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid item"


def _judge(raw: Any, model: type[_DoorItem], handle: Callable[[Any], tuple[str, str | None]]
           ) -> dict[str, Any]:
    """One item's answer: the handler's result, or ``rejected`` with the reason."""
    uuid = raw.get("uuid") if isinstance(raw, dict) else None
    try:
        item = model.model_validate(raw)
    except ValidationError as exc:
        return {"uuid": str(uuid) if uuid is not None else None, "result": REJECTED,
                "reason": _reason_of(exc)}
    result, reason = handle(item)
    answer: dict[str, Any] = {"uuid": str(item.uuid), "result": result}
    if reason:
        answer["reason"] = reason
    return answer


@router.post("")
def post_checkins(batch: CheckInBatch, key: ApiKey = Depends(caller),
                  state: ServiceState = Depends(service_state)) -> dict[str, Any]:
    with state.pool.borrow() as store:
        def handle(item: CheckInItem) -> tuple[str, str | None]:
            return store_checkin(store, DoorCheckIn(**item.model_dump()), key.name), None

        return {"results": [_judge(raw, CheckInItem, handle) for raw in batch.checkins]}


@router.post("/undo")
def post_undos(batch: UndoBatch, key: ApiKey = Depends(caller),
               state: ServiceState = Depends(service_state)) -> dict[str, Any]:
    """Undo check-ins, each once: a door's key undoes its own door's check-ins, an admin key
    any door's."""
    with state.pool.borrow() as store:
        def handle(item: UndoItem) -> tuple[str, str | None]:
            return undo_checkin(store, DoorUndo(**item.model_dump()), key.name,
                                any_door=key.role == "admin")

        return {"results": [_judge(raw, UndoItem, handle) for raw in batch.undos]}
