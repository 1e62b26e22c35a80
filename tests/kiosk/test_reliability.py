"""Crash safety, two writers, storage trouble and the handling of biometric data in the gallery.

The crash and two-writer tests run real child processes (``sys.executable``) on one database
file with synthetic unit-vector embeddings; they take about 10 s together.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from kiosk.settings_files import load_settings
from kiosk.embed import l2_normalize
from kiosk.gallery import Gallery, GalleryError, embedding_to_blob

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODEL = "test-model"
ENROL_IMAGES = 3
MAX_IMAGES = 4

# A kiosk at work: enrol, auto-capture, check in, now and then delete someone or log a spoof,
# printing each saved record only after its transaction returned (i.e. committed).
WORKER = r"""
import sys
import time
from pathlib import Path
import numpy as np
from kiosk.gallery import Gallery

db, tag, event_id, seed, count, busy_ms, pause_s = sys.argv[1:8]
rng = np.random.default_rng(int(seed))

def unit():
    v = rng.normal(size=512).astype(np.float32)
    return v / np.linalg.norm(v)

go = Path(db + ".go")
gallery = Gallery(db, "test-model", max_images_per_person=4, busy_timeout_ms=int(busy_ms))
print("ready", flush=True)
while not go.exists():
    pass
people = []
for i in range(int(count)):
    person_id = gallery.add_person(
        f"P {tag}-{i}", [unit() for _ in range(3)], [rng.bytes(4000) for _ in range(3)],
        external_id=f"{tag}-{i}", actor=tag)
    print(f"person {person_id}", flush=True)
    people.append(person_id)
    gallery.record_match(person_id, unit(), crop_jpeg=rng.bytes(4000))
    gallery.record_match(person_id, unit(), crop_jpeg=rng.bytes(4000))  # replaces the auto one
    gallery.check_in(person_id, int(event_id), distance=0.5, liveness=0.9)
    print(f"checkin {person_id}", flush=True)
    time.sleep(float(pause_s))  # the next attendee (0 in the crash test)
    if i % 5 == 4:
        gallery.add_spoof_attempt(int(event_id), "planar", rng.bytes(2000))
    if i % 7 == 6:
        victim = people.pop(0)
        print(f"deleting {victim}", flush=True)
        gallery.delete_person(victim, actor=tag)
gallery.close()
print("done", flush=True)
"""


def vec(seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=512).astype(np.float32))


def start_worker(db: Path, tag: str, event_id: int, seed: int, count: int, busy_ms: int = 5000,
                 pause_s: float = 0.0) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    args = [str(db), tag, str(event_id), str(seed), str(count), str(busy_ms), str(pause_s)]
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=db.parent,
    )


def parse_report(lines: list[str]) -> tuple[set[int], set[int], set[int]]:
    """People, check-ins and deletions (possibly unfinished) a worker reported."""
    people, checkins, deleting = set(), set(), set()
    for line in lines:
        kind, _, value = line.partition(" ")
        if kind == "person":
            people.add(int(value))
        elif kind == "checkin":
            checkins.add(int(value))
        elif kind == "deleting":
            deleting.add(int(value))
    return people, checkins, deleting


def assert_consistent(db: Path, event_id: int, people: set[int], checkins: set[int]) -> None:
    """The file is intact and holds every committed record, and nothing half-written."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # every person has exactly their enrolment images, and at most the limit in all
        per_person = conn.execute(
            "SELECT p.id, sum(f.pinned), count(f.id) FROM people p "
            "LEFT JOIN faces f ON f.person_id = p.id GROUP BY p.id").fetchall()
        assert all(pinned == ENROL_IMAGES and total <= MAX_IMAGES for _, pinned, total in per_person), per_person
        assert conn.execute(
            "SELECT count(*) FROM faces WHERE person_id NOT IN (SELECT id FROM people)").fetchone()[0] == 0
        assert conn.execute(
            "SELECT count(*) FROM face_embeddings WHERE length(embedding) != 2048").fetchone()[0] == 0
        stored_people = {r[0] for r in conn.execute("SELECT id FROM people")}
        stored_checkins = {r[0] for r in conn.execute(
            "SELECT person_id FROM checkins WHERE event_id = ?", (event_id,))}
        assert people <= stored_people, people - stored_people
        assert checkins <= stored_checkins, checkins - stored_checkins
        faces = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
    finally:
        conn.close()
    reopened = Gallery(db, MODEL, max_images_per_person=MAX_IMAGES)
    assert len(reopened.index) == faces
    reopened.close()


