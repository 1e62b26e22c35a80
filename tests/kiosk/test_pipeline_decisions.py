"""The pipeline's decisions (kiosk.decision through Pipeline.process) on synthetic frames with
test doubles for the models: no real model and no evaluation data needed."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest

from kiosk.config import Settings
from kiosk.decision import MatchPolicy, current_event_id, window_problem
from kiosk.decision import Outcome
from kiosk.gallery import Gallery
from kiosk.liveness import LiveState
from kiosk.matching.rule import Match
from kiosk.pipeline import RECHECK_INTERVAL_S, Pipeline, Prompt
from kiosk.stages import Models
from tests.kiosk.fakes import (
    FakeClock,
    FakeDetector,
    FakeEmbedder,
    FakeLandmarker,
    FakeLiveness,
    face_frame,
    person_embedding,
)

FPS = 30.0


@pytest.fixture
def settings():
    return Settings()


@pytest.fixture
def gallery(tmp_path, settings):
    g = Gallery(tmp_path / "faces.sqlite", settings.recognition.model_id)
    yield g
    g.close()


@pytest.fixture
def models():
    return Models(FakeDetector(), FakeLandmarker(), FakeEmbedder())


def run(pipeline, frames, start_s=0.0):
    """Process frames at 30 fps; returns [(index, decision)] and the last result."""
    decisions, result = [], None
    for index, frame in enumerate(frames):
        result = pipeline.process(frame, start_s + index / FPS, index)
        if result.decision is not None:
            decisions.append((index, result.decision))
    return decisions, result


def make(settings, models, gallery, event_id, liveness=None, clock=None):
    return Pipeline(settings, models, gallery, event_id, clock=clock or time.time,
                    liveness=liveness or FakeLiveness())


def test_checked_in_only_after_agree_frames_embeddings(settings, models, gallery):
    alice = gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id)
    decisions, _ = run(pipeline, [face_frame(1)] * 30)
    assert [d.outcome for _, d in decisions] == [Outcome.CHECKED_IN]
    index, decision = decisions[0]
    assert decision.person_id == alice and decision.name == "Alice"
    assert models.embedder.calls >= settings.recognition.agree_frames
    # not before the second embedding (0.15 s apart): frame 0 embeds, frame 5 (0.167 s) too
    assert index >= 4
    assert [r["person_id"] for r in gallery.checkins(event_id)] == [alice]


def test_one_agreeing_frame_is_not_enough(settings, models, gallery):
    gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id)
    decisions, _ = run(pipeline, [face_frame(1)] * 3)  # 0.1 s: one embedding only
    assert decisions == []
    assert gallery.checkins(event_id) == []


def test_unknown_visitor_is_refused_and_nothing_stored(settings, models, gallery):
    gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id)
    decisions, _ = run(pipeline, [face_frame(5)] * 30)
    assert [d.outcome for _, d in decisions] == [Outcome.UNKNOWN]
    assert gallery.checkins(event_id) == []


def test_spoof_is_refused_recorded_and_never_checked_in(settings, models, gallery):
    gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id, FakeLiveness(LiveState.SPOOF))
    decisions, _ = run(pipeline, [face_frame(1)] * 30)
    assert [d.outcome for _, d in decisions] == [Outcome.SPOOF]
    assert gallery.checkins(event_id) == []
    attempts = gallery.spoof_attempts(event_id)
    assert len(attempts) == 1 and attempts[0]["thumbnail_jpeg"]


def test_undecided_liveness_waits_with_a_prompt(settings, models, gallery):
    gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id, FakeLiveness(LiveState.UNDECIDED))
    decisions, last = run(pipeline, [face_frame(1)] * 30)
    assert decisions == [] and last.prompt is not Prompt.NONE
    assert gallery.checkins(event_id) == []


def test_outside_the_window_is_refused_with_the_reason(settings, models, gallery):
    alice = gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Later", "2026-11-23T10:00", "2026-11-23T11:00")
    clock = FakeClock(dt.datetime.fromisoformat("2026-11-23T09:00").astimezone().timestamp())
    pipeline = make(settings, models, gallery, event_id, clock=clock)
    decisions, _ = run(pipeline, [face_frame(1)] * 30)
    assert [d.outcome for _, d in decisions] == [Outcome.OUTSIDE_WINDOW]
    assert decisions[0][1].person_id == alice and "opens at" in decisions[0][1].message
    assert gallery.checkins(event_id) == []


def test_storage_error_is_reported_not_welcomed(settings, models, gallery):
    gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id)
    gallery.store._conn.execute("PRAGMA query_only = ON")  # every write now fails
    decisions, _ = run(pipeline, [face_frame(1)] * 30)
    assert [d.outcome for _, d in decisions] == [Outcome.STORAGE_ERROR]
    assert decisions[0][1].message
    gallery.store._conn.execute("PRAGMA query_only = OFF")
    assert gallery.checkins(event_id) == []


def test_second_visit_is_not_a_second_check_in(settings, models, gallery):
    gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id)
    frames = [face_frame(1)] * 20 + [face_frame(None)] * 40 + [face_frame(1)] * 20
    decisions, _ = run(pipeline, frames)
    assert [d.outcome for _, d in decisions] == [Outcome.CHECKED_IN, Outcome.ALREADY_CHECKED_IN]
    assert len(gallery.checkins(event_id)) == 1


def test_next_attendee_stepping_in_gets_their_own_answer(settings, models, gallery):
    alice = gallery.add_person("Alice", [person_embedding(1)])
    bob = gallery.add_person("Bob", [person_embedding(2)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id)
    steps = int(2 * RECHECK_INTERVAL_S * FPS)
    decisions, _ = run(pipeline, [face_frame(1)] * 20 + [face_frame(2)] * steps)
    assert [(d.outcome, d.person_id) for _, d in decisions] == [
        (Outcome.CHECKED_IN, alice), (Outcome.CHECKED_IN, bob)]


def test_person_deleted_by_another_process_is_no_longer_matched(settings, models, gallery, tmp_path):
    alice = gallery.add_person("Alice", [person_embedding(1)])
    event_id = gallery.create_event("Board")
    pipeline = make(settings, models, gallery, event_id)
    run(pipeline, [face_frame(None)] * 3)  # the index is read
    with Gallery(tmp_path / "faces.sqlite", settings.recognition.model_id) as other:
        other.delete_person(alice)  # the CLI, meanwhile
    decisions, _ = run(pipeline, [face_frame(1)] * 90, start_s=10.0)
    assert [d.outcome for _, d in decisions] == [Outcome.UNKNOWN]
    assert gallery.checkins(event_id) == []


def test_no_event_recognises_without_storing(settings, models, gallery):
    alice = gallery.add_person("Alice", [person_embedding(1)])
    pipeline = make(settings, models, gallery, None)
    decisions, _ = run(pipeline, [face_frame(1)] * 30)
    assert [(d.outcome, d.person_id) for _, d in decisions] == [(Outcome.RECOGNISED_NO_EVENT, alice)]


# -- the rules themselves --------------------------------------------------------------------

def local_ts(text):
    return dt.datetime.fromisoformat(text).astimezone().timestamp()


@pytest.mark.parametrize(("opens", "closes", "now", "open_"), [
    ("2026-11-23T09:00", "2026-11-23T10:00", "2026-11-23T09:30", True),
    ("2026-11-23T09:00", "2026-11-23T10:00", "2026-11-23T08:59", False),
    ("2026-11-23T09:00", "2026-11-23T10:00", "2026-11-23T10:00", False),
    ("2026-11-23T09:00", None, "2026-12-25T09:00", True),
    (None, "2026-11-23T10:00", "2026-01-01T00:00", True),
    (None, None, "2026-11-23T23:59", True),  # no window: the day it was created
    (None, None, "2026-11-24T00:01", False),
    (None, None, "2026-11-22T23:59", False),
])
def test_event_window_rule(opens, closes, now, open_):
    event = {"id": 1, "opens_at": opens, "closes_at": closes,
             "created_at": "2026-11-23T08:00:00"}
    assert (window_problem(event, local_ts(now)) == "") is open_
    assert (current_event_id([event], local_ts(now)) == 1) is open_


def test_current_event_is_the_newest_open_one():
    events = [  # newest first, as the gallery lists them
        {"id": 3, "opens_at": "2026-11-23T12:00", "closes_at": None, "created_at": "2026-11-23"},
        {"id": 2, "opens_at": None, "closes_at": None, "created_at": "2026-11-23T07:00"},
        {"id": 1, "opens_at": None, "closes_at": None, "created_at": "2026-11-23T06:00"},
    ]
    assert current_event_id(events, local_ts("2026-11-23T09:00")) == 2
    assert current_event_id([], local_ts("2026-11-23T09:00")) is None
    assert window_problem(None, 0.0) == "the event no longer exists"


def accepted(person, distance=0.5):
    return Match(person, distance, 1.0, True)


@pytest.mark.parametrize(("matches", "agreed", "unknown"), [
    ([], None, False),
    ([accepted(1)], None, False),
    ([accepted(1), accepted(1, 0.4)], 1, False),
    ([accepted(1), accepted(2)], None, False),
    ([Match(1, 1.3, 0.1, False), Match(2, 1.4, 0.1, False)], None, True),
    ([Match(1, 1.3, 0.1, False), accepted(1)], None, False),
])
def test_match_policy_agreement(matches, agreed, unknown):
    policy = MatchPolicy(1.13, 0.05, 2, 1.13)
    result = policy.agreed(matches)
    assert (result.person_id if result else None) == agreed
    assert policy.all_unknown(matches) is unknown


def test_match_policy_comes_from_the_settings_and_decides_new_attendees():
    settings = Settings().replace("recognition", distance_threshold=0.9, min_margin=0.1,
                                  agree_frames=3, new_attendee_distance=1.0)
    policy = MatchPolicy.from_settings(settings.recognition, fused=False)
    assert (policy.distance_threshold, policy.min_margin, policy.agree_frames) == (0.9, 0.1, 3)
    # on a fused gallery (the default) the fused distance's own threshold applies
    fused = MatchPolicy.from_settings(
        settings.replace("recognition", fused_distance_threshold=1.1).recognition)
    assert (fused.distance_threshold, fused.min_margin) == (1.1, 0.1)
    assert policy.is_new_attendee(person_embedding(1), person_embedding(2))
    assert not policy.is_new_attendee(person_embedding(1), person_embedding(1))
    assert not np.isnan(policy.new_attendee_distance)


def test_the_kiosk_adds_a_checked_in_face_only_when_it_agrees_with_the_persons_images(models, tmp_path):
    # Alice is enrolled with two images; the kiosk sees her first image's face. Each image it
    # agrees with counts: with one image of someone else's face among hers, the live face
    # agrees with half of them, under min_pass_rate, and the check-in stores no new image
    settings = Settings().replace("recognition", fusion=False)
    for second_image, added in ((person_embedding(1), True), (person_embedding(2), False)):
        with Gallery(tmp_path / f"{added}.sqlite", settings.recognition.model_id) as gallery:
            alice = gallery.add_person("Alice", [person_embedding(1), second_image])
            event_id = gallery.create_event("Board")
            decisions, _ = run(make(settings, models, gallery, event_id), [face_frame(1)] * 30)
            assert [d.outcome for _, d in decisions] == [Outcome.CHECKED_IN]
            assert len(gallery.faces_of(alice)) == (3 if added else 2)
