"""Liveness verdict and time to decision on video clips (docs/LIVENESS.md).

Usage: ``python scripts/liveness_clips.py CLIP.mp4 [CLIP.mp4 ...] [--settings settings.toml]``

Each clip is read with ``cv2.VideoCapture`` and run through the steps of
:func:`kiosk.liveness.verdicts_for_frames` (face gate + landmarks + a fresh tracker fed the
colour frame, so the texture cue runs as in the kiosk), frame by frame. Prints the first decided
verdict (or the head-turn challenge, which a recording cannot answer), when it came, each cue's
score then, and how the verdict evolved (also after that first decision, by restarting the
tracker once decided or challenged).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.cli import DEFAULT_SETTINGS  # noqa: E402
from kiosk.config import Settings  # noqa: E402
from kiosk.settings_files import load_settings  # noqa: E402
from kiosk.detect import HaarFaceDetector  # noqa: E402
from kiosk.landmarks import LandmarkPredictor  # noqa: E402
from kiosk.liveness import (  # noqa: E402
    CHALLENGE_PROMPTS,
    CUE_NAMES,
    LiveState,
    LivenessTracker,
    evaluation_tracker,
)
from kiosk.texture import TextureScorer  # noqa: E402
from kiosk.eval.liveness import read_video  # noqa: E402
from kiosk.model_files import shape_predictor_path  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--settings", default=str(DEFAULT_SETTINGS))
    args = parser.parse_args()
    settings = load_settings(args.settings) if Path(args.settings).is_file() else Settings()
    faces_tracker = evaluation_tracker(
        HaarFaceDetector(settings.detection),
        LandmarkPredictor(str(shape_predictor_path(settings.recognition.shape_predictor))),
    )
    texture = None
    if settings.liveness.use_texture:
        texture = TextureScorer.from_models_dir(settings.liveness.texture_models_dir)
    for clip in args.clips:
        scores = ""
        frames, times_s = read_video(Path(clip))
        tracker = LivenessTracker(settings.liveness, texture)
        faces_tracker.reset()
        decisions: list[str] = []
        first: tuple[int, float, str, str] | None = None
        faces = 0
        spent_s = 0.0
        t_start = 0.0
        for i, (frame, t_s) in enumerate(zip(frames, times_s)):
            began = time.perf_counter()
            face = faces_tracker.update(frame)
            gray, landmarks = face.gray, face.landmarks
            verdict = tracker.update(gray, landmarks, t_s, frame)
            spent_s += time.perf_counter() - began
            faces += landmarks is not None
            if verdict.state is not LiveState.UNDECIDED or verdict.reason in CHALLENGE_PROMPTS:
                outcome = "challenge" if verdict.state is LiveState.UNDECIDED else verdict.state.value
                if first is None:
                    first = (i + 1, t_s, outcome, verdict.reason.value)
                    scores = ", ".join(
                        f"{name} {verdict.cue(name).score:.3f}"
                        for name in CUE_NAMES
                        if verdict.cue(name).score is not None
                    )
                decisions.append(f"{t_s - t_start:.2f}s->{outcome}({verdict.reason.value})")
                tracker.reset()  # start a new decision, to see how stable the verdict is
                t_start = t_s
        print(f"{Path(clip).name}: {len(frames)} frames, face in {faces}")
        if first is None:
            print("  first decision: none (undecided throughout)")
        else:
            print(
                f"  first decision: {first[2]} ({first[3]}) at frame {first[0]}, "
                f"{first[1]:.2f} s after the first frame"
            )
            print(f"  cue scores then: {scores or 'none'}")
        print(f"  decisions after restarting each time: {', '.join(decisions) or 'none'}")
        print(f"  gate + landmarks + liveness: {1000 * spent_s / max(1, len(frames)):.1f} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
