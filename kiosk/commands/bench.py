"""``bench --video FILE [--enroll IMAGE] [--json]`` and ``bench-match [--sizes ...] [--faces DIR] [--json]``.

See :mod:`kiosk.eval.bench` for what is timed and docs/BENCHMARKS.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kiosk.config import Settings

DEFAULT_COMPARE_FRAMES = 60


def register(subparsers: Any) -> None:
    """Add ``bench`` and ``bench-match``."""
    p = subparsers.add_parser(
        "bench",
        help="per-stage latency, fps and time to check-in of the real pipeline on a video",
        description=(
            "Runs the kiosk pipeline over every frame of a video as fast as it can (video time "
            "= frame index / fps) and prints per stage the median and 95th-percentile ms, the "
            "frames per second, the FaceNet calls, the time to the check-in decision (with "
            "--enroll) and the peak resident memory. The gallery is in memory; nothing is saved."
        ),
    )
    p.add_argument("--video", required=True, help="a video file")
    enrol = p.add_mutually_exclusive_group()
    enrol.add_argument("--enroll", metavar="IMAGE",
                       help="a photo of the person in the video: enrol them, then time the check-in")
    enrol.add_argument("--enroll-frame", metavar="N", type=int, default=None,
                       help="enrol from frame N of the video itself (-1: the middle frame)")
    p.add_argument("--start-frame", type=int, default=0,
                   help="skip the video's first N frames (times still count from the first frame run)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--compare-face-recognition", action="store_true",
                   help="also time face_recognition (dlib HOG + ResNet) on frames of the video")
    p.add_argument("--compare-frames", type=int, default=DEFAULT_COMPARE_FRAMES,
                   help=f"frames spread over the video for face_recognition (default "
                        f"{DEFAULT_COMPARE_FRAMES}; 0 = all)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(handler=cmd_bench)

    m = subparsers.add_parser(
        "bench-match",
        help="matching time per query and gallery load time for galleries of given sizes",
        description=(
            "For each size, writes a temporary SQLite gallery of that many images (10 per "
            "person), times opening it (the start-up load) and open-set queries against it "
            "(half enrolled people, half strangers), with the kiosk's matcher and with the "
            "exhaustive float32 scan in alternating blocks of 10, and counts identical decisions "
            "(same person, image, distance and margin). The images are random unit vectors, or "
            "with --faces drawn like the embeddings of real photos."
        ),
    )
    m.add_argument("--sizes", default="1000,10000,100000", help="comma-separated gallery sizes")
    m.add_argument("--queries", type=int, default=50, help="queries per size (default 50)")
    m.add_argument("--threads", type=int, default=None,
                   help="threads of the int8 scan (default: the kiosk's, the cores up to 2)")
    m.add_argument("--faces", metavar="FOLDER", default=None,
                   help="a folder of one sub-folder of photos per person (LFW's layout): embed "
                        "them and draw the galleries and queries like them (same subspace, same "
                        "spread between and within people) instead of random unit vectors")
    m.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                   help="time the fused matcher (FaceNet and dlib, as [recognition] fusion = "
                        "true) or FaceNet's alone (default: the settings)")
    m.add_argument("--json", action="store_true", help="print the figures as JSON")
    m.set_defaults(handler=cmd_bench_match)


def parse_sizes(text: str) -> list[int]:
    """``"1000,10000"`` -> ``[1000, 10000]``.

    Raises:
        ValueError: empty, not integers, or not positive.
    """
    parts = [part.strip().replace("_", "") for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("--sizes: give at least one size")
    try:
        sizes = [int(part) for part in parts]
    except ValueError as exc:
        raise ValueError(f"--sizes: not a list of integers: {text!r}") from exc
    if any(size <= 0 for size in sizes):
        raise ValueError("--sizes: sizes must be positive")
    return sizes


def cmd_bench_match(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of ``bench-match``."""
    from kiosk.eval.bench import run_match_bench
    from kiosk.commands.common import UserError

    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if args.queries < 1:
        raise UserError("--queries must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    if args.fusion is not None:
        settings = settings.replace("recognition", fusion=bool(args.fusion))
    faces = None if args.faces is None else face_like_model(args.faces, settings)
    results = run_match_bench(sizes, settings, args.queries, threads=args.threads, faces=faces)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
        return 0
    print(f"matcher: {results[0].matcher if results else ''}, gallery: "
          f"{results[0].gallery if results else ''}")
    print(f"{'images':>10} {'query ms median/p95':>20} {'cold ms':>8} {'exhaustive ms median/p95':>25} "
          f"{'same':>9} {'full scans':>10} {'threads':>7} {'index build s':>13} {'int8 MB':>8} "
          f"{'float32 MB':>10} {'gallery RSS MB':>14} {'load s':>7} {'bytes/image':>11}")
    for r in results:
        print(f"{r.size:>10,} {r.query_ms_median:>11.2f} / {r.query_ms_p95:<6.2f} "
              f"{r.cold_query_ms_median:>8.2f} "
              f"{r.exhaustive_ms_median:>16.2f} / {r.exhaustive_ms_p95:<6.2f} "
              f"{r.same_decisions:>4}/{r.queries:<4} {r.full_scans:>10} {r.threads:>7} "
              f"{r.index_build_s:>13.2f} {r.index_mb:>8.0f} {r.matrix_mb:>10.0f} "
              f"{r.gallery_rss_mb:>14.0f} {r.load_s:>7.2f} {r.code_bytes:>11}")
    return 0


def face_like_model(folder: str, settings: Settings) -> Any:
    """Embed the photos of a folder of people (the kiosk's embedders: FaceNet, and dlib's with
    fusion; failures skipped) and fit :class:`kiosk.eval.bench.FaceLikeVectors` on them;
    prints what the real and the drawn embeddings look like (on standard error), so that the
    two can be compared.

    Raises:
        UserError: not a folder of people, or too few faces found.
    """
    import numpy as np

    from kiosk.commands.common import UserError
    from kiosk.eval.bench import FaceLikeVectors, similarity_spread
    from kiosk.eval.identify import people_images
    from kiosk.face_encoder import FaceEncoder
    from kiosk.images import ImageError
    from kiosk.stages import load_models

    try:
        people = people_images(folder)
    except ValueError as exc:
        raise UserError(f"--faces: {exc}") from exc
    model_id = settings.recognition.model_id
    encoder = FaceEncoder(load_models(settings), settings)
    rows, person_of_row = [], []
    for person, paths in people.items():
        for path in paths:
            try:
                embeddings = encoder.encode_file_models(path)
            except (ImageError, ValueError) as exc:
                print(f"--faces: skipped {exc}", file=sys.stderr)
                continue
            # FaceNet's components first, then the other model's with fusion
            rows.append(np.concatenate([embeddings[model_id]] + [
                value for key, value in sorted(embeddings.items()) if key != model_id]))
            person_of_row.append(person)
            unit_width = len(embeddings[model_id])
    if not rows:
        raise UserError(f"--faces {folder}: no face found in any photo")
    embedded, person_of_row = np.array(rows), np.array(person_of_row)
    try:
        faces = FaceLikeVectors.fit(embedded, person_of_row, unit_width=unit_width)
    except ValueError as exc:
        raise UserError(f"--faces {folder}: {exc}") from exc
    real = similarity_spread(embedded[:, :unit_width], person_of_row)
    drawn_people = faces.centres(200, np.random.default_rng(0))
    drawn = faces.images(np.repeat(drawn_people, 4, axis=0), np.random.default_rng(1))
    drawn_spread = similarity_spread(drawn[:, :unit_width], np.repeat(np.arange(200), 4))
    print(f"face-like galleries from {faces.fitted_images} photos of {faces.fitted_people} "
          f"people in {folder}: "
          f"similarity between people {real['other_people_mean']:.3f} +- "
          f"{real['other_people_std']:.3f} (drawn {drawn_spread['other_people_mean']:.3f} +- "
          f"{drawn_spread['other_people_std']:.3f}), within a person "
          f"{real['same_person_mean']:.3f} (drawn {drawn_spread['same_person_mean']:.3f})",
          file=sys.stderr)
    return faces


def _enroll(settings: Settings, models: Any, gallery: Any, args: argparse.Namespace) -> int | None:
    """Enrol the person of --enroll / --enroll-frame and open an event; returns the event id."""
    from kiosk.eval.bench import video_frame
    from kiosk.commands.common import UserError
    from kiosk.face_encoder import FaceEncoder
    from kiosk.images import ImageError

    encoder = FaceEncoder(models, settings)
    try:
        if args.enroll:
            sample = encoder.encode_file(args.enroll, single=True)
        elif args.enroll_frame is not None:
            index = None if args.enroll_frame < 0 else args.enroll_frame
            sample = encoder.encode_photo(video_frame(args.video, index), "enrol frame", single=True)
        else:
            return None
    except (ImageError, ValueError) as exc:
        raise UserError(f"cannot enrol: {exc}") from exc
    gallery.add_person("bench subject", [sample.embeddings], actor="bench")
    return int(gallery.create_event("bench"))


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of ``bench``."""
    from kiosk.eval.bench import TEXTURE_STAGE, run_video_bench, video_frames
    from kiosk.commands.common import UserError
    from kiosk.matching.rule import DlibFirstBand, fusion_weights_of
    from kiosk.gallery import Gallery
    from kiosk.decision import Outcome
    from kiosk.pipeline import STAGES, Pipeline
    from kiosk.stages import load_models

    if not Path(args.video).is_file():
        raise UserError(f"{args.video}: no such file")
    if args.enroll and not Path(args.enroll).is_file():
        raise UserError(f"{args.enroll}: no such file")
    try:
        next(video_frames(args.video, 1))
    except (ValueError, StopIteration) as exc:
        raise UserError(f"{args.video}: cannot read frames from this video") from exc
    models = load_models(settings)  # includes the FaceNet warm-up, outside the timed run
    with Gallery(":memory:", settings.recognition.model_id,
                 settings.gallery.max_images_per_person, store_face_crops=False,
                 fusion_weights=fusion_weights_of(settings.recognition),
                 dlib_first=DlibFirstBand.from_settings(settings.recognition)) as gallery:
        event_id = _enroll(settings, models, gallery, args)
        pipeline = Pipeline(settings, models, gallery, event_id)
        bench = run_video_bench(
            pipeline, video_frames(args.video, args.max_frames, max(0, args.start_frame)),
            tuple(s for s in STAGES if s not in ("embed_dlib", "embed_stored") or gallery.fused)
            + (TEXTURE_STAGE,),
            (Outcome.CHECKED_IN, Outcome.ALREADY_CHECKED_IN),
        )
        compare: dict[str, Any] | None = None
        if args.compare_face_recognition:
            compare = _compare_face_recognition(args, models, gallery, settings, bench)
    figures: dict[str, Any] = bench.as_dict()
    figures["video"] = str(args.video)
    figures["enrolled"] = event_id is not None
    if compare is not None:
        figures["face_recognition"] = compare
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    _print_bench(figures)
    return 0


def _compare_face_recognition(args: argparse.Namespace, models: Any, gallery: Any,
                              settings: Settings, bench: Any) -> dict[str, Any]:
    """``face_recognition`` on frames sampled from the video, each after the kiosk's own
    identification of the same frame (interleaved, so both see the same load)."""
    from kiosk.eval.bench import (
        face_recognition_available,
        KioskIdentifier,
        run_face_recognition_bench,
        sample_evenly,
        video_frames,
    )

    available, why = face_recognition_available()
    if not available:
        return {"skipped": f"face_recognition is not importable ({why}); install it with "
                           "pip install --no-deps face_recognition==1.3.0 Click Pillow"}
    frames = [frame for _, _, frame in video_frames(args.video, args.max_frames, max(0, args.start_frame))]
    frames = sample_evenly(frames, args.compare_frames)
    fr = run_face_recognition_bench(frames, KioskIdentifier(models, gallery, settings))
    compare = fr.as_dict()
    ours = bench.total.median_ms
    compare["ratio_per_frame_median"] = round(fr.per_frame.median_ms / ours, 1) if ours > 0 else None
    identification = bench.identification.median_ms
    compare["identification_ms"] = round(identification, 2)
    compare["ratio_identification"] = (
        round(fr.per_frame.median_ms / identification, 2) if identification > 0 else None
    )
    return compare


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _print_bench(f: dict[str, Any]) -> None:
    out = sys.stdout
    print(f"{f['video']}: {f['frames']} frames", file=out)
    print(f"{'stage':<26} {'median ms':>10} {'p95 ms':>9} {'calls':>6}", file=out)
    for name, s in f["stages"].items():
        label = f"{name} (in liveness)" if name == "texture" else name
        print(f"{label:<26} {s['median_ms']:>10.2f} {s['p95_ms']:>9.2f} {s['calls']:>6}", file=out)
    g = f["gate_landmarks_liveness"]
    print(f"{'gate+landmarks+liveness/frame':<26} {g['median_ms']:>7.2f} {g['p95_ms']:>9.2f} "
          f"{g['calls']:>6}", file=out)
    t = f["per_frame"]
    print(f"{'whole pipeline/frame':<26} {t['median_ms']:>10.2f} {t['p95_ms']:>9.2f} "
          f"{t['calls']:>6}", file=out)
    print(f"fps {f['fps']:.1f}; FaceNet embeddings {f['embeddings']}; "
          f"peak RSS {f['peak_rss_mb']:.0f} MB", file=out)
    if not f["enrolled"]:
        print("time to check-in: - (no --enroll)", file=out)
    else:
        print(f"first decision: {f['decision'] or 'none'} at video {_fmt_s(f['decision_video_s'])} "
              f"(wall {_fmt_s(f['decision_wall_s'])})", file=out)
        print(f"time to check-in: video {_fmt_s(f['time_to_checkin_s'])} from the first frame "
              f"(wall {_fmt_s(f['time_to_checkin_wall_s'])}); first face at video "
              f"{_fmt_s(f['first_face_video_s'])}", file=out)
    fr = f.get("face_recognition")
    if fr is None:
        return
    if "skipped" in fr:
        print(f"face_recognition: skipped: {fr['skipped']}", file=out)
        return
    print(f"face_recognition on {fr['frames']} frames (face in {fr['faces_found']}): detect "
          f"{fr['detect']['median_ms']:.0f} ms + encode {fr['encode']['median_ms']:.0f} ms, "
          f"{fr['per_frame']['median_ms']:.0f} ms/frame median -> "
          f"{fr['ratio_per_frame_median']}x the kiosk pipeline's median per frame", file=out)
    if fr.get("ratio_identification") is not None:
        print(f"one identification in the pipeline run (median over the frames that identified: "
              f"gate median + landmarks + align + the embeddings that ran + match, "
              f"{f['identification']['calls']} frames, FaceNet in "
              f"{f['identifications_with_facenet']}): {fr['identification_ms']:.1f} ms -> "
              f"face_recognition's "
              f"frame takes {fr['ratio_identification']}x as long", file=out)
    if fr.get("kiosk_identification") is not None:
        ours = fr["kiosk_identification"]
        print(f"interleaved, the same {fr['frames']} frames (the kiosk's identification of a "
              f"frame, then face_recognition's): kiosk {ours['median_ms']:.1f} ms median "
              f"(p95 {ours['p95_ms']:.1f}, face in {ours['calls']}, FaceNet needed in "
              f"{fr['kiosk_facenet_runs']}) against "
              f"{fr['per_frame']['median_ms']:.1f} ms -> {fr['ratio_interleaved']}x faster",
              file=out)
