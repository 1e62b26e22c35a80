"""One sync round of a connected kiosk: upload the outbox, then bring the replica up to date.

Each check-in or undo made at this kiosk waits in the outbox (:mod:`kiosk.store.outbox`) with a
UUID; :meth:`SyncClient.push` uploads it in order, and the service answers each item on its
own (stored, already, duplicate, undone, ... or rejected with a reason). What the service
answered leaves the outbox; what it rejected is set aside with the reason, for staff to see
(:meth:`kiosk.store.outbox.Outbox.rejected`), so one bad item never holds back the others.
A push that fails (the service away) never stops the pull: deletions made on the service
reach this kiosk even while its uploads wait. :meth:`SyncClient.pull` writes the service's
changes page by page (:mod:`kiosk.store.replica`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.config import ServerSettings
from kiosk.store.base import Store
from kiosk.store.outbox import UNDO_METHOD, Outbox
from kiosk.store.replica import Replica, ReplicaFace, ReplicaPage
from kiosk.sync.client import ServiceApi, SyncError

UPLOAD_BATCH = 200
FINAL_RESULTS = {"stored", "already", "duplicate", "unknown_person", "unknown_event",
                 "undone", "not_checked_in"}
REJECTED = "rejected"  # the service refuses this item for good (its ``reason`` says why)
UNDO_FIELDS = ("uuid", "event_id", "person_id", "at", "operator", "reason")


@dataclass
class SyncReport:
    """What one round moved."""

    uploaded: int = 0
    undos: int = 0
    rejected: int = 0
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
                f"{self.pending} waiting, {self.rejected} rejected; "
                f"received {self.people} people, {self.faces} faces, {self.events} events; "
                f"deleted {self.deleted_people} people, {self.deleted_faces} faces; "
                f"revision {self.revision}")


def attach_outbox(checkins_table: Any) -> None:
    """Queue every new check-in of this table module in the outbox (same transaction)."""
    checkins_table.outbox = True


def decode_page(changes: dict[str, Any]) -> ReplicaPage:
    """The service's JSON page of changes as a :class:`ReplicaPage` (embeddings are float32
    little-endian bytes in base64)."""
    faces = []
    for face in changes.get("faces", []):
        faces.append(ReplicaFace(
            id=int(face["id"]), person_id=int(face["person_id"]), source=face["source"],
            pinned=int(face["pinned"]), quality=face.get("quality"),
            created_at=face["created_at"],
            crop_jpeg=base64.b64decode(face["crop_jpeg"]) if face.get("crop_jpeg") else None,
            embeddings={e["model_id"]: np.frombuffer(base64.b64decode(e["embedding"]), "<f4")
                        for e in face.get("embeddings", [])},
        ))
    return ReplicaPage(
        revision=int(changes["revision"]),
        people=[(int(p["id"]), p["name"], p["external_id"], p["created_at"])
                for p in changes.get("people", [])],
        faces=faces,
        deleted_people=[int(i) for i in changes.get("deleted_people", [])],
        deleted_faces=[int(i) for i in changes.get("deleted_faces", [])],
        events=[(int(e["id"]), e["name"], e["opens_at"], e["closes_at"], e["created_at"])
                for e in changes.get("events", [])],
    )


class SyncClient:
    """One kiosk's link to the service: its outbox and replica, and the service's API.

    Args:
        settings: ``[server]`` (url, api_key, time-outs).
        store: the kiosk's SQLite store (its own connection: another thread may run the
            pipeline on the same file).
        transport: an httpx transport (tests); default: the network.
        model: this kiosk's model settings (:func:`kiosk.sync.report.model_report`), reported
            to the service with every request; each round also reports its outbox.

    Raises:
        ValueError: no url or no api_key.
    """

    def __init__(self, settings: ServerSettings, store: Store, transport: Any = None,
                 model: str = "") -> None:
        self.api = ServiceApi(settings, transport, model)
        self.settings = settings
        self.store = store
        self.outbox = Outbox(store)
        self.replica = Replica(store)

    def close(self) -> None:
        self.api.close()

    def pending(self) -> int:
        """Check-ins and undos waiting to be uploaded."""
        return self.outbox.pending()

    # -- the outbox ------------------------------------------------------------------------

    def push(self, report: SyncReport) -> None:
        """Upload the outbox in order, in batches of one kind; each item answered by the
        service leaves the outbox, each item it rejects is set aside with the reason.

        Raises:
            SyncError: the service could not be reached or refused the key (the outbox
                keeps everything not answered).
        """
        while True:
            items = self.outbox.oldest(UPLOAD_BATCH)
            if not items:
                return
            self.api.report_outbox(self.pending())
            undo = items[0]["method"] == UNDO_METHOD
            batch = []
            for item in items:  # the leading run of one kind: the order of changes is kept
                if (item["method"] == UNDO_METHOD) != undo:
                    break
                batch.append({k: item[k] for k in UNDO_FIELDS} if undo else item)
            try:
                answers = self._upload(batch, undo)
            except SyncError as exc:
                self.outbox.record_failure([item["uuid"] for item in batch], str(exc))
                raise
            done, rejected = [], []
            for answer in answers:
                outcome = str(answer.get("result"))
                report.results[outcome] = report.results.get(outcome, 0) + 1
                if outcome in FINAL_RESULTS:
                    done.append(str(answer["uuid"]))
                elif outcome == REJECTED:
                    rejected.append((str(answer["uuid"]), str(answer.get("reason") or outcome)))
            self.outbox.settle(done, rejected)
            report.rejected += len(rejected)
            if undo:
                report.undos += len(done)
            else:
                report.uploaded += len(done)
            if len(done) + len(rejected) < len(batch):  # the server kept some back: next round
                return

    def _upload(self, batch: Sequence[dict[str, Any]], undo: bool) -> list[dict[str, Any]]:
        """The service's answer per item. When it refuses the whole request (an older
        service validates a batch as one), each item is sent alone, and an item refused on
        its own is answered ``rejected`` with the service's message."""
        send = self.api.post_undos if undo else self.api.post_checkins
        try:
            return send(batch)
        except SyncError as exc:
            if not exc.refused_request or len(batch) == 1:
                if exc.refused_request:
                    return [{"uuid": batch[0]["uuid"], "result": REJECTED,
                             "reason": str(exc.details.get("error") or exc)}]
                raise
        answers = []
        for item in batch:
            answers.extend(self._upload([item], undo))
        return answers

    # -- the replica -----------------------------------------------------------------------

    def revision(self) -> int:
        return self.replica.revision()

    def pull(self, report: SyncReport) -> None:
        """Bring the local gallery up to date, page by page.

        Raises:
            SyncError: the service could not be reached, or this gallery holds people or
                events of its own (a connected kiosk needs a gallery that mirrors the server).
        """
        since = self.replica.revision()
        if since == 0 and self.replica.holds_own_data():
            raise SyncError(
                f"{self.store.name} holds people or events of its own and was never synced; "
                "a connected kiosk mirrors the server: point [gallery] db_path to a new file"
            )
        deleted = False
        while True:
            changes = self.api.changes(since)
            page = decode_page(changes)
            if page.revision == since and page.empty:
                # nothing new: no write, so the matchers' "changed by another process" stays quiet
                report.revision = since
                break
            deleted |= self.replica.apply(page)
            report.people += len(page.people)
            report.faces += len(page.faces)
            report.deleted_people += len(page.deleted_people)
            report.deleted_faces += len(page.deleted_faces)
            report.events += len(page.events)
            since = page.revision
            report.revision = since
            if not changes.get("more"):
                break
        if deleted:
            self.store.forget_deleted()

    def run_once(self) -> SyncReport:
        """Upload the outbox, then bring the replica up to date, even when the upload failed
        (the upload's error is raised after the pull).

        Raises:
            SyncError: the service could not be reached (nothing is lost; try again later).
            StoreError: the local gallery could not be written.
        """
        report = SyncReport()
        try:
            push_error: SyncError | None = None
            try:
                self.push(report)
            except SyncError as exc:
                push_error = exc
            if push_error is not None and push_error.status_code is None:
                raise push_error  # not reached at all: the pull would wait for nothing
            self.api.report_outbox(self.pending())  # what is left, with the pull's requests
            self.pull(report)
            if push_error is not None:
                raise push_error
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
        return self.api.enroll(name, images, external_id, allow_duplicate)

    def create_event(self, name: str, opens_at: str | None = None,
                     closes_at: str | None = None) -> int:
        """Create an event on the server (an admin key is needed); returns its id. Events of a
        connected kiosk live on the server: a local one could take an id the server gives to
        another event, and the next sync would overwrite it.

        Raises:
            SyncError: refused (bad window, not an admin key) or unreachable.
        """
        return self.api.create_event(name, opens_at, closes_at)

    def all_doors(self, event_id: int) -> list[dict[str, Any]]:
        """The attendance of an event at every door, as the server has it: one dict per
        check-in with ``person_id``, ``name``, ``external_id``, ``at``, ``method``,
        ``distance``, ``liveness``, ``operator``, ``reason`` and ``door`` (the name of the key
        that uploaded it)."""
        return self.api.attendance(event_id)

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
    last_change = Outbox(store).last_change_per_person(event_id)
    rows = [r for r in rows if last_change.get(int(r["person_id"])) != UNDO_METHOD]
    on_server = {int(r["person_id"]) for r in rows}
    for checkin in CheckIns(store).checkins(event_id):
        person_id = int(checkin["person_id"])
        if last_change.get(person_id, UNDO_METHOD) != UNDO_METHOD and person_id not in on_server:
            rows.append(dict(checkin, door=None, pending=True))
    rows.sort(key=lambda r: str(r["at"]))
    return rows
