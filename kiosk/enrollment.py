"""The one enrolment path: encoded faces -> the look-alike check -> the person added (or their
images), in one transaction.

Used by the CLI (``enroll``), the folder enrolment (:mod:`kiosk.enroll_folder`), the enrolment
dialog, and the central service (``POST /api/v1/people``, which connected kiosks enrol
through). The faces come from whatever encoded them (:class:`kiosk.face_encoder.FaceSample`:
``embeddings`` and ``crop_jpeg()``); :func:`encode_photos` encodes photos for the callers
that start from files or frames.

A face "looks like" an enrolled person when the open-set match of the kiosk would accept it
for that person (the same threshold and margin, so a look-alike is exactly someone the door
would take the new person for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kiosk.config import RecognitionSettings
from kiosk.matching.rule import match_threshold
from kiosk.gallery import Gallery

ENROLMENT_LOCK = "enrolment"  # the store lock every enrolment holds (Store.exclusive)


@dataclass(frozen=True)
class Lookalike:
    """An enrolled person a new face would be taken for.

    Attributes:
        label: which face (a file name, "face 2").
        person_id: the enrolled person.
        name: their name.
        distance: the match distance.
    """

    label: str
    person_id: int
    name: str
    distance: float

    def describe(self) -> str:
        """``obama3.jpg looks like person 1 (Obama), distance 0.612``."""
        return (f"{self.label} looks like person {self.person_id} ({self.name}), "
                f"distance {self.distance:.3f}")


class LookalikeError(ValueError):
    """A face looks like someone enrolled and duplicates were not allowed; nothing was
    enrolled.

    Attributes:
        lookalike: the first face that did.
    """

    def __init__(self, lookalike: Lookalike) -> None:
        super().__init__(f"{lookalike.describe()}; nothing was enrolled")
        self.lookalike = lookalike


@dataclass(frozen=True)
class Enrolment:
    """What :func:`enroll` did.

    Attributes:
        person_id: the new (or re-enrolled) person.
        images: faces stored.
        lookalikes: faces that looked like someone else (enrolled because allowed).
    """

    person_id: int
    images: int
    lookalikes: tuple[Lookalike, ...] = field(default=())


def lookalike_of(gallery: Gallery, recognition: RecognitionSettings, embeddings: Any,
                 label: str = "the face", except_person_id: int | None = None) -> Lookalike | None:
    """The enrolled person one face would be taken for, or None (nobody, or only
    ``except_person_id``, the person being re-enrolled)."""
    found = gallery.lookalike(embeddings, match_threshold(recognition), recognition.min_margin,
                              except_person_id=except_person_id)
    if found is None:
        return None
    match, name = found
    return Lookalike(label, int(match.person_id), name, float(match.distance))


def enroll(
    gallery: Gallery,
    recognition: RecognitionSettings,
    name: str,
    samples: Sequence[Any],
    *,
    labels: Sequence[str] | None = None,
    external_id: str | None = None,
    person_id: int | None = None,
    allow_duplicate: bool = False,
    actor: str = "admin",
) -> Enrolment:
    """Enrol a person (or add images to ``person_id``) from encoded faces.

    Args:
        gallery: where to enrol (a kiosk's file or the service's database).
        recognition: the threshold and margin of the look-alike check.
        name: the person's name (ignored when ``person_id`` is given).
        samples: the faces (``embeddings``, ``crop_jpeg()``).
        labels: what to call each face in messages (file names); default "face N".
        external_id: the roster id, if any.
        person_id: re-enrol this person (their own faces are not look-alikes).
        allow_duplicate: enrol even when a face looks like someone else.
        actor: who enrols, for the audit log.

    Raises:
        LookalikeError: a face looks like someone else and duplicates are not allowed.
        ValueError: no faces, a bad name, an external id already enrolled, no such person,
            too many pinned images; nothing was enrolled.
        StoreError: nothing could be stored.
    """
    if not samples:
        raise ValueError("at least one face image is needed to enrol")
    labels = list(labels) if labels is not None else [f"face {i}" for i in range(1, len(samples) + 1)]
    embeddings = [s.embeddings for s in samples]
    crops = [s.crop_jpeg() for s in samples]
    # The check reads the gallery in memory and the write is another statement: another kiosk
    # or service instance enrolling the same face meanwhile would pass the same check. One
    # enrolment at a time per database, reading every other one's result first.
    with gallery.store.exclusive(ENROLMENT_LOCK):
        gallery.refresh_if_changed()
        found = [lookalike_of(gallery, recognition, sample.embeddings, label, person_id)
                 for sample, label in zip(samples, labels)]
        lookalikes = tuple(f for f in found if f is not None)
        if lookalikes and not allow_duplicate:
            raise LookalikeError(lookalikes[0])
        if person_id is not None:
            gallery.add_images(person_id, embeddings, crops, actor=actor)
        else:
            person_id = gallery.add_person(name, embeddings, crops, external_id=external_id,
                                           actor=actor)
    return Enrolment(person_id, len(samples), lookalikes)


def encode_photos(encoder: Any, photos: Sequence[tuple[Any, str]]) -> list[Any]:
    """One face sample per photo (``(frame_bgr, label)``), each photo with exactly one face.

    Raises:
        kiosk.images.ImageError: a photo without a usable face (naming it).
    """
    return [encoder.encode_photo(frame_bgr, label, single=True) for frame_bgr, label in photos]
