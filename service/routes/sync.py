"""``GET /api/v1/sync``: what changed after a revision, for a kiosk's replica. Face crops go
to admin keys only: a door matches with the embeddings (the service re-embeds stored crops
itself when a model is added), so a door's key never downloads a face picture."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from service.auth import caller
from service.limits import MAX_ID
from service.routes.common import service_state
from service.state import ServiceState
from service.store.changes import changes_since
from service.store.keys import ApiKey

router = APIRouter(prefix="/api/v1", tags=["sync"])


@router.get("/sync")
def sync(since: int = Query(0, ge=0, le=MAX_ID), key: ApiKey = Depends(caller),
         state: ServiceState = Depends(service_state)) -> dict[str, Any]:
    with_crops = state.settings.gallery.store_face_crops and key.role == "admin"
    with state.pool.borrow() as store:
        return changes_since(store, since, with_crops)
