"""``POST /api/v1/identify``: who is in a photo (any key). Decoding and the models run in the
CPU pool, matching in a thread: never on the event loop."""

from __future__ import annotations

from typing import Any

import anyio
import numpy as np
from fastapi import APIRouter, Depends, File, UploadFile

from kiosk.matching.rule import match_threshold
from service.auth import caller
from service.routes.common import encode_upload, read_upload, service_state
from service.state import ServiceState
from service.store.keys import ApiKey

router = APIRouter(prefix="/api/v1", tags=["identify"])


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


@router.post("/identify")
async def identify(image: UploadFile = File(...), _key: ApiKey = Depends(caller),
                   state: ServiceState = Depends(service_state)) -> dict[str, Any]:
    data, name = await read_upload(image)
    recognition = state.settings.recognition

    sample = await encode_upload(state, data, name, False)

    def work() -> dict[str, Any]:
        with state.gallery_lock:
            match = state.gallery.match(sample.embeddings, match_threshold(recognition),
                                        recognition.min_margin)
            person = (state.gallery.person(match.person_id)
                      if match.person_id is not None else None)
        return {"matches": [{
            "person_id": match.person_id if match.accepted else None,
            "name": person.name if person and match.accepted else None,
            "nearest_person_id": match.person_id,
            "distance": _finite(match.distance), "margin": _finite(match.margin),
            "accepted": bool(match.accepted),
        }]}

    return await anyio.to_thread.run_sync(work)
