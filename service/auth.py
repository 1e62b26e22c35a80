"""The caller of a request as FastAPI dependencies: the key :class:`service.guard.Guard` found
(from the headers, before the body), and the admin role where a route needs it.

A kiosk key may sync, post check-ins and undo its own door's, identify and read events;
enrolment, deletion, events and face crops need an admin key.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request

from service.guard import KEY_STATE
from service.store.keys import ApiKey


def caller(request: Request) -> ApiKey:
    """The request's key (the guard refused requests without a live one)."""
    key = getattr(request.state, KEY_STATE, None)
    if key is None:  # a route outside the guard's prefix: never by design
        raise HTTPException(401, "an API key is required: Authorization: Bearer KEY",
                            headers={"WWW-Authenticate": "Bearer"})
    return key


def admin(key: ApiKey = Depends(caller)) -> ApiKey:
    if key.role != "admin":
        raise HTTPException(403, "this needs an admin key")
    return key
