"""``/api/v1/people``: enrolment from photos (through the one enrolment path,
:mod:`kiosk.enrollment`) and deletion, admin keys only."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, UploadFile
from fastapi.responses import JSONResponse

from kiosk.enrollment import LookalikeError, enroll
from service.auth import admin
from service.limits import MAX_ID, MAX_IMAGES
from service.routes.common import encode_upload, read_upload, service_state
from service.state import ServiceState
from service.store.keys import ApiKey

router = APIRouter(prefix="/api/v1/people", tags=["people"])


@router.post("", status_code=201)
async def enroll_person(
    name: str = Form(..., max_length=200),
    external_id: str | None = Form(None, max_length=200),
    allow_duplicate: bool = Form(False),
    images: list[UploadFile] = File(...),
    key: ApiKey = Depends(admin),
    state: ServiceState = Depends(service_state),
) -> Any:
    if not name.strip():
        raise HTTPException(422, "name must not be empty")
    if len(images) > MAX_IMAGES:
        raise HTTPException(413, f"at most {MAX_IMAGES} images per enrolment")
    photos = [await read_upload(image) for image in images]

    samples = [await encode_upload(state, data, label, True) for data, label in photos]

    def work() -> Any:
        with state.gallery_lock:
            try:
                return enroll(state.gallery, state.settings.recognition, name, samples,
                              labels=[label for _, label in photos], external_id=external_id,
                              allow_duplicate=allow_duplicate, actor=f"key:{key.name}")
            except LookalikeError as exc:
                found = exc.lookalike
                return JSONResponse({
                    "error": f"{found.describe()}; send allow_duplicate=true to enrol anyway",
                    "lookalike": {"file": found.label, "person_id": found.person_id,
                                  "name": found.name, "distance": round(found.distance, 4)},
                }, status_code=409)
            except ValueError as exc:
                raise HTTPException(409 if "already" in str(exc) else 422, str(exc)) from exc

    result = await anyio.to_thread.run_sync(work)
    if isinstance(result, JSONResponse):
        return result
    return {"id": result.person_id, "name": name.strip(), "images": result.images}


@router.delete("/{person_id}")
def delete_person(person_id: int = Path(ge=1, le=MAX_ID), key: ApiKey = Depends(admin),
                  state: ServiceState = Depends(service_state)) -> dict[str, Any]:
    with state.gallery_lock:
        try:
            state.gallery.delete_person(person_id, actor=f"key:{key.name}")
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from exc
    return {"deleted": person_id}
