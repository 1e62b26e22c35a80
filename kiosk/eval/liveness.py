"""Liveness error rates on labelled sequences (ISO/IEC 30107-3 style).

Two manifest formats, paths relative to the manifest's folder:

- frames: ``path,label,subject,session,frame_no``; the frames of one label+subject+session are
  one sequence, in ``frame_no`` order. Frame times are ``frame_no * frame_interval_s``, by
  default ``1 / ASSUMED_FPS`` (NUAA's frame numbers are camera frames; a manifest whose
  ``frame_no`` counts frames spread further apart, as replay-dev's, passes their spacing);
- videos: ``path,label``; each file is one sequence, read with ``cv2.VideoCapture``.

``label`` is ``live`` for a bona fide presentation, anything else is an attack.

How verdicts count: a sequence's decision is the first live or spoof verdict the tracker gives
(a kiosk acts on it at once), or ``challenge`` when the tracker asked for a head turn first: a
recording cannot answer, so a challenged sequence is not admitted; a sequence that never decides
is *undecided*. Challenged and undecided are "not checked in": for BPCER such a live sequence is
a refusal; for APCER such an attack is not accepted. Sequences in which the face gate never found a face are non-responses: they are
counted apart (``no_face``) and left out of APCER/BPCER, and ``bpcer_with_no_face`` counts them
as refusals too.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.config import LivenessSettings
from kiosk.liveness import CHALLENGE_PROMPTS, CUE_NAMES, LiveState, LivenessVerdict, verdicts_for_frames
from kiosk.texture import TextureScorer
from kiosk.tracking import FaceTracker
from kiosk.types import FrameBGR

ASSUMED_FPS = 25.0
LIVE_LABEL = "live"
FRAME_COLUMNS = ("path", "label", "subject", "session", "frame_no")
VIDEO_COLUMNS = ("path", "label")
TARGET_BPCER = 0.05
# cue -> the settings field holding its live threshold (a score at or above it means live)
CUE_THRESHOLD_FIELDS = {
    "patent_chi2": "patent_chi2_threshold",
    "norm_chi2": "norm_chi2_threshold",
    "eye_rel_chi2": "eye_rel_chi2_threshold",
    "blink": "blink_min_drop",
    "planar": "planar_live_above",
    "texture": "texture_real_above",
}


class ManifestError(ValueError):
    """The manifest is missing, not a CSV of a known format, or names missing files."""


@dataclass(frozen=True, slots=True)
class Sequence:
    """One labelled sequence.

    Attributes:
        name: ``label/subject/session`` or the video path.
        label: ``live`` or an attack label.
        paths: frame image paths (frames manifest), or one video path.
        times_s: the time of each frame (frames manifest; empty for a video).
        is_video: whether ``paths[0]`` is a video file.
    """

    name: str
    label: str
    paths: tuple[Path, ...]
    times_s: tuple[float, ...] = ()
    is_video: bool = False

    @property
    def is_attack(self) -> bool:
        return self.label != LIVE_LABEL


@dataclass(frozen=True, slots=True)
class SequenceResult:
    """The outcome of one sequence.

    Attributes:
        sequence: the input.
        state: the first decided verdict (or undecided).
        decided_at_frame: 1-based frame count at the decision (None: never decided).
        decided_at_s: time from the first frame to the decision.
        cue_states: each cue's first decided state alone.
        cue_scores: each cue's score at the end of the sequence (None: never measured).
        frames: how many frames the sequence had.
        frames_with_face: how many had landmarks.
        final_reason: the reason of the last verdict.
        reason: the reason of the deciding verdict (of the last one when never decided).
        cue_scores_at_decision: each cue's score in the deciding verdict (None: not measured).
        later_states: the distinct combined states after the decision (a first verdict that
            the later frames contradict shows up here).
        challenged: the tracker asked for a head turn before any decision (the sequence is
            then not admitted: a recording cannot answer).
        judged_box_xyxy: the box of the judged face in the deciding frame (the challenge's
            frame, or the last frame with a face when undecided); None without a face.
        track_changes: how often the tracked face changed (each change restarted the verdict).
        texture_scores: the texture cue's score after each frame (None before a sample), for
            the spread check of ``scripts/liveness_spread.py``.
        times_s: each frame's time from the first frame.
    """

    sequence: Sequence
    state: LiveState
    decided_at_frame: int | None
    decided_at_s: float | None
    cue_states: dict[str, LiveState]
    cue_scores: dict[str, float | None]
    frames: int
    frames_with_face: int
    final_reason: str
    reason: str = ""
    cue_scores_at_decision: dict[str, float | None] = field(default_factory=dict)
    later_states: tuple[str, ...] = ()
    challenged: bool = False
    judged_box_xyxy: tuple[int, int, int, int] | None = None
    track_changes: int = 0
    texture_scores: tuple[float | None, ...] = ()
    times_s: tuple[float, ...] = ()

    @property
    def decision(self) -> str:
        """``live``, ``spoof``, ``challenge`` (asked to turn: not admitted) or ``undecided``."""
        return "challenge" if self.challenged else self.state.value

    @property
    def admitted(self) -> bool:
        """Admitted without a challenge (the only way a recording can be admitted)."""
        return self.state is LiveState.LIVE and not self.challenged

    def as_dict(self) -> dict[str, Any]:
        """One entry of ``eval-liveness --json``'s ``sequences`` list."""
        return {
            "id": self.sequence.name,
            "label": self.sequence.label,
            "decision": self.decision,
            "challenged": self.challenged,
            "judged_box_xyxy": list(self.judged_box_xyxy) if self.judged_box_xyxy else None,
            "track_changes": self.track_changes,
            "texture_scores": [None if v is None else round(v, 4) for v in self.texture_scores],
            "times_s": [round(t, 3) for t in self.times_s],
            "decided_at_s": self.decided_at_s,
            "decided_at_frame": self.decided_at_frame,
            "reason": self.reason,
            "scores": self.cue_scores_at_decision,
            "final_scores": self.cue_scores,
            "cue_decisions": {name: state.value for name, state in self.cue_states.items()},
            "frames": self.frames,
            "frames_with_face": self.frames_with_face,
            "later_states": list(self.later_states),
        }