def test_sigkill_during_writes_loses_nothing_committed(tmp_path):
    db = tmp_path / "faces.sqlite"
    setup = Gallery(db, MODEL, max_images_per_person=MAX_IMAGES)
    event_id = setup.create_event("Crash test")
    setup.close()
    (tmp_path / "faces.sqlite.go").touch()
    rng = random.Random(7)
    all_people: set[int] = set()
    all_checkins: set[int] = set()
    all_deleting: set[int] = set()
    started = time.monotonic()
    rounds = 0
    while rounds < 12 and time.monotonic() - started < 15.0:
        worker = start_worker(db, f"r{rounds}", event_id, seed=rounds, count=10_000)
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read() if worker.stderr else ""
        time.sleep(rng.uniform(0.02, 0.4))
        worker.send_signal(signal.SIGKILL)
        out, err = worker.communicate(timeout=10)
        assert worker.returncode == -signal.SIGKILL, err
        people, checkins, deleting = parse_report(out.splitlines())
        all_people |= people
        all_checkins |= checkins
        all_deleting |= deleting
        rounds += 1
        # every round starts on what the killed one left: WAL recovery, then more writes
        assert_consistent(db, event_id, all_people - all_deleting, all_checkins - all_deleting)
    assert rounds >= 5
    assert len(all_checkins) > 20  # the workers did get real work done between kills


def test_two_writers_at_once_both_succeed(tmp_path):
    db = tmp_path / "faces.sqlite"
    setup = Gallery(db, MODEL, max_images_per_person=MAX_IMAGES)
    event_id = setup.create_event("Two kiosks")
    setup.close()
    # one with a long busy time-out, one short enough that the retry loop is needed
    workers = [start_worker(db, "a", event_id, 1, 30, busy_ms=5000, pause_s=0.005),
               start_worker(db, "b", event_id, 2, 30, busy_ms=20, pause_s=0.005)]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    (tmp_path / "faces.sqlite.go").touch()
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        assert out.splitlines()[-1] == "done"
        reports.append(parse_report(out.splitlines()))
    people = set().union(*(r[0] for r in reports))
    checkins = set().union(*(r[1] for r in reports))
    deleted = set().union(*(r[2] for r in reports))
    assert len(people) == 60 and len(deleted) == 8
    assert_consistent(db, event_id, people - deleted, checkins - deleted)
    check = Gallery(db, MODEL)
    assert len(check.people()) == 52
    assert len(check.checkins(event_id)) == 52
    actors = [e["actor"] for e in reversed(check.audit_log()) if e["action"] == "enrol"]
    switches = sum(1 for x, y in zip(actors, actors[1:]) if x != y)
    assert switches >= 3, actors  # the two kiosks really wrote at the same time
    check.close()


# -- storage trouble ---------------------------------------------------------------------------


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "faces.sqlite", MODEL, max_images_per_person=MAX_IMAGES)
    yield g
    g.close()


def snapshot(g: Gallery) -> dict[str, object]:
    conn = g.store._conn
    return {
        "people": conn.execute("SELECT * FROM people ORDER BY id").fetchall(),
        "faces": conn.execute("SELECT * FROM faces ORDER BY id").fetchall(),
        "checkins": conn.execute("SELECT * FROM checkins ORDER BY id").fetchall(),
        "audit": conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall(),
        "matrix": (g.index.image_ids.copy(), g.index.embeddings.copy()),
    }


def assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    for key in ("people", "faces", "checkins", "audit"):
        assert after[key] == before[key], key
    np.testing.assert_array_equal(after["matrix"][0], before["matrix"][0])
    np.testing.assert_array_equal(after["matrix"][1], before["matrix"][1])


