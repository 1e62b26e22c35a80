"""The CLI of the recognition core, run as a user would: `python main.py ...` in a subprocess."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def bmp_claiming(width: int, height: int) -> bytes:
    """A BMP header claiming a size beyond OpenCV's own limit (OpenCV raised cv2.error)."""
    return (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
            + b"\x00" * 256)


def test_enrolling_a_lookalike_is_refused_unless_allowed(enrolled, known_faces):
    """The look-alike used to be stored under the existing person's name."""
    db, person_id, _ = enrolled
    before = people(db)
    refused = run("enroll", "--name", "Someone Else", str(known_faces / "obama2.jpg"), db=db)
    assert refused.returncode == 1
    assert f"looks like person {person_id} (Barack Obama)" in refused.stderr
    assert "--allow-duplicate" in refused.stderr and "Traceback" not in refused.stderr
    assert people(db) == before
    allowed = run("enroll", "--name", "Someone Else", "--allow-duplicate",
                  str(known_faces / "obama2.jpg"), db=db)
    assert allowed.returncode == 0, allowed.stderr
    new_id = int(allowed.stdout)
    try:
        assert {"id": new_id, "name": "Someone Else", "external_id": None, "images": 1} in people(db)
        assert "Barack Obama" in allowed.stderr  # still says whom it looks like
    finally:
        assert run("people", "delete", str(new_id), db=db).returncode == 0


def test_identify_goes_on_after_bad_files(enrolled, tmp_path, known_faces):
    db, person_id, _ = enrolled
    bomb = write(tmp_path / "bomb.bmp", bmp_claiming(40_000, 40_000))
    text = write(tmp_path / "notes.jpg", b"not a photo")
    result = run("identify", str(bomb), str(text), str(known_faces / "obama2.jpg"), db=db)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"{bomb}: error: ") and "too large" in lines[0]
    assert lines[1].startswith(f"{text}: error: ")
    assert lines[2].startswith(f"{known_faces / 'obama2.jpg'}: Barack Obama (id {person_id})")
    assert lines[3] == "3 photos: 1 identified, 0 unknown, 2 failed"


def test_names_over_200_characters_or_with_a_newline_are_refused(tmp_path, known_faces):
    db = tmp_path / "faces.sqlite"
    for name, message in (("x" * 100_000, "longer than 200"), ("Ann\nSmith", "control character")):
        result = run("enroll", "--name", name, str(known_faces / "biden.jpg"), db=db)
        assert result.returncode == 1 and message in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_an_external_id_that_is_not_utf8_is_refused(tmp_path, known_faces):
    db = tmp_path / "faces.sqlite"
    external_id = os.fsdecode(b"E\xff01")
    result = run("enroll", "--name", "Joe", "--external-id", external_id,
                 str(known_faces / "biden.jpg"), db=db)
    assert result.returncode == 1
    assert "not valid UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_people_list_keeps_one_line_per_person(tmp_path):
    """Names stored before the name rule may hold a newline: the listing stays one per line."""
    db = tmp_path / "faces.sqlite"
    from kiosk.embed import l2_normalize
    from kiosk.gallery import Gallery

    with Gallery(db, "facenet-20180408-102900/flip") as gallery:
        gallery.add_person("Ann", [l2_normalize(np.ones(512, np.float32))])
        gallery.store._conn.execute("UPDATE people SET name = 'Ann' || char(10) || 'Smith'")
    result = run("people", "list", db=db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "1\tAnn\\nSmith\t\t1 image"


def test_enroll_folder_goes_on_past_bad_photos_and_file_names(tmp_path, known_faces):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "B77.jpg").write_bytes((known_faces / "biden.jpg").read_bytes())
    with open(os.path.join(os.fsencode(folder), b"E\xff01.jpg"), "wb") as handle:
        handle.write((known_faces / "obama.jpg").read_bytes())
    (folder / "A01.bmp").write_bytes(bmp_claiming(40_000, 40_000))
    (folder / "C03.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    db = tmp_path / "faces.sqlite"
    result = run("enroll-folder", str(folder), "--json", db=db)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["total"] == 4
    assert [(e["external_id"], e["images"]) for e in report["enrolled"]] == [("B77", 1)]
    reasons = {r["file"]: r["reason"] for r in report["refused"]}
    assert set(reasons) == {"E\\xff01.jpg", "A01.bmp", "C03.jpg"}
    assert "not valid UTF-8" in reasons["E\\xff01.jpg"]
    assert "too large" in reasons["A01.bmp"]
    assert [p["name"] for p in people(db)] == ["B77"]


def test_a_bad_model_path_is_one_line_not_a_traceback(tmp_path, known_faces):
    settings = tmp_path / "settings.toml"
    settings.write_text('[recognition]\nshape_predictor = "models/missing.dat"\n')
    result = run("--settings", str(settings), "identify", str(known_faces / "obama.jpg"),
                 db=tmp_path / "faces.sqlite")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {settings}: [recognition] shape_predictor: ")
