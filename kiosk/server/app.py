"""The central service's HTTP API: FastAPI over PostgreSQL (see docs/DEPLOYMENT.md).

Every request under ``/api/v1`` carries ``Authorization: Bearer KEY``; the key is looked up (by
its hash) on every request, so a revoked key stops working at once. A kiosk key may sync, post
check-ins and their undos, identify and read events; enrolment, deletion and events need an admin key. Errors
are JSON: ``{"error": "message"}``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid as uuid_module
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from kiosk.config import Settings
from kiosk.fusion import fusion_weights_of, match_threshold
from kiosk.gallery import Gallery
from kiosk.server.keys import ApiKey, authenticate
from kiosk.store.base import StoreError, now_iso
from kiosk.store.postgres import PostgresStore

log = logging.getLogger(__name__)


def log_migration_progress(done: int, total: int) -> None:
    """Progress of the start-up migration, in the service's log."""
    log.info("start-up migration: %d of %d stored images re-embedded", done, total)

MAX_IMAGE_BYTES = 8 * 1024 * 1024  # one uploaded photo
MAX_IMAGES = 10  # photos per enrolment
MAX_REQUEST_BYTES = MAX_IMAGES * MAX_IMAGE_BYTES + 64 * 1024
MAX_BATCH = 500  # check-ins per request
SYNC_PAGE_CHANGES = 5000  # change-log rows per sync answer


class CheckInItem(BaseModel):
    """One check-in made at a kiosk (the UUID makes re-sending it harmless)."""

    uuid: uuid_module.UUID
    event_id: int
    person_id: int
    at: str = Field(min_length=1, max_length=64)
    method: str = Field(default="auto", pattern="^(auto|manual)$")
    distance: float | None = None
    liveness: float | None = None
    operator: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


class CheckInBatch(BaseModel):
    checkins: list[CheckInItem] = Field(max_length=MAX_BATCH)


class UndoItem(BaseModel):
    """The undo of a check-in, made by staff at a kiosk (the UUID makes re-sending harmless)."""

    uuid: uuid_module.UUID
    event_id: int
    person_id: int
    at: str = Field(min_length=1, max_length=64)
    operator: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=1000)


class UndoBatch(BaseModel):
    undos: list[UndoItem] = Field(max_length=MAX_BATCH)


class EventIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    opens_at: str | None = None
    closes_at: str | None = None


