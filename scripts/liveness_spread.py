"""How the passive texture admission spreads over subjects, and what fitting its threshold would do.

Usage: ``python scripts/liveness_spread.py EVAL.json [EVAL.json ...] [--challenge-after-s 1.0]``
where each EVAL.json is the output of ``python main.py eval-liveness ... --json``.

From each sequence's per-frame texture score (the lowest of the last ``texture_frames`` samples,
the admission statistic, measured once the window is complete) it replays the passive rule for other thresholds: a sequence is
admitted without a challenge when the score reaches the threshold before ``challenge_after_s``
and before a fake window refused it. (The planar hold-back is not replayed: it only ever delays
an admission.) It prints

- per subject (the middle part of ``label/subject/session``, or the video file): live sequences
  admitted without a challenge, and the highest pre-challenge admission statistic of its attacks;
- for a grid of thresholds: live sequences admitted and attacks admitted;
- leave one subject out: for each subject, the threshold that *fitting* would choose on the
  others (the lowest grid value admitting none of their attacks), and what it does to the
  subject held out. This shows how far a fitted threshold can be from a safe one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

GRID = [round(0.5 + 0.05 * i, 2) for i in range(10)]  # 0.50 .. 0.95


def subject_of(name: str) -> str:
    parts = name.split("/")
    return parts[1] if len(parts) == 3 else Path(name).stem


def admission_statistic(sequence: dict, challenge_after_s: float) -> float:
    """The highest texture admission statistic before the challenge (and before a refusal)."""
    best = 0.0
    end_s = challenge_after_s
    if sequence["decision"] == "spoof" and sequence["decided_at_s"] is not None:
        end_s = min(end_s, sequence["decided_at_s"])
    for t_s, score in zip(sequence["times_s"], sequence["texture_scores"]):
        if t_s >= end_s - 1e-9:
            break
        if score is not None:
            best = max(best, score)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluations", nargs="+")
    parser.add_argument("--challenge-after-s", type=float, default=1.0)
    args = parser.parse_args()
    sequences = []
    for path in args.evaluations:
        sequences.extend(json.loads(Path(path).read_text(encoding="utf-8"))["sequences"])
    rows = [
        (subject_of(s["id"]), s["label"] == "live", admission_statistic(s, args.challenge_after_s))
        for s in sequences
        if s["frames_with_face"] > 0
    ]
    by_subject: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for subject, live, stat in rows:
        by_subject[subject].append((live, stat))

    print("per subject at 0.80: live admitted without a challenge / live; attacks' highest statistic")
    for subject, items in sorted(by_subject.items()):
        lives = [stat for live, stat in items if live]
        attacks = [stat for live, stat in items if not live]
        admitted = sum(stat >= 0.8 for stat in lives)
        worst = f"{max(attacks):.3f} ({len(attacks)})" if attacks else "-"
        print(f"  {subject:40s} live {admitted}/{len(lives)}  attacks max {worst}")

    print("threshold grid: live admitted without a challenge, attacks admitted")
    n_live = sum(live for _, live, _ in rows)
    for threshold in GRID:
        live_ok = sum(live and stat >= threshold for _, live, stat in rows)
        attacks_in = sum((not live) and stat >= threshold for _, live, stat in rows)
        print(f"  {threshold:.2f}: live {live_ok}/{n_live} ({live_ok / max(n_live, 1):.3f}), "
              f"attacks admitted {attacks_in}")

    print("leave one subject out (fitted = lowest grid threshold admitting no training attack):")
    for subject, items in sorted(by_subject.items()):
        training = [stat for s, live, stat in rows if s != subject and not live]
        fitted = next((t for t in GRID if all(stat < t for stat in training)), GRID[-1])
        lives = [stat for live, stat in items if live]
        attacks = [stat for live, stat in items if not live]
        print(f"  {subject:40s} fitted {fitted:.2f}: held-out live admitted "
              f"{sum(stat >= fitted for stat in lives)}/{len(lives)}, attacks admitted "
              f"{sum(stat >= fitted for stat in attacks)}/{len(attacks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
