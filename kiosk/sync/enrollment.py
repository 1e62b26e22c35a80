"""Enrolment at a connected kiosk: the photos go to the service (``POST /api/v1/people``), which
enrols through the one enrolment path (:mod:`kiosk.enrollment`); then a sync round brings the
person here with the service's id. The person exists at every door or nowhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kiosk.store.base import StoreError
from kiosk.sync.client import SyncError
from kiosk.sync.rounds import SyncClient, SyncReport

log = logging.getLogger(__name__)


class EnrollmentRefused(ValueError):
    """The server did not enrol the person; nothing was enrolled anywhere.

    Attributes:
        kind: ``lookalike`` (a photo looks like someone enrolled), ``not_admin`` (this key may
            not enrol), ``key_refused`` (unknown or revoked key), ``unreachable`` (the service
            is down or cannot be reached) or ``refused`` (a bad photo, an external id already
            enrolled...; the message says which).
        lookalike: for ``lookalike``: ``file``, ``person_id``, ``name``, ``distance``.
        server_message: the server's own message (``refused``).
    """

    def __init__(self, message: str, kind: str, lookalike: dict[str, Any] | None = None,
                 server_message: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.lookalike = lookalike
        self.server_message = server_message


def enrollment_refusal(exc: SyncError, url: str) -> EnrollmentRefused:
    """The clear message for a server's refusal of an enrolment."""
    nothing = "nothing was enrolled"
    if exc.unreachable:
        return EnrollmentRefused(
            f"the service {url} cannot be reached, so {nothing}: enrolment at a connected kiosk "
            "goes to the service (a person enrolled only here would never reach the other "
            "doors); try again when the service is back", "unreachable")
    if exc.status_code == 403:
        return EnrollmentRefused(
            f"this kiosk's key may not enrol ({nothing}): enrolment needs an admin key "
            "(`keys create --role admin`) in [server] api_key or --api-key", "not_admin")
    if exc.status_code == 401:
        return EnrollmentRefused(
            f"the service refused this kiosk's key (unknown or revoked), so {nothing}",
            "key_refused")
    found = exc.details.get("lookalike")
    if exc.status_code == 409 and isinstance(found, dict):
        return EnrollmentRefused(
            f"{found.get('file')} looks like person {found.get('person_id')} "
            f"({found.get('name')}), distance {float(found.get('distance', 0.0)):.3f}; {nothing}",
            "lookalike", found)
    message = str(exc.details.get("error") or exc)
    return EnrollmentRefused(f"the service refused the enrolment: {message}; {nothing}",
                            "refused", server_message=message)


def enroll_on_server(
    client: SyncClient, name: str, images: Sequence[tuple[str, bytes]],
    external_id: str | None = None, allow_duplicate: bool = False,
) -> tuple[int, SyncReport | None]:
    """Enrol a person on the server (``POST /api/v1/people``), then sync, so that the person
    is in this kiosk's gallery with the server's id.

    Args:
        client: the kiosk's link (its key must be an admin key).
        name: the person's name.
        images: (file name, JPEG or PNG bytes) of each photo; the server finds the one face.
        external_id: the roster id, if any.
        allow_duplicate: enrol even when a photo looks like someone enrolled.

    Returns:
        The person's id and the report of the sync that followed (None when that sync failed:
        the person is on the server and arrives here at the next round).

    Raises:
        EnrollmentRefused: the server did not enrol (see its ``kind``); nothing was enrolled.
    """
    if not images:
        raise ValueError("images is empty: give at least one photo")
    try:
        person_id = client.enroll(name, images, external_id, allow_duplicate)
    except SyncError as exc:
        raise enrollment_refusal(exc, client.settings.url) from exc
    try:
        report: SyncReport | None = client.run_once()
    except (SyncError, StoreError) as exc:
        log.warning("person %d enrolled on the server; the sync that followed failed: %s",
                    person_id, exc)
        report = None
    return person_id, report

