"""Fast tests of the benchmark helpers and CLI (no timed assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.eval import bench
from kiosk.commands.bench import parse_sizes


def write_video(path: Path, frames: int = 12, size_wh: tuple[int, int] = (160, 120), fps: float = 10.0) -> Path:
    """A tiny synthetic MJPG video: a bright square moving right by 2 px per frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size_wh)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.zeros((size_wh[1], size_wh[0], 3), np.uint8)
        cv2.rectangle(frame, (20 + 2 * i, 30), (60 + 2 * i, 70), (200, 180, 160), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.parametrize(
    ("samples", "median", "calls"),
    [([], 0.0, 0), ([5.0], 5.0, 1), ([1.0, 2.0, 3.0, 100.0], 2.5, 4)],
)
def test_percentile_stats(samples: list[float], median: float, calls: int) -> None:
    stats = bench.percentile_stats(samples)
    assert stats.median_ms == pytest.approx(median)
    assert stats.calls == calls
    assert stats.p95_ms >= stats.median_ms


def test_identification_counts_the_frames_that_identified_with_what_ran_on_each() -> None:
    timings = [
        {"gate": 10.0, "landmarks": 3.0, "liveness": 1.0},  # no identification on this frame
        {"landmarks": 3.0, "align": 1.0, "embed_dlib": 12.0, "match": 0.5},  # dlib was sure
        {"gate": 12.0, "landmarks": 3.0, "align": 1.0, "embed_dlib": 12.0, "embed": 30.0,
         "match": 1.0, "texture": 7.0},  # FaceNet too; texture is liveness, not identification
        {"landmarks": 4.0, "align": 1.0, "embed_dlib": 12.0, "match": 0.5,
         "embed_stored": 25.0},  # FaceNet for the stored face, after the decision: not counted
    ]
    found = bench.identification_ms(timings)
    # the gate's median (11 ms) once per identification, plus the frame's own stages
    assert found.calls == 3
    assert found.median_ms == pytest.approx(11.0 + 4.0 + 1.0 + 12.0 + 0.5)
    assert bench.identification_ms([{"gate": 10.0}]).calls == 0


def test_stage_table_counts_only_frames_where_the_stage_ran() -> None:
    timings = [{"gate": 10.0, "landmarks": 2.0}, {"landmarks": 4.0}, {}]
    table = bench.stage_table(timings, ("gate", "landmarks", "embed"))
    assert table["gate"].calls == 1 and table["landmarks"].calls == 2
    assert table["landmarks"].median_ms == pytest.approx(3.0)
    assert table["embed"].calls == 0
    assert bench.summed_per_frame(timings, ("gate", "landmarks")).tolist() == [12.0, 4.0, 0.0]


def test_random_unit_vectors_are_unit_and_reproducible() -> None:
    a = bench.random_unit_vectors(5, 8, seed=3)
    assert a.shape == (5, 8) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, bench.random_unit_vectors(5, 8, seed=3))


@pytest.mark.parametrize(("items", "count", "expected"), [([], 3, []), ([1, 2], 5, [1, 2]),
                                                          (list(range(10)), 3, [0, 4, 9]),
                                                          ([1, 2, 3], 0, [1, 2, 3])])
def test_sample_evenly(items: list[int], count: int, expected: list[int]) -> None:
    assert bench.sample_evenly(items, count) == expected


def test_peak_rss_is_positive() -> None:
    assert bench.peak_rss_mb() > 1.0


@pytest.mark.parametrize(("text", "sizes"), [("1000,10000", [1000, 10000]), (" 5 ,", [5]),
                                             ("100_000", [100000])])
def test_parse_sizes(text: str, sizes: list[int]) -> None:
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize("text", ["", ",", "a,b", "0", "-5"])
def test_parse_sizes_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--sizes"):
        parse_sizes(text)


