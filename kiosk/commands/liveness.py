"""``eval-liveness MANIFEST|VIDEO ... [--json]``: liveness error rates on labelled sequences."""

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
            "relative to the manifest, or video files (label --video-label). label 'live' is "
            "bona fide, anything else an attack. Prints the figures and, per sequence, the "
            "judged face's box, whether a head-turn challenge was asked (a recording cannot "
            "answer: not admitted) and the decision."
        ),
    )
    p.add_argument("manifests", nargs="+", metavar="MANIFEST_OR_VIDEO",
                   help="CSV manifests, or video files (one sequence each)")
    p.add_argument("--frame-interval-s", type=float, default=None,
                   help="seconds between frame_no n and n+1 in frames manifests "
                        "(default 1/25: camera frames)")
    p.add_argument("--video-label", default="live",
                   help="the label of video files given directly (default live)")
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
    from kiosk.eval.liveness import ManifestError, evaluate, read_sources
    from kiosk.model_files import ModelNotFoundError, shape_predictor_path

    try:
        sequences = read_sources(args.manifests, args.frame_interval_s, args.video_label)
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
        f"ACER {_fmt(figures['acer'])}  undecided or challenged {figures['undecided']} "
        f"(live {figures['undecided_live']}; both = not checked in)",
        file=out,
    )
    print(f"BPCER counting no-face live sequences as refusals: {_fmt(figures['bpcer_with_no_face'])}")
    decision = figures["decision"]
    print(
        f"decision (live or spoof, no challenge) after: median {decision['median_frames']} "
        f"frames / {_fmt(decision['median_s'])} s, max {decision['max_frames']} frames / "
        f"{_fmt(decision['max_s'])} s; live admitted: median {_fmt(decision['median_admitted_s'])} s",
        file=out,
    )
    challenge = figures["challenge"]
    share = challenge["live_admitted_without_challenge_share"]
    print(
        f"challenge asked: {challenge['challenged']} (live {challenge['challenged_live']}); live "
        f"admitted without a challenge: {challenge['live_admitted_without_challenge']} of "
        f"{figures['lives'] + _no_face_lives(figures)} ({_fmt(share)}); attacks admitted: "
        f"{challenge['attacks_admitted']}; live refused as spoof: "
        f"{challenge['live_refused_as_spoof']}; BPCER if the challenged live attendees answer: "
        f"{_fmt(challenge['bpcer_if_live_answer'])}",
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
    print("per sequence (box: the judged face in the deciding frame, x0 y0 x1 y1):", file=out)
    print(f"  {'sequence':48s} {'label':20s} {'decision':9s} {'at_s':>6s} {'reason':20s} "
          f"{'texture':>7s}  box", file=out)
    for seq in figures["sequences"]:
        box = " ".join(str(v) for v in seq["judged_box_xyxy"]) if seq["judged_box_xyxy"] else "-"
        at_s = "-" if seq["decided_at_s"] is None else f"{seq['decided_at_s']:.2f}"
        print(
            f"  {_short(seq['id']):48s} {seq['label'][:20]:20s} {seq['decision']:9s} {at_s:>6s} "
            f"{seq['reason'][:20]:20s} {_fmt(seq['scores'].get('texture')):>7s}  {box}"
            + (f"  (tracked face changed {seq['track_changes']}x)" if seq["track_changes"] else ""),
            file=out,
        )
    return 0


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else "..." + name[-(width - 3):]


def _no_face_lives(figures: dict[str, Any]) -> int:
    return sum(1 for s in figures["sequences"] if s["label"] == "live" and s["frames_with_face"] == 0)
