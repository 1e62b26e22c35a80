"""Soak test: the real worker on a looping clip against a gallery of 10,000 people.

Runs the camera reader (the clip looped and paced at its own frame rate), the processing worker
on a QThread (offscreen Qt) and the real models for ``--minutes``, with a gallery of
``--people`` people (``--images`` random unit-vector images each, plus the person of the clip
enrolled from one of its frames so that real check-ins and rolling updates happen). Prints
resident memory at the start (after warm-up) and at the end, the threads alive, frames read and
processed, and decisions; exits 1 when memory grew by ``--max-growth-mb`` or more or a thread was
left behind.

    python scripts/soak.py --video ../shared/data/clips/live_selfie_blinks.mp4 --minutes 10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    """Current resident memory of this process (VmRSS), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def build_gallery(path: Path, model_id: str, people: int, images: int,
                  fusion: bool = False) -> None:
    """Write ``people`` x ``images`` random unit vectors to a new gallery in one transaction
    (with fusion, a random dlib-like 128-d vector per image too, so every image is matched)."""
    import numpy as np

    from kiosk.dlib_encoder import DLIB_EMBEDDING_SIZE, DLIB_MODEL_ID
    from kiosk.gallery import Gallery

    rng = np.random.default_rng(0)
    rows = []
    for person in range(people):
        vectors = rng.normal(size=(images, 512)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        embeddings = {model_id: vectors}
        if fusion:
            embeddings[DLIB_MODEL_ID] = (0.09 * rng.normal(
                size=(images, DLIB_EMBEDDING_SIZE))).astype(np.float32)
        rows.append((f"Person {person:05d}", f"S{person:05d}", embeddings))
    with Gallery(path, model_id) as gallery:
        gallery.people_table.add_many(rows, actor="soak")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--max-growth-mb", type=float, default=50.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import cv2
    from PyQt5.QtCore import QCoreApplication

    from kiosk.camera import LatestFrameReader
    from kiosk.config import Settings
    from kiosk.matching.rule import DlibFirstBand, fusion_weights_of
    from kiosk.gallery import Gallery
    from kiosk.decision import Outcome
    from kiosk.pipeline import Pipeline
    from kiosk.face_encoder import FaceEncoder
    from kiosk.stages import load_models
    from ui.worker import PipelineWorker, start_worker, stop_worker

    app = QCoreApplication(sys.argv[:1])
    settings = Settings()
    settings = dataclasses.replace(
        settings, camera=dataclasses.replace(settings.camera, source=args.video, loop_file=True,
                                             pace_file=True),
    )
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-soak-"))
    db_path = workdir / "faces.sqlite"
    settings = settings.replace("gallery", db_path=str(db_path))
    started = time.monotonic()
    build_gallery(db_path, settings.recognition.model_id, args.people, args.images,
                  settings.recognition.fusion)
    build_s = time.monotonic() - started

    models = load_models(settings)
    capture = cv2.VideoCapture(args.video)
    capture.set(cv2.CAP_PROP_POS_FRAMES, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) // 2)
    ok, frame = capture.read()
    capture.release()
    if not ok:
        print(f"error: cannot read {args.video}", file=sys.stderr)
        return 1
    setup = Gallery(db_path, settings.recognition.model_id,
                    fusion_weights=fusion_weights_of(settings.recognition),
                    dlib_first=DlibFirstBand.from_settings(settings.recognition))
    sample = FaceEncoder(models, settings).encode_photo(frame)
    setup.add_person("Soak Walker", [sample.embeddings])
    event_id = setup.create_event("Soak")
    setup.close()
    del setup  # its in-memory matrix too: only the worker's gallery should hold one

    counts = {"results": 0, "errors": 0, "decisions": 0, "checked_in": 0, "already": 0}

    def make_pipeline(chosen: int | None) -> Pipeline:
        gallery = Gallery(db_path, settings.recognition.model_id,
                          fusion_weights=fusion_weights_of(settings.recognition),
                          dlib_first=DlibFirstBand.from_settings(settings.recognition))
        pipeline = Pipeline(settings, models, gallery, chosen)
        # A new attendee every 5 s of video: the decided track is forgotten, so the person is
        # recognised again and again ("already checked in") for the whole run.
        original = pipeline.process

        def process(frame_bgr, t_monotonic, frame_id=0):  # type: ignore[no-untyped-def]
            if frame_id % 150 == 0:
                pipeline._reset_track()
            return original(frame_bgr, t_monotonic, frame_id)

        pipeline.process = process  # type: ignore[method-assign]
        return pipeline

    def on_result(worker_result: object) -> None:
        counts["results"] += 1
        decision = worker_result.result.decision  # type: ignore[attr-defined]
        if decision is not None:
            counts["decisions"] += 1
            counts["checked_in"] += decision.outcome is Outcome.CHECKED_IN
            counts["already"] += decision.outcome is Outcome.ALREADY_CHECKED_IN

    def on_error(message: str) -> None:
        counts["errors"] += 1
        print(f"worker error: {message}", file=sys.stderr)

    threads_before = {t.name for t in threading.enumerate()}
    reader = LatestFrameReader(settings.camera)
    reader.start()
    worker = PipelineWorker(reader, make_pipeline, event_id)
    worker.result_ready.connect(on_result)
    worker.error.connect(on_error)
    thread = start_worker(worker)

    warm_until = time.monotonic() + 20.0
    while time.monotonic() < warm_until:
        app.processEvents()
        time.sleep(0.01)
    rss_start = rss_mb()
    results_start = counts["results"]
    end = time.monotonic() + args.minutes * 60.0
    samples = [(0.0, rss_start)]
    next_sample = time.monotonic() + 60.0
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() >= next_sample:
            samples.append((round(time.monotonic() - (end - args.minutes * 60.0), 1), rss_mb()))
            next_sample += 60.0
    rss_end = rss_mb()
    stats = reader.stats()
    threads_during = sorted(t.name for t in threading.enumerate())
    stopped = stop_worker(worker, thread)
    reader.stop()
    app.processEvents()
    left = sorted(t.name for t in threading.enumerate() if t.name not in threads_before)
    report = {
        "minutes": args.minutes,
        "gallery_images": args.people * args.images + 1,
        "gallery_build_s": round(build_s, 1),
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_end": round(rss_end, 1),
        "rss_growth_mb": round(rss_end - rss_start, 1),
        "rss_mb_per_minute": [(t, round(m, 1)) for t, m in samples],
        "frames_read": stats.frames_read,
        "frames_processed": counts["results"] - results_start,
        "processed_fps": round((counts["results"] - results_start) / (args.minutes * 60.0), 1),
        "decisions": counts["decisions"],
        "checked_in": counts["checked_in"],
        "already_checked_in": counts["already"],
        "worker_errors": counts["errors"],
        "threads_while_running": threads_during,
        "worker_stopped": stopped,
        "threads_left_after_stop": left,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    failed = report["rss_growth_mb"] >= args.max_growth_mb or left or not stopped
    os._exit(1 if failed else 0)  # skip teardown (TensorFlow and Qt free in a clashing order)


if __name__ == "__main__":
    sys.exit(main())
