"""The open-set rule, in one place: what is accepted, with which threshold, on which distance.

Everything that decides who a face is calls this module: the kiosk (:class:`kiosk.decision.MatchPolicy`),
the matchers (:mod:`kiosk.matching.matrix`, :mod:`kiosk.matching.fused`), enrolment's look-alike
check, the service's ``identify``, ``identify`` on the command line and ``eval-identify``.

- **The accept test** (:func:`accepts`): the nearest person's distance is under the threshold
  and the next person is at least ``min_margin`` farther away.
- **The threshold in force** (:func:`match_threshold`): ``[recognition] fused_distance_threshold``
  when the decision is on the fused distance (``fusion = true``), else ``distance_threshold``.
- **The fused distance** (:func:`model_weights`, :func:`fused_distance`): a weighted sum of
  FaceNet's and dlib's Euclidean distances, dlib's rescaled so that its authors' threshold (0.6)
  lands on FaceNet's (1.13): the fused distance reads like a FaceNet distance.
- **dlib first** (:class:`DlibFirstBand`): with fusion, dlib's distance alone settles the
  faces it is sure of (far under or far over its threshold); FaceNet is run and the fused
  distance decides only in the band between.
- **The frames that must agree** (:func:`agreed`, :func:`all_unknown`): the last
  ``agree_frames`` decisions of one attendee.
- **The rolling update** (:class:`RollingUpdateGate`): a live face joins a person's images only
  when it is within the threshold of at least ``[gallery] min_pass_rate`` of them.

The values come from ``eval-pairs`` and ``eval-identify`` on lfw-dev (docs/RECOGNITION.md).
This module imports no model, no store and no matcher.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.config import GallerySettings, RecognitionSettings
from kiosk.dlib_encoder import DLIB_MODEL_ID
from kiosk.types import Embedding

FACENET_REFERENCE_THRESHOLD = 1.13  # FaceNet's 10-fold threshold on lfw-dev
DLIB_REFERENCE_THRESHOLD = 0.6  # dlib's authors' threshold


@dataclass(frozen=True, slots=True)
class Match:
    """The nearest person to a query embedding and whether it is accepted.

    Attributes:
        person_id: the nearest person (also when not accepted), or None for an empty gallery.
        distance: Euclidean (or fused) distance to that person's best stored image (inf when empty).
        margin: distance of the second-nearest person minus ``distance`` (inf with one person).
        accepted: :func:`accepts` of ``distance`` and ``margin``.
        image_id: the stored image that gave ``distance``.
        dlib_only: decided by dlib's distance alone (:class:`DlibFirstBand`); ``distance`` and
            ``margin`` are then dlib's, rescaled to the fused distance's scale.
    """

    person_id: int | None
    distance: float
    margin: float
    accepted: bool
    image_id: int | None = None
    dlib_only: bool = False


NO_MATCH = Match(None, float("inf"), float("inf"), False)  # an empty gallery's answer


def within(distance: float, threshold: float) -> bool:
    """Whether a distance is close enough to be the same person: strictly under the threshold."""
    return distance < threshold


def accepts(distance: float, margin: float, threshold: float, min_margin: float) -> bool:
    """THE accept test: under ``threshold`` and at least ``min_margin`` ahead of the next person."""
    return within(distance, threshold) and margin >= min_margin


def accepts_many(distances: np.ndarray, margins: np.ndarray, threshold: float,
                 min_margin: float) -> np.ndarray:
    """:func:`accepts` of many decisions at once, (N,) bool (evaluation sweeps)."""
    return (np.asarray(distances) < threshold) & (np.asarray(margins) >= min_margin)


def decision(person_id: int, distance: float, second_distance: float, image_id: int,
             threshold: float, min_margin: float) -> Match:
    """The decision for a nearest person at ``distance`` whose nearest other person is at
    ``second_distance`` (inf when there is none)."""
    margin = second_distance - distance
    return Match(person_id, distance, margin, accepts(distance, margin, threshold, min_margin),
                 image_id)


def threshold_setting_key(recognition: RecognitionSettings) -> str:
    """The ``[recognition]`` key of the threshold in force: the fused one with fusion on."""
    return "fused_distance_threshold" if recognition.fusion else "distance_threshold"


def match_threshold(recognition: RecognitionSettings, fused: bool | None = None) -> float:
    """The distance threshold of the kiosk's decisions (the key :func:`threshold_setting_key`).

    Args:
        fused: whether decisions are on the fused distance (e.g. whether the encoder or the
            gallery has dlib's model); default ``recognition.fusion``.
    """
    if fused is not None and fused != recognition.fusion:
        recognition = dataclasses.replace(recognition, fusion=fused)
    return float(getattr(recognition, threshold_setting_key(recognition)))


def model_weights(facenet_model_id: str, dlib_model_id: str, dlib_weight: float) -> dict[str, float]:
    """Per-model factors of the fused distance: FaceNet ``1 - w``, dlib ``w * 1.13 / 0.6``.

    Raises:
        ValueError: ``dlib_weight`` outside [0, 1].
    """
    if not 0.0 <= dlib_weight <= 1.0:
        raise ValueError(f"dlib_weight must be in [0, 1], got {dlib_weight}")
    return {
        facenet_model_id: 1.0 - dlib_weight,
        dlib_model_id: dlib_weight * FACENET_REFERENCE_THRESHOLD / DLIB_REFERENCE_THRESHOLD,
    }


def fusion_weights_of(recognition: RecognitionSettings) -> dict[str, float] | None:
    """The fused distance's factors of the ``[recognition]`` settings, or None with fusion off."""
    if not recognition.fusion:
        return None
    return model_weights(recognition.model_id, DLIB_MODEL_ID, recognition.dlib_weight)


def fused_distance(distances: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """The weighted sum of per-model distances (every weighted model must be present).

    Raises:
        ValueError: a model of ``weights`` has no distance.
    """
    missing = set(weights) - set(distances)
    if missing:
        raise ValueError(f"distances: no distance for {', '.join(sorted(missing))}")
    return float(sum(weights[m] * float(distances[m]) for m in weights))


def dlib_margin(min_margin: float) -> float:
    """A fused-scale distance or margin in dlib's own distances (x 0.6 / 1.13): the fused
    rule's margin as the dlib-first band's margin, its threshold as the band's bounds."""
    return min_margin * DLIB_REFERENCE_THRESHOLD / FACENET_REFERENCE_THRESHOLD


@dataclass(frozen=True, slots=True)
class DlibFirstBand:
    """Where dlib's distance alone decides, so that FaceNet runs only where it is unclear.

    With fusion, the kiosk embeds a face with dlib's encoder first and takes dlib's nearest
    person (its own Euclidean distances, against the same stored images):

    - **sure**: the distance is under ``accept_below`` and the next person is at least
      ``min_margin`` farther: accepted without FaceNet;
    - **sure not**: the distance is ``reject_from`` or more: matched nobody, without FaceNet;
    - otherwise FaceNet embeds the face and the fused distance decides (:func:`accepts`).

    Both limits are chosen by ``eval-identify --cv`` (docs/RECOGNITION.md): ``accept_below``
    with a guard under the nearest stranger any training fold showed, so that dlib alone is
    stricter than the fused rule; ``reject_from`` above every genuine face the fused rule
    accepted in training, so that a quick refusal costs no check-in. Every caller that holds
    both embeddings applies the same band (:class:`~kiosk.matching.fused.FusedMatcher`), so
    a photo and a live frame are judged alike.

    Attributes:
        accept_below: dlib's distance under which its nearest person is accepted.
        reject_from: dlib's distance from which nobody is accepted.
        min_margin: the accept test's margin, in dlib's distances.
    """

    accept_below: float
    reject_from: float
    min_margin: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.accept_below <= self.reject_from:
            raise ValueError(f"dlib first: need 0 <= accept_below <= reject_from, got "
                             f"{self.accept_below} and {self.reject_from}")

    @classmethod
    def from_settings(cls, recognition: RecognitionSettings) -> DlibFirstBand | None:
        """The band of ``[recognition] dlib_first_accept`` / ``dlib_first_reject``, or None
        with fusion or ``dlib_first`` off. The margin is ``min_margin`` in dlib's scale.

        The band never contradicts the threshold in force on dlib's own scale (the fused
        threshold x 0.6 / 1.13): a stricter threshold (the settings dialog edits it) lowers
        ``accept_below`` to it, a more lenient one raises ``reject_from`` to it, so dlib alone
        never accepts a distance that threshold calls too far, nor refuses one it calls near.
        """
        if not (recognition.fusion and recognition.dlib_first):
            return None
        threshold_in_dlib = dlib_margin(match_threshold(recognition))  # the same rescaling
        return cls(min(recognition.dlib_first_accept, threshold_in_dlib),
                   max(recognition.dlib_first_reject, threshold_in_dlib),
                   dlib_margin(recognition.min_margin))

    def settle(self, dlib_match: Match) -> Match | None:
        """The decision when dlib's nearest person (decided with :meth:`thresholds`) is sure
        or sure not, with the distance and margin in the fused scale; None when FaceNet must
        decide."""
        if dlib_match.person_id is None:
            return None  # an empty gallery: the fused matcher answers
        to_fused = FACENET_REFERENCE_THRESHOLD / DLIB_REFERENCE_THRESHOLD
        if dlib_match.accepted or dlib_match.distance >= self.reject_from:
            return dataclasses.replace(dlib_match, distance=dlib_match.distance * to_fused,
                                       margin=dlib_match.margin * to_fused, dlib_only=True)
        return None

    @property
    def thresholds(self) -> tuple[float, float]:
        """(threshold, min_margin) for dlib's matcher: its accept test is this band's."""
        return self.accept_below, self.min_margin

    def settle_many(self, distances: np.ndarray, margins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sure, sure not) of many dlib decisions at once, (N,) bool each (evaluation)."""
        sure = accepts_many(distances, margins, self.accept_below, self.min_margin)
        return sure, ~sure & (np.asarray(distances) >= self.reject_from)


def agreed(matches: Sequence[Match], agree_frames: int) -> Match | None:
    """The best (nearest) match when the last ``agree_frames`` matches are all accepted and of
    one person, else None."""
    recent = list(matches)[-agree_frames:]
    if len(recent) < agree_frames:
        return None
    if all(m.accepted and m.person_id == recent[0].person_id for m in recent):
        return min(recent, key=lambda m: m.distance)
    return None


def all_unknown(matches: Sequence[Match], agree_frames: int) -> bool:
    """Whether the last ``agree_frames`` matches all matched nobody (an unknown visitor)."""
    recent = list(matches)[-agree_frames:]
    return len(recent) >= agree_frames and not any(m.accepted for m in recent)


@dataclass(frozen=True, slots=True)
class RollingUpdateGate:
    """Whether a live face may join a person's stored images (the rolling update).

    The face's *pass rate* is the share of the person's stored images it is within the match
    threshold of (:func:`within`, on the same distance the kiosk decides on). The face is added
    only when that share is at least ``min_pass_rate``: a match accepted on one near image
    while most of the person's other images disagree (a borderline match, a look-alike) never
    changes the gallery. The enrolment images (pinned, never replaced) anchor the rule: the
    share among them must reach ``min_pass_rate`` as well, so faces that earlier updates added
    can never carry a later one on their own, and a look-alike cannot creep in image by image.

    Attributes:
        threshold: the match threshold in force (:func:`match_threshold`).
        min_pass_rate: the smallest pass rate that admits a face, in [0, 1].
        weights: model id -> factor of the distance (one model with factor 1 when not fused).
    """

    threshold: float
    min_pass_rate: float
    weights: Mapping[str, float]

    @classmethod
    def from_settings(cls, recognition: RecognitionSettings, gallery: GallerySettings,
                      fused: bool | None = None) -> RollingUpdateGate:
        """The gate of the ``[recognition]`` and ``[gallery]`` settings.

        Args:
            fused: whether the gallery decides on the fused distance; default
                ``recognition.fusion``.
        """
        if fused is not None and fused != recognition.fusion:
            recognition = dataclasses.replace(recognition, fusion=fused)
        weights = fusion_weights_of(recognition) or {recognition.model_id: 1.0}
        return cls(match_threshold(recognition), gallery.min_pass_rate, weights)

    def pass_rate(self, stored: Mapping[str, np.ndarray], face: Mapping[str, Embedding]) -> float:
        """The share of stored images within the threshold of the face (0 with none stored).

        Args:
            stored: model id -> (K, dim) the person's images, row for row across models.
            face: model id -> (dim,) the new face.

        Raises:
            ValueError: a weighted model is missing from ``stored`` or ``face``.
        """
        missing = set(self.weights) - (set(stored) & set(face))
        if missing:
            raise ValueError(f"no embedding of {', '.join(sorted(missing))}")
        count = len(stored[next(iter(self.weights))])
        if count == 0:
            return 0.0
        total = np.zeros(count, np.float64)
        for model_id, weight in self.weights.items():
            rows = np.asarray(stored[model_id], np.float64).reshape(count, -1)
            total += weight * np.linalg.norm(rows - np.asarray(face[model_id], np.float64), axis=1)
        return sum(within(float(d), self.threshold) for d in total) / count

    def admits(self, stored: Mapping[str, np.ndarray], face: Mapping[str, Embedding],
               pinned: np.ndarray | None = None) -> bool:
        """Whether the face's :meth:`pass_rate` is at least ``min_pass_rate`` over all stored
        images and over the pinned (enrolment) ones among them.

        Args:
            pinned: (K,) bool, which stored rows are enrolment images; None: none known.
        """
        if self.pass_rate(stored, face) < self.min_pass_rate:
            return False
        if pinned is None or not np.any(pinned):
            return True
        anchors = {m: np.asarray(rows)[np.asarray(pinned, bool)] for m, rows in stored.items()}
        return self.pass_rate(anchors, face) >= self.min_pass_rate
