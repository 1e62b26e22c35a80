"""The CLI of the recognition core, run as a user would: `python main.py ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--db", str(db), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def people(db: Path) -> list[dict]:
    result = run("people", "list", "--json", db=db)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, known_faces):
    """obama.jpg enrolled in a fresh database, then the known faces identified (one process each)."""
    db = tmp_path_factory.mktemp("cli") / "faces.sqlite"
    enrol = run("enroll", "--name", "Barack Obama", "--external-id", "B44", str(known_faces / "obama.jpg"), db=db)
    assert enrol.returncode == 0, enrol.stderr
    images = [str(known_faces / f) for f in ("obama2.jpg", "obama3.jpg", "biden.jpg")]
    identify = run("identify", *images, "--json", db=db)
    assert identify.returncode == 0, identify.stderr
    return db, int(enrol.stdout.strip()), json.loads(identify.stdout)


def test_enrolled_person_is_identified_and_others_are_unknown(enrolled):
    db, person_id, results = enrolled
    by_name = {Path(r["image"]).name: r for r in results}
    assert set(results[0]) == {"image", "person_id", "name", "distance", "margin", "error"}
    for image in ("obama2.jpg", "obama3.jpg"):
        assert by_name[image]["person_id"] == person_id
        assert by_name[image]["name"] == "Barack Obama"
        assert by_name[image]["error"] is None
    assert by_name["biden.jpg"]["person_id"] is None
    assert by_name["biden.jpg"]["distance"] > by_name["obama2.jpg"]["distance"]
    assert people(db) == [{"id": person_id, "name": "Barack Obama", "external_id": "B44", "images": 1}]


@pytest.mark.parametrize(
    ("make_image", "message"),
    [
        (lambda d, k: d / "missing.jpg", "no such file"),
        (lambda d, k: write(d / "empty.jpg", b""), "empty"),
        (lambda d, k: write(d / "text.jpg", b"hello"), "not an image"),
        (lambda d, k: k / "obama_partial_face.jpg", "no face"),
    ],
)
def test_bad_enrolment_input_changes_nothing(enrolled, tmp_path, known_faces, make_image, message):
    db, _, _ = enrolled
    before = people(db)
    image = make_image(tmp_path, known_faces)
    result = run("enroll", "--name", "Someone", str(image), db=db)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert people(db) == before


def test_empty_name_and_duplicate_external_id_are_refused(enrolled, known_faces):
    db, _, _ = enrolled
    before = people(db)
    empty = run("enroll", "--name", "  ", str(known_faces / "biden.jpg"), db=db)
    assert empty.returncode != 0 and "--name is empty" in empty.stderr
    dup = run("enroll", "--name", "Joe", "--external-id", "B44", str(known_faces / "biden.jpg"), db=db)
    assert dup.returncode != 0 and "already enrolled" in dup.stderr
    assert people(db) == before


def test_missing_database_folder(tmp_path, known_faces):
    result = run("people", "list", db=tmp_path / "nope" / "faces.sqlite")
    assert result.returncode != 0 and "does not exist" in result.stderr
    assert not (tmp_path / "nope").exists()


def test_identify_reports_unreadable_images_per_image(enrolled, tmp_path, known_faces):
    db, person_id, _ = enrolled
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    result = run("identify", str(bad), str(known_faces / "obama2.jpg"), "--json", db=db)
    rows = json.loads(result.stdout)
    assert result.returncode == 1
    assert "not an image" in rows[0]["error"] and rows[1]["person_id"] == person_id


def test_delete_person(tmp_path, known_faces):
    db = tmp_path / "faces.sqlite"
    person_id = int(run("enroll", "--name", "Joe", str(known_faces / "biden.jpg"), db=db).stdout)
    result = run("people", "delete", str(person_id), db=db)
    assert result.returncode == 0, result.stderr
    assert people(db) == []
    again = run("people", "delete", str(person_id), db=db)
    assert again.returncode != 0 and "no person" in again.stderr


def test_eval_pairs_on_a_small_csv(tmp_path, known_faces):
    pairs = tmp_path / "pairs.csv"
    rows = ["file_x,file_y,Decision", "obama.jpg,obama2.jpg,Yes", "obama.jpg,obama3.jpg,Yes",
            "obama2.jpg,obama3.jpg,Yes", "obama.jpg,biden.jpg,No", "obama2.jpg,biden.jpg,No",
            "obama3.jpg,biden.jpg,No", "obama.jpg,obama_partial_face.jpg,Yes"]
    pairs.write_text("\n".join(rows) + "\n")
    result = run("eval-pairs", str(pairs), "--root", str(known_faces), "--folds", "2", "--json", db=tmp_path / "x.sqlite")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"pairs", "accuracy", "accuracy_std", "threshold", "tar_at_far_1e3", "no_face"} <= set(report)
    assert report["pairs"] == 7 and report["no_face"] == 1
    # every pair but the one with no face is decided right at the best single threshold
    assert report["best_threshold_accuracy"] == pytest.approx(6 / 7, abs=1e-3)
