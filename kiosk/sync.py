"""A kiosk connected to the central service: the outbox upload and the replica update.

Each check-in made at this kiosk is queued in the ``outbox`` table of its SQLite file in the
transaction of the check-in itself (:attr:`kiosk.store.checkins.CheckIns.outbox`, switched on by
:func:`attach_outbox`), with a UUID. A sync round (:meth:`SyncClient.run_once`) uploads the
outbox (the server answers once per UUID, so re-sending after a lost answer doubles nothing) and
removes what the server answered, then applies the server's changes since the last revision to
the local gallery in one transaction per page: people, faces and their embeddings keep the
server's ids; a person deleted on the server loses all their biometric data here too. The
kiosk keeps working while the server is away; :class:`BackgroundSync` retries with a doubling
wait (``[server] retry_initial_s`` .. ``retry_max_s``).

Local rolling-update images (``source = 'auto'``) are a cache: one whose id the server now uses
for an enrolment image is replaced by it.

An undo of a check-in made by staff at this kiosk travels the same way: it is queued in the
outbox (``method = 'undo'``) in the transaction of the local undo, and uploaded in order with
the check-ins (to ``POST /api/v1/checkins/undo``), once per UUID.

A kiosk's enrolment goes to the server (:func:`enroll_on_server`): the person exists at every
door or nowhere; the sync that follows brings them here with the server's id.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.config import ServerSettings
from kiosk.store.base import Store, StoreError, embedding_to_blob

log = logging.getLogger(__name__)

REVISION_KEY = "server_revision"
UPLOAD_BATCH = 200
FINAL_RESULTS = {"stored", "already", "duplicate", "unknown_person", "unknown_event",
                 "undone", "not_checked_in"}
UNDO_METHOD = "undo"  # the outbox's ``method`` of a queued undo (check-ins: auto / manual)
OUTBOX_COLUMNS = ("uuid", "event_id", "person_id", "at", "method", "distance", "liveness",
                  "operator", "reason")


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
        return self.status_code is None or self.status_code >= 500

    @property
    def auth_refused(self) -> bool:
        """The key is unknown, revoked, or lacks the role for this call."""
        return self.status_code in (401, 403)


@dataclass
class SyncReport:
    """What one round moved."""

    uploaded: int = 0
    undos: int = 0
    results: dict[str, int] = field(default_factory=dict)
    people: int = 0
    faces: int = 0
    deleted_people: int = 0
    deleted_faces: int = 0
    events: int = 0
    revision: int = 0
    pending: int = 0

    @property
    def gallery_changed(self) -> bool:
        """People, faces or events arrived or were deleted (the matcher must re-read)."""
        return bool(self.people or self.faces or self.deleted_people or self.deleted_faces
                    or self.events)

    def summary(self) -> str:
        """One line for the log and ``sync --once``."""
        results = ", ".join(f"{k} {v}" for k, v in sorted(self.results.items())) or "none"
        return (f"uploaded {self.uploaded} check-ins and {self.undos} undos ({results}), "
                f"{self.pending} waiting; "
                f"received {self.people} people, {self.faces} faces, {self.events} events; "
                f"deleted {self.deleted_people} people, {self.deleted_faces} faces; "
                f"revision {self.revision}")


def attach_outbox(checkins_table: Any) -> None:
    """Queue every new check-in of this table module in the outbox (same transaction)."""
    checkins_table.outbox = True


class SyncClient:
    """One kiosk's link to the service.

    Args:
        settings: ``[server]`` (url, api_key, time-outs).
        store: the kiosk's SQLite store (its own connection: another thread may run the
            pipeline on the same file).
        transport: an httpx transport (tests); default: the network.

    Raises:
        ValueError: no url or no api_key.
    """

    def __init__(self, settings: ServerSettings, store: Store, transport: Any = None) -> None:
        import httpx

        if not settings.url:
            raise ValueError("settings.url is empty: set [server] url or --server")
        if not settings.api_key:
            raise ValueError("settings.api_key is empty: set [server] api_key or --api-key")
        self.settings = settings
        self.store = store
        self.http = httpx.Client(
            base_url=settings.url.rstrip("/"),
            headers={"Authorization": f"Bearer {settings.api_key}"},
            timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            answer = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SyncError(f"{self.settings.url}: the service cannot be reached ({exc})") from exc
        if answer.status_code >= 400:
            details: dict[str, Any] = {}
            try:
                body = answer.json()
                details = body if isinstance(body, dict) else {}
                message = details.get("error", answer.text)
            except ValueError:
                message = answer.text[:200]
            raise SyncError(f"{self.settings.url}{path}: {answer.status_code} {message}",
                            answer.status_code, details)
        return answer.json()

    # -- the outbox ------------------------------------------------------------------------

    def pending(self) -> int:
        """Check-ins waiting to be uploaded."""
        row = self.store.query_one("SELECT count(*) FROM outbox")
        return int(row[0]) if row else 0

    def push(self, report: SyncReport) -> None:
        """Upload the outbox in order, in batches of one kind (check-ins to
        ``/api/v1/checkins``, undos to ``/api/v1/checkins/undo``); what the server answered
        leaves the outbox.

        Raises:
            SyncError: the service could not be reached (the outbox keeps everything).
        """
        while True:
            rows = self.store.query(
                f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox ORDER BY rowid LIMIT ?",
                (UPLOAD_BATCH,),
            )
            if not rows:
                return
            items = [dict(zip(OUTBOX_COLUMNS, row)) for row in rows]
            undo = items[0]["method"] == UNDO_METHOD
            batch = []
            for item in items:  # the leading run of one kind: the order of changes is kept
                if (item["method"] == UNDO_METHOD) != undo:
                    break
                batch.append(item)
            if undo:
                path, body = "/api/v1/checkins/undo", {"undos": [
                    {k: item[k] for k in ("uuid", "event_id", "person_id", "at", "operator",
                                          "reason")} for item in batch]}
            else:
                path, body = "/api/v1/checkins", {"checkins": batch}
            try:
                answer = self._call("POST", path, json=body)
            except SyncError as exc:
                with self.store.transaction() as tx:
                    tx.executemany(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE uuid = ?",
                        [(str(exc)[:500], item["uuid"]) for item in batch],
                    )
                raise
            done = []
            for result in answer.get("results", []):
                outcome = str(result.get("result"))
                report.results[outcome] = report.results.get(outcome, 0) + 1
                if outcome in FINAL_RESULTS:
                    done.append((str(result["uuid"]),))
            with self.store.transaction() as tx:
                tx.executemany("DELETE FROM outbox WHERE uuid = ?", done)
            if undo:
                report.undos += len(done)
            else:
                report.uploaded += len(done)
            if len(done) < len(batch):  # the server kept some back: next round
                return

    # -- the replica -----------------------------------------------------------------------

    def revision(self) -> int:
        row = self.store.query_one("SELECT value FROM settings_store WHERE key = ?",
                                   (REVISION_KEY,))
        return int(row[0]) if row else 0

    def pull(self, report: SyncReport) -> None:
        """Bring the local gallery up to date, page by page.

        Raises:
            SyncError: the service could not be reached, or this gallery holds people or
                events of its own (a connected kiosk needs a gallery that mirrors the server).
        """
        since = self.revision()
        if since == 0:
            own = self.store.query_one(
                "SELECT (SELECT count(*) FROM people) + (SELECT count(*) FROM events)"
            )
            if own and int(own[0]):
                raise SyncError(
                    f"{self.store.name} holds people or events of its own and was never synced; "
                    "a connected kiosk mirrors the server: point [gallery] db_path to a new file"
                )
        deleted = False
        while True:
            changes = self._call("GET", "/api/v1/sync", params={"since": since})
            if int(changes["revision"]) == since and not any(
                changes.get(k) for k in ("people", "faces", "deleted_people", "deleted_faces",
                                         "events")
            ):  # nothing new: no write, so the matchers' "changed by another process" stays quiet
                report.revision = since
                break
            deleted |= self._apply(changes, report)
            since = int(changes["revision"])
            report.revision = since
            if not changes.get("more"):
                break
        if deleted:
            self.store.forget_deleted()

    def _apply(self, changes: dict[str, Any], report: SyncReport) -> bool:
        import base64

        with self.store.transaction() as tx:
            for person_id in changes.get("deleted_people", []):
                tx.execute("DELETE FROM face_embeddings WHERE face_id IN "
                           "(SELECT id FROM faces WHERE person_id = ?)", (person_id,))
                tx.execute("DELETE FROM faces WHERE person_id = ?", (person_id,))
                tx.execute("DELETE FROM checkins WHERE person_id = ?", (person_id,))
                tx.execute("DELETE FROM outbox WHERE person_id = ?", (person_id,))
                tx.execute("DELETE FROM people WHERE id = ?", (person_id,))
            for face_id in changes.get("deleted_faces", []):
                tx.execute("DELETE FROM face_embeddings WHERE face_id = ?", (face_id,))
                tx.execute("DELETE FROM faces WHERE id = ?", (face_id,))
            for person in changes.get("people", []):
                tx.execute(
                    "INSERT INTO people (id, name, external_id, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                    "external_id = excluded.external_id",
                    (person["id"], person["name"], person["external_id"], person["created_at"]),
                )
            for face in changes.get("faces", []):
                crop = base64.b64decode(face["crop_jpeg"]) if face.get("crop_jpeg") else None
                tx.execute("DELETE FROM face_embeddings WHERE face_id = ?", (face["id"],))
                tx.execute("DELETE FROM faces WHERE id = ?", (face["id"],))
                tx.execute(
                    "INSERT INTO faces (id, person_id, crop_jpeg, source, pinned, quality, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (face["id"], face["person_id"], crop, face["source"], face["pinned"],
                     face["quality"], face["created_at"]),
                )
                tx.executemany(
                    "INSERT INTO face_embeddings (face_id, model_id, embedding) VALUES (?, ?, ?)",
                    [(face["id"], e["model_id"],
                      embedding_to_blob(np.frombuffer(base64.b64decode(e["embedding"]), "<f4")))
                     for e in face.get("embeddings", [])],
                )
            for event in changes.get("events", []):
                tx.execute(
                    "INSERT INTO events (id, name, opens_at, closes_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                    "opens_at = excluded.opens_at, closes_at = excluded.closes_at",
                    (event["id"], event["name"], event["opens_at"], event["closes_at"],
                     event["created_at"]),
                )
            tx.execute(
                "INSERT INTO settings_store (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (REVISION_KEY, str(int(changes["revision"]))),
            )
            if changes.get("deleted_people"):
                tx.audit("server", "sync deletions", people=changes["deleted_people"])
        report.people += len(changes.get("people", []))
        report.faces += len(changes.get("faces", []))
        report.deleted_people += len(changes.get("deleted_people", []))
        report.deleted_faces += len(changes.get("deleted_faces", []))
        report.events += len(changes.get("events", []))
        return bool(changes.get("deleted_people") or changes.get("deleted_faces"))

    def run_once(self) -> SyncReport:
        """Upload the outbox, then bring the replica up to date.

        Raises:
            SyncError: the service could not be reached (nothing is lost; try again later).
            StoreError: the local gallery could not be written.
        """
        report = SyncReport()
        try:
            self.push(report)
            self.pull(report)
        finally:
            report.pending = self.pending()
        return report

    # -- service calls for the staff and enrolment screens ----------------------------------

    def enroll(self, name: str, images: Sequence[tuple[str, bytes]], external_id: str | None = None,
              allow_duplicate: bool = False) -> int:
        """Enrol a person on the server (an admin key is needed); returns the new id.

        Raises:
            SyncError: refused (look-alike, bad image, not an admin key) or unreachable.
        """
        data = {"name": name, "allow_duplicate": str(bool(allow_duplicate)).lower()}
        if external_id:
            data["external_id"] = external_id
        answer = self._call("POST", "/api/v1/people", data=data,
                            files=[("images", (n, b, "image/jpeg")) for n, b in images])
        return int(answer["id"])

    def create_event(self, name: str, opens_at: str | None = None,
                     closes_at: str | None = None) -> int:
        """Create an event on the server (an admin key is needed); returns its id. Events of a
        connected kiosk live on the server: a local one could take an id the server gives to
        another event, and the next sync would overwrite it.

        Raises:
            SyncError: refused (bad window, not an admin key) or unreachable.
        """
        answer = self._call("POST", "/api/v1/events",
                            json={"name": name, "opens_at": opens_at, "closes_at": closes_at})
        return int(answer["id"])

    def all_doors(self, event_id: int) -> list[dict[str, Any]]:
        """The attendance of an event at every door, as the server has it: one dict per
        check-in with ``person_id``, ``name``, ``external_id``, ``at``, ``method``,
        ``distance``, ``liveness``, ``operator``, ``reason`` and ``door`` (the name of the key
        that uploaded it)."""
        return list(self._call("GET", f"/api/v1/events/{event_id}/checkins"))

    def attendance(self, event_id: int) -> list[dict[str, Any]]:
        """:meth:`all_doors` with what this kiosk has not uploaded yet (see
        :func:`with_pending`).

        Raises:
            SyncError: the service could not be reached.
        """
        return with_pending(self.all_doors(event_id), self.store, event_id)


def with_pending(server_rows: Sequence[dict[str, Any]], store: Store,
                 event_id: int) -> list[dict[str, Any]]:
    """Every door's check-ins as the server sent them, corrected by this kiosk's outbox: its
    own check-ins not uploaded yet are added (``door`` None, ``pending`` True), people whose
    undo is not uploaded yet are left out. In time order.

    Args:
        server_rows: :meth:`SyncClient.all_doors` of the event.
        store: this kiosk's store (its outbox and check-ins).
        event_id: the event.
    """
    from kiosk.store.checkins import CheckIns

    rows = [dict(row, pending=False) for row in server_rows]
    last_change: dict[int, str] = {}
    for person_id, method in store.query(
        "SELECT person_id, method FROM outbox WHERE event_id = ? ORDER BY rowid", (event_id,)
    ):
        last_change[int(person_id)] = str(method)
    rows = [r for r in rows if last_change.get(int(r["person_id"])) != UNDO_METHOD]
    on_server = {int(r["person_id"]) for r in rows}
    for checkin in CheckIns(store).checkins(event_id):
        person_id = int(checkin["person_id"])
        if last_change.get(person_id, UNDO_METHOD) != UNDO_METHOD and person_id not in on_server:
            rows.append(dict(checkin, door=None, pending=True))
    rows.sort(key=lambda r: str(r["at"]))
    return rows


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


class LinkState(enum.Enum):
    """Where a kiosk stands with the service."""

    STARTING = "starting"  # no round finished yet
    CONNECTED = "connected"  # the last round worked
    OFFLINE = "offline"  # the service cannot be reached (check-ins wait in the outbox)
    REFUSED = "refused"  # the key is unknown, revoked or not allowed
    FAILED = "failed"  # another error (the message says which)


@dataclass(frozen=True)
class SyncStatus:
    """The state after a sync round, for a status line.

    Attributes:
        state: see :class:`LinkState`.
        pending: check-ins and undos waiting in the outbox.
        last_sync_wall_s: ``time.time()`` of the last round that worked (None: never).
        retry_in_s: the wait before the next try after a failure.
        message: the error of a failed round.
        report: what the round moved (a round that worked).
    """

    state: LinkState = LinkState.STARTING
    pending: int = 0
    last_sync_wall_s: float | None = None
    retry_in_s: float | None = None
    message: str = ""
    report: SyncReport | None = None

    def line(self) -> str:
        """One line in English (the log and the headless kiosk; the GUI words its own)."""
        if self.state is LinkState.CONNECTED:
            at = time.strftime("%H:%M:%S", time.localtime(self.last_sync_wall_s or 0))
            return f"server: connected, last sync {at}, {self.pending} waiting"
        if self.state is LinkState.OFFLINE:
            return f"server offline: {self.pending} check-ins waiting"
        if self.state is LinkState.REFUSED:
            return f"server refused this kiosk's key: {self.message}"
        if self.state is LinkState.FAILED:
            return f"sync failed: {self.message}"
        return "server: connecting"


class BackgroundSync(threading.Thread):
    """Sync rounds every ``sync_interval_s``, with a doubling wait after failures.

    Args:
        settings: ``[server]``.
        store_factory: opens the kiosk's store (called in this thread).
        on_round: called in this thread after every round with the :class:`SyncStatus`.

    Attributes:
        sync_status: the state after the last round.
        last_report: the report of the last successful round.
    """

    def __init__(self, settings: ServerSettings, store_factory: Callable[[], Store],
                 on_round: Callable[[SyncStatus], None] | None = None) -> None:
        super().__init__(name="server-sync", daemon=True)
        self.settings = settings
        self.store_factory = store_factory
        self.on_round = on_round
        self.sync_status = SyncStatus()
        self.last_report: SyncReport | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._watched: int | None = None
        self._attendance: tuple[int, list[dict[str, Any]]] | None = None

    @property
    def status(self) -> str:
        """:meth:`SyncStatus.line` of the last round."""
        return self.sync_status.line()

    def stop(self, timeout_s: float = 10.0) -> None:
        """End the loop (a round under way finishes first) and wait for the thread."""
        self._stopping.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout_s)

    def sync_now(self) -> None:
        """Run a round without waiting for the interval (after a check-in)."""
        self._wake.set()

    def watch_event(self, event_id: int | None) -> None:
        """Fetch this event's attendance at every door with each round (None: stop)."""
        with self._lock:
            self._watched = event_id
            if self._attendance is not None and self._attendance[0] != event_id:
                self._attendance = None

    def attendance(self, event_id: int, store: Store) -> list[dict[str, Any]] | None:
        """The attendance at every door fetched by the last round, corrected by the outbox
        of ``store`` as it is now (:func:`with_pending`); None when that round failed or
        fetched another event."""
        with self._lock:
            if self._attendance is None or self._attendance[0] != event_id:
                return None
            rows = list(self._attendance[1])
        return with_pending(rows, store, event_id)

    def run(self) -> None:
        try:
            store = self.store_factory()
        except StoreError as exc:  # said in the status line instead of ending silently
            log.error("sync: %s", exc)
            self.sync_status = SyncStatus(LinkState.FAILED, message=str(exc).splitlines()[0])
            if self.on_round is not None:
                self.on_round(self.sync_status)
            return
        client = SyncClient(self.settings, store)
        wait_s = self.settings.retry_initial_s
        last_ok: float | None = None
        try:
            while not self._stopping.is_set():
                try:
                    report = client.run_once()
                    with self._lock:
                        watched = self._watched
                    rows = client.all_doors(watched) if watched is not None else None
                    with self._lock:
                        self._attendance = (watched, rows) if rows is not None else None
                    self.last_report = report
                    last_ok = time.time()
                    status = SyncStatus(LinkState.CONNECTED, report.pending, last_ok,
                                        report=report)
                    wait_s = self.settings.retry_initial_s
                    delay_s = self.settings.sync_interval_s
                    if report.uploaded or report.undos or report.gallery_changed:
                        log.info("sync: %s", report.summary())
                except (SyncError, StoreError) as exc:
                    with self._lock:
                        self._attendance = None
                    if isinstance(exc, SyncError) and exc.auth_refused:
                        state = LinkState.REFUSED
                    elif isinstance(exc, SyncError) and exc.unreachable:
                        state = LinkState.OFFLINE
                    else:
                        state = LinkState.FAILED
                    status = SyncStatus(state, self._pending(client), last_ok, wait_s,
                                        str(exc).splitlines()[0][:300])
                    log.warning("sync: %s", exc)
                    delay_s = wait_s
                    wait_s = min(wait_s * 2, self.settings.retry_max_s)
                except Exception as exc:  # noqa: BLE001 - the thread must survive a bad answer
                    log.exception("sync round failed")
                    status = SyncStatus(LinkState.FAILED, self._pending(client), last_ok, wait_s,
                                        f"{type(exc).__name__}: {exc}"[:300])
                    delay_s = wait_s
                    wait_s = min(wait_s * 2, self.settings.retry_max_s)
                self.sync_status = status
                if self.on_round is not None:
                    try:
                        self.on_round(status)
                    except Exception:  # noqa: BLE001
                        log.exception("the sync round's listener failed")
                self._wake.wait(delay_s)
                self._wake.clear()
        finally:
            client.close()
            store.close()

    @staticmethod
    def _pending(client: SyncClient) -> int:
        try:
            return client.pending()
        except StoreError:
            return 0
