"""What the routers share: the process's :class:`service.state.ServiceState`, reading and
decoding uploaded photos within the limits."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, UploadFile

from service.limits import MAX_DECODE_PIXELS, MAX_IMAGE_BYTES
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


def encode_upload(state: ServiceState, data: bytes, name: str, single: bool) -> Any:
    """Decode a photo (its header checked first: at most :data:`MAX_DECODE_PIXELS`) and encode
    its face; runs in the CPU pool.

    Raises:
        HTTPException: 422 for a photo without a usable face, or not a photo.
    """
    from kiosk.images import ImageError, decode_image

    try:
        frame_bgr = decode_image(data, name, max_bytes=MAX_IMAGE_BYTES,
                                 max_pixels=MAX_DECODE_PIXELS)
        return state.encoder().encode_photo(frame_bgr, name, single=single)
    except ImageError as exc:
        raise HTTPException(422, str(exc)) from exc