def test_full_disk_mid_enrolment_keeps_stored_data_and_matrix(gallery):
    alice = gallery.add_person("Alice", [vec(1), vec(2)], [b"A" * 3000, None], external_id="E1")
    event_id = gallery.create_event("Meeting")
    gallery.check_in(alice, event_id)
    before = snapshot(gallery)
    pages = gallery.store._conn.execute("PRAGMA page_count").fetchone()[0]
    gallery.store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # a disk with 2 pages left
    big_crops = [os.urandom(40_000) for _ in range(3)]
    with pytest.raises(GalleryError, match="disk is full.*nothing was saved"):
        gallery.add_person("Bob", [vec(3), vec(4), vec(5)], big_crops, external_id="E2")
    with pytest.raises(GalleryError, match="disk is full"):
        gallery.record_match(alice, vec(6), crop_jpeg=os.urandom(40_000))
    with pytest.raises(GalleryError, match="disk is full"):
        gallery.add_images(alice, [vec(7)], [os.urandom(40_000)])
    assert_same(before, snapshot(gallery))
    assert gallery.store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert gallery.match(vec(1), 0.5, 0.0).person_id == alice
    # space freed: the same enrolment now succeeds
    gallery.store._conn.execute("PRAGMA max_page_count = 1073741823")
    bob = gallery.add_person("Bob", [vec(3), vec(4), vec(5)], big_crops, external_id="E2")
    assert gallery.person(bob).images == 3 and len(gallery.index) == 5


def test_database_turning_read_only_while_running(gallery):
    alice = gallery.add_person("Alice", [vec(1)])
    event_id = gallery.create_event("Meeting")
    before = snapshot(gallery)
    gallery.store._conn.execute("PRAGMA query_only = ON")  # as if the disk were remounted read-only
    with pytest.raises(GalleryError, match="read-only; nothing was saved"):
        gallery.add_person("Bob", [vec(2)])
    with pytest.raises(GalleryError, match="read-only"):
        gallery.check_in(alice, event_id)
    with pytest.raises(GalleryError, match="read-only"):
        gallery.delete_person(alice)
    gallery.store._conn.execute("PRAGMA query_only = OFF")
    assert_same(before, snapshot(gallery))
    assert gallery.person(alice) is not None


def test_lock_held_too_long_by_another_program(tmp_path):
    db = tmp_path / "faces.sqlite"
    g = Gallery(db, MODEL, busy_timeout_ms=50)
    g.add_person("Alice", [vec(1)])
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a DB browser left open in the middle of an edit
    try:
        started = time.monotonic()
        with pytest.raises(GalleryError, match="locked too long; nothing was saved"):
            g.add_person("Bob", [vec(2)])
        assert time.monotonic() - started < 5.0
        assert len(g.index) == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    g.add_person("Bob", [vec(2)])  # works once the lock is gone
    g.close()


