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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.config import ServerSettings
from kiosk.store.base import Store, StoreError, embedding_to_blob

log = logging.getLogger(__name__)

REVISION_KEY = "server_revision"
UPLOAD_BATCH = 200
FINAL_RESULTS = {"stored", "already", "duplicate", "unknown_person", "unknown_event"}


class SyncError(RuntimeError):
    """The server cannot be reached or refused the kiosk (the message says why)."""


@dataclass
class SyncReport:
    """What one round moved."""

    uploaded: int = 0
    results: dict[str, int] = field(default_factory=dict)
    people: int = 0
    faces: int = 0
    deleted_people: int = 0
    deleted_faces: int = 0
    events: int = 0
    revision: int = 0
    pending: int = 0

    def summary(self) -> str:
        """One line for the log and ``sync --once``."""
        results = ", ".join(f"{k} {v}" for k, v in sorted(self.results.items())) or "none"
        return (f"uploaded {self.uploaded} check-ins ({results}), {self.pending} waiting; "
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
            try:
                message = answer.json().get("error", answer.text)
            except ValueError:
                message = answer.text[:200]
            raise SyncError(f"{self.settings.url}{path}: {answer.status_code} {message}")
        return answer.json()

    # -- the outbox ------------------------------------------------------------------------

    def pending(self) -> int:
        """Check-ins waiting to be uploaded."""
        row = self.store.query_one("SELECT count(*) FROM outbox")
        return int(row[0]) if row else 0

    def push(self, report: SyncReport) -> None:
        """Upload the outbox in batches; what the server answered leaves the outbox.

        Raises:
            SyncError: the service could not be reached (the outbox keeps everything).
        """
        columns = ("uuid", "event_id", "person_id", "at", "method", "distance", "liveness",
                   "operator", "reason")
        while True:
            rows = self.store.query(
                f"SELECT {', '.join(columns)} FROM outbox ORDER BY at, uuid LIMIT ?",
                (UPLOAD_BATCH,),
            )
            if not rows:
                return
            batch = [dict(zip(columns, row)) for row in rows]
            try:
                answer = self._call("POST", "/api/v1/checkins", json={"checkins": batch})
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

    def enrol(self, name: str, images: Sequence[tuple[str, bytes]], external_id: str | None = None,
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

    def all_doors(self, event_id: int) -> list[dict[str, Any]]:
        """The attendance of an event at every door (with the door)."""
        return list(self._call("GET", f"/api/v1/events/{event_id}/checkins"))


class BackgroundSync(threading.Thread):
    """Sync rounds every ``sync_interval_s``, with a doubling wait after failures.

    Attributes:
        status: one line for a status bar ("synced ...", "server unreachable ...").
        last_report: the report of the last successful round.
    """

    def __init__(self, settings: ServerSettings, store_factory: Any, on_round: Any = None) -> None:
        super().__init__(name="server-sync", daemon=True)
        self.settings = settings
        self.store_factory = store_factory
        self.on_round = on_round
        self.status = "not synced yet"
        self.last_report: SyncReport | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout_s)

    def sync_now(self) -> None:
        """Run a round without waiting for the interval (after a check-in)."""
        self._wake.set()

    def run(self) -> None:
        store = self.store_factory()
        client = SyncClient(self.settings, store)
        wait_s = self.settings.retry_initial_s
        try:
            while not self._stopping.is_set():
                try:
                    report = client.run_once()
                    self.last_report = report
                    self.status = f"server: synced, {report.pending} check-ins waiting"
                    wait_s = self.settings.retry_initial_s
                    delay_s = self.settings.sync_interval_s
                    if report.uploaded or report.people or report.deleted_people:
                        log.info("sync: %s", report.summary())
                except (SyncError, StoreError) as exc:
                    self.status = f"server unreachable, retry in {wait_s:.0f} s"
                    log.warning("sync: %s", exc)
                    delay_s = wait_s
                    wait_s = min(wait_s * 2, self.settings.retry_max_s)
                except Exception:  # noqa: BLE001 - the thread must survive a bad answer
                    log.exception("sync round failed")
                    delay_s = wait_s
                    wait_s = min(wait_s * 2, self.settings.retry_max_s)
                if self.on_round is not None:
                    self.on_round(self.status)
                self._wake.wait(delay_s)
                self._wake.clear()
        finally:
            client.close()
            store.close()
