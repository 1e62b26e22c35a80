"""Bulk enrolment from a folder of photos named by external id (``E001.jpg``, ``E001_2.jpg``).

One pure function, :func:`enroll_folder`, used by the ``enroll-folder`` command and the GUI's
bulk enrolment dialog (which runs it in a worker thread and shows the progress callback).
Each photo is refused with a reason (unreadable, no face, several faces, looks like someone
else, a file name that is not UTF-8 text) or enrolled, and the batch goes on; photos of an external id that is already enrolled are added to that person.
The name comes from an imported roster with that external id, else the external id is the name
(rename later in the people manager).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from kiosk.config import RecognitionSettings
from kiosk.enrollment import enroll, lookalike_of
from kiosk.gallery import Gallery, GalleryError
from kiosk.names import is_text, printable
from kiosk.images import ImageError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_SUFFIX_NUMBER = re.compile(r"^(.+?)_\d+$")

BAD_FILE_NAME = "the file name is not valid UTF-8 text; rename the file to the person's external id"

ProgressCallback = Callable[[int, int, str], None]  # (done, total, file name)


@dataclass
class FolderReport:
    """What :func:`enroll_folder` did.

    Attributes:
        total: photos found.
        enrolled: (external id, person id, images) of each person enrolled or re-enrolled.
        refused: (file name, reason) of each photo not used.
        cancelled: the run was cancelled before the end.
    """

    total: int = 0
    enrolled: list[tuple[str, int, int]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "total": self.total,
            "enrolled": [{"external_id": e, "person_id": p, "images": n} for e, p, n in self.enrolled],
            "refused": [{"file": f, "reason": r} for f, r in self.refused],
            "cancelled": self.cancelled,
        }


def external_id_of(path: Path) -> str:
    """The external id a photo is named by: the file stem without a ``_N`` suffix."""
    stem = path.stem.strip()
    match = _SUFFIX_NUMBER.match(stem)
    return match.group(1) if match else stem


def photo_files(folder: str | Path) -> list[Path]:
    """The photos in ``folder`` (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def roster_name(gallery: Gallery, external_id: str) -> str | None:
    """The newest roster name for an external id, or None (no roster table or no entry)."""
    return gallery.events_table.roster_name(external_id)


def enroll_folder(
    gallery: Gallery,
    encoder: Any,
    folder: str | Path,
    *,
    recognition: RecognitionSettings,
    actor: str = "admin",
    progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> FolderReport:
    """Enrol every photo of ``folder``, grouped by external id; one transaction per person.

    Args:
        gallery: where to enrol.
        encoder: a :class:`kiosk.face_encoder.FaceEncoder` (``encode_file``).
        folder: the folder of photos named by external id.
        recognition: the threshold and margin of the look-alike check (a photo the kiosk
            would take for another person is refused; :mod:`kiosk.enrollment`).
        actor: who enrols, for the audit log.
        progress: called after each photo with (done, total, file name).
        should_cancel: polled between photos; True stops (people done so far stay enrolled).

    Raises:
        ValueError: ``folder`` is not a folder.
    """
    files = photo_files(folder)
    report = FolderReport(total=len(files))
    groups: dict[str, list[Path]] = {}
    done = 0
    for path in files:
        if is_text(path.name):
            groups.setdefault(external_id_of(path), []).append(path)
            continue
        report.refused.append((printable(path.name), BAD_FILE_NAME))
        done += 1
        if progress is not None:
            progress(done, len(files), printable(path.name))
    for external_id, paths in groups.items():
        existing = gallery.person_by_external_id(external_id)
        samples = []
        for path in paths:
            if should_cancel is not None and should_cancel():
                report.cancelled = True
                return report
            try:
                sample = encoder.encode_file(path, single=True)
                found = lookalike_of(gallery, recognition, sample.embeddings, path.name,
                                     except_person_id=existing.id if existing else None)
                if found is not None:
                    raise ImageError(f"looks like {found.name} (person {found.person_id}, "
                                     f"distance {found.distance:.2f})")
                samples.append(sample)
            except ImageError as exc:
                report.refused.append((path.name, str(exc)))
            except (ValueError, OSError, MemoryError, cv2.error) as exc:  # one photo, not the batch
                report.refused.append((path.name, f"cannot use this photo: {exc}".splitlines()[0]))
            done += 1
            if progress is not None:
                progress(done, len(files), path.name)
        if not samples:
            continue
        try:  # each photo was checked above: the look-alikes are refused already
            person_id = enroll(
                gallery, recognition, roster_name(gallery, external_id) or external_id, samples,
                external_id=external_id, person_id=existing.id if existing else None,
                allow_duplicate=True, actor=actor).person_id
        except (ValueError, GalleryError) as exc:
            report.refused.extend((p.name, str(exc)) for p in paths)
            continue
        report.enrolled.append((external_id, person_id, len(samples)))
    return report
