"""Calibrate the texture cue's crop box against the MiniFASNet reference detector (docs/LIVENESS.md).

Usage: ``python scripts/texture_crop_calibration.py REFERENCE_DETECTOR_DIR DATA_DIR``

``REFERENCE_DETECTOR_DIR`` holds ``deploy.prototxt`` and ``Widerface-RetinaFace.caffemodel`` (the
face detector the MiniFASNet models were used with; it is not shipped with the kiosk).
``DATA_DIR`` holds ``lfw-dev/``, ``nuaa-dev/`` and ``clips/``.

For every face the kiosk finds (face gate + dlib landmarks, as the liveness evaluation does) and
the reference detector finds too, it measures the reference box (x, y, w, h) against the
landmarks' anchor (:func:`kiosk.texture.landmark_anchor`: jaw middle, eyes-chin middle, jaw width as
the unit): centre offset and size in units.
It fits the median of each over all faces, and prints per data set the spread, the IoU of the
predicted box with the reference box, and (on nuaa-dev and the clips) how far the texture
scores from the predicted crop are from those of the reference crop, plus the time per frame of
the reference detector.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.config import Settings  # noqa: E402
from kiosk.detect import HaarFaceDetector  # noqa: E402
from kiosk.eval.liveness import read_video  # noqa: E402
from kiosk.landmarks import LandmarkPredictor  # noqa: E402
from kiosk.liveness import evaluation_tracker  # noqa: E402
from kiosk.model_files import shape_predictor_path  # noqa: E402
from kiosk.texture import TextureScorer, landmark_anchor, reference_box_from_landmarks  # noqa: E402

LFW_IMAGES = 300
CLIP_EVERY_N = 5


class ReferenceDetector:
    """The RetinaFace Caffe detector of Silent-Face-Anti-Spoofing, as its README describes."""

    def __init__(self, folder: Path) -> None:
        self.net = cv2.dnn.readNetFromCaffe(
            str(folder / "deploy.prototxt"), str(folder / "Widerface-RetinaFace.caffemodel")
        )

    def box(self, frame_bgr: np.ndarray) -> tuple[float, float, float, float] | None:
        height, width = frame_bgr.shape[:2]
        img = frame_bgr
        if width * height >= 192 * 192:
            aspect = width / height
            img = cv2.resize(
                frame_bgr, (int(192 * math.sqrt(aspect)), int(192 / math.sqrt(aspect))),
                interpolation=cv2.INTER_LINEAR,
            )
        self.net.setInput(cv2.dnn.blobFromImage(img, 1, mean=(104, 117, 123)), "data")
        out = self.net.forward("detection_out").reshape(-1, 7)
        if len(out) == 0:
            return None
        best = out[int(np.argmax(out[:, 2]))]
        if best[2] < 0.6:
            return None
        left, top = best[3] * width, best[4] * height
        right, bottom = best[5] * width, best[6] * height
        return float(int(left)), float(int(top)), float(int(right - left + 1)), float(int(bottom - top + 1))


def iou_xywh(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def frames_of(data_dir: Path) -> list[tuple[str, str, object]]:
    """(data set, label, loader) for every frame to measure."""
    items: list[tuple[str, str, object]] = []
    lfw = sorted((data_dir / "lfw-dev" / "images").glob("*/*.jpg"))
    step = max(1, len(lfw) // LFW_IMAGES)
    items += [("lfw-dev", "live", p) for p in lfw[::step][:LFW_IMAGES]]
    with (data_dir / "nuaa-dev" / "manifest.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            items.append(("nuaa-dev", row["label"], data_dir / "nuaa-dev" / row["path"]))
    for clip in sorted((data_dir / "clips").glob("*.mp4")):
        frames, _ = read_video(clip)
        items += [(f"clip {clip.stem}", "live", f) for f in frames[::CLIP_EVERY_N]]
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference_detector_dir", type=Path)
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    settings = Settings()
    landmarker = evaluation_tracker(
        HaarFaceDetector(settings.detection),
        LandmarkPredictor(str(shape_predictor_path(settings.recognition.shape_predictor))),
    )
    reference = ReferenceDetector(args.reference_detector_dir)
    scorer = TextureScorer.from_models_dir()
    rows = []  # (set, label, anchor, ref box, landmarks, frame or path)
    ref_ms: list[float] = []
    missed = {"kiosk": 0, "reference": 0}
    for data_set, label, source in frames_of(args.data_dir):
        frame = cv2.imread(str(source)) if isinstance(source, Path) else source
        landmarks = landmarker.update(frame).landmarks
        began = time.perf_counter()
        ref = reference.box(frame)
        ref_ms.append((time.perf_counter() - began) * 1000)
        if landmarks is None or ref is None:
            missed["kiosk" if landmarks is None else "reference"] += 1
            continue
        rows.append((data_set, label, landmark_anchor(landmarks), ref, landmarks, source))
    anchors = np.array([r[2] for r in rows])  # (x, y, unit)
    ref = np.array([r[3] for r in rows])
    dx = (ref[:, 0] + ref[:, 2] / 2 - anchors[:, 0]) / anchors[:, 2]
    dy = (ref[:, 1] + ref[:, 3] / 2 - anchors[:, 1]) / anchors[:, 2]
    sw = ref[:, 2] / anchors[:, 2]
    sh = ref[:, 3] / anchors[:, 2]
    fit = tuple(float(np.median(v)) for v in (dx, dy, sw, sh))
    print(f"faces measured {len(rows)}; missed by the kiosk {missed['kiosk']}, "
          f"by the reference detector {missed['reference']}")
    print(f"reference detector: median {np.median(ref_ms):.1f} ms/frame (these frames, 1 process)")
    print("fit (median over all faces): centre_dx %.3f centre_dy %.3f width_scale %.3f "
          "height_scale %.3f" % fit)
    sets = sorted({r[0] for r in rows})
    print("\n| data set | faces | centre dx (units) | centre dy (units) | w (units) | "
          "h (units) | IoU predicted vs reference: median, 5th pct | texture score |d|: "
          "median, 95th pct |")
    print("|---|---|---|---|---|---|---|---|")
    for data_set in sets + ["all"]:
        idx = [i for i, r in enumerate(rows) if data_set in (r[0], "all")]
        ious = [
            iou_xywh(reference_box_from_landmarks(rows[i][4], *fit), rows[i][3]) for i in idx
        ]
        diffs = []
        if data_set != "lfw-dev" and data_set != "all":
            for i in idx:
                source = rows[i][5]
                frame = cv2.imread(str(source)) if isinstance(source, Path) else source
                a = scorer.score_box(frame, rows[i][3]).real
                b = scorer.score_box(frame, reference_box_from_landmarks(rows[i][4], *fit)).real
                diffs.append(abs(a - b))

        def q(v: np.ndarray) -> str:
            return f"{np.median(v):.3f} ({np.percentile(v, 25):.3f}-{np.percentile(v, 75):.3f})"

        diff_text = (
            f"{np.median(diffs):.3f}, {np.percentile(diffs, 95):.3f}" if diffs else "-"
        )
        print(f"| {data_set} | {len(idx)} | {q(dx[idx])} | {q(dy[idx])} | {q(sw[idx])} | "
              f"{q(sh[idx])} | {np.median(ious):.3f}, {np.percentile(ious, 5):.3f} | {diff_text} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
