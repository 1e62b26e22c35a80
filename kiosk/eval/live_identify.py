"""``eval-live-identify ROOT``: live camera frames identified against people enrolled from other
frames of a camera, as a kiosk sees them; how often dlib alone decides.

``eval-identify`` measures the rule on LFW photos taken years apart, the hard case. A kiosk
compares live frames with faces captured by a camera (the enrolment dialog's captures, or earlier
check-ins): this measures that case on a folder of camera frames (NUAA's layout: ``ROOT/<person>/
<frames>``, a frame's recording being its file name up to the last ``_``, e.g.
``0001_00_00_01_12.jpg`` -> ``0001_00_00_01``, NUAA's person, glasses, position and session).

- Each person is enrolled with the first ``enrol`` frames (with a face) of their first recording,
  as the enrolment dialog's captures.
- **Same recording**: that recording's other frames (the same day and light).
- **Another recording**: the frames of the person's other recordings (another session, or with
  and without glasses), when they have any.
- **Strangers**: every frame of each person matched against a gallery of everyone else (the
  person left out), so every person is a stranger once.

Every decision is the kiosk's: a :class:`~kiosk.gallery.Gallery` opened with the settings' fusion
weights and dlib-first band, :meth:`~kiosk.gallery.Gallery.match` with the threshold in force.
The report counts the decisions dlib's distance settled alone (accepted, or refused) and those
that needed FaceNet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.eval.identify_cv import FaceSet
from kiosk.matching.rule import DlibFirstBand, fusion_weights_of, match_threshold

GROUPS = ("same_recording", "another_recording", "strangers")


def recording_of(path: str) -> str:
    """The recording of a frame: its file name without the suffix, up to the last ``_``."""
    stem = path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


@dataclass
class GroupCounts:
    """The decisions of one group of probe frames.

    Attributes:
        probes: frames with a face.
        right, wrong: accepted as their own person / as someone else (genuine groups).
        accepted: accepted as anyone (strangers: should be 0).
        dlib_accepted, dlib_refused: decided by dlib's distance alone.
        facenet: decided on the fused distance (FaceNet ran).
    """

    probes: int = 0
    right: int = 0
    wrong: int = 0
    accepted: int = 0
    dlib_accepted: int = 0
    dlib_refused: int = 0
    facenet: int = 0

    def add(self, match: Any, truth: int | None) -> None:
        self.probes += 1
        self.accepted += int(match.accepted)
        if truth is not None and match.accepted:
            self.right += int(match.person_id == truth)
            self.wrong += int(match.person_id != truth)
        if match.dlib_only:
            self.dlib_accepted += int(match.accepted)
            self.dlib_refused += int(not match.accepted)
        else:
            self.facenet += 1

    def as_dict(self) -> dict[str, Any]:
        share = (lambda n: n / self.probes if self.probes else float("nan"))
        return {"probes": self.probes, "right": self.right, "wrong": self.wrong,
                "accepted": self.accepted, "dlib_accepted": self.dlib_accepted,
                "dlib_refused": self.dlib_refused, "facenet": self.facenet,
                "right_rate": share(self.right), "accepted_rate": share(self.accepted),
                "facenet_share": share(self.facenet)}


@dataclass
class LiveReport:
    """What :func:`evaluate` found: the counts per group and who was enrolled how."""

    enrol: int
    people: int
    people_with_another_recording: int
    groups: dict[str, GroupCounts] = field(default_factory=lambda: {g: GroupCounts() for g in GROUPS})

    def as_dict(self) -> dict[str, Any]:
        return {"enrol": self.enrol, "people": self.people,
                "people_with_another_recording": self.people_with_another_recording,
                **{name: counts.as_dict() for name, counts in self.groups.items()}}


def plan(faces: FaceSet, enrol: int) -> dict[str, dict[str, list[int]]]:
    """Per person: ``enrol`` (rows), ``same_recording`` and ``another_recording`` (probe rows).

    Raises:
        ValueError: ``enrol`` < 1, or nobody has more than ``enrol`` frames with a face in a
            recording.
    """
    if enrol < 1:
        raise ValueError(f"enrol must be >= 1, got {enrol}")
    rows_of: dict[str, dict[str, list[int]]] = {}
    for row, (person, path, face) in enumerate(zip(faces.people, faces.paths, faces.has_face)):
        if face:
            rows_of.setdefault(person, {}).setdefault(recording_of(path), []).append(row)
    chosen = {}
    for person, recordings in rows_of.items():
        first, *others = sorted(recordings)
        if len(recordings[first]) <= enrol:
            continue
        chosen[person] = {"enrol": recordings[first][:enrol],
                          "same_recording": recordings[first][enrol:],
                          "another_recording": [r for other in others for r in recordings[other]]}
    if not chosen:
        raise ValueError(f"nobody has more than {enrol} frame(s) with a face in one recording")
    return chosen


def evaluate(faces: FaceSet, enrol: int, settings: Any) -> LiveReport:
    """Enrol, match every probe frame with the kiosk's gallery and rule, count (see the module
    docstring). ``settings``: the kiosk's :class:`~kiosk.config.Settings`."""
    from kiosk.gallery import Gallery

    recognition = settings.recognition
    chosen = plan(faces, enrol)
    report = LiveReport(enrol, len(chosen), sum(1 for p in chosen.values() if p["another_recording"]))
    threshold, margin = match_threshold(recognition), recognition.min_margin

    def embeddings(row: int) -> dict[str, np.ndarray]:
        return {model_id: matrix[row] for model_id, matrix in faces.embeddings.items()}

    def gallery_of(people: Sequence[str]) -> tuple[Gallery, dict[str, int]]:
        gallery = Gallery(":memory:", recognition.model_id, store_face_crops=False,
                          fusion_weights=fusion_weights_of(recognition),
                          dlib_first=DlibFirstBand.from_settings(recognition))
        ids = {person: gallery.add_person(person, [embeddings(r) for r in chosen[person]["enrol"]])
               for person in people}
        return gallery, ids

    everyone, ids = gallery_of(sorted(chosen))
    with everyone:
        for person, rows in chosen.items():
            for group in ("same_recording", "another_recording"):
                for row in rows[group]:
                    report.groups[group].add(everyone.match(embeddings(row), threshold, margin),
                                             ids[person])
    for person, rows in chosen.items():
        others, _ = gallery_of([p for p in sorted(chosen) if p != person])
        with others:
            for row in rows["enrol"] + rows["same_recording"] + rows["another_recording"]:
                report.groups["strangers"].add(others.match(embeddings(row), threshold, margin),
                                               None)
    return report
