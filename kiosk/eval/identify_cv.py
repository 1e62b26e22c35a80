"""``eval-identify --cv``: the open-set rule chosen by cross-validation over folds of people.

Every photo of the folder (one sub-folder per person, LFW's layout) is embedded once (cached,
:func:`embed_folder`). People are dealt into folds by a hash of their name, so a person is in
exactly one fold. For each fold, the rule's values (dlib's fusion weight, the threshold, the
minimum margin) are chosen on the other folds' probes (:func:`choose`: no wrong person,
strangers accepted at most ``max_fpir``, then the most right persons) and the rates are reported
on the held-out fold's probes, which took no part in the choice: their spread over the folds says
how far the figures could move on people nobody tuned to.

Who is enrolled and who is a stranger (:func:`split_people`): people with more than ``enrol``
photos (with a face) are enrolled with their first ``enrol`` photos, except a share
(``stranger_share``, chosen by a hash of the name) kept back as strangers so that strangers too
come with several photos; people with ``enrol`` photos or fewer are strangers. Every probe is
matched against the gallery of every enrolled person (all folds: the other folds' people are
distractors, never labels).

Live frames that must agree (``agree``): a kiosk checks an attendee in only when its last N
decisions accepted the same person (:func:`kiosk.matching.rule.agreed`). N photos of one person
taken together stand for N frames (a pessimistic stand-in for genuine attendees: photos differ
far more than consecutive frames); a person's probes are taken in groups of N, in file order.

The accept test itself is :func:`kiosk.matching.rule.accepts` (vectorised as ``accepts_many``);
the decisions are the kiosk's matchers' (:class:`~kiosk.matching.matrix.GalleryMatrix`,
:class:`~kiosk.matching.fused.FusedMatcher`).

dlib first (:class:`kiosk.matching.rule.DlibFirstBand`): with both models, the band where dlib's
distance alone decides is chosen per fold on the same training probes, after the fused rule
(:func:`choose_dlib_first`), and the cascade (dlib sure, dlib sure not, else the fused rule;
:func:`cascade`) is reported on the held-out fold beside the fused rule alone, with the share of
photos that needed FaceNet.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import math

import numpy as np

from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.eval.identify import people_images
from kiosk.images import ImageError
from kiosk.matching.fused import FusedMatcher
from kiosk.matching.matrix import GalleryMatrix
from kiosk.matching.rule import DlibFirstBand, accepts_many, dlib_margin, model_weights
from kiosk.types import Embedding

DLIB_WEIGHTS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)  # 0: FaceNet alone
THRESHOLDS = tuple(np.round(np.arange(0.70, 1.30, 0.005), 3))
MARGINS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.25)
MAX_FPIR = 0.01  # strangers accepted, at most
MAX_WRONG = 0.0  # genuine probes accepted as someone else, at most
DLIB_FIRST_GUARD = 0.05  # dlib distance kept between the band's limits and training's extremes
DLIB_FIRST_STEP = 0.01  # the band's limits are rounded outwards to this step


@dataclass(frozen=True, slots=True)
class FaceSet:
    """Every photo of a folder and its embeddings.

    Attributes:
        people: person (folder name) of each photo, (N,).
        paths: each photo, relative to the folder, (N,).
        has_face: whether a face was found, (N,) bool.
        embeddings: model id -> (N, dim) float32 (zeros where no face).
    """

    people: list[str]
    paths: list[str]
    has_face: np.ndarray
    embeddings: dict[str, np.ndarray]


def embed_folder(
    root: str | Path, embed_file: Callable[[Path], Mapping[str, Embedding]],
    cache_path: str | Path | None = None, fingerprint: str = "",
) -> FaceSet:
    """Embed every photo of ``root`` once (:func:`kiosk.eval.identify.people_images` order).

    Args:
        embed_file: ``{model id: embedding}`` of the face of one photo; raises
            :class:`ImageError` when there is none.
        cache_path: an ``.npz`` file kept between runs: reused when it holds the same photos
            and ``fingerprint``, else written anew.
        fingerprint: what the embeddings depend on (models, code): a change re-embeds.
    """
    root = Path(root)
    people = people_images(root)
    paths = [str(p.relative_to(root)) for images in people.values() for p in images]
    names = [name for name, images in people.items() for _ in images]
    key = hashlib.sha256(json.dumps([fingerprint, paths]).encode()).hexdigest()
    if cache_path is not None and Path(cache_path).is_file():
        with np.load(cache_path, allow_pickle=False) as cached:
            if str(cached["key"]) == key:
                models = [str(m) for m in cached["models"]]
                return FaceSet(names, paths, cached["has_face"].astype(bool),
                               {m: cached[f"embedding_{i}"] for i, m in enumerate(models)})
    found: list[Mapping[str, Embedding] | None] = []
    for path in paths:
        try:
            found.append(embed_file(root / path))
        except ImageError:
            found.append(None)
    first = next((f for f in found if f is not None), None)
    if first is None:
        raise ValueError(f"{root}: no face found in any photo")
    embeddings = {m: np.zeros((len(paths), len(np.asarray(v).ravel())), np.float32)
                  for m, v in first.items()}
    for row, face in enumerate(found):
        if face is not None:
            for model_id, vector in face.items():
                embeddings[model_id][row] = np.asarray(vector, np.float32).ravel()
    has_face = np.array([f is not None for f in found], bool)
    if cache_path is not None:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        models = list(embeddings)
        with open(cache_path, "wb") as out:
            np.savez(out, key=np.array(key), models=np.array(models), has_face=has_face,
                     **{f"embedding_{i}": embeddings[m] for i, m in enumerate(models)})
    return FaceSet(names, paths, has_face, embeddings)


def name_hash(name: str, salt: str) -> int:
    """A stable hash of a person's name (the same on every machine and run)."""
    return zlib.crc32(f"{salt}:{name}".encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Split:
    """Who is enrolled with which photos, and the probe groups.

    Attributes:
        enrolled: person -> rows of their enrolment photos.
        groups: (G, agree) rows of the photos taken together (one person each).
        group_person: (G,) the person of each group.
        group_genuine: (G,) whether that person is enrolled.
    """

    enrolled: dict[str, list[int]]
    groups: np.ndarray
    group_person: list[str]
    group_genuine: np.ndarray


def split_people(faces: FaceSet, enrol: int, agree: int = 1, stranger_share: float = 1 / 3) -> Split:
    """The enrolment and the probe groups of a :class:`FaceSet` (see the module docstring).

    Raises:
        ValueError: ``enrol`` or ``agree`` < 1, ``stranger_share`` outside [0, 1).
    """
    if enrol < 1 or agree < 1:
        raise ValueError(f"enrol and agree must be >= 1, got {enrol} and {agree}")
    if not 0.0 <= stranger_share < 1.0:
        raise ValueError(f"stranger_share must be in [0, 1), got {stranger_share}")
    rows_of: dict[str, list[int]] = {}
    for row, (name, face) in enumerate(zip(faces.people, faces.has_face)):
        if face:
            rows_of.setdefault(name, []).append(row)
    enrolled: dict[str, list[int]] = {}
    groups, group_person, group_genuine = [], [], []
    for name, rows in rows_of.items():
        held_back = name_hash(name, "stranger") % 10_000 < stranger_share * 10_000
        genuine = len(rows) > enrol and not held_back
        probes = rows[enrol:] if genuine else rows
        if genuine:
            enrolled[name] = rows[:enrol]
        for start in range(0, len(probes) - agree + 1, agree):
            groups.append(probes[start : start + agree])
            group_person.append(name)
            group_genuine.append(genuine)
    if not enrolled:
        raise ValueError(f"nobody has more than {enrol} photo(s) with a face to enrol")
    return Split(enrolled, np.array(groups, np.int64).reshape(-1, agree), group_person,
                 np.array(group_genuine, bool))


@dataclass(frozen=True, slots=True)
class Decisions:
    """Each photo's nearest enrolled person, distance and margin under one fusion weight.

    Attributes:
        person: (N,) index into the enrolled people's names (-1 where no face).
        distance, margin: (N,) as :class:`kiosk.matching.rule.Match` (inf where no face).
    """

    person: np.ndarray
    distance: np.ndarray
    margin: np.ndarray


def _matrix(faces: FaceSet, split: Split, names: Sequence[str], model_id: str) -> GalleryMatrix:
    """The enrolled people's photos in one model's :class:`GalleryMatrix` (person ids: the
    index in ``names``)."""
    index_of = {name: i for i, name in enumerate(names)}
    rows = [r for name in names for r in split.enrolled[name]]
    person_ids = np.array([index_of[n] for n in names for _ in split.enrolled[n]], np.int64)
    matrix = GalleryMatrix(faces.embeddings[model_id].shape[1])
    matrix.add_many(np.arange(len(rows)), person_ids, faces.embeddings[model_id][rows])
    return matrix


def _decide_each(faces: FaceSet, nearest: Callable[[int], Any]) -> Decisions:
    """:class:`Decisions` of every photo with a face from ``nearest(row)`` (a Match)."""
    count = len(faces.people)
    person = np.full(count, -1, np.int64)
    distance = np.full(count, np.inf)
    margin = np.full(count, np.inf)
    for row in np.flatnonzero(faces.has_face):
        match = nearest(int(row))
        person[row], distance[row], margin[row] = match.person_id, match.distance, match.margin
    return Decisions(person, distance, margin)


def decisions(faces: FaceSet, split: Split, names: Sequence[str], dlib_weight: float) -> Decisions:
    """Every photo matched against the enrolled people with the kiosk's matcher (FaceNet's
    matrix alone at weight 0, else :class:`FusedMatcher`, without dlib first)."""
    facenet = next(m for m in faces.embeddings if m != DLIB_MODEL_ID)
    dlib = DLIB_MODEL_ID if DLIB_MODEL_ID in faces.embeddings else None
    used = [facenet] if dlib_weight == 0.0 or dlib is None else [facenet, dlib]
    matrices = {model_id: _matrix(faces, split, names, model_id) for model_id in used}
    if len(used) == 1:
        return _decide_each(faces, lambda row: matrices[facenet].nearest(
            faces.embeddings[facenet][row], 0.0, 0.0))
    matcher = FusedMatcher(matrices, model_weights(facenet, DLIB_MODEL_ID, dlib_weight))
    return _decide_each(faces, lambda row: matcher.nearest(
        {m: faces.embeddings[m][row] for m in used}, 0.0, 0.0))


def dlib_decisions(faces: FaceSet, split: Split, names: Sequence[str]) -> Decisions | None:
    """Every photo matched with dlib's embeddings alone, in dlib's own distances (what the
    kiosk's dlib-first step sees), or None when the set has no dlib embeddings."""
    if DLIB_MODEL_ID not in faces.embeddings:
        return None
    # dlib's embeddings are not unit vectors: the fused matcher's full distance formula with
    # dlib alone at factor 1 (GalleryMatrix.nearest assumes unit rows)
    matcher = FusedMatcher({DLIB_MODEL_ID: _matrix(faces, split, names, DLIB_MODEL_ID)},
                           {DLIB_MODEL_ID: 1.0})
    return _decide_each(faces, lambda row: matcher.nearest(
        {DLIB_MODEL_ID: faces.embeddings[DLIB_MODEL_ID][row]}, 0.0, 0.0))


def group_truth(split: Split, names: Sequence[str]) -> np.ndarray:
    """(G,) the index in ``names`` of each group's person, -2 for strangers."""
    index_of = {name: i for i, name in enumerate(names)}
    return np.array([index_of[p] if g else -2
                     for p, g in zip(split.group_person, split.group_genuine)], np.int64)


def group_counts(person: np.ndarray, accepted: np.ndarray, split: Split, truth: np.ndarray,
                 chosen: np.ndarray) -> dict[str, float]:
    """Counts and rates of the groups selected by ``chosen`` (G,) bool, from each photo's
    decision: ``person`` (N,) its nearest person, ``accepted`` (N,) bool whether accepted.
    A group is accepted as a person when every photo of it is accepted as that person
    (:func:`kiosk.matching.rule.agreed`); ``truth``: :func:`group_truth`."""
    persons = person[split.groups]
    agreed = accepted[split.groups].all(axis=1) & (persons == persons[:, :1]).all(axis=1)
    right = agreed & (persons[:, 0] == truth)
    genuine, strangers = chosen & split.group_genuine, chosen & ~split.group_genuine
    n_genuine, n_strangers = int(genuine.sum()), int(strangers.sum())
    return {
        "genuine": n_genuine, "strangers": n_strangers,
        "right": int((right & genuine).sum()),
        "wrong": int((agreed & ~right & genuine).sum()),
        "stranger_accepted": int((agreed & strangers).sum()),
        "dir": float((right & genuine).sum() / n_genuine) if n_genuine else float("nan"),
        "wrong_person": float((agreed & ~right & genuine).sum() / n_genuine) if n_genuine else float("nan"),
        "fpir": float((agreed & strangers).sum() / n_strangers) if n_strangers else float("nan"),
    }


def group_rates(found: Decisions, split: Split, truth: np.ndarray, chosen: np.ndarray,
                threshold: float, min_margin: float) -> dict[str, float]:
    """:func:`group_counts` of the fused (or FaceNet) rule alone: each photo accepted by
    :func:`kiosk.matching.rule.accepts` with ``threshold`` and ``min_margin``."""
    accepted = accepts_many(found.distance, found.margin, threshold, min_margin)
    return group_counts(found.person, accepted, split, truth, chosen)


def photo_truth(split: Split, truth: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, truth) of every photo of the groups selected by ``chosen``: the photo's row and
    its person's index (-2 for strangers), (M,) each."""
    rows = split.groups[chosen].ravel()
    return rows, np.repeat(truth[chosen], split.groups.shape[1])


def dlib_first_extremes(dlib: Decisions, fused: Decisions, rows: np.ndarray, truth: np.ndarray,
                        threshold: float, min_margin: float) -> tuple[float, float]:
    """What a band must keep clear of, over the photos ``rows`` (of people ``truth``) under
    the fused rule (``threshold``, ``min_margin``):

    - the smallest dlib distance of a photo that dlib alone would accept wrongly with the
      rule's margin in dlib's scale (a stranger's nearest, or a genuine photo whose nearest is
      another person); inf when there is none;
    - the largest dlib distance of a genuine photo that the fused rule accepts as the right
      person; -inf when there is none.
    """
    distance, margin, person = dlib.distance[rows], dlib.margin[rows], dlib.person[rows]
    # accepted by dlib alone at any distance with the band's margin (the rule's accept test)
    ahead = accepts_many(distance, margin, math.inf, dlib_margin(min_margin))
    wrong = ahead & (person != truth)  # strangers' truth (-2) is nobody's index
    fused_right = (accepts_many(fused.distance[rows], fused.margin[rows], threshold, min_margin)
                   & (fused.person[rows] == truth))
    nearest_wrong = float(distance[wrong].min()) if wrong.any() else math.inf
    farthest_right = float(distance[fused_right].max()) if fused_right.any() else -math.inf
    return nearest_wrong, farthest_right


def choose_dlib_first(nearest_wrong: float, farthest_right: float, min_margin: float,
                      guard: float = DLIB_FIRST_GUARD) -> DlibFirstBand:
    """The dlib-first band from the training extremes (:func:`dlib_first_extremes`).

    - ``accept_below``: ``guard`` under the nearest wrong acceptance, floored to 0.01, and
      never beyond the farthest right acceptance of the fused rule (floored too) nor below 0.
      dlib alone must be stricter than the fused rule: a face dlib accepts without FaceNet has
      no second opinion, so no training photo dlib would give a wrong name may come near the
      limit, and past the farthest face the fused rule named right training shows nothing
      dlib's acceptance could be checked on. The guard (0.05) is above the spread of the
      nearest wrong acceptance from fold to fold on lfw-dev (0.42-0.44 with one enrolment
      photo, docs/RECOGNITION.md), so that people nobody tuned to stay clear of the limit.
    - ``reject_from``: ``guard`` over the farthest genuine photo the fused rule accepted as the
      right person, rounded up to 0.01 and never under ``accept_below``: a quick refusal must
      never cost a check-in the fused rule would make on the training photos.

    With no wrong acceptance in training, ``accept_below`` is the fused rule's farthest right
    acceptance; with no right acceptance, the band is empty at 0 (every face refused, as the
    fused rule did in training).

    Args:
        min_margin: the fused rule's margin (fused distance); the band's is in dlib's scale.
    """
    def steps(value: float, rounding: Callable[[float], float]) -> float:
        return round(rounding(round(value / DLIB_FIRST_STEP, 6)) * DLIB_FIRST_STEP, 6)

    if not math.isfinite(farthest_right):  # the fused rule named nobody right
        return DlibFirstBand(0.0, 0.0, dlib_margin(min_margin))
    accept_below = steps(farthest_right, math.floor)
    if math.isfinite(nearest_wrong):
        accept_below = min(accept_below, steps(nearest_wrong - guard, math.floor))
    accept_below = max(0.0, accept_below)
    reject_from = max(accept_below, steps(farthest_right + guard, math.ceil))
    return DlibFirstBand(accept_below, reject_from, dlib_margin(min_margin))


@dataclass(frozen=True, slots=True)
class Cascade:
    """Each photo's decision with dlib first.

    Attributes:
        person: (N,) the nearest person of the step that decided (dlib's or the fused rule's).
        accepted: (N,) bool.
        facenet: (N,) bool, whether FaceNet had to run (dlib was neither sure nor sure not).
    """

    person: np.ndarray
    accepted: np.ndarray
    facenet: np.ndarray


def cascade(dlib: Decisions, fused: Decisions, band: DlibFirstBand, threshold: float,
            min_margin: float) -> Cascade:
    """The kiosk's decisions with dlib first (:class:`kiosk.matching.fused.FusedMatcher` with
    ``dlib_first``): dlib sure -> accepted as dlib's nearest person; sure not -> nobody;
    otherwise the fused rule (``threshold``, ``min_margin``) on the fused decision."""
    sure, sure_not = band.settle_many(dlib.distance, dlib.margin)
    fused_accepted = accepts_many(fused.distance, fused.margin, threshold, min_margin)
    person = np.where(sure | sure_not, dlib.person, fused.person)
    accepted = sure | (~sure_not & fused_accepted)
    return Cascade(person, accepted, ~(sure | sure_not))


def cascade_rates(found: Cascade, split: Split, truth: np.ndarray, chosen: np.ndarray) -> dict[str, Any]:
    """:func:`group_counts` of the cascade, and how many of the groups' photos needed FaceNet
    (``photos``, ``facenet_photos`` and the share, overall and for genuine and stranger
    photos)."""
    rates: dict[str, Any] = group_counts(found.person, found.accepted, split, truth, chosen)
    rows, photo_truths = photo_truth(split, truth, chosen)
    facenet = found.facenet[rows]
    genuine = photo_truths >= 0
    for suffix, selected in (("", np.ones(len(rows), bool)), ("_genuine", genuine),
                             ("_strangers", ~genuine)):
        rates[f"photos{suffix}"] = int(selected.sum())
        rates[f"facenet_photos{suffix}"] = int((facenet & selected).sum())
    return _with_facenet_shares(rates)


def _with_facenet_shares(counts: dict[str, Any]) -> dict[str, Any]:
    """``facenet_share``, ``_genuine``, ``_strangers``: FaceNet's photos over the photos."""
    for suffix in ("", "_genuine", "_strangers"):
        photos = counts[f"photos{suffix}"]
        counts[f"facenet_share{suffix}"] = (counts[f"facenet_photos{suffix}"] / photos
                                            if photos else float("nan"))
    return counts


def _band_of(band: DlibFirstBand) -> dict[str, float]:
    return {"accept_below": band.accept_below, "reject_from": band.reject_from,
            "dlib_min_margin": band.min_margin}


def _finite(value: float) -> float | None:
    """None for the extremes that did not occur (JSON has no infinity)."""
    return value if math.isfinite(value) else None


def choose(table: Sequence[dict[str, Any]], max_wrong: float = MAX_WRONG,
           max_fpir: float = MAX_FPIR) -> dict[str, Any]:
    """The rule to keep among rows of (``dlib_weight``, ``threshold``, ``min_margin``, rates):
    no more wrong persons than ``max_wrong`` and strangers accepted at most ``max_fpir``, then
    the most right persons, then the fewest strangers, then the middle threshold of the rows
    that tie. When no row meets both limits: the fewest wrong persons and strangers beyond the
    limits, then the most right persons."""
    def rate(row: dict[str, Any], key: str) -> float:
        return 0.0 if np.isnan(row[key]) else float(row[key])  # nan: no such probe counted

    def excess(row: dict[str, Any]) -> float:
        return (max(0.0, rate(row, "wrong_person") - max_wrong)
                + max(0.0, rate(row, "fpir") - max_fpir))

    def score(row: dict[str, Any]) -> tuple[float, float]:
        return rate(row, "dir"), -rate(row, "fpir")

    least = min(excess(row) for row in table)
    pool = [row for row in table if excess(row) <= least + 1e-12]
    best = max(score(row) for row in pool)
    ties = sorted((row for row in pool if score(row) == best),
                  key=lambda row: (row["dlib_weight"], row["min_margin"], row["threshold"]))
    return ties[len(ties) // 2]


def cross_validate(
    faces: FaceSet, enrol: int, agree: int = 1, folds: int = 5,
    dlib_weights: Sequence[float] = DLIB_WEIGHTS, thresholds: Sequence[float] = THRESHOLDS,
    margins: Sequence[float] = MARGINS, stranger_share: float = 1 / 3,
    max_wrong: float = MAX_WRONG, max_fpir: float = MAX_FPIR,
    settings_rule: tuple[float, float, float] | None = None,
    settings_band: DlibFirstBand | None = None, guard: float = DLIB_FIRST_GUARD,
) -> dict[str, Any]:
    """Choose the rule on ``folds - 1`` folds of people, report it on the held-out one, each
    fold in turn; then the rule chosen on every fold (the value to set). With dlib's
    embeddings, the dlib-first band likewise (:func:`choose_dlib_first` after the rule).

    Args:
        settings_rule: (dlib weight, threshold, margin) of the settings, reported on everyone.
        settings_band: the settings' band (``DlibFirstBand.from_settings``), reported on
            everyone with ``settings_rule`` (else the rule chosen on everyone).
        guard: :func:`choose_dlib_first`'s.

    Returns:
        ``folds`` (per fold: the chosen ``dlib_weight``, ``threshold``, ``min_margin`` and the
        held-out rates), ``held_out`` (the held-out counts summed over the folds, their rates,
        and the mean and standard deviation of the per-fold rates), ``chosen`` (the rule chosen
        on all people and its rates on them), ``settings`` (the rates of ``settings_rule``,
        (dlib weight, threshold, margin), on all people; None without it), and the setup.
        With dlib's embeddings, also: per fold ``dlib_first`` (the band chosen on the training
        folds, with the extremes it kept clear of) and ``cascade`` (the held-out rates with
        dlib first and the share of photos that needed FaceNet); ``held_out["cascade"]``
        (pooled, with the per-fold means and deviations); ``dlib_first_chosen`` (the band
        chosen on everyone after the rule chosen on everyone, and its cascade on everyone);
        ``dlib_first_for_settings_rule`` (the band chosen on everyone after ``settings_rule``:
        the band that goes with the settings' rule; None without it); ``dlib_first_settings``
        (``settings_band`` on everyone; None without it). Without dlib's embeddings these are
        None.

    Raises:
        ValueError: ``folds`` < 2, or see :func:`split_people`.
    """
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    split = split_people(faces, enrol, agree, stranger_share)
    names = sorted(split.enrolled)
    truth = group_truth(split, names)
    fold_of = np.array([name_hash(p, "fold") % folds for p in split.group_person])
    if DLIB_MODEL_ID not in faces.embeddings:
        dlib_weights = [0.0]
    if settings_rule is not None and settings_rule[0] not in dlib_weights:
        dlib_weights = [*dlib_weights, settings_rule[0]]
    grids = []  # (weight, decisions)
    for weight in dlib_weights:
        grids.append((weight, decisions(faces, split, names, weight)))
    dlib = dlib_decisions(faces, split, names)

    def table(chosen: np.ndarray) -> list[dict[str, Any]]:
        rows = []
        for weight, found in grids:
            for min_margin in margins:
                for threshold in thresholds:
                    rates = group_rates(found, split, truth, chosen, float(threshold), min_margin)
                    rows.append({"dlib_weight": weight, "threshold": float(threshold),
                                 "min_margin": min_margin, **rates})
        return rows

    def held_out_rates(rule: dict[str, Any], chosen: np.ndarray) -> dict[str, Any]:
        found = dict(grids)[rule["dlib_weight"]]
        return group_rates(found, split, truth, chosen, rule["threshold"], rule["min_margin"])

    def band_for(rule: dict[str, Any], chosen: np.ndarray) -> tuple[DlibFirstBand, dict[str, Any]]:
        """The band chosen on the photos of ``chosen`` after ``rule``, and its extremes."""
        assert dlib is not None
        rows, photo_truths = photo_truth(split, truth, chosen)
        extremes = dlib_first_extremes(dlib, dict(grids)[rule["dlib_weight"]], rows,
                                       photo_truths, rule["threshold"], rule["min_margin"])
        band = choose_dlib_first(*extremes, rule["min_margin"], guard)
        return band, {**_band_of(band), "nearest_wrong": _finite(extremes[0]),
                      "farthest_right": _finite(extremes[1])}

    def cascade_of(rule: dict[str, Any], band: DlibFirstBand, chosen: np.ndarray) -> dict[str, Any]:
        assert dlib is not None
        found = cascade(dlib, dict(grids)[rule["dlib_weight"]], band, rule["threshold"],
                        rule["min_margin"])
        return cascade_rates(found, split, truth, chosen)

    per_fold = []
    for fold in range(folds):
        training, tested_groups = fold_of != fold, fold_of == fold
        rule = choose(table(training), max_wrong, max_fpir)
        tested = held_out_rates(rule, tested_groups)
        row: dict[str, Any] = {"fold": fold, "dlib_weight": rule["dlib_weight"],
                               "threshold": rule["threshold"], "min_margin": rule["min_margin"],
                               "train_dir": rule["dir"], **tested,
                               "dlib_first": None, "cascade": None}
        if dlib is not None:
            band, row["dlib_first"] = band_for(rule, training)
            row["cascade"] = cascade_of(rule, band, tested_groups)
        per_fold.append(row)
    held_out = _pooled(per_fold)
    if dlib is not None:
        held_out["cascade"] = _pooled([f["cascade"] for f in per_fold], facenet=True)
    everyone = np.ones(len(split.group_person), bool)
    chosen = choose(table(everyone), max_wrong, max_fpir)
    settings = None
    if settings_rule is not None:
        weight, threshold, min_margin = settings_rule
        settings = {"dlib_weight": weight, "threshold": threshold, "min_margin": min_margin,
                    **held_out_rates({"dlib_weight": weight, "threshold": threshold,
                                      "min_margin": min_margin}, everyone)}
    dlib_first_chosen = dlib_first_settings = dlib_first_for_settings_rule = None
    if dlib is not None:
        band, dlib_first_chosen = band_for(chosen, everyone)
        dlib_first_chosen["cascade"] = cascade_of(chosen, band, everyone)
        if settings is not None:
            band, dlib_first_for_settings_rule = band_for(settings, everyone)
            dlib_first_for_settings_rule["cascade"] = cascade_of(settings, band, everyone)
        if settings_band is not None:
            rule = settings if settings is not None else chosen
            dlib_first_settings = {**_band_of(settings_band),
                                   "cascade": cascade_of(rule, settings_band, everyone)}
    return {
        "enrol": enrol, "agree": agree, "folds": folds, "stranger_share": stranger_share,
        "enrolled_people": len(names), "no_face": int((~faces.has_face).sum()),
        "max_wrong": max_wrong, "max_fpir": max_fpir,
        "per_fold": per_fold, "held_out": held_out,
        "chosen": {k: chosen[k] for k in ("dlib_weight", "threshold", "min_margin", "dir",
                                           "wrong_person", "fpir", "genuine", "strangers")},
        "settings": settings,
        "dlib_first_guard": guard if dlib is not None else None,
        "dlib_first_chosen": dlib_first_chosen,
        "dlib_first_settings": dlib_first_settings,
        "dlib_first_for_settings_rule": dlib_first_for_settings_rule,
    }


def _pooled(per_fold: Sequence[dict[str, Any]], facenet: bool = False) -> dict[str, Any]:
    """The per-fold counts summed, their rates, and the mean and standard deviation of the
    per-fold rates (with ``facenet``: also the photos that needed FaceNet)."""
    keys = ["genuine", "strangers", "right", "wrong", "stranger_accepted"]
    if facenet:
        keys += [f"{kind}{suffix}" for kind in ("photos", "facenet_photos")
                 for suffix in ("", "_genuine", "_strangers")]
    totals: dict[str, Any] = {k: sum(f[k] for f in per_fold) for k in keys}
    pooled = dict(totals)
    pooled["dir"] = totals["right"] / totals["genuine"] if totals["genuine"] else float("nan")
    pooled["wrong_person"] = totals["wrong"] / totals["genuine"] if totals["genuine"] else float("nan")
    pooled["fpir"] = (totals["stranger_accepted"] / totals["strangers"]
                      if totals["strangers"] else float("nan"))
    spread = ["dir", "wrong_person", "fpir"]
    if facenet:
        _with_facenet_shares(pooled)
        spread.append("facenet_share")
    for key in spread:
        values = np.array([f[key] for f in per_fold], float)
        values = values[~np.isnan(values)]
        pooled[f"{key}_mean"] = float(values.mean()) if len(values) else float("nan")
        pooled[f"{key}_std"] = float(values.std()) if len(values) else float("nan")
    return pooled
