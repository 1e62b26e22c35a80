"""The liveness verdict belongs to one tracked face: with two faces in view the tracked one is
judged and checked in, and a change of the tracked face starts everything over."""

from __future__ import annotations

import time

import cv2
import numpy as np

from kiosk.config import DetectionSettings, Settings
from kiosk.decision import Outcome
from kiosk.detect import GateProblem, GateResult
from kiosk.gallery import Gallery
from kiosk.liveness import CHALLENGE_PROMPTS, LiveState, LivenessTracker
from kiosk.pipeline import Pipeline, Prompt
from kiosk.stages import Models
from kiosk.texture import TextureScore
from kiosk.tracking import FaceTracker
from kiosk.types import Face
from tests.kiosk.fakes import BLUE_STEP, FakeEmbedder, FakeLandmarker, face_frame, person_embedding

FPS = 30.0
BIG_SIDE_PX, SMALL_SIDE_PX = 200, 120


class SquaresDetector:
    """The face gate on synthetic frames with several bright squares: each square is a face,
    the largest first; near a tracked face the square there comes first (the kiosk's gate
    searches near the track first)."""

    def __init__(self) -> None:
        self.settings = DetectionSettings()

    def detect(self, frame_bgr: np.ndarray, near_xyxy: object = None) -> GateResult:
        mask = (frame_bgr[..., 1] > 150).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [np.array([x, y, x + w, y + h], np.int32) for x, y, w, h, _ in stats[1:count]]
        boxes.sort(key=lambda b: -int((b[2] - b[0]) * (b[3] - b[1])))
        if near_xyxy is not None:
            near = np.asarray(near_xyxy)
            boxes.sort(key=lambda b: not (b[0] < near[2] and near[0] < b[2]
                                          and b[1] < near[3] and near[1] < b[3]))
        if not boxes:
            return GateResult(None, np.empty((0, 4), np.int32), GateProblem.NO_FACE)
        return GateResult(Face(boxes[0], 2, False), np.array(boxes), None)


class TextureByPerson:
    """A test double for :class:`kiosk.texture.TextureScorer`: the "real" probability of the
    person whose face (blue level) is under the landmarks."""

    def __init__(self, reals: dict[int, float]) -> None:
        self.reals = reals

    def score(self, frame_bgr: np.ndarray, landmarks: np.ndarray) -> TextureScore:
        x, y = landmarks.mean(axis=0).astype(int)
        person = int(round(float(frame_bgr[y, x, 0]) / BLUE_STEP))
        real = self.reals[person]
        return TextureScore(real, (real,))


def faces(big: tuple[int, int, int] | None, small: tuple[int, int, int] | None) -> np.ndarray:
    """A frame with a big face (person, x0, y0) and a small one (a phone held up)."""
    frame = face_frame(None)
    for spec, side in ((big, BIG_SIDE_PX), (small, SMALL_SIDE_PX)):
        if spec is not None:
            person, x0, y0 = spec
            frame[y0:y0 + side, x0:x0 + side] = (BLUE_STEP * person, 200, 200)
    return frame


def make_pipeline(tmp_path, reals: dict[int, float]) -> tuple[Pipeline, Gallery, int, int, int]:
    settings = Settings()
    gallery = Gallery(tmp_path / "faces.sqlite", settings.recognition.model_id)
    alice = gallery.add_person("Alice", [person_embedding(1)])
    bob = gallery.add_person("Bob", [person_embedding(2)])
    event_id = gallery.create_event("Board")
    models = Models(SquaresDetector(), FakeLandmarker(), FakeEmbedder())
    liveness = LivenessTracker(settings.liveness, TextureByPerson(reals))  # type: ignore[arg-type]
    pipeline = Pipeline(settings, models, gallery, event_id, clock=time.time, liveness=liveness)
    return pipeline, gallery, event_id, alice, bob


def test_the_track_id_follows_one_face_and_changes_with_another() -> None:
    tracker = FaceTracker(SquaresDetector(), FakeLandmarker(), detect_every_n_frames=1)
    first = tracker.update(faces((1, 40, 100), (2, 440, 60)))
    swayed = tracker.update(faces((1, 50, 104), (2, 440, 60)))
    assert first.track_id == swayed.track_id and first.box_xyxy[0] < 100  # the larger face
    other = tracker.update(faces(None, (2, 440, 60)))  # the attendee stepped aside
    assert other.track_id != swayed.track_id and other.box_xyxy[0] >= 440
    tracker.reset()
    assert tracker.update(faces(None, (2, 440, 60))).track_id != other.track_id


def test_with_two_faces_in_view_the_tracked_face_is_judged_and_checked_in(tmp_path) -> None:
    # Alice (live) in front, a phone showing Bob beside her (its texture unclear)
    pipeline, gallery, event_id, alice, _ = make_pipeline(tmp_path, {1: 0.95, 2: 0.5})
    decisions, boxes = [], []
    for i in range(60):
        result = pipeline.process(faces((1, 40, 100), (2, 440, 60)), i / FPS, i)
        boxes.append(result.box_xyxy)
        if result.decision is not None:
            decisions.append(result.decision)
    assert [(d.outcome, d.person_id) for d in decisions] == [(Outcome.CHECKED_IN, alice)]
    assert all(box is not None and box[0] < 250 for box in boxes)  # always Alice's face
    assert [r["person_id"] for r in gallery.checkins(event_id)] == [alice]
    gallery.close()


def test_a_switch_to_another_face_starts_the_verdict_over(tmp_path) -> None:
    # Alice's texture is unclear: after challenge_after_s she is asked to turn. She steps aside
    # and a phone showing Bob is brought forward elsewhere: Bob's face is judged afresh (no
    # challenge carried over, no verdict before his own texture window), and Bob's own
    # embeddings decide who is checked in.
    pipeline, gallery, event_id, _, bob = make_pipeline(tmp_path, {1: 0.5, 2: 0.95})
    t_s, results = 0.0, []
    for i in range(40):
        t_s = i / FPS
        results.append(pipeline.process(faces((1, 40, 100), None), t_s, i))
    assert results[-1].prompt in (Prompt.TURN_LEFT, Prompt.TURN_RIGHT)
    assert results[-1].liveness.challenge_asked
    switched = []
    for i in range(40, 80):
        switched.append(pipeline.process(faces(None, (2, 420, 200)), i / FPS, i))
    first = switched[0]
    assert first.liveness is not None and not first.liveness.challenge_asked
    assert first.liveness.state is LiveState.UNDECIDED
    assert first.liveness.reason not in CHALLENGE_PROMPTS
    assert first.prompt not in (Prompt.TURN_LEFT, Prompt.TURN_RIGHT)
    decided = [(i, r.decision) for i, r in enumerate(switched) if r.decision is not None]
    assert [(d.outcome, d.person_id) for _, d in decided] == [(Outcome.CHECKED_IN, bob)]
    # three texture samples of Bob's own, 0.15 s apart
    assert decided[0][0] / FPS >= 2 * pipeline.settings.liveness.texture_interval_s - 1e-9
    assert [r["person_id"] for r in gallery.checkins(event_id)] == [bob]
    gallery.close()
