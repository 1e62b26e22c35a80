"""The same gallery operations over the kiosk's SQLite file and the service's PostgreSQL
database: the table modules and the Gallery facade must not notice which one they run on."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest

from kiosk.embed import l2_normalize
from kiosk.gallery import Gallery, GalleryError
from kiosk.store.base import audit_log
from service.store.postgres import SCHEMA_VERSION, PostgresStore, to_pyformat
from kiosk.store.sqlite import SQLiteStore

MODEL = "test-model"


def vec(seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=512).astype(np.float32))


def near(base: np.ndarray, seed: int, noise: float = 0.3) -> np.ndarray:
    return l2_normalize(base + noise * vec(seed) / np.sqrt(2))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """(name, a function opening a new store on the same database)."""
    if request.param == "sqlite":
        path = tmp_path / "faces.sqlite"
        return "sqlite", lambda: SQLiteStore(path)
    url = request.getfixturevalue("pg_url")
    return "postgres", lambda: PostgresStore(url)


@pytest.fixture
def gallery(backend):
    g = Gallery(store=backend[1](), model_id=MODEL, max_images_per_person=3)
    yield g
    g.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("", ""),
        ("SELECT 1", "SELECT 1"),
        ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
        ("SELECT '?' || ? FROM t WHERE x LIKE '5%'", "SELECT '?' || %s FROM t WHERE x LIKE '5%%'"),
        ('SELECT "odd?name" FROM t WHERE y = ?', 'SELECT "odd?name" FROM t WHERE y = %s'),
    ],
)
def test_placeholders_are_translated_outside_quotes(sql, expected):
    assert to_pyformat(sql) == expected


def test_people_enrol_match_rolling_update_and_delete(gallery, backend):
    alice, bob = vec(1), vec(2)
    alice_id = gallery.add_person("Alice", [alice], [b"\xff\xd8jpeg"], external_id="E1")
    bob_id = gallery.add_person("Bob", [bob])
    assert [p.name for p in gallery.people()] == ["Alice", "Bob"]
    assert [p.name for p in gallery.people("e1")] == ["Alice"]
    assert gallery.person_by_external_id("E1").id == alice_id
    with pytest.raises(ValueError, match="already enrolled"):
        gallery.add_person("Other", [vec(9)], external_id="E1")
    match = gallery.match(near(alice, 10), threshold=1.1, min_margin=0.05)
    assert match.accepted and match.person_id == alice_id
    assert gallery.lookalike(near(bob, 11), 1.1, 0.05)[1] == "Bob"
    # the rolling update keeps the pinned enrolment image and replaces automatic ones
    for seed in (20, 21, 22, 23):
        gallery.record_match(alice_id, near(alice, seed, 0.2))
    faces = gallery.faces_of(alice_id)
    assert len(faces) == 3 and sum(f.pinned for f in faces) == 1
    assert gallery.people_table.crop_of(faces[0].id) == b"\xff\xd8jpeg"
    gallery.rename_person(bob_id, "Robert")
    assert gallery.person(bob_id).name == "Robert"
    # a second connection sees the same gallery
    other = Gallery(store=backend[1](), model_id=MODEL)
    assert len(other.index) == 4
    gallery.delete_person(alice_id)
    assert gallery.person(alice_id) is None
    assert gallery.match(alice, 1.1, 0.05).person_id != alice_id
    assert other.refresh_if_changed() and len(other.index) == 1
    other.close()
    actions = [entry["action"] for entry in audit_log(gallery.store)]
    assert actions[:2] == ["delete person", "rename person"]


def test_events_rosters_checkins_and_spoofs(gallery):
    person_id = gallery.add_person("Alice", [vec(1)])
    event_id = gallery.create_event("Meeting", "2026-11-22T09:00+01:00", "2026-11-22T18:00+01:00")
    assert gallery.event(event_id)["name"] == "Meeting"
    assert [e["id"] for e in gallery.events()] == [event_id]
    with pytest.raises(ValueError, match="closes before"):
        gallery.create_event("Bad", "2026-11-22T10:00", "2026-11-22T09:00")
    assert gallery.events_table.replace_roster(event_id, [("E1", "Alice"), (None, "Guest")]) == 2
    assert gallery.events_table.replace_roster(event_id, []) == 0
    assert gallery.events_table.replace_roster(event_id, [("E2", "Bob")]) == 1
    assert gallery.events_table.roster(event_id) == [("E2", "Bob")]
    assert gallery.events_table.roster_name("E2") == "Bob"
    new, at = gallery.check_in(person_id, event_id, distance=0.5, liveness=0.9)
    assert new
    assert gallery.check_in(person_id, event_id) == (False, at)
    rows = gallery.checkins(event_id)
    assert len(rows) == 1 and rows[0]["name"] == "Alice" and rows[0]["distance"] == 0.5
    assert gallery.undo_check_in(person_id, event_id, "staff")
    assert not gallery.undo_check_in(person_id, event_id, "staff")
    with pytest.raises(ValueError, match="no person"):
        gallery.check_in(999, event_id)
    gallery.add_spoof_attempt(event_id, "photo", b"thumb")
    assert gallery.spoof_attempts(event_id)[0]["thumbnail_jpeg"] == b"thumb"
    later = dt.datetime.now().astimezone() + dt.timedelta(days=8)
    assert gallery.purge_old_spoof_attempts(7, now=later) == 1
    assert gallery.spoof_attempts() == []
    assert gallery.values.get("k") is None
    assert gallery.values.put("k", "v1", "admin", "set k") is False
    assert gallery.values.put("k", "v2", "admin", "set k") is True
    assert gallery.values.get("k") == "v2"


def test_bulk_enrolment_then_single_enrolment_get_distinct_ids(gallery):
    stored = gallery.people_table.add_many(
        [(f"P{i}", f"X{i}", np.stack([vec(i), vec(i + 100)])) for i in range(5)]
    )
    assert stored == 10
    new_id = gallery.add_person("After", [vec(50)])
    assert new_id == 6 and len(gallery.people()) == 6
    assert len(gallery.index) == 11


def test_two_connections_checking_in_at_once_store_one_checkin(backend):
    setup = Gallery(store=backend[1](), model_id=MODEL)
    person_id = setup.add_person("Alice", [vec(1)])
    event_id = setup.create_event("Meeting")
    doors = [Gallery(store=backend[1](), model_id=MODEL) for _ in range(4)]
    barrier = threading.Barrier(len(doors))
    results: list[object] = []

    def door(g: Gallery) -> None:
        barrier.wait()
        try:
            results.append(g.check_in(person_id, event_id)[0])
        except GalleryError as exc:  # a failure would be a lost check-in
            results.append(exc)

    threads = [threading.Thread(target=door, args=(g,)) for g in doors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, results)) == ["False", "False", "False", "True"]
    assert len(setup.checkins(event_id)) == 1
    for g in (setup, *doors):
        g.close()


def test_postgres_schema_is_versioned_and_a_newer_one_refused(pg_url):
    import psycopg

    store = PostgresStore(pg_url)
    assert store.migrated_from == 0 and store.schema_version() == SCHEMA_VERSION
    store.close()
    again = PostgresStore(pg_url)
    assert again.migrated_from is None
    again.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(GalleryError, match="newer version"):
        PostgresStore(pg_url)


def test_postgres_refuses_a_foreign_database_and_leaves_it_alone(pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    with pytest.raises(GalleryError, match="not the kiosk service's"):
        PostgresStore(pg_url)
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    assert tables == [("invoices",)]


def test_postgres_unreachable_is_a_clear_error():
    from tests.service.pgcluster import free_port

    with pytest.raises(GalleryError, match="cannot reach the database server"):
        PostgresStore(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", connect_timeout_s=2)


class _Face:
    """What enrolment takes of an encoded face: its embeddings and its crop."""

    def __init__(self, embedding: np.ndarray) -> None:
        self.embeddings = {MODEL: embedding}

    def crop_jpeg(self) -> bytes | None:
        return None


def test_two_kiosks_enrolling_the_same_face_at_once_enrol_it_once(backend):
    """Enrolment's look-alike check reads the gallery in memory; another kiosk or service
    instance on the same database must not pass the same check before the first one's person
    is stored. The second enrolment waits for the first and is refused as a look-alike."""
    from kiosk.config import RecognitionSettings
    from kiosk.enrollment import ENROLMENT_LOCK, LookalikeError, enroll

    recognition = RecognitionSettings(fusion=False, model_id=MODEL)
    face = vec(70)
    first = Gallery(store=backend[1](), model_id=MODEL)
    second = Gallery(store=backend[1](), model_id=MODEL)
    try:
        assert second.people() == []  # the second kiosk has read the gallery: nobody yet
        second.match(face, 1.0, 0.0)
        outcome: list[object] = []
        entered, release = threading.Event(), threading.Event()

        def second_kiosk() -> None:
            entered.set()
            try:
                outcome.append(enroll(second, recognition, "Ann Again", [_Face(near(face, 71, 0.1))]))
            except LookalikeError as exc:
                outcome.append(exc)

        # the first kiosk is inside its enrolment (check done, person not stored yet) when the
        # second one starts its own
        with first.store.exclusive(ENROLMENT_LOCK):
            worker = threading.Thread(target=second_kiosk)
            worker.start()
            assert entered.wait(5)
            worker.join(0.5)
            assert worker.is_alive()  # waiting for the first enrolment
            ann = first.add_person("Ann", [{MODEL: face}])
        worker.join(15)
        assert not worker.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], LookalikeError)
        assert outcome[0].lookalike.person_id == ann
        assert [p.name for p in first.people()] == ["Ann"]
        # once nobody holds it, enrolment goes through at once
        done = enroll(second, recognition, "Bob", [_Face(vec(72))])
        assert sorted(p.name for p in first.people()) == ["Ann", "Bob"] and done.person_id
    finally:
        first.close()
        second.close()


def test_a_held_lock_times_out_with_a_clear_error(backend, monkeypatch):
    from kiosk.store import base

    holder, waiter = backend[1](), backend[1]()
    try:
        monkeypatch.setattr(base, "LOCK_POLL_S", 0.01)
        with holder.exclusive("enrolment"):
            if backend[0] == "sqlite":
                waiter.busy_timeout_ms = 100
            else:
                monkeypatch.setattr("service.store.postgres.EXCLUSIVE_TIMEOUT_S", 0.1)
            with pytest.raises(base.StoreError, match="still held by another kiosk or service"):
                with waiter.exclusive("enrolment"):
                    pass
        with waiter.exclusive("enrolment"):  # free again
            pass
    finally:
        holder.close()
        waiter.close()