def test_video_frames_gives_video_times(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=6, fps=10.0)
    frames = list(bench.video_frames(video))
    assert [i for i, _, _ in frames] == list(range(6))
    assert [t for _, t, _ in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert len(list(bench.video_frames(video, max_frames=2))) == 2
    assert bench.video_frame(video).shape == (120, 160, 3)


def test_video_frames_refuses_a_non_video(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"nothing here")
    with pytest.raises(ValueError, match="cannot open"):
        list(bench.video_frames(bad))


class _Decision:
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome


class _Result:
    def __init__(self, timings: dict[str, float], decision: _Decision | None, face: bool, embedded: bool) -> None:
        self.timings_ms = timings
        self.decision = decision
        self.box_xyxy = np.array([0, 0, 1, 1]) if face else None
        self.embedded = embedded


class _ScriptedPipeline:
    """Face from frame 1, an embedding on frames 1-2, the check-in on frame 3."""

    def process(self, frame_bgr: np.ndarray, t_monotonic: float, frame_id: int = 0) -> _Result:
        timings = {"gate": 10.0} if frame_id % 3 == 0 else {"landmarks": 3.0}
        decision = _Decision("checked_in") if frame_id == 3 else None
        return _Result(timings, decision, frame_id >= 1, frame_id in (1, 2))


def test_run_video_bench_uses_video_time_for_the_check_in() -> None:
    frames = ((i, i / 10.0, np.zeros((4, 4, 3), np.uint8)) for i in range(6))
    ticks = iter(np.arange(0.0, 100.0, 0.5))
    result = bench.run_video_bench(_ScriptedPipeline(), frames, ("gate", "landmarks"),
                                   ("checked_in",), clock=lambda: float(next(ticks)))
    assert result.frames == 6
    assert result.embeddings == 2
    assert result.stages["gate"].calls == 2 and result.stages["landmarks"].calls == 4
    assert result.checkin_video_s == pytest.approx(0.3)
    assert result.checkin_wall_s == pytest.approx(3.5)  # 4 frames of 0.5 s + 3 gaps of 0.5 s
    assert result.first_face_video_s == pytest.approx(0.1)
    assert result.fps == pytest.approx(2.0)
    figures = result.as_dict()
    assert set(figures) >= {"stages", "fps", "embeddings", "time_to_checkin_s", "peak_rss_mb"}
    assert figures["stages"]["gate"] == {"median_ms": 10.0, "p95_ms": 10.0, "calls": 2}


def test_run_video_bench_without_frames() -> None:
    result = bench.run_video_bench(_ScriptedPipeline(), iter(()), ("gate",))
    assert result.frames == 0 and result.fps == 0.0 and result.checkin_video_s is None


def test_match_bench_small_sizes(tmp_path: Path, settings) -> None:
    results = bench.run_match_bench([10, 35], settings, queries=3, folder=str(tmp_path))
    assert [r.size for r in results] == [10, 35]
    assert all(r.query_ms_median >= 0 and r.load_s >= 0 for r in results)
    assert list(tmp_path.iterdir()) == []  # the temporary galleries are gone


def test_written_gallery_loads_with_ten_images_per_person(tmp_path: Path, settings) -> None:
    from kiosk.gallery import Gallery

    path = tmp_path / "g.sqlite"
    bench.write_random_gallery(path, 25, settings.recognition.model_id, dim=512)
    gallery = Gallery(path, settings.recognition.model_id)
    try:
        assert len(gallery.index) == 25
        assert np.bincount(gallery.index.person_ids).max() == 10
        np.testing.assert_allclose(np.linalg.norm(gallery.index.embeddings, axis=1), 1.0, rtol=1e-5)
    finally:
        gallery.close()


def test_cli_bench_match_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.cli import main

    assert main(["--settings", str(tmp_path / "none.toml"), "bench-match", "--sizes", "20",
                 "--queries", "2", "--json"]) != 0  # a named, missing settings file is an error
    capsys.readouterr()
    assert main(["bench-match", "--sizes", "20,40", "--queries", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["size"] for row in rows] == [20, 40]
    assert set(rows[0]) >= {"size", "query_ms_median", "load_s", "full_scans", "threads"}
    assert all(row["same_decisions"] == row["queries"] == 2 for row in rows)
    assert rows[0]["threads"] == 0  # 20 images: the exhaustive scan, no int8 copy
    assert rows[0]["matcher"] == "fused"  # the settings' default: fusion on
    assert main(["bench-match", "--sizes", "25000", "--queries", "4", "--no-fusion", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["matcher"] == "facenet" and row["threads"] >= 1 and row["code_bytes"] == 512
    assert row["same_decisions"] == 4  # random rows: the int8 copy keeps every component
    assert main(["bench-match", "--sizes", "20", "--threads", "0"]) == 1
    assert "--threads" in capsys.readouterr().err


def test_cli_bench_match_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.cli import main

    assert main(["bench-match", "--sizes", "ten"]) == 1
    assert "--sizes" in capsys.readouterr().err


def test_cli_bench_refuses_missing_and_unreadable_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.cli import main

    assert main(["bench", "--video", str(tmp_path / "missing.mp4")]) == 1
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"x")
    assert main(["bench", "--video", str(bad)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_cli_bench_on_a_synthetic_video(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        models, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real pipeline on a tiny face-less video: JSON with every key, nothing checked in."""
    import kiosk.stages

    monkeypatch.setattr(kiosk.stages, "load_models", lambda settings: models)
    from kiosk.cli import main

    video = write_video(tmp_path / "clip.avi", frames=8)
    assert main(["bench", "--video", str(video), "--json", "--compare-face-recognition",
                 "--compare-frames", "2"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["frames"] == 8
    # fusion is on by default: dlib's encoder is a stage of its own
    assert set(figures["stages"]) == {"gate", "landmarks", "liveness", "texture", "align", "embed",
                                      "embed_dlib", "match", "embed_stored"}
    assert figures["stages"]["gate"]["calls"] == 8  # no face: the gate runs on every frame
    assert figures["embeddings"] == 0 and figures["time_to_checkin_s"] is None
    assert figures["peak_rss_mb"] > 0 and figures["fps"] > 0
    compare = figures["face_recognition"]
    assert "skipped" in compare or compare["frames"] == 2
    if "skipped" not in compare:  # the kiosk found no face either: no identification timed
        assert compare["kiosk_identification"]["calls"] == 0


def test_the_kiosk_identification_of_a_frame(models, settings, known_faces) -> None:
    """What the comparison with face_recognition times: a face is found and matched (fused,
    dlib first as the kiosk opens its gallery), a frame without a face stops at the gate; the
    enrolled photo itself is settled by dlib alone, FaceNet runs only where dlib is unsure."""
    from kiosk.face_encoder import FaceEncoder
    from kiosk.gallery import Gallery
    from kiosk.images import read_image
    from kiosk.matching.rule import DlibFirstBand, fusion_weights_of

    fused = settings.replace("recognition", fusion=True, dlib_first=True)
    # the band closed (accept below 0, refuse from 1.99): FaceNet decides every face
    closed = fused.replace("recognition", dlib_first_accept=0.0, dlib_first_reject=1.99)
    obama = read_image(known_faces / "obama.jpg")
    enrolled = FaceEncoder(models, fused).encode_photo(obama).embeddings
    runs = []
    for chosen in (fused, closed):
        with Gallery(":memory:", chosen.recognition.model_id, 10, store_face_crops=False,
                     fusion_weights=fusion_weights_of(chosen.recognition),
                     dlib_first=DlibFirstBand.from_settings(chosen.recognition)) as gallery:
            gallery.add_person("Obama", [enrolled])
            identify = bench.KioskIdentifier(models, gallery, chosen)
            assert identify(obama) is True
            assert identify(np.zeros((240, 320, 3), np.uint8)) is False
            runs.append(identify.facenet_runs)
    assert runs == [0, 1]  # the enrolled face itself: dlib is sure; closed band: FaceNet ran


def test_video_frames_can_start_later(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=6, fps=10.0)
    frames = list(bench.video_frames(video, max_frames=2, start_frame=3))
    assert [i for i, _, _ in frames] == [3, 4]
    assert [t for _, t, _ in frames] == pytest.approx([0.3, 0.4])


def test_face_like_galleries_keep_the_subspace_and_the_spread_of_the_faces_they_copy() -> None:
    """Drawn galleries look like the embeddings they were fitted on: the same subspace (the
    int8 copy can use it), about the same similarity between people and within a person."""
    from kiosk.matching.quantize import Projection

    rng = np.random.default_rng(30)
    basis = np.linalg.qr(rng.normal(size=(512, 40)))[0]
    centres = rng.normal(size=(150, 40)) * np.linspace(1.0, 0.2, 40)
    person_of_row = np.repeat(np.arange(150), 4)
    real = centres[person_of_row] + 0.5 * rng.normal(size=(600, 40)) * np.linspace(1.0, 0.2, 40)
    real = real @ basis.T
    real = (real / np.linalg.norm(real, axis=1, keepdims=True)).astype(np.float32)
    faces = bench.FaceLikeVectors.fit(real, person_of_row)
    assert (faces.fitted_people, faces.fitted_images) == (150, 600)
    rows, drawn_centres = bench.face_like_gallery(faces, 3000, seed=1)
    assert rows.shape == (3000, 512) and len(drawn_centres) == 300
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-5)
    outside = rows - (rows @ basis) @ basis.T
    assert np.linalg.norm(outside, axis=1).max() < 1e-3  # nothing drawn outside the subspace
    assert Projection.fit(rows) is not None
    source = bench.similarity_spread(real, person_of_row)
    drawn = bench.similarity_spread(rows[:800], np.arange(800) // bench.IMAGES_PER_PERSON)
    assert abs(drawn["other_people_std"] - source["other_people_std"]) < 0.05
    assert abs(drawn["same_person_mean"] - source["same_person_mean"]) < 0.15
    probes = bench.face_like_probes(faces, drawn_centres, 10, seed=2)
    assert probes.shape == (10, 512)
    with pytest.raises(ValueError, match="2 or more images"):
        bench.FaceLikeVectors.fit(real[:3], np.arange(3))


def test_cli_bench_match_draws_galleries_like_real_faces(
    tmp_path: Path, data_dir: Path, models, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import kiosk.stages
    from kiosk.cli import main

    people = [folder for folder in sorted((data_dir / "lfw-dev" / "images").iterdir())
              if len(list(folder.glob("*.jpg"))) >= 3][:3]
    if len(people) < 3:
        pytest.skip("lfw-dev has fewer than 3 people with 3 images")
    for folder in people:
        (tmp_path / "people" / folder.name).mkdir(parents=True)
        for image in sorted(folder.glob("*.jpg"))[:3]:
            (tmp_path / "people" / folder.name / image.name).symlink_to(image)
    monkeypatch.setattr(kiosk.stages, "load_models", lambda _settings: models)  # shared
    assert main(["bench-match", "--sizes", "30", "--queries", "4", "--json",
                 "--faces", str(tmp_path / "people")]) == 0
    captured = capsys.readouterr()
    row = json.loads(captured.out)[0]
    assert row["gallery"] == "face-like" and row["same_decisions"] == row["queries"] == 4
    assert "photos of 3 people" in captured.err
    assert main(["bench-match", "--sizes", "30", "--faces", str(tmp_path / "nowhere")]) == 1
    assert "--faces" in capsys.readouterr().err
