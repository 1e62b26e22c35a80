"""``eval-liveness MANIFEST [--json]``: liveness error rates on labelled sequences."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kiosk.config import Settings


def register(subparsers: Any) -> None:
    """Add the liveness subcommands."""
    p = subparsers.add_parser(
        "eval-liveness",
        help="APCER/BPCER/ACER of the liveness check on labelled sequences",
        description=(
            "Runs the face gate, landmarks and liveness tracker over labelled sequences: a CSV "
            "path,label,subject,session,frame_no (frames) or path,label (videos), paths "
            "relative to the manifest. label 'live' is bona fide, anything else an attack."
        ),
    )
    p.add_argument("manifest", help="the CSV manifest")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(handler=cmd_eval_liveness)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def cmd_eval_liveness(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of ``eval-liveness``."""
    from kiosk.commands.common import UserError
    from kiosk.detect import HaarFaceDetector
    from kiosk.landmarks import LandmarkPredictor
    from kiosk.liveness import evaluation_tracker
    from kiosk.eval.liveness import ManifestError, evaluate, read_manifest
    from kiosk.model_files import ModelNotFoundError, shape_predictor_path

    try:
        sequences = read_manifest(args.manifest)
        predictor = LandmarkPredictor(
            str(shape_predictor_path(settings.recognition.shape_predictor))
        )
        tracker = evaluation_tracker(HaarFaceDetector(settings.detection), predictor)
        evaluation = evaluate(sequences, tracker, settings.liveness)
    except (ManifestError, ModelNotFoundError) as exc:
        raise UserError(str(exc)) from exc
    figures = evaluation.as_dict()
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    out = sys.stdout
    print(
        f"sequences {figures['sequence_count']} (live {figures['lives']}, attack {figures['attacks']}; "
        f"no face found in {figures['no_face']}, left out and counted below)",
        file=out,
    )
    print(
        f"combined: APCER {_fmt(figures['apcer'])}  BPCER {_fmt(figures['bpcer'])}  "
        f"ACER {_fmt(figures['acer'])}  undecided {figures['undecided']} "
        f"(live {figures['undecided_live']}; undecided = not checked in)",
        file=out,
    )
    print(f"BPCER counting no-face live sequences as refusals: {_fmt(figures['bpcer_with_no_face'])}")
    decision = figures["decision"]
    print(
        f"decision after: median {decision['median_frames']} frames / {_fmt(decision['median_s'])} s, "
        f"max {decision['max_frames']} frames / {_fmt(decision['max_s'])} s",
        file=out,
    )
    print("per cue alone (at the configured threshold; threshold for BPCER 5 %):", file=out)
    for name, cue in figures["per_cue"].items():
        at5 = cue["at_bpcer_5"]
        print(
            f"  {name:12s} APCER {_fmt(cue['apcer'])}  BPCER {_fmt(cue['bpcer'])}  "
            f"ACER {_fmt(cue['acer'])}  undecided {cue['undecided']:3d}  "
            f"threshold {cue['threshold']:g}  | BPCER-5% threshold {_fmt(at5['threshold'])} "
            f"-> APCER {_fmt(at5['apcer'])}",
            file=out,
        )
    return 0