@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
def test_damaged_gallery_is_refused_with_guidance_and_not_overwritten(tmp_path, damage):
    db = tmp_path / "faces.sqlite"
    g = Gallery(db, MODEL)
    for i in range(40):
        g.add_person(f"P{i}", [vec(i)], [os.urandom(3000)])
    g.store.forget_deleted()
    g.close()
    data = bytearray(db.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data[8192:] = os.urandom(len(data) - 8192)  # pages after the schema overwritten
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    with pytest.raises(GalleryError, match="damaged or not a database|not a kiosk gallery") as info:
        opened = Gallery(db, MODEL)
        try:
            opened.add_person("New", [vec(99)])  # the damage may only show when data is read
        finally:
            opened.close()
    assert "backup" in str(info.value) or "move this one away" in str(info.value)
    assert db.read_bytes() == before


def test_store_face_crops_false_end_to_end(tmp_path):
    settings_path = tmp_path / "settings.toml"
    db = tmp_path / "faces.sqlite"
    settings_path.write_text(
        f'[gallery]\ndb_path = "{db.as_posix()}"\nstore_face_crops = false\n'
        '[recognition]\nfusion = false\n', encoding="utf-8")  # synthetic FaceNet-only vectors
    settings = load_settings(settings_path)
    from kiosk.commands.recognition import open_gallery

    g = open_gallery(settings)
    marker = b"FACECROP-MARKER-" * 64
    person_id = g.add_person("Alice", [vec(1)], [marker])
    g.add_images(person_id, [l2_normalize(vec(1) + 0.1 * vec(2))], [marker])
    # a face like Alice's images: the rolling update's gate admits it
    assert g.record_match(person_id, l2_normalize(vec(1) + 0.1 * vec(3)), crop_jpeg=marker)
    g.add_spoof_attempt(None, "planar", marker)
    assert g.store._conn.execute("SELECT count(*) FROM faces WHERE crop_jpeg IS NOT NULL").fetchone()[0] == 0
    assert [a["thumbnail_jpeg"] for a in g.spoof_attempts()] == [None]
    assert len(g.faces_of(person_id)) == 3  # the embeddings are still stored
    g.close()
    assert marker[:32] not in b"".join(p.read_bytes() for p in tmp_path.glob("faces.sqlite*"))


def file_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.glob("faces.sqlite*"))


def test_deleted_person_leaves_no_trace_in_file_or_wal_after_many_writes(tmp_path):
    db = tmp_path / "faces.sqlite"
    g = Gallery(db, MODEL, max_images_per_person=MAX_IMAGES)
    second_kiosk = Gallery(db, MODEL)  # another connection, idle: the WAL still gets truncated
    event_id = g.create_event("Meeting")
    secret = vec(42)
    auto_secret = l2_normalize(secret + 0.1 * vec(43))
    crop_marker = b"SECRET-ENROL-CROP" * 40
    auto_marker = b"SECRET-AUTO-CROP" * 40
    person_id = g.add_person("Alice Secret", [secret], [crop_marker], external_id="SECRET-ID")
    assert g.record_match(person_id, auto_secret, crop_jpeg=auto_marker) is not None
    g.check_in(person_id, event_id, distance=0.4)
    for i in range(60):  # many writes: the pages holding Alice are copied into the WAL again and again
        other = g.add_person(f"Other {i}", [vec(100 + i)], [os.urandom(1500)])
        g.record_match(other, vec(300 + i))
        g.check_in(other, event_id)
        if i % 10 == 0:
            g.record_match(person_id, l2_normalize(secret + 0.1 * vec(500 + i)), crop_jpeg=auto_marker)
    auto_embeddings = [secret, auto_secret] + [
        l2_normalize(secret + 0.1 * vec(500 + i)) for i in range(0, 60, 10)]
    assert embedding_to_blob(secret) in file_bytes(tmp_path)  # the search does find live data
    g.delete_person(person_id)
    raw = file_bytes(tmp_path)
    for embedding in auto_embeddings:
        assert embedding_to_blob(embedding) not in raw
        assert embedding_to_blob(embedding)[:64] not in raw
    assert crop_marker[:17] not in raw and auto_marker[:16] not in raw
    assert b"Alice Secret" in raw  # only the audit log keeps the name of who was deleted
    assert (tmp_path / "faces.sqlite-wal").stat().st_size == 0
    second_kiosk.close()
    g.close()


