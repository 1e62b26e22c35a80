"""``eval-identify``: open-set identification on a folder of people, with the kiosk's own rule.

The folder holds one sub-folder of images per person (LFW's layout). People with more than
``enrol`` images are enrolled with their first ``enrol`` images (in file-name order) and probed
with the rest (genuine probes); people with ``enrol`` or fewer images are never enrolled and
are probed with all of theirs (impostor probes). Every probe is matched against the whole
in-memory gallery with the kiosk's decision (threshold and margin from the settings, the same
:meth:`kiosk.matching.matrix.GalleryMatrix.nearest` the kiosk uses; with fusion the kiosk's
:class:`~kiosk.matching.fused.FusedMatcher` with its dlib-first band).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.images import ImageError
from kiosk.matching.fused import FusedMatcher
from kiosk.matching.matrix import GalleryMatrix
from kiosk.matching.rule import DlibFirstBand, Match, accepts
from kiosk.types import Embedding

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
THRESHOLD_STEPS = (-0.20, -0.15, -0.10, -0.05, 0.0, 0.05, 0.10)  # other thresholds shown, around the setting


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe image and the decision for it.

    Attributes:
        path: the image.
        person: its folder name (the true identity).
        genuine: the person is enrolled.
        match: the decision, or None when no face was found.
    """

    path: Path
    person: str
    genuine: bool
    match: Match | None


