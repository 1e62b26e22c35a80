"""What kiosks sync from: the change log (filled by triggers of :mod:`service.store.postgres`)
read after a revision, with the rows it names.

Embeddings travel as float32 little-endian bytes in base64 (JSON lists of floats are 5x
slower). Face crops are sent only when asked for (an admin key; a door matches with the
embeddings and never needs a face picture).
"""

from __future__ import annotations

import base64
from typing import Any

from kiosk.store.base import Store

SYNC_PAGE_CHANGES = 5000  # change-log rows per answer


def changes_since(store: Store, since: int, with_crops: bool) -> dict[str, Any]:
    """What changed after revision ``since``: people, faces with their embeddings (and crops
    when ``with_crops``), deleted people and faces, events; at most :data:`SYNC_PAGE_CHANGES`
    change-log rows (``more`` tells the kiosk to ask again)."""
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
        crop = "crop_jpeg" if with_crops else "NULL"
        found = store.query(
            f"SELECT id, person_id, source, pinned, quality, created_at, {crop} FROM faces "
            "WHERE id = ANY(?) ORDER BY id", (sorted(ids["face"]),))
        embeddings: dict[int, list[dict[str, Any]]] = {}
        for face_id, model_id, blob in store.query(
            "SELECT face_id, model_id, embedding FROM face_embeddings WHERE face_id = ANY(?)",
            (sorted(ids["face"]),)
        ):
            embeddings.setdefault(int(face_id), []).append({
                "model_id": model_id, "embedding": base64.b64encode(bytes(blob)).decode("ascii"),
            })
        for face_id, person_id, source, pinned, quality, created_at, crop_jpeg in found:
            answer["faces"].append({
                "id": int(face_id), "person_id": int(person_id), "source": source,
                "pinned": int(pinned), "quality": quality, "created_at": created_at,
                "crop_jpeg": base64.b64encode(bytes(crop_jpeg)).decode("ascii")
                if crop_jpeg is not None else None,
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
