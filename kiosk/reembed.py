"""Migration of a gallery to the kiosk's models: re-embed stored images from their crops.

A stored image is matched only when it has an embedding of every model the kiosk uses
(FaceNet under its model id, and dlib's ResNet encoder with ``[recognition] fusion``). Images
enrolled before fusion, or under another FaceNet model id, lack one: the kiosk leaves them out
of matching (never compared on one model alone) until ``python main.py reembed`` computes the
missing embeddings from the aligned crop stored with each image (``faces.crop_jpeg``, kept when
``[gallery] store_face_crops``). Images without a crop cannot be re-embedded: their people must
be re-enrolled (from photos or at the kiosk), and the report names them.

Only the missing models' embeddings are written; an image's existing embeddings stay as they
were. Each batch is one transaction with its audit row, so an interrupted run keeps what it
finished and the next run goes on from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk.store.people import IncompleteImage
from kiosk.types import Embedding

log = logging.getLogger(__name__)

BATCH_IMAGES = 64


@dataclass
class ReembedReport:
    """What a re-embedding run did.

    Attributes:
        models: the model ids the kiosk uses.
        incomplete: images that lacked an embedding at the start.
        reembedded: images whose missing embeddings were written.
        no_crop: images without a stored crop (their people must be re-enrolled).
        failed: (image, reason) of stored crops that could not be used.
    """

    models: tuple[str, ...]
    incomplete: int = 0
    reembedded: int = 0
    no_crop: list[IncompleteImage] = field(default_factory=list)
    failed: list[tuple[IncompleteImage, str]] = field(default_factory=list)

    def people_to_reenroll(self) -> list[tuple[int, str]]:
        """(person id, name) of everyone with an image that could not be re-embedded, by name."""
        images = self.no_crop + [image for image, _ in self.failed]
        people = {(image.person_id, image.name) for image in images}
        return sorted(people, key=lambda p: (p[1].lower(), p[0]))

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``reembed --json``)."""
        return {
            "models": list(self.models),
            "incomplete": self.incomplete,
            "reembedded": self.reembedded,
            "no_crop": [{"image_id": i.image_id, "person_id": i.person_id, "name": i.name,
                         "missing": list(i.missing)} for i in self.no_crop],
            "failed": [{"image_id": i.image_id, "person_id": i.person_id, "name": i.name,
                        "reason": reason} for i, reason in self.failed],
            "re_enrol": [{"person_id": p, "name": n} for p, n in self.people_to_reenroll()],
        }


def missing_embeddings_notice(gallery: Any) -> str:
    """One warning for start-up when stored images lack an embedding of one of the kiosk's
    models (they are not matched), saying what to run; "" when every image is complete.

    Args:
        gallery: a :class:`kiosk.gallery.Gallery`.
    """
    incomplete = gallery.incomplete_images()
    if not incomplete:
        return ""
    people = len({image.person_id for image in incomplete})
    models = sorted({m for image in incomplete for m in image.missing})
    without_crop = sum(1 for image in incomplete if not image.has_crop)
    notice = (
        f"{len(incomplete)} stored face images of {people} people have no embedding of "
        f"{', '.join(models)} and are not matched until re-embedded: run "
        "`python main.py reembed` with these settings"
    )
    if without_crop:
        notice += (f" ({without_crop} of them have no stored crop: re-enrol those people; "
                   "reembed lists them)")
    return notice


def reembed_gallery(
    gallery: Any,
    encoder: Any,
    batch_images: int = BATCH_IMAGES,
    progress: Callable[[int, int], None] | None = None,
    actor: str = "admin",
) -> ReembedReport:
    """Write the missing embeddings of every incomplete image from its stored crop.

    Args:
        gallery: a :class:`kiosk.gallery.Gallery` (its ``model_ids`` are the models wanted).
        encoder: a :class:`kiosk.face_encoder.FaceEncoder` whose models include those
            (``reembed_crop``).
        batch_images: images per transaction.
        progress: called with (images done, images to do) after each batch.
        actor: who is named in the audit log.

    Returns:
        The report (images without a crop, or whose crop failed, are listed, not raised).

    Raises:
        ValueError: ``batch_images`` < 1, or the encoder lacks one of the gallery's models.
        GalleryError: a batch could not be stored (earlier batches stay stored).
    """
    from kiosk.images import ImageError

    if batch_images < 1:
        raise ValueError(f"batch_images must be >= 1, got {batch_images}")
    report = ReembedReport(tuple(gallery.model_ids))
    incomplete = gallery.incomplete_images()
    report.incomplete = len(incomplete)
    report.no_crop = [image for image in incomplete if not image.has_crop]
    todo = [image for image in incomplete if image.has_crop]
    done = 0
    for start in range(0, len(todo), batch_images):
        batch: dict[int, dict[str, Embedding]] = {}
        for image in todo[start:start + batch_images]:
            crop = gallery.people_table.crop_of(image.image_id)
            try:
                if crop is None:  # deleted since the list was read
                    continue
                embeddings = encoder.reembed_crop(crop)
            except (ImageError, ValueError) as exc:
                report.failed.append((image, str(exc)))
                continue
            absent = [m for m in image.missing if m not in embeddings]
            if absent:
                raise ValueError(
                    f"encoder: the loaded models give no {', '.join(absent)} embedding; load "
                    "them with the same settings as the gallery ([recognition] fusion)"
                )
            batch[image.image_id] = {m: embeddings[m] for m in image.missing}
        if batch:
            report.reembedded += gallery.set_embeddings(batch, actor)
        done = min(len(todo), start + batch_images)
        if progress is not None:
            progress(done, len(todo))
    return report


def migrate_at_start(
    gallery: Any, encoder: Any, progress: Callable[[int, int], None] | None = None,
) -> str:
    """The kiosk's start-up migration: re-embed every stored image that has a crop and lacks
    one of the kiosk's models, then say what is still left ("" when nothing is).

    An updated kiosk (another FaceNet back-end, or fusion turned on) thus recognises its
    enrolled people again without a manual step; only images without a stored crop remain,
    and the returned notice names the command that lists their people.

    Args:
        gallery: a :class:`kiosk.gallery.Gallery` opened with the kiosk's settings.
        encoder: a :class:`kiosk.face_encoder.FaceEncoder` over the kiosk's models.
        progress: called with (images done, images to do) after each batch.
    """
    incomplete = gallery.incomplete_images()
    if any(image.has_crop for image in incomplete):
        report = reembed_gallery(gallery, encoder, progress=progress, actor="kiosk start-up")
        log.info("start-up migration: %d of %d stored images re-embedded for %s",
                 report.reembedded, report.incomplete, ", ".join(report.models))
    return missing_embeddings_notice(gallery)