def people_images(root: str | Path) -> dict[str, list[Path]]:
    """Images of each person folder, in file-name order (folders without images left out).

    Raises:
        ValueError: ``root`` is not a folder or holds no person folder with images.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    people = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            people[folder.name] = images
    if not people:
        raise ValueError(f"{root}: no sub-folders with images (expected ROOT/<person>/<image>)")
    return people


def rates(probes: Sequence[Probe], person_ids: dict[str, int], threshold: float,
          min_margin: float) -> dict[str, float]:
    """``dir``, ``wrong_person`` and ``fpir`` of the probes under the accept test
    (:func:`kiosk.matching.rule.accepts`) with this threshold and margin (a probe with no face
    is not accepted)."""
    genuine = [p for p in probes if p.genuine]
    impostor = [p for p in probes if not p.genuine]

    def accepted(probe: Probe) -> bool:
        match = probe.match
        return match is not None and accepts(match.distance, match.margin, threshold, min_margin)

    right = sum(accepted(p) and p.match.person_id == person_ids[p.person] for p in genuine)  # type: ignore[union-attr]
    wrong = sum(accepted(p) and p.match.person_id != person_ids[p.person] for p in genuine)  # type: ignore[union-attr]
    false_accepts = sum(accepted(p) for p in impostor)
    return {
        "threshold": round(threshold, 4),
        "dir": round(right / len(genuine), 4) if genuine else float("nan"),
        "wrong_person": round(wrong / len(genuine), 4) if genuine else float("nan"),
        "fpir": round(false_accepts / len(impostor), 4) if impostor else float("nan"),
    }


def evaluate_identification(
    root: str | Path,
    embed_file: Callable[[Path], Embedding | dict[str, Embedding]],
    threshold: float,
    min_margin: float,
    enrol: int = 1,
    weights: dict[str, float] | None = None,
    dlib_first: DlibFirstBand | None = None,
) -> dict[str, Any]:
    """Enrol, probe and count (see the module docstring).

    Args:
        root: the folder of person folders.
        embed_file: the embedding of the face in one photo; raises :class:`ImageError` when
            there is none (such a probe counts as not accepted; such an enrolment image is
            skipped, and a person left with no enrolled image is probed as an impostor).
        threshold: the kiosk's distance threshold.
        min_margin: the kiosk's minimum margin to the next person.
        enrol: images enrolled per person.
        weights: with fusion, the per-model factors (:func:`kiosk.matching.rule.model_weights`);
            ``embed_file`` then returns ``{model_id: embedding}`` and decisions are taken on the
            fused distance (:class:`kiosk.matching.fused.FusedMatcher`).
        dlib_first: with fusion, the kiosk's band where dlib alone decides (its decisions
            read the same at the trade-off's thresholds: a sure acceptance is under 0.70 in
            the fused scale with the margin, a sure refusal over 1.29).

    Returns:
        ``enrolled_people``, ``genuine_probes``, ``impostor_probes``, ``dir`` (genuine probes
        accepted as the right person), ``wrong_person`` (genuine probes accepted as someone
        else), ``fpir`` (impostor probes accepted as anyone), ``no_face`` (images),
        ``threshold``, ``min_margin``, ``enrol``, ``trade_off`` (the same rates at other
        thresholds), ``dlib_only`` (probes dlib alone decided) and ``errors`` (wrongly accepted
        probes: image, true and accepted person).

    Raises:
        ValueError: ``enrol`` < 1 or an unusable ``root``.
    """
    if enrol < 1:
        raise ValueError(f"enrol must be >= 1, got {enrol}")
    people = people_images(root)
    no_face = 0

    def embedding_of(path: Path) -> Any:
        nonlocal no_face
        try:
            return embed_file(path)
        except ImageError:
            no_face += 1
            return None

    matrices: dict[str, GalleryMatrix] = {}
    person_ids: dict[str, int] = {}
    probe_paths: list[tuple[Path, str]] = []
    next_image_id = 1
    for name, images in people.items():
        if len(images) <= enrol:
            probe_paths += [(path, name) for path in images]
            continue
        enrolled = [e for e in (embedding_of(path) for path in images[:enrol]) if e is not None]
        probe_paths += [(path, name) for path in images[enrol:]]
        if not enrolled:
            continue
        person_ids[name] = len(person_ids) + 1
        count = len(enrolled)
        by_model = enrolled if isinstance(enrolled[0], dict) else [{"": e} for e in enrolled]
        for model_id in by_model[0]:
            vectors = np.stack([e[model_id] for e in by_model])
            matrix = matrices.setdefault(model_id, GalleryMatrix(dim=vectors.shape[1]))
            matrix.add_many(np.arange(next_image_id, next_image_id + count),
                            np.full(count, person_ids[name]), vectors)
        next_image_id += count
    if not matrices:
        raise ValueError(f"{root}: nobody has more than {enrol} image(s) with a face to enrol")
    if weights is not None:
        matcher: Any = FusedMatcher(matrices, weights, dlib_first)
    else:
        matcher = next(iter(matrices.values()))
    probes = []
    for path, name in probe_paths:
        embedding = embedding_of(path)
        # the decision keeps distance and margin, so other thresholds can be applied after
        if isinstance(embedding, dict) and weights is None:
            embedding = next(iter(embedding.values()))
        match = None if embedding is None else matcher.nearest(embedding, threshold, min_margin)
        probes.append(Probe(path, name, name in person_ids, match))
    names = {person_id: name for name, person_id in person_ids.items()}
    errors = [
        {"image": str(p.path), "person": p.person, "accepted_as": names[p.match.person_id]}
        for p in probes
        if p.match is not None and p.match.accepted and p.match.person_id is not None
        and names[p.match.person_id] != p.person
    ]
    report: dict[str, Any] = {
        "enrolled_people": len(person_ids),
        "genuine_probes": sum(p.genuine for p in probes),
        "impostor_probes": sum(not p.genuine for p in probes),
        **{k: v for k, v in rates(probes, person_ids, threshold, min_margin).items() if k != "threshold"},
        "no_face": no_face,
        "threshold": threshold,
        "min_margin": min_margin,
        "enrol": enrol,
        "fusion": weights is not None,
        "dlib_only": sum(1 for p in probes if p.match is not None and p.match.dlib_only),
        "trade_off": [rates(probes, person_ids, threshold + step, min_margin) for step in THRESHOLD_STEPS],
        "errors": errors,
    }
    return report
