"""``eval-live-identify ROOT``: live camera frames identified against people enrolled from other
frames of a camera, as a kiosk sees them; how often dlib alone decides.

``eval-identify`` measures the rule on LFW photos taken years apart, the hard case. A kiosk
compares live frames with faces captured by a camera (the enrolment dialog's captures, or earlier
check-ins): this measures that case on a folder of camera frames (NUAA's layout: ``ROOT/<person>/
<frames>``, a frame's recording being its file name up to the last ``_``, e.g.
``0001_00_00_01_12.jpg`` -> ``0001_00_00_01``, NUAA's person, glasses, position and session).

- Each person is enrolled with ``enrol`` consecutive frames (with a face) of their first
  recording, as the enrolment dialog's captures: its first frames, or from a point ``enrol_at``
  (0-1) along it, so that several runs show how much the figures depend on the moment chosen.
- **Same recording**: that recording's other frames (the same day and light).
- **Another recording**: the frames of the person's other recordings (another session, or with
  and without glasses), when they have any.
- **Strangers**: every frame of each person matched against a gallery of everyone else (the
  person left out), so every person is a stranger once.
- **Frames that must agree** (``agree`` N): the kiosk checks an attendee in only when N
  consecutive decisions name the same person (:func:`kiosk.matching.rule.agreed`); here N
  consecutive frames of one recording (in frame-number order; NUAA keeps about every 5th camera
  frame, some 0.17 s apart, near the kiosk's 0.15 s between decision embeddings) form a group,
  decided as the kiosk decides. Frame counts are reported too.

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
from kiosk.matching.rule import DlibFirstBand, agreed, fusion_weights_of, match_threshold

GROUPS = ("same_recording", "another_recording", "strangers")


def _stem(path: str) -> str:
    """A frame's file name without its folders and suffix."""
    return path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]


def recording_of(path: str) -> str:
    """The recording of a frame: its file name without the suffix, up to the last ``_``."""
    stem = _stem(path)
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def frame_number(path: str) -> tuple[int, str]:
    """Sort key of a frame in its recording: the number after the last ``_`` (then the name)."""
    stem = _stem(path)
    tail = stem.rsplit("_", 1)[-1]
    return (int(tail) if tail.isdigit() else -1, stem)


@dataclass
class GroupCounts:
    """The decisions of one group of probes.

    Attributes:
        probes: frames with a face.
        right, wrong: frames accepted as their own person / as someone else (genuine groups).
        accepted: frames accepted as anyone (strangers: should be 0).
        dlib_accepted, dlib_refused: frames decided by dlib's distance alone.
        facenet: frames decided on the fused distance (FaceNet ran).
        groups, groups_right, groups_wrong, groups_accepted: the same for groups of ``agree``
            consecutive frames that must name one person (equal to the frame counts with 1).
    """

    probes: int = 0
    right: int = 0
    wrong: int = 0
    accepted: int = 0
    dlib_accepted: int = 0
    dlib_refused: int = 0
    facenet: int = 0
    groups: int = 0
    groups_right: int = 0
    groups_wrong: int = 0
    groups_accepted: int = 0

    def add(self, matches: Sequence[Any], truth: int | None) -> None:
        """Count one group's frames (their :class:`~kiosk.matching.rule.Match`) and its
        decision; ``truth``: the person, None for a stranger."""
        for match in matches:
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
        decided = agreed(matches, len(matches))
        self.groups += 1
        self.groups_accepted += int(decided is not None)
        if truth is not None and decided is not None:
            self.groups_right += int(decided.person_id == truth)
            self.groups_wrong += int(decided.person_id != truth)

    def as_dict(self) -> dict[str, Any]:
        def share(count: int, total: int) -> float:
            return count / total if total else float("nan")

        return {"probes": self.probes, "right": self.right, "wrong": self.wrong,
                "accepted": self.accepted, "dlib_accepted": self.dlib_accepted,
                "dlib_refused": self.dlib_refused, "facenet": self.facenet,
                "right_rate": share(self.right, self.probes),
                "accepted_rate": share(self.accepted, self.probes),
                "facenet_share": share(self.facenet, self.probes),
                "groups": self.groups, "groups_right": self.groups_right,
                "groups_wrong": self.groups_wrong, "groups_accepted": self.groups_accepted,
                "groups_right_rate": share(self.groups_right, self.groups),
                "groups_accepted_rate": share(self.groups_accepted, self.groups)}


