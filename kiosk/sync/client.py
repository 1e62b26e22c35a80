"""The REST client of the central service's API (``/api/v1``): one method per call, errors as
:class:`SyncError`. It knows HTTP and JSON, nothing of the kiosk's tables.

httpx is a base dependency of the kiosk (pure Python, small): a kiosk is connected by a
setting (``[server] url``, or the settings dialog) without installing anything more, and the
client gets time-outs, keep-alive connections and multipart uploads for enrolment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kiosk.config import ServerSettings
from kiosk.sync.report import MODEL_HEADER, OUTBOX_HEADER, clean_model


class SyncError(RuntimeError):
    """The server cannot be reached or refused the kiosk (the message says why).

    Attributes:
        status_code: the HTTP status of a refusal; None when the service was not reached.
        details: the JSON body of the refusal (``{"error": ...}`` and any details).
    """

    def __init__(self, message: str, status_code: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.details = details or {}

    @property
    def unreachable(self) -> bool:
        """The service was not reached or is not serving right now (try again later)."""
        return self.status_code is None or self.status_code >= 500 or self.status_code == 429

    @property
    def auth_refused(self) -> bool:
        """The key is unknown, revoked, or lacks the role for this call."""
        return self.status_code in (401, 403)

    @property
    def refused_request(self) -> bool:
        """The service read the request and refused what it says (4xx other than the key,
        a missing resource or too many requests): sending it again changes nothing."""
        return (self.status_code is not None and 400 <= self.status_code < 500
                and not self.auth_refused and self.status_code not in (404, 408, 429))


class ServiceApi:
    """The service's API for one kiosk key.

    Args:
        settings: ``[server]`` (url, api_key, time-outs).
        transport: an httpx transport (tests); default: the network.
        model: this kiosk's model settings (:func:`kiosk.sync.report.model_report`), sent
            with every request in ``X-Kiosk-Model``; "" sends none.

    Raises:
        ValueError: no url or no api_key.
    """

    def __init__(self, settings: ServerSettings, transport: Any = None, model: str = "") -> None:
        import httpx

        if not settings.url:
            raise ValueError("settings.url is empty: set [server] url or --server")
        if not settings.api_key:
            raise ValueError("settings.api_key is empty: set [server] api_key or --api-key")
        self.url = settings.url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {settings.api_key}"},
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            transport=transport,
        )
        model_text = clean_model(model)
        if model_text:
            self.http.headers[MODEL_HEADER] = model_text

    def report_outbox(self, waiting: int) -> None:
        """Send ``waiting`` (check-ins and undos in the outbox) with every request from now on,
        in ``X-Kiosk-Outbox``."""
        self.http.headers[OUTBOX_HEADER] = str(max(0, int(waiting)))

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; the JSON answer.

        Raises:
            SyncError: not reached, or an answer of 400 or more.
        """
        import httpx

        try:
            answer = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SyncError(f"{self.url}: the service cannot be reached ({exc})") from exc
        if answer.status_code >= 400:
            details: dict[str, Any] = {}
            try:
                body = answer.json()
                details = body if isinstance(body, dict) else {}
                message = details.get("error", answer.text)
            except ValueError:
                message = answer.text[:200]
            raise SyncError(f"{self.url}{path}: {answer.status_code} {message}",
                            answer.status_code, details)
        return answer.json()

    def post_checkins(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upload check-ins; the service's answer per item (``uuid``, ``result``, ``reason``)."""
        return list(self.call("POST", "/api/v1/checkins", json={"checkins": list(items)})
                    .get("results", []))

    def post_undos(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upload undos of check-ins; the service's answer per item."""
        return list(self.call("POST", "/api/v1/checkins/undo", json={"undos": list(items)})
                    .get("results", []))

    def changes(self, since: int) -> dict[str, Any]:
        """One page of what changed after revision ``since`` (``GET /api/v1/sync``)."""
        return dict(self.call("GET", "/api/v1/sync", params={"since": since}))

    def enroll(self, name: str, images: Sequence[tuple[str, bytes]],
               external_id: str | None = None, allow_duplicate: bool = False) -> int:
        """Enrol a person (an admin key is needed); returns the new id."""
        data = {"name": name, "allow_duplicate": str(bool(allow_duplicate)).lower()}
        if external_id:
            data["external_id"] = external_id
        answer = self.call("POST", "/api/v1/people", data=data,
                           files=[("images", (n, b, "image/jpeg")) for n, b in images])
        return int(answer["id"])

    def create_event(self, name: str, opens_at: str | None = None,
                     closes_at: str | None = None) -> int:
        """Create an event (an admin key is needed); returns its id."""
        answer = self.call("POST", "/api/v1/events",
                           json={"name": name, "opens_at": opens_at, "closes_at": closes_at})
        return int(answer["id"])

    def attendance(self, event_id: int) -> list[dict[str, Any]]:
        """Every door's check-ins of an event (``GET /api/v1/events/ID/checkins``)."""
        return list(self.call("GET", f"/api/v1/events/{event_id}/checkins"))
