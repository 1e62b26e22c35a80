"""What the routers share: the process's :class:`service.state.ServiceState`, reading and
decoding uploaded photos within the limits."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, UploadFile

from service.limits import MAX_IMAGE_BYTES
from service.state import ServiceState


def service_state(request: Request) -> ServiceState:
    return request.app.state.service


async def read_upload(upload: UploadFile) -> tuple[bytes, str]:
    """The bytes and file name of one uploaded photo.

    Raises:
        HTTPException: 413 when it is larger than :data:`MAX_IMAGE_BYTES`.
    """
    data = await upload.read(MAX_IMAGE_BYTES + 1)
    name = upload.filename or "image"
    if len(data) > MAX_IMAGE_BYTES:
        raise HTTPException(413, f"{name}: larger than {MAX_IMAGE_BYTES} bytes")
    return data, name


async def encode_upload(state: ServiceState, data: bytes, name: str, single: bool) -> Any:
    """The face sample of one uploaded photo, decoded and encoded in the CPU pool.

    Raises:
        HTTPException: 422 for a photo without a usable face, or not a photo; 503 when the
            pool is full.
    """
    from kiosk.images import ImageError

    try:
        return await state.encode(data, name, single)
    except ImageError as exc:
        raise HTTPException(422, str(exc)) from exc