def test_spoof_attempts_are_kept_then_purged(gallery, tmp_path):
    event_id = gallery.create_event("Meeting")
    other_event = gallery.create_event("Other")
    thumb = b"SPOOF-THUMBNAIL" * 50
    first = gallery.add_spoof_attempt(event_id, "planar motion", thumb)
    gallery.add_spoof_attempt(other_event, "screen", None)
    gallery.add_spoof_attempt(None, "planar motion", b"")
    with pytest.raises(ValueError, match="reason"):
        gallery.add_spoof_attempt(event_id, "  ", thumb)
    attempts = gallery.spoof_attempts()
    assert [a["event_id"] for a in attempts] == [None, other_event, event_id]
    assert [a["id"] for a in gallery.spoof_attempts(event_id)] == [first]
    assert gallery.spoof_attempts(event_id)[0]["thumbnail_jpeg"] == thumb
    now = dt.datetime.now().astimezone()
    assert gallery.purge_old_spoof_attempts(7, now=now) == 0
    assert gallery.purge_old_spoof_attempts(7, now=now + dt.timedelta(days=6, hours=23)) == 0
    assert gallery.purge_old_spoof_attempts(7, now=now + dt.timedelta(days=7, minutes=1)) == 3
    assert gallery.spoof_attempts() == []
    entry = gallery.audit_log()[0]
    assert (entry["actor"], entry["action"]) == ("system", "purge spoof attempts")
    assert thumb[:15] not in file_bytes(tmp_path)
    with pytest.raises(ValueError, match="days"):
        gallery.purge_old_spoof_attempts(-1)


def test_spoof_retention_zero_purges_everything_and_naive_now_is_local(gallery):
    gallery.add_spoof_attempt(None, "planar", b"x")
    assert gallery.purge_old_spoof_attempts(0, now=dt.datetime.now() + dt.timedelta(seconds=2)) == 1


# -- read-only files and folders: run as another user when the tests run as root -------------

PROBE = r"""
import os
import sys
import numpy as np
from kiosk.gallery import Gallery, GalleryError

Gallery(":memory:", "warm-up").close()  # load everything it imports lazily
if os.geteuid() == 0:  # root ignores file modes: become 'nobody' (everything is imported by now)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    g = Gallery(sys.argv[1], "test-model")
except GalleryError as exc:
    print("open-error:", exc)
    sys.exit(0)
print("opened: read_only", g.read_only, "people", len(g.people()), "matrix", len(g.index))
v = np.ones(512, np.float32) / np.sqrt(512)
try:
    g.add_person("Bob", [v])
    print("written")
except GalleryError as exc:
    print("write-error:", exc)
"""


@pytest.fixture
def shared_dir():
    """A folder another user can enter (the tests drop to 'nobody' when run as root)."""
    base = Path(tempfile.mkdtemp(prefix="kiosk-ro-"))
    base.chmod(0o755)
    yield base
    for path in [base, *base.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    shutil.rmtree(base)


def run_probe(db: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(db)], capture_output=True, text=True, env=env,
        cwd=db.parent.parent, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def make_gallery(folder: Path) -> Path:
    folder.mkdir()
    db = folder / "faces.sqlite"
    g = Gallery(db, MODEL)
    g.add_person("Alice", [vec(1)])
    g.close()
    db.chmod(0o644)
    return db


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
@pytest.mark.parametrize(("file_mode", "folder_mode", "expected"), [
    (0o444, 0o777, "write-error: .*read-only; nothing was saved"),
    (0o666, 0o555, "open-error: .*folder .* is read-only"),
    (0o444, 0o555, "open-error: .*folder .* is read-only"),
    (0o000, 0o777, "open-error: .*no permission to read"),
])
def test_read_only_or_unreadable_database(shared_dir, file_mode, folder_mode, expected):
    db = make_gallery(shared_dir / "data")
    db.chmod(file_mode)
    db.parent.chmod(folder_mode)
    before = db.read_bytes()
    output = run_probe(db)
    assert re.search(expected, output), output
    if output.startswith("opened"):
        assert "read_only True people 1 matrix 1" in output
    assert db.read_bytes() == before


def test_new_database_in_read_only_folder(shared_dir):
    folder = shared_dir / "data"
    folder.mkdir(mode=0o555)
    output = run_probe(folder / "faces.sqlite")
    assert re.search("open-error: .*folder .* is read-only", output), output
    assert not (folder / "faces.sqlite").exists()


def test_wal_and_shm_files_are_private_too(tmp_path, gallery):
    gallery.add_person("Alice", [vec(1)])
    side_files = [p for p in tmp_path.glob("faces.sqlite-*")]
    assert {p.name for p in side_files} >= {"faces.sqlite-wal", "faces.sqlite-shm"}
    for path in side_files:
        assert os.stat(path).st_mode & 0o077 == 0, path
