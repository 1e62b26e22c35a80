"""``eval-pairs``: verification accuracy on pair lists: readers for LFW and CSV pair files, and the metrics.

The metrics follow the LFW protocol used by FaceNet's authors: for each fold, the threshold that
maximises accuracy on the other folds is applied to it; the accuracy is the mean over folds (with
its standard deviation). The folds are those the pairs file declares (an LFW header ``9\t300``
means nine folds, each 300 same-person lines then 300 different-person lines); a file that
declares a single fold (``1\t300``, lfw-dev) or a CSV file is dealt into 10 folds. TAR at
FAR=1e-3 is read from the distances of all pairs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.matching.rule import fused_distance, model_weights
from kiosk.face_encoder import FaceEncoder
from kiosk.images import ImageError


class PairsFormatError(ValueError):
    """A pairs file that is neither the LFW format nor the ``file_x,file_y,Decision`` CSV."""


DEFAULT_FOLDS = 10


@dataclass(frozen=True, slots=True)
class Pair:
    """Two image paths and whether they show the same person.

    Attributes:
        fold: the fold the pairs file puts this pair in (0-based), or None when the file
            declares no folds (CSV) or a single one.
    """

    path_a: Path
    path_b: Path
    same: bool
    fold: int | None = None


def read_pairs(pairs_file: str | Path, root: str | Path) -> list[Pair]:
    """Read an LFW ``pairs.txt`` or a CSV ``file_x,file_y,Decision`` (Yes/No) pairs file.

    LFW: a header ``folds<TAB>n``, then ``name i j`` (same) and ``name1 i name2 j`` (different)
    lines, images at ``ROOT/<name>/<name>_<i:04d>.jpg``; fold ``k`` is the ``k``-th block of
    ``n`` same then ``n`` different lines, and with two folds or more every pair carries its
    fold. CSV: paths relative to ``root``, no folds.

    Raises:
        PairsFormatError: with the line number of the first bad line.
    """
    pairs_file, root = Path(pairs_file), Path(root)
    try:
        text = pairs_file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PairsFormatError(f"{pairs_file}: cannot read: {exc.strerror or exc}") from exc
    lines = text.splitlines()
    if not lines:
        raise PairsFormatError(f"{pairs_file}: empty file")
    first = lines[0].replace(",", " ").split()
    if [part.lower() for part in first[:3]] == ["file_x", "file_y", "decision"]:
        return _read_csv_pairs(pairs_file, text, root)
    return _read_lfw_pairs(pairs_file, lines, root)


def _lfw_image(root: Path, name: str, index: str) -> Path:
    return root / name / f"{name}_{int(index):04d}.jpg"


def _read_lfw_pairs(pairs_file: Path, lines: list[str], root: Path) -> list[Pair]:
    pairs: list[Pair] = []
    header: tuple[int, int] | None = None
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        try:
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                header = int(parts[0]), int(parts[1])
                continue
            if not parts:
                continue
            if len(parts) == 3:
                name, i, j = parts
                pairs.append(Pair(_lfw_image(root, name, i), _lfw_image(root, name, j), True))
            elif len(parts) == 4:
                name_a, i, name_b, j = parts
                pairs.append(Pair(_lfw_image(root, name_a, i), _lfw_image(root, name_b, j), False))
            else:
                raise ValueError("expected 'name i j' or 'name1 i name2 j'")
        except ValueError as exc:
            raise PairsFormatError(f"{pairs_file}:{number}: {exc}: {line!r}") from exc
    if not pairs:
        raise PairsFormatError(f"{pairs_file}: no pairs")
    if header is not None and header[0] >= 2:
        return _with_declared_folds(pairs_file, pairs, *header)
    return pairs


def _with_declared_folds(pairs_file: Path, pairs: list[Pair], folds: int, per_kind: int) -> list[Pair]:
    """The pairs with the fold of the header ``folds<TAB>per_kind`` (each fold: ``per_kind``
    same-person pairs, then ``per_kind`` different-person pairs)."""
    if len(pairs) != 2 * folds * per_kind:
        raise PairsFormatError(
            f"{pairs_file}: the header declares {folds} folds of {per_kind}+{per_kind} pairs "
            f"({2 * folds * per_kind}), the file has {len(pairs)}"
        )
    result = []
    for index, pair in enumerate(pairs):
        fold, offset = divmod(index, 2 * per_kind)
        if pair.same != (offset < per_kind):
            raise PairsFormatError(
                f"{pairs_file}: pair {index + 1} is a {'same' if pair.same else 'different'}"
                f"-person pair where fold {fold + 1} expects the other kind"
            )
        result.append(Pair(pair.path_a, pair.path_b, pair.same, fold))
    return result


def _read_csv_pairs(pairs_file: Path, text: str, root: Path) -> list[Pair]:
    pairs: list[Pair] = []
    reader = csv.DictReader(text.splitlines())
    fields = {name.lower(): name for name in reader.fieldnames or []}
    for number, row in enumerate(reader, start=2):
        decision = (row.get(fields["decision"]) or "").strip().lower()
        path_a = (row.get(fields["file_x"]) or "").strip()
        path_b = (row.get(fields["file_y"]) or "").strip()
        if decision not in ("yes", "no") or not path_a or not path_b:
            raise PairsFormatError(f"{pairs_file}:{number}: expected file_x,file_y,Yes|No")
        pairs.append(Pair(root / path_a, root / path_b, decision == "yes"))
    if not pairs:
        raise PairsFormatError(f"{pairs_file}: no pairs")
    return pairs


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share of pairs decided right when "same" means distance < threshold."""
    return float(np.mean((distances < threshold) == same))


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold (midway between neighbouring distances) with the highest accuracy."""
    ordered = np.unique(distances)
    if len(ordered) == 1:
        return float(ordered[0]) + 1e-6
    candidates = np.concatenate(
        [[ordered[0] - 1e-6], (ordered[:-1] + ordered[1:]) / 2.0, [ordered[-1] + 1e-6]]
    )
    predicted_same = distances[None, :] < candidates[:, None]
    correct = (predicted_same == same[None, :]).mean(axis=1)
    best = np.flatnonzero(correct == correct.max())
    return float(candidates[best[len(best) // 2]])


def deal_folds(same: np.ndarray, folds: int = DEFAULT_FOLDS) -> np.ndarray:
    """The fold of each pair, shape (N,), when the file declares none.

    Same and different pairs are each dealt to folds in contiguous blocks of file order, so
    that every fold holds both kinds (as LFW's own folds do).
    """
    same = np.asarray(same, bool)
    folds = max(2, min(folds, len(same)))
    fold_of = np.empty(len(same), int)
    for kind in (same, ~same):
        indices = np.flatnonzero(kind)
        fold_of[indices] = np.arange(len(indices)) * folds // max(1, len(indices))
    return fold_of


def kfold_accuracy(
    distances: np.ndarray, same: np.ndarray, folds: int = DEFAULT_FOLDS,
    fold_of: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Cross-validated accuracy as in the LFW protocol.

    Args:
        distances: (N,) distance of each pair.
        same: (N,) whether each pair shows one person.
        folds: how many folds to deal the pairs into when ``fold_of`` is None.
        fold_of: (N,) the fold of each pair as the pairs file gives it.

    Returns:
        (mean accuracy, its standard deviation, the mean of the fold thresholds).
    """
    distances = np.asarray(distances, np.float64)
    same = np.asarray(same, bool)
    if fold_of is None:
        fold_of = deal_folds(same, folds)
    fold_of = np.asarray(fold_of, int)
    if fold_of.shape != distances.shape:
        raise ValueError(f"fold_of must have shape {distances.shape}, got {fold_of.shape}")
    accuracies, thresholds = [], []
    for fold in np.unique(fold_of).tolist():
        test = fold_of == fold
        if not test.any() or test.all():
            continue
        threshold = best_threshold(distances[~test], same[~test])
        thresholds.append(threshold)
        accuracies.append(accuracy_at(distances[test], same[test], threshold))
    return float(np.mean(accuracies)), float(np.std(accuracies)), float(np.mean(thresholds))


def tar_at_far(distances: np.ndarray, same: np.ndarray, far: float = 1e-3) -> float:
    """True accept rate at the largest threshold whose false accept rate is at most ``far``."""
    distances = np.asarray(distances, np.float64)
    same = np.asarray(same, bool)
    impostor = np.sort(distances[~same])
    genuine = distances[same]
    if len(genuine) == 0:
        return float("nan")
    if len(impostor) == 0:
        return 1.0
    allowed = int(np.floor(far * len(impostor)))  # impostor pairs that may be accepted
    threshold = impostor[allowed] if allowed < len(impostor) else np.inf
    return float(np.mean(genuine < threshold))


NO_FACE_DISTANCE = 2.0  # the largest distance between unit vectors: the pair counts as different


def pair_folds(pairs: list[Pair], folds: int | None = None) -> tuple[np.ndarray, str]:
    """The fold of each pair and where it comes from.

    Args:
        pairs: as :func:`read_pairs` returns them.
        folds: deal the pairs into this many folds instead of the file's own.

    Returns:
        ((N,) fold of each pair, ``"file"`` or ``"dealt"``).
    """
    same = np.array([p.same for p in pairs])
    if folds is None and all(p.fold is not None for p in pairs):
        return np.array([p.fold for p in pairs], int), "file"
    return deal_folds(same, DEFAULT_FOLDS if folds is None else folds), "dealt"


def evaluate_pairs(
    pairs_file: str | Path, root: str | Path, encoder: FaceEncoder, folds: int | None = None
) -> dict[str, Any]:
    """Embed every image of the pairs once and compute the LFW-protocol figures.

    Args:
        folds: None uses the folds the file declares (10 dealt folds when it declares none);
            a number deals the pairs into that many folds instead.

    A pair with an image where no face was found gets distance :data:`NO_FACE_DISTANCE`, so it
    is decided "different" (an error for a same-person pair); the count is reported. With the
    encoder's fusion on, the figures are those of the fused distance (:mod:`kiosk.matching.fused`), and
    ``per_model`` gives each model's own accuracy, threshold and TAR in the same run.

    Returns:
        ``pairs``, ``images``, ``accuracy``, ``accuracy_std``, ``threshold`` (mean of the fold
        thresholds), ``best_threshold`` and its accuracy on all pairs, ``tar_at_far_1e3``,
        ``no_face`` (images), ``no_face_images`` (their paths), ``folds`` and
        ``folds_from`` (``"file"`` or ``"dealt"``).
    """
    if folds is not None and folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    pairs = read_pairs(pairs_file, root)
    fold_of, folds_from = pair_folds(pairs, folds)
    paths = sorted({p.path_a for p in pairs} | {p.path_b for p in pairs})
    embeddings: dict[Path, dict[str, np.ndarray] | None] = {}
    no_face: list[str] = []
    for path in paths:
        try:
            embeddings[path] = encoder.encode_file_models(path, single=False)
        except ImageError:
            embeddings[path] = None
            no_face.append(str(path))
    recognition = encoder.settings.recognition
    model_ids = [encoder.models.embedder.model_id]
    weights = {model_ids[0]: 1.0}
    if encoder.models.dlib_encoder is not None:
        model_ids.append(encoder.models.dlib_encoder.model_id)
        weights = model_weights(model_ids[0], model_ids[1], recognition.dlib_weight)
    per_model = {m: np.empty(len(pairs)) for m in model_ids}
    distances = np.empty(len(pairs))
    for index, pair in enumerate(pairs):
        a, b = embeddings[pair.path_a], embeddings[pair.path_b]
        if a is None or b is None:
            distances[index] = NO_FACE_DISTANCE
            for model_id in model_ids:
                per_model[model_id][index] = NO_FACE_DISTANCE
            continue
        for model_id in model_ids:
            per_model[model_id][index] = float(np.linalg.norm(a[model_id] - b[model_id]))
        distances[index] = fused_distance({m: per_model[m][index] for m in model_ids}, weights)
    same = np.array([p.same for p in pairs])
    accuracy, accuracy_std, threshold = kfold_accuracy(distances, same, fold_of=fold_of)
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
        "folds": int(len(np.unique(fold_of))),
        "folds_from": folds_from,
        "fusion": len(model_ids) > 1,
        "per_model": {
            model_id: {
                "accuracy": round(kfold_accuracy(d, same, fold_of=fold_of)[0], 4),
                "threshold": round(kfold_accuracy(d, same, fold_of=fold_of)[2], 4),
                "tar_at_far_1e3": round(tar_at_far(d, same, 1e-3), 4),
            }
            for model_id, d in per_model.items()
        } if len(model_ids) > 1 else {},
    }
