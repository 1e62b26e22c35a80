"""``eval-pairs``: verification accuracy of the whole photo path on a pairs list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kiosk.recognize import FaceEncoder, ImageError
from kiosk.verification import best_threshold, accuracy_at, kfold_accuracy, read_pairs, tar_at_far

NO_FACE_DISTANCE = 2.0  # the largest distance between unit vectors: the pair counts as different


def evaluate_pairs(
    pairs_file: str | Path, root: str | Path, encoder: FaceEncoder, folds: int = 10
) -> dict[str, Any]:
    """Embed every image of the pairs once and compute the LFW-protocol figures.

    A pair with an image where no face was found gets distance :data:`NO_FACE_DISTANCE`, so it
    is decided "different" (an error for a same-person pair); the count is reported.

    Returns:
        ``pairs``, ``images``, ``accuracy``, ``accuracy_std``, ``threshold`` (mean of the fold
        thresholds), ``best_threshold`` and its accuracy on all pairs, ``tar_at_far_1e3``,
        ``no_face`` (images), ``no_face_images`` (their paths), ``folds``.
    """
    pairs = read_pairs(pairs_file, root)
    paths = sorted({p.path_a for p in pairs} | {p.path_b for p in pairs})
    embeddings: dict[Path, np.ndarray | None] = {}
    no_face: list[str] = []
    for path in paths:
        try:
            embeddings[path] = encoder.encode_file(path, single=False).embedding
        except ImageError:
            embeddings[path] = None
            no_face.append(str(path))
    distances = np.empty(len(pairs))
    for index, pair in enumerate(pairs):
        a, b = embeddings[pair.path_a], embeddings[pair.path_b]
        distances[index] = NO_FACE_DISTANCE if a is None or b is None else float(np.linalg.norm(a - b))
    same = np.array([p.same for p in pairs])
    accuracy, accuracy_std, threshold = kfold_accuracy(distances, same, folds)
    single = best_threshold(distances, same)
    return {
        "pairs": len(pairs),
        "images": len(paths),
        "accuracy": round(accuracy, 4),
        "accuracy_std": round(accuracy_std, 4),
        "threshold": round(threshold, 4),
        "best_threshold": round(single, 4),
        "best_threshold_accuracy": round(accuracy_at(distances, same, single), 4),
        "tar_at_far_1e3": round(tar_at_far(distances, same, 1e-3), 4),
        "no_face": len(no_face),
        "no_face_images": no_face,
        "no_face_distance": NO_FACE_DISTANCE,
        "folds": folds,
    }
