"""``GET /api/v1/health``: the service answers and its database too (no key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from service.routes.common import service_state
from service.state import ServiceState

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health")
def health(state: ServiceState = Depends(service_state)) -> dict[str, Any]:
    with state.pool.borrow() as store:
        return {"status": "ok", "revision": store.data_version()}