@dataclass
class LiveReport:
    """What :func:`evaluate` found: the counts per group and who was enrolled how."""

    enrol: int
    agree: int
    enrol_at: float
    people: int
    people_with_another_recording: int
    groups: dict[str, GroupCounts] = field(default_factory=lambda: {g: GroupCounts() for g in GROUPS})

    def as_dict(self) -> dict[str, Any]:
        return {"enrol": self.enrol, "agree": self.agree, "enrol_at": self.enrol_at,
                "people": self.people,
                "people_with_another_recording": self.people_with_another_recording,
                **{name: counts.as_dict() for name, counts in self.groups.items()}}


def plan(faces: FaceSet, enrol: int, enrol_at: float = 0.0) -> dict[str, dict[str, Any]]:
    """Per person: ``enrol`` (rows) and the probe rows in frame order, as segments of
    consecutive frames: ``same_recording`` (the first recording's frames before and after the
    enrolment frames) and ``another_recording`` (each other recording). ``enrol_at``: where in
    the first recording the enrolment frames start (0: its first frames, 1: its last).

    Raises:
        ValueError: ``enrol`` < 1, ``enrol_at`` outside [0, 1], or nobody has more than ``enrol`` frames with a face in a
            recording.
    """
    if enrol < 1:
        raise ValueError(f"enrol must be >= 1, got {enrol}")
    if not 0.0 <= enrol_at <= 1.0:
        raise ValueError(f"enrol_at must be in [0, 1], got {enrol_at}")
    rows_of: dict[str, dict[str, list[int]]] = {}
    for row, (person, path, face) in enumerate(zip(faces.people, faces.paths, faces.has_face)):
        if face:
            rows_of.setdefault(person, {}).setdefault(recording_of(path), []).append(row)
    chosen = {}
    for person, recordings in rows_of.items():
        for rows in recordings.values():
            rows.sort(key=lambda row: frame_number(faces.paths[row]))
        first, *others = sorted(recordings)
        if len(recordings[first]) <= enrol:
            continue
        rows = recordings[first]
        start = int(round(enrol_at * (len(rows) - enrol)))
        chosen[person] = {"enrol": rows[start:start + enrol],
                          "same_recording": [rows[:start], rows[start + enrol:]],
                          "another_recording": [recordings[other] for other in others]}
    if not chosen:
        raise ValueError(f"nobody has more than {enrol} frame(s) with a face in one recording")
    return chosen


def consecutive(rows: Sequence[int], agree: int) -> list[list[int]]:
    """``rows`` (one recording, in frame order) cut into groups of ``agree`` consecutive frames
    (a shorter tail is left out)."""
    return [list(rows[i:i + agree]) for i in range(0, len(rows) - agree + 1, agree)]


def evaluate(faces: FaceSet, enrol: int, settings: Any, agree: int = 1,
             enrol_at: float = 0.0) -> LiveReport:
    """Enrol, match every probe frame with the kiosk's gallery and rule, count (see the module
    docstring). ``settings``: the kiosk's :class:`~kiosk.config.Settings`.

    Raises:
        ValueError: ``agree`` < 1, or see :func:`plan`.
    """
    from kiosk.gallery import Gallery

    if agree < 1:
        raise ValueError(f"agree must be >= 1, got {agree}")
    recognition = settings.recognition
    chosen = plan(faces, enrol, enrol_at)
    report = LiveReport(enrol, agree, enrol_at, len(chosen),
                        sum(1 for p in chosen.values() if any(p["another_recording"])))
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
                for segment in rows[group]:
                    for frames in consecutive(segment, agree):
                        report.groups[group].add(
                            [everyone.match(embeddings(r), threshold, margin) for r in frames],
                            ids[person])
    for person, rows in chosen.items():
        others, _ = gallery_of([p for p in sorted(chosen) if p != person])
        before, after = rows["same_recording"]
        with others:
            for recording in [before + rows["enrol"] + after, *rows["another_recording"]]:
                for frames in consecutive(recording, agree):
                    report.groups["strangers"].add(
                        [others.match(embeddings(r), threshold, margin) for r in frames], None)
    return report