class StorePool:
    """A few open stores, one per concurrent request (a psycopg connection serves one
    transaction at a time)."""

    def __init__(self, url: str, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.url = url
        self._free: queue.LifoQueue[PostgresStore] = queue.LifoQueue()
        self._all: list[PostgresStore] = []
        self._lock = threading.Lock()
        self.size = size
        first = PostgresStore(url)  # creates or migrates the schema
        self._all.append(first)
        self._free.put(first)

    @contextlib.contextmanager
    def borrow(self) -> Iterator[PostgresStore]:
        try:
            store = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self._all) < self.size
                if grow:
                    store = PostgresStore(self.url, migrate=False)
                    self._all.append(store)
            if not grow:
                store = self._free.get(timeout=30)
        try:
            yield store
        finally:
            self._free.put(store)

    def close(self) -> None:
        for store in self._all:
            store.close()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    database_url: str,
    settings: Settings | None = None,
    encoder_factory: Callable[[], Any] | None = None,
    pool_size: int = 8,
) -> FastAPI:
    """The service over one PostgreSQL database (its schema is created or migrated here).

    Args:
        database_url: ``postgresql://...``.
        settings: recognition settings (threshold, margin, model id, face crops).
        encoder_factory: makes the :class:`kiosk.face_encoder.FaceEncoder` (loaded on the first
            request with an image; tests pass the session's).
        pool_size: connections for concurrent requests.

    Raises:
        StoreError: the database cannot be reached or has a newer schema.
    """
    settings = settings or Settings()
    pool = StorePool(database_url, pool_size)
    recognition = settings.recognition
    gallery = Gallery(store=PostgresStore(database_url, migrate=False),
                      model_id=recognition.model_id,
                      max_images_per_person=settings.gallery.max_images_per_person,
                      store_face_crops=settings.gallery.store_face_crops,
                      fusion_weights=fusion_weights_of(recognition))
    gallery_lock = threading.Lock()
    encoder_box: list[Any] = []

    def encoder() -> Any:
        if not encoder_box:
            if encoder_factory is not None:
                encoder_box.append(encoder_factory())
            else:
                from kiosk.face_encoder import FaceEncoder
                from kiosk.stages import load_models

                encoder_box.append(FaceEncoder(load_models(settings), settings))
        return encoder_box[0]

    def migrate() -> None:
        """Images stored under other models (another FaceNet back-end, fusion turned on) are
        re-embedded from their stored crops before the service answers: the kiosks then get
        every model's embedding at their next sync. What is left (no crop) is logged."""
        from kiosk.reembed import migrate_at_start

        with gallery_lock:
            try:
                incomplete = gallery.incomplete_images()
                if not incomplete:
                    return
                with_crop = any(image.has_crop for image in incomplete)
                notice = migrate_at_start(gallery, encoder() if with_crop else None,
                                          log_migration_progress)
            except Exception:  # noqa: BLE001 - the service still serves what it can match
                log.exception("the start-up migration of the gallery failed")
                return
        if notice:
            log.warning("%s (re-enrol them through POST /api/v1/people)", notice)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        migrate()
        yield
        pool.close()
        gallery.close()

    app = FastAPI(title="Face check-in kiosk service", version="1", lifespan=lifespan)

    @app.middleware("http")
    async def limit_size(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if request.method in ("POST", "PUT", "PATCH"):
            if length is None or not length.isdigit():
                return _error(411, "a Content-Length header is required")
            if int(length) > MAX_REQUEST_BYTES:
                return _error(413, f"the request is larger than {MAX_REQUEST_BYTES} bytes")
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return _error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        log.error("database: %s", exc)
        return _error(503, "the database is not available right now; try again")

    def caller(request: Request) -> ApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise HTTPException(401, "an API key is required: Authorization: Bearer KEY",
                                headers={"WWW-Authenticate": "Bearer"})
        with pool.borrow() as store:
            found = authenticate(store, key.strip())
        if found is None:
            raise HTTPException(401, "unknown or revoked API key",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    def admin(key: ApiKey = Depends(caller)) -> ApiKey:
        if key.role != "admin":
            raise HTTPException(403, "this needs an admin key")
        return key

    async def read_image(upload: UploadFile) -> bytes:
        data = await upload.read(MAX_IMAGE_BYTES + 1)
        if len(data) > MAX_IMAGE_BYTES:
            raise HTTPException(413, f"{upload.filename}: larger than {MAX_IMAGE_BYTES} bytes")
        return data

    def encode(data: bytes, name: str, single: bool) -> Any:
        from kiosk.images import ImageError, decode_image

        try:
            return encoder().encode_photo(decode_image(data, name), name, single=single)
        except ImageError as exc:
            raise HTTPException(422, str(exc)) from exc

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        with pool.borrow() as store:
            return {"status": "ok", "revision": store.data_version()}

    @app.post("/api/v1/people", status_code=201)
    async def enroll(
        name: str = Form(..., max_length=200),
        external_id: str | None = Form(None, max_length=200),
        allow_duplicate: bool = Form(False),
        images: list[UploadFile] = File(...),
        key: ApiKey = Depends(admin),
    ) -> Any:
        if not name.strip():
            raise HTTPException(422, "name must not be empty")
        if len(images) > MAX_IMAGES:
            raise HTTPException(413, f"at most {MAX_IMAGES} images per enrolment")
        blobs = [(await read_image(image), image.filename or "image") for image in images]
        with gallery_lock:
            gallery.refresh_if_changed()
            samples = [encode(data, filename, True) for data, filename in blobs]
            if not allow_duplicate:
                for sample, (_, filename) in zip(samples, blobs):
                    found = gallery.lookalike(sample.embeddings, match_threshold(recognition),
                                              recognition.min_margin)
                    if found is not None:
                        match, other = found
                        return JSONResponse({
                            "error": f"{filename} looks like person {match.person_id} ({other}), "
                                     f"distance {match.distance:.3f}; send allow_duplicate=true "
                                     "to enrol anyway",
                            "lookalike": {"file": filename, "person_id": match.person_id,
                                          "name": other,
                                          "distance": round(float(match.distance), 4)},
                        }, status_code=409)
            try:
                person_id = gallery.add_person(
                    name, [s.embeddings for s in samples], [s.crop_jpeg() for s in samples],
                    external_id=external_id, actor=f"key:{key.name}")
            except ValueError as exc:
                raise HTTPException(409 if "already" in str(exc) else 422, str(exc)) from exc
        return {"id": person_id, "name": name.strip(), "images": len(samples)}

    @app.delete("/api/v1/people/{person_id}")
    def delete_person(person_id: int, key: ApiKey = Depends(admin)) -> dict[str, Any]:
        with gallery_lock:
            try:
                gallery.delete_person(person_id, actor=f"key:{key.name}")
            except ValueError as exc:
                raise HTTPException(404, str(exc)) from exc
        return {"deleted": person_id}

    @app.post("/api/v1/identify")
    async def identify(image: UploadFile = File(...),
                       _key: ApiKey = Depends(caller)) -> dict[str, Any]:
        data = await read_image(image)
        with gallery_lock:
            gallery.refresh_if_changed()
            sample = encode(data, image.filename or "image", False)
            match = gallery.match(sample.embeddings, match_threshold(recognition),
                                  recognition.min_margin)
            person = gallery.person(match.person_id) if match.person_id is not None else None
        finite = lambda v: None if not np.isfinite(v) else round(float(v), 4)  # noqa: E731
        return {"matches": [{
            "person_id": match.person_id if match.accepted else None,
            "name": person.name if person and match.accepted else None,
            "nearest_person_id": match.person_id,
            "distance": finite(match.distance), "margin": finite(match.margin),
            "accepted": bool(match.accepted),
        }]}

    @app.post("/api/v1/events", status_code=201)
    def create_event(event: EventIn, key: ApiKey = Depends(admin)) -> dict[str, Any]:
        from kiosk.store.events import Events

        with pool.borrow() as store:
            try:
                event_id = Events(store).create_event(event.name, event.opens_at,
                                                      event.closes_at, actor=f"key:{key.name}")
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from exc
            return dict(Events(store).event(event_id) or {})

    @app.get("/api/v1/events")
    def list_events(_key: ApiKey = Depends(caller)) -> list[dict[str, Any]]:
        from kiosk.store.events import Events

        with pool.borrow() as store:
            return Events(store).events()

    @app.get("/api/v1/events/{event_id}/checkins")
    def event_checkins(event_id: int, _key: ApiKey = Depends(caller)) -> list[dict[str, Any]]:
        with pool.borrow() as store:
            if store.query_one("SELECT 1 FROM events WHERE id = ?", (event_id,)) is None:
                raise HTTPException(404, f"no event with id {event_id}")
            rows = store.query(
                "SELECT c.person_id, p.name, p.external_id, c.at, c.method, c.distance, "
                "c.liveness, c.operator, c.reason, r.door FROM checkins c "
                "JOIN people p ON p.id = c.person_id "
                "LEFT JOIN checkin_receipts r ON r.event_id = c.event_id "
                "AND r.person_id = c.person_id AND r.result = 'stored' "
                "WHERE c.event_id = ? ORDER BY c.at, c.id", (event_id,))
        names = ("person_id", "name", "external_id", "at", "method", "distance", "liveness",
                 "operator", "reason", "door")
        return [dict(zip(names, row)) for row in rows]

    def each_item(items: Any, handle: Any, key: ApiKey) -> dict[str, Any]:
        """``handle(store, item, key)`` for each item of a batch on one borrowed connection
        (each item its own transaction), answered per item by its uuid."""
        with pool.borrow() as store:
            return {"results": [{"uuid": str(item.uuid), "result": handle(store, item, key)}
                                for item in items]}

    @app.post("/api/v1/checkins")
    def post_checkins(batch: CheckInBatch, key: ApiKey = Depends(caller)) -> dict[str, Any]:
        return each_item(batch.checkins, _store_checkin, key)

    @app.post("/api/v1/checkins/undo")
    def post_undos(batch: UndoBatch, key: ApiKey = Depends(caller)) -> dict[str, Any]:
        """Undo check-ins made at any door (staff at a kiosk; a kiosk key may), each once."""
        return each_item(batch.undos, _undo_checkin, key)

    @app.get("/api/v1/sync")
    def sync(since: int = Query(0, ge=0), _key: ApiKey = Depends(caller)) -> dict[str, Any]:
        with pool.borrow() as store:
            return changes_since(store, since, settings.gallery.store_face_crops)

    app.state.pool = pool
    app.state.gallery = gallery
    from service.console import mount_console  # the organisers' web console (docs/CONSOLE.md)
    mount_console(app, database_url)
    return app


def _claim_receipt(tx: Any, item: CheckInItem | UndoItem, key: ApiKey) -> bool:
    """Record that this item's UUID was received (result pending, set by the caller in the same
    transaction); False when it was received before, so that a retried item is done once."""
    return tx.execute(
        "INSERT INTO checkin_receipts (uuid, event_id, person_id, door, received_at, result) "
        "VALUES (?, ?, ?, ?, ?, 'pending') ON CONFLICT (uuid) DO NOTHING RETURNING uuid",
        (item.uuid, item.event_id, item.person_id, key.name, now_iso()),
    ).fetchone() is not None


def _store_checkin(store: PostgresStore, item: CheckInItem, key: ApiKey) -> str:
    """Store one check-in once: ``stored`` (new), ``already`` (this person was checked in to
    this event before, at any door), ``duplicate`` (this UUID was received before: the first
    answer is kept), ``unknown_person`` / ``unknown_event`` (deleted or never known)."""
    with store.transaction() as tx:
        if not _claim_receipt(tx, item, key):
            return "duplicate"
        if tx.execute("SELECT 1 FROM people WHERE id = ?", (item.person_id,)).fetchone() is None:
            result = "unknown_person"
        elif tx.execute("SELECT 1 FROM events WHERE id = ?", (item.event_id,)).fetchone() is None:
            result = "unknown_event"
        else:
            inserted = tx.execute(
                "INSERT INTO checkins (event_id, person_id, at, method, distance, liveness, "
                "operator, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (event_id, person_id) DO NOTHING RETURNING id",
                (item.event_id, item.person_id, item.at, item.method, item.distance,
                 item.liveness, item.operator, item.reason),
            ).fetchone()
            result = "stored" if inserted is not None else "already"
        tx.execute("UPDATE checkin_receipts SET result = ? WHERE uuid = ?", (result, item.uuid))
    return result


def _undo_checkin(store: PostgresStore, item: UndoItem, key: ApiKey) -> str:
    """Apply one undo once (audit-logged with the kiosk's key, the operator and the reason):
    ``undone`` (the check-in was removed), ``not_checked_in`` (there was none), ``duplicate``
    (this UUID was received before: nothing is done again, even if the person was checked in
    anew since)."""
    with store.transaction() as tx:
        if not _claim_receipt(tx, item, key):
            return "duplicate"
        removed = tx.execute(
            "DELETE FROM checkins WHERE event_id = ? AND person_id = ? RETURNING id",
            (item.event_id, item.person_id),
        ).fetchone()
        result = "undone" if removed is not None else "not_checked_in"
        if removed is not None:  # the door of a later check-in is that check-in's receipt
            tx.execute("UPDATE checkin_receipts SET result = 'stored, undone' WHERE "
                       "event_id = ? AND person_id = ? AND result = 'stored'",
                       (item.event_id, item.person_id))
        tx.execute("UPDATE checkin_receipts SET result = ? WHERE uuid = ?", (result, item.uuid))
        tx.audit(f"key:{key.name}", "undo check-in", event_id=item.event_id,
                 person_id=item.person_id, operator=item.operator, reason=item.reason,
                 at=item.at, uuid=str(item.uuid), result=result)
    return result


def changes_since(store: PostgresStore, since: int, with_crops: bool) -> dict[str, Any]:
    """What changed after revision ``since``: people, faces with their embeddings (and crops
    when the settings keep them), deleted people and faces, events; at most
    :data:`SYNC_PAGE_CHANGES` change-log rows (``more`` tells the kiosk to ask again)."""
    import base64

    rows = store.query(
        "SELECT revision, kind, entity_id FROM change_log WHERE revision > ? "
        "ORDER BY revision LIMIT ?", (since, SYNC_PAGE_CHANGES + 1))
    more = len(rows) > SYNC_PAGE_CHANGES
    rows = rows[:SYNC_PAGE_CHANGES]
    revision = int(rows[-1][0]) if rows else since
    ids: dict[str, set[int]] = {"person": set(), "face": set(), "event": set()}
    for _, kind, entity_id in rows:
        ids[str(kind)].add(int(entity_id))
    answer: dict[str, Any] = {"revision": revision, "more": more, "people": [], "faces": [],
                              "deleted_people": [], "deleted_faces": [], "events": []}
    if ids["person"]:
        found = store.query(
            "SELECT id, name, external_id, created_at FROM people WHERE id = ANY(?)",
            (sorted(ids["person"]),))
        answer["people"] = [dict(zip(("id", "name", "external_id", "created_at"), r))
                            for r in found]
        answer["deleted_people"] = sorted(ids["person"] - {int(r[0]) for r in found})
    if ids["face"]:
        found = store.query(
            "SELECT id, person_id, source, pinned, quality, created_at, crop_jpeg FROM faces "
            "WHERE id = ANY(?) ORDER BY id", (sorted(ids["face"]),))
        embeddings: dict[int, list[dict[str, Any]]] = {}
        for face_id, model_id, blob in store.query(
            "SELECT face_id, model_id, embedding FROM face_embeddings WHERE face_id = ANY(?)",
            (sorted(ids["face"]),)
        ):
            embeddings.setdefault(int(face_id), []).append({
                "model_id": model_id,
                # float32 little-endian bytes, base64 (JSON lists of floats are 5x slower)
                "embedding": base64.b64encode(bytes(blob)).decode("ascii"),
            })
        for face_id, person_id, source, pinned, quality, created_at, crop in found:
            answer["faces"].append({
                "id": int(face_id), "person_id": int(person_id), "source": source,
                "pinned": int(pinned), "quality": quality, "created_at": created_at,
                "crop_jpeg": base64.b64encode(bytes(crop)).decode("ascii")
                if with_crops and crop is not None else None,
                "embeddings": embeddings.get(int(face_id), []),
            })
        answer["deleted_faces"] = sorted(ids["face"] - {int(r[0]) for r in found})
    if ids["event"]:
        found = store.query(
            "SELECT id, name, opens_at, closes_at, created_at FROM events WHERE id = ANY(?)",
            (sorted(ids["event"]),))
        answer["events"] = [dict(zip(("id", "name", "opens_at", "closes_at", "created_at"), r))
                            for r in found]
    return answer
