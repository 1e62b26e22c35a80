"""The store: schema version checks, the migration from version 1 (with a backup), and the
rule that commands which do not match never read the embeddings."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3

import numpy as np
import pytest

from kiosk.cli import main
from kiosk.gallery import Gallery, GalleryError
from kiosk.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, SQLiteStore

MODEL = "facenet-20180408-102900/flip"

V1_SCHEMA = """
CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, external_id TEXT UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE faces (id INTEGER PRIMARY KEY AUTOINCREMENT, person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE, embedding BLOB NOT NULL, model_id TEXT NOT NULL, crop_jpeg BLOB, source TEXT NOT NULL, pinned INTEGER NOT NULL DEFAULT 0, quality REAL, created_at TEXT NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, opens_at TEXT, closes_at TEXT, created_at TEXT NOT NULL);
CREATE TABLE checkins (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id INTEGER NOT NULL, person_id INTEGER NOT NULL, at TEXT NOT NULL, method TEXT NOT NULL, distance REAL, liveness REAL, operator TEXT, reason TEXT, UNIQUE (event_id, person_id));
CREATE TABLE roster (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id INTEGER NOT NULL, external_id TEXT, name TEXT NOT NULL);
CREATE TABLE spoof_attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id INTEGER, at TEXT NOT NULL, reason TEXT NOT NULL, thumbnail_jpeg BLOB);
CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, details TEXT NOT NULL);
CREATE TABLE settings_store (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def unit(seed):
    v = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return v / np.linalg.norm(v)


def write_v1(path, user_version=1):
    """A gallery as the first version of the kiosk wrote it: two people, one check-in."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {user_version}")
    for pid, name in ((1, "Alice"), (2, "Bob")):
        conn.execute("INSERT INTO people VALUES (?, ?, NULL, '2026-11-01T09:00:00+00:00')", (pid, name))
        conn.execute(
            "INSERT INTO faces (person_id, embedding, model_id, crop_jpeg, source, pinned, created_at) "
            "VALUES (?, ?, ?, ?, 'enrol', 1, '2026-11-01T09:00:00+00:00')",
            (pid, unit(pid).astype("<f4").tobytes(), MODEL, b"jpeg"),
        )
    conn.execute("INSERT INTO events VALUES (1, 'Old meeting', NULL, NULL, '2026-11-01T08:00:00+00:00')")
    conn.execute("INSERT INTO checkins (event_id, person_id, at, method) VALUES (1, 1, '2026-11-01T09:05:00+00:00', 'auto')")
    conn.commit()
    conn.close()


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_version_1_is_migrated_with_a_backup_and_keeps_everything(tmp_path):
    db = tmp_path / "faces.sqlite"
    write_v1(db)
    with Gallery(db, MODEL) as gallery:
        assert gallery.store.migrated_from == 1
        backup = gallery.store.backup_path
        assert backup is not None and backup.exists() and oct(backup.stat().st_mode)[-3:] == "600"
        assert [p.name for p in gallery.people()] == ["Alice", "Bob"]
        assert gallery.match(unit(2), 1.13, 0.05).person_id == 2
        assert [f.model_id for f in gallery.faces_of(1)] == [MODEL]
        assert len(gallery.checkins(1)) == 1
        assert gallery.audit_log(1)[0]["action"] == "migrate schema"
    old = sqlite3.connect(backup)  # the backup is the version-1 gallery as it was
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT count(*) FROM faces WHERE length(embedding) = 2048").fetchone()[0] == 2
    old.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {r[1] for r in conn.execute("PRAGMA table_info(faces)")}
    assert "embedding" not in columns  # no embedding left outside face_embeddings
    conn.close()
    with Gallery(db, MODEL) as again:  # opening again migrates nothing
        assert again.store.migrated_from is None


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "faces.sqlite"
    Gallery(db, MODEL).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = digest(db)
    with pytest.raises(GalleryError, match="newer version of the kiosk"):
        Gallery(db, MODEL)
    assert digest(db) == before


def test_missing_tables_are_refused_as_damage(tmp_path):
    db = tmp_path / "faces.sqlite"
    Gallery(db, MODEL).close()
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE checkins")
    conn.close()
    before = digest(db)
    with pytest.raises(GalleryError, match="damaged.*checkins"):
        SQLiteStore(db)
    assert digest(db) == before


def test_events_list_does_not_read_the_embeddings(tmp_path, capsys, monkeypatch):
    db = tmp_path / "faces.sqlite"
    with Gallery(db, MODEL) as gallery:
        gallery.add_person("Alice", [unit(1)])
        gallery.create_event("Board")
    loaded = []
    original = Gallery.reload
    monkeypatch.setattr(Gallery, "reload", lambda self: loaded.append(1) or original(self))
    assert main(["--db", str(db), "events", "list", "--json"]) == 0
    assert [e["name"] for e in json.loads(capsys.readouterr().out)] == ["Board"]
    assert loaded == []


def test_no_module_outside_the_store_touches_the_connection():
    """Only kiosk/store opens SQLite or uses its connection; other kiosk modules go through the
    Store interface, and the UI never opens a transaction (or writes audit rows) itself."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("kiosk", "ui", "scripts"):
        for path in (root / folder).rglob("*.py"):
            if "store" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            markers = ["._conn.", "sqlite3.connect"]
            if folder == "ui":
                markers += [".transaction()", ".audit("]
            if any(marker in text for marker in markers):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_a_deleted_database_folder_stores_nothing_and_says_so(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    with Gallery(folder / "faces.sqlite", MODEL) as gallery:
        alice = gallery.add_person("Alice", [unit(1)])
        event_id = gallery.create_event("Board")
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
        with pytest.raises(GalleryError, match="deleted or replaced"):
            gallery.check_in(alice, event_id)


def test_deletion_leaves_no_bytes_while_another_connection_is_open(tmp_path):
    db = tmp_path / "faces.sqlite"
    secret = unit(77)
    with Gallery(db, MODEL) as gallery, Gallery(db, MODEL) as other:
        person = gallery.add_person("Alice", [secret], [b"CROP-MARKER-" * 50])
        gallery.add_person("Bob", [unit(2)])
        assert other.match(secret, 1.13, 0.05).person_id == person  # the other one has read it
        gallery.delete_person(person)
        raw = db.read_bytes() + (db.parent / "faces.sqlite-wal").read_bytes()
        assert secret.astype("<f4").tobytes() not in raw
        assert b"CROP-MARKER-" not in raw


SQL_STATEMENT = re.compile(
    r"""["'](\s*)(SELECT\s|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s|DROP\s|"""
    r"""ALTER\s|LISTEN\s|VACUUM|PRAGMA\s)""")  # the project writes SQL keywords in capitals


def test_no_sql_outside_the_store_modules():
    """Every read and write of the database goes through the store's modules (kiosk/store/,
    service/store/): no SQL text anywhere else in the kiosk, the service or the window."""
    from tests.conftest import PROJECT_ROOT

    offenders = []
    for folder in ("kiosk", "service", "ui"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            if path.parent.name == "store":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if SQL_STATEMENT.search(line):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_documented_sqlite_utils_commands_inspect_and_back_up_a_gallery(tmp_path):
    """docs/RELIABILITY.md: an operator lists the tables, exports the check-ins and makes a
    consistent copy with sqlite-utils (the gallery-tools extra) while a kiosk has it open."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    tool = shutil.which("sqlite-utils") or str(Path(sys.executable).parent / "sqlite-utils")
    if not Path(tool).exists():
        pytest.skip("sqlite-utils is not installed (pip install -e .[gallery-tools])")
    db = tmp_path / "faces.sqlite"
    with Gallery(db, MODEL) as gallery:  # open, as a running kiosk holds it
        person = gallery.add_person("Ada Lovelace", [unit(1)])
        event = gallery.create_event("Board")
        gallery.check_in(person, event, "manual", operator="desk", reason="badge")

        def run(*args: str) -> str:
            result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60,
                                    cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            return result.stdout

        counts = run("tables", str(db), "--counts", "--csv")
        assert "people,1" in counts and "checkins,1" in counts
        rows = run("query", str(db), "SELECT p.name, c.at, c.method, c.operator, c.reason "
                   "FROM checkins c JOIN people p ON p.id = c.person_id WHERE c.event_id = 1",
                   "--csv")
        assert "Ada Lovelace" in rows and "manual,desk,badge" in rows
        run("query", str(db), "VACUUM INTO 'backup.sqlite'")
    with Gallery(tmp_path / "backup.sqlite", MODEL) as copy:
        assert [p.name for p in copy.people()] == ["Ada Lovelace"]
        assert len(copy.checkins(event)) == 1