def read_manifest(path: str | Path, frame_interval_s: float = 1.0 / ASSUMED_FPS) -> list[Sequence]:
    """Read a frames or videos manifest into sequences (see the module docstring).

    Args:
        path: the CSV manifest.
        frame_interval_s: the time between ``frame_no`` n and n + 1 of a frames manifest.

    Raises:
        ManifestError: missing file, unknown header, bad row, or a named file that is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    root = path.parent
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = tuple(c.strip() for c in (reader.fieldnames or ()))
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{path}: not a readable CSV file: {exc}") from exc
    if not frame_interval_s > 0:
        raise ManifestError(f"frame_interval_s must be > 0, got {frame_interval_s}")
    if all(c in columns for c in FRAME_COLUMNS):
        return _frame_sequences(path, root, rows, frame_interval_s)
    if all(c in columns for c in VIDEO_COLUMNS):
        return _video_sequences(path, root, rows)
    raise ManifestError(
        f"{path}: header must be {','.join(FRAME_COLUMNS)} or {','.join(VIDEO_COLUMNS)}, "
        f"got {','.join(columns) or 'nothing'}"
    )


VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def read_sources(
    paths: list[str], frame_interval_s: float | None = None, video_label: str = LIVE_LABEL
) -> list[Sequence]:
    """Sequences from several manifests and video files (a video file is one sequence).

    Args:
        paths: CSV manifests (see :func:`read_manifest`) or video files.
        frame_interval_s: the time between frame numbers in frames manifests (None: camera
            frames at ``ASSUMED_FPS``).
        video_label: the label of the video files given directly.

    Raises:
        ManifestError: as :func:`read_manifest`; a video file that does not exist.
    """
    sequences: list[Sequence] = []
    for name in paths:
        path = Path(name)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            if not path.is_file():
                raise ManifestError(f"{path}: video not found")
            sequences.append(Sequence(str(path), video_label.strip() or LIVE_LABEL, (path,),
                                      is_video=True))
        else:
            interval = frame_interval_s if frame_interval_s is not None else 1.0 / ASSUMED_FPS
            sequences.extend(read_manifest(path, interval))
    if not sequences:
        raise ManifestError("no manifest or video given")
    return sequences


def _cell(row: dict[str, Any], key: str, path: Path, line: int) -> str:
    value = row.get(key)
    if value is None or str(value).strip() == "":
        raise ManifestError(f"{path}:{line}: empty {key!r}")
    return str(value).strip()


def _frame_sequences(
    path: Path, root: Path, rows: list[dict[str, Any]], frame_interval_s: float
) -> list[Sequence]:
    groups: dict[tuple[str, str, str], list[tuple[int, Path]]] = {}
    for line, row in enumerate(rows, start=2):
        label = _cell(row, "label", path, line)
        key = (label, _cell(row, "subject", path, line), _cell(row, "session", path, line))
        try:
            frame_no = int(_cell(row, "frame_no", path, line))
        except ValueError as exc:
            raise ManifestError(f"{path}:{line}: frame_no must be an integer") from exc
        frame_path = root / _cell(row, "path", path, line)
        if not frame_path.is_file():
            raise ManifestError(f"{path}:{line}: file not found: {frame_path}")
        groups.setdefault(key, []).append((frame_no, frame_path))
    sequences = []
    for (label, subject, session), frames in groups.items():
        frames.sort(key=lambda f: f[0])
        sequences.append(
            Sequence(
                name=f"{label}/{subject}/{session}",
                label=label,
                paths=tuple(p for _, p in frames),
                times_s=tuple(n * frame_interval_s for n, _ in frames),
            )
        )
    if not sequences:
        raise ManifestError(f"{path}: no rows")
    return sequences


def _video_sequences(path: Path, root: Path, rows: list[dict[str, Any]]) -> list[Sequence]:
    sequences = []
    for line, row in enumerate(rows, start=2):
        video = root / _cell(row, "path", path, line)
        if not video.is_file():
            raise ManifestError(f"{path}:{line}: file not found: {video}")
        label = _cell(row, "label", path, line)
        sequences.append(Sequence(str(video), label, (video,), is_video=True))
    if not sequences:
        raise ManifestError(f"{path}: no rows")
    return sequences


def read_video(path: Path) -> tuple[list[FrameBGR], list[float]]:
    """All frames of a video file and their times (frame index / the file's fps)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ManifestError(f"cannot open video {path}")
    fps = capture.get(cv2.CAP_PROP_FPS) or ASSUMED_FPS
    frames: list[FrameBGR] = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    return frames, [i / fps for i in range(len(frames))]


def sequence_frames(sequence: Sequence) -> tuple[list[FrameBGR], list[float]]:
    """Load a sequence's frames and their times."""
    if sequence.is_video:
        return read_video(sequence.paths[0])
    frames = []
    for frame_path in sequence.paths:
        frame = cv2.imread(str(frame_path))
        if frame is None:
            raise ManifestError(f"cannot read image {frame_path}")
        frames.append(frame)
    return frames, list(sequence.times_s)


def summarise(
    sequence: Sequence,
    verdicts: list[LivenessVerdict],
    times_s: list[float],
    faces: int,
    boxes: list[tuple[int, int, int, int] | None] | None = None,
    track_changes: int = 0,
) -> SequenceResult:
    """Turn a sequence's per-frame verdicts into its decision: the first live or spoof verdict,
    or the first request for a head turn (a recording cannot answer it: not admitted).

    Args:
        sequence: the input.
        verdicts: the verdict after each frame.
        times_s: each frame's time.
        faces: frames with a face.
        boxes: the judged face's box in each frame (None where there was no face).
        track_changes: how often the tracked face changed.
    """
    state, at_frame, at_s = LiveState.UNDECIDED, None, None
    deciding = verdicts[-1] if verdicts else None
    challenged = False
    for i, verdict in enumerate(verdicts):
        if verdict.state is not LiveState.UNDECIDED or verdict.reason in CHALLENGE_PROMPTS:
            at_frame, at_s = i + 1, times_s[i] - times_s[0]
            challenged = verdict.state is LiveState.UNDECIDED
            state = verdict.state
            deciding = verdict
            break
    boxes = boxes or [None] * len(verdicts)
    if at_frame is not None:
        judged_box = boxes[at_frame - 1]
    else:
        judged_box = next((b for b in reversed(boxes) if b is not None), None)
    later = verdicts[at_frame:] if at_frame is not None and not challenged else []
    later_states = tuple(sorted({v.state.value for v in later} - {LiveState.UNDECIDED.value}))
    cue_states: dict[str, LiveState] = {}
    for name in CUE_NAMES:
        cue_states[name] = next(
            (v.cue(name).state for v in verdicts if v.cue(name).state is not LiveState.UNDECIDED),
            LiveState.UNDECIDED,
        )
    last = verdicts[-1] if verdicts else None
    cue_scores = {name: (last.cue(name).score if last else None) for name in CUE_NAMES}
    return SequenceResult(
        sequence, state, at_frame, at_s, cue_states, cue_scores, len(verdicts), faces,
        last.reason.value if last else "no_frames",
        deciding.reason.value if deciding else "no_frames",
        {name: (deciding.cue(name).score if deciding else None) for name in CUE_NAMES},
        later_states, challenged, judged_box, track_changes,
        tuple(v.texture.score for v in verdicts),
        tuple(t - times_s[0] for t in times_s) if times_s else (),
    )


def run_sequence(
    sequence: Sequence,
    tracker: FaceTracker,
    settings: LivenessSettings,
    texture: TextureScorer | None = None,
) -> SequenceResult:
    """Track faces and judge liveness over one sequence with a fresh liveness window (texture
    models shared); the verdict starts over whenever the tracked face changes, as in the kiosk."""
    frames, times_s = sequence_frames(sequence)
    verdicts: list[LivenessVerdict] = []
    boxes: list[tuple[int, int, int, int] | None] = []
    track_ids: list[int] = []
    for face, verdict in verdicts_for_frames(frames, times_s, tracker, settings, texture):
        verdicts.append(verdict)
        if face.landmarks is not None and face.box_xyxy is not None:
            boxes.append(tuple(int(v) for v in face.box_xyxy))  # type: ignore[arg-type]
            track_ids.append(face.track_id)
        else:
            boxes.append(None)
    changes = sum(1 for a, b in zip(track_ids, track_ids[1:]) if a != b)
    faces = sum(b is not None for b in boxes)
    return summarise(sequence, verdicts, times_s, faces, boxes, changes)


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """APCER, BPCER, ACER and the undecided count for one decision rule.

    Attributes:
        attacks: attack sequences counted.
        lives: live sequences counted.
        apcer: attacks accepted as live / attacks.
        bpcer: live sequences not accepted (spoof or undecided) / live sequences.
        acer: (apcer + bpcer) / 2.
        undecided: sequences (live and attack) that never decided.
        undecided_live: live sequences among them.
    """

    attacks: int
    lives: int
    apcer: float
    bpcer: float
    acer: float
    undecided: int
    undecided_live: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def error_rates(labels_attack: list[bool], states: list[LiveState]) -> ErrorRates:
    """Error rates of decisions against labels (undecided = not accepted)."""
    attacks = sum(labels_attack)
    lives = len(labels_attack) - attacks
    accepted = sum(a and s is LiveState.LIVE for a, s in zip(labels_attack, states))
    refused = sum((not a) and s is not LiveState.LIVE for a, s in zip(labels_attack, states))
    undecided = sum(s is LiveState.UNDECIDED for s in states)
    undecided_live = sum((not a) and s is LiveState.UNDECIDED for a, s in zip(labels_attack, states))
    apcer = accepted / attacks if attacks else 0.0
    bpcer = refused / lives if lives else 0.0
    return ErrorRates(attacks, lives, apcer, bpcer, (apcer + bpcer) / 2, undecided, undecided_live)


def threshold_for_bpcer(
    live_scores: list[float | None], attack_scores: list[float | None], target: float = TARGET_BPCER
) -> dict[str, float | None]:
    """The highest live threshold (score >= threshold means live) with BPCER <= ``target``.

    Live sequences without a score are refusals at any threshold; when they alone exceed the
    target, no threshold reaches it (None).

    Returns:
        ``threshold``, and the ``bpcer`` and ``apcer`` it gives (attacks without a score are
        not accepted).
    """
    n_live = len(live_scores)
    scored = sorted(s for s in live_scores if s is not None)
    allowed = int(np.floor(target * n_live + 1e-9)) - (n_live - len(scored))
    if n_live == 0 or not scored or allowed < 0:
        return {"threshold": None, "bpcer": None, "apcer": None}
    threshold = scored[min(allowed, len(scored) - 1)]
    refused = sum(1 for s in live_scores if s is None or s < threshold)
    attacks = [s for s in attack_scores]
    accepted = sum(1 for s in attacks if s is not None and s >= threshold)
    return {
        "threshold": float(threshold),
        "bpcer": refused / n_live,
        "apcer": accepted / len(attacks) if attacks else 0.0,
    }


@dataclass
class Evaluation:
    """All figures of one run (``as_dict`` gives the JSON of ``eval-liveness --json``)."""

    results: list[SequenceResult]
    settings: LivenessSettings
    combined: ErrorRates = field(init=False)
    per_cue: dict[str, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        counted = [r for r in self.results if r.frames_with_face > 0]
        labels = [r.sequence.is_attack for r in counted]
        # a challenged sequence is not admitted (a recording cannot turn its head on request)
        self.combined = error_rates(
            labels, [LiveState.UNDECIDED if r.challenged else r.state for r in counted]
        )
        self.per_cue = {}
        for name in CUE_NAMES:
            rates = error_rates(labels, [r.cue_states[name] for r in counted])
            live = [r.cue_scores[name] for r in counted if not r.sequence.is_attack]
            attack = [r.cue_scores[name] for r in counted if r.sequence.is_attack]
            self.per_cue[name] = {
                **rates.as_dict(),
                "threshold": getattr(self.settings, CUE_THRESHOLD_FIELDS[name]),
                "at_bpcer_5": threshold_for_bpcer(live, attack),
            }

    @property
    def no_face(self) -> int:
        return sum(1 for r in self.results if r.frames_with_face == 0)

    def decision_times(self) -> dict[str, float | None]:
        """Median and maximum frames and seconds to a decision (live or spoof, without a
        challenge), and the median over the live sequences admitted."""
        decided = [r for r in self.results if r.decided_at_frame is not None and not r.challenged]
        frames = [r.decided_at_frame for r in decided]
        seconds = [r.decided_at_s for r in decided]
        admitted = [r.decided_at_s for r in decided if r.admitted and not r.sequence.is_attack]
        if not frames:
            return {"median_frames": None, "max_frames": None, "median_s": None, "max_s": None,
                    "median_admitted_s": None}
        return {
            "median_frames": float(np.median(frames)),  # type: ignore[arg-type]
            "max_frames": float(max(frames)),  # type: ignore[type-var]
            "median_s": float(np.median(seconds)),  # type: ignore[arg-type]
            "max_s": float(max(seconds)),  # type: ignore[type-var]
            "median_admitted_s": float(np.median(admitted)) if admitted else None,  # type: ignore[arg-type]
        }

    def challenge_counts(self) -> dict[str, Any]:
        """Challenged sequences (live and attack), and the share of live sequences admitted
        without a challenge (sequences without a face count as not admitted)."""
        lives = [r for r in self.results if not r.sequence.is_attack]
        admitted = sum(1 for r in lives if r.admitted)
        return {
            "challenged": sum(1 for r in self.results if r.challenged),
            "challenged_live": sum(1 for r in lives if r.challenged),
            "live_admitted_without_challenge": admitted,
            "live_admitted_without_challenge_share": admitted / len(lives) if lives else None,
            "attacks_admitted": sum(1 for r in self.results if r.sequence.is_attack and r.admitted),
            # a live attendee at the kiosk answers the challenge: refused then only when the
            # passive rules refused or never decided (recordings cannot show this)
            "bpcer_if_live_answer": (
                sum(1 for r in lives if r.frames_with_face > 0 and not r.admitted and not r.challenged)
                / max(1, sum(1 for r in lives if r.frames_with_face > 0))
            ),
            "live_refused_as_spoof": sum(1 for r in lives if r.state is LiveState.SPOOF),
        }

    def as_dict(self) -> dict[str, Any]:
        lives_all = sum(1 for r in self.results if not r.sequence.is_attack)
        refused_all = sum(
            1 for r in self.results if not r.sequence.is_attack and not r.admitted
        )
        return {
            "sequence_count": len(self.results),
            "apcer": self.combined.apcer,
            "bpcer": self.combined.bpcer,
            "acer": self.combined.acer,
            "undecided": self.combined.undecided,
            "undecided_live": self.combined.undecided_live,
            "attacks": self.combined.attacks,
            "lives": self.combined.lives,
            "no_face": self.no_face,
            "bpcer_with_no_face": refused_all / lives_all if lives_all else 0.0,
            "decision": self.decision_times(),
            "challenge": self.challenge_counts(),
            "per_cue": self.per_cue,
            "sequences": [r.as_dict() for r in self.results],
        }


def evaluate(
    sequences: list[Sequence],
    tracker: FaceTracker,
    settings: LivenessSettings,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Run every sequence and compute the figures.

    Args:
        sequences: from :func:`read_manifest`.
        tracker: face gate + landmarks (:func:`kiosk.liveness.evaluation_tracker`).
        settings: the ``[liveness]`` settings (thresholds as configured).
        progress: called with (done, total) after each sequence.
    """
    texture = None
    if settings.enabled and settings.use_texture:
        texture = TextureScorer.from_models_dir(settings.texture_models_dir)
    results = []
    for i, sequence in enumerate(sequences):
        results.append(run_sequence(sequence, tracker, settings, texture))
        if progress is not None:
            progress(i + 1, len(sequences))
    return Evaluation(results, settings)
