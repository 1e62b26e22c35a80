"""The whole per-frame pipeline on real video: check-in, second visit, photo attack, event window."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from kiosk.gallery import Gallery
from kiosk.decision import Outcome
from kiosk.pipeline import Pipeline, Prompt

CLIP_FPS = 30.0


@pytest.fixture
def gallery(settings):
    g = Gallery(":memory:", settings.recognition.model_id)
    yield g
    g.close()


def run_clip(pipeline, frames, start_s=0.0):
    decisions = []
    for index, frame in enumerate(frames):
        result = pipeline.process(frame, start_s + index / CLIP_FPS, index)
        if result.decision is not None:
            decisions.append((index, result.decision))
    return decisions


def test_enrolled_person_is_checked_in_once(settings, models, encoder, gallery, selfie_frames, known_faces):
    person_id = gallery.add_person("Selfie Person", [encoder.encode_photo(selfie_frames[-1]).embedding])
    gallery.add_person("Barack Obama", [encoder.encode_file(known_faces / "obama.jpg").embedding])
    event_id = gallery.create_event("Board meeting")
    pipeline = Pipeline(settings, models, gallery, event_id)
    decisions = run_clip(pipeline, selfie_frames)
    assert decisions, "no decision in the clip"
    first = decisions[0][1]
    assert first.outcome is Outcome.CHECKED_IN and first.person_id == person_id
    assert first.name == "Selfie Person"
    assert len(decisions) == 1  # one decision per attendee, not one per frame
    rows = gallery.checkins(event_id)
    assert len(rows) == 1 and rows[0]["method"] == "auto"
    assert len(gallery.faces_of(person_id)) == 2  # the rolling update added the live face

    # the same person walks up again: recognised, not checked in twice
    pipeline._reset_track()
    again = run_clip(pipeline, selfie_frames, start_s=100.0)
    assert again[0][1].outcome is Outcome.ALREADY_CHECKED_IN
    assert again[0][1].at == first.at
    assert len(gallery.checkins(event_id)) == 1


def test_outside_the_window_nobody_is_checked_in(settings, models, encoder, gallery, selfie_frames):
    gallery.add_person("Selfie Person", [encoder.encode_photo(selfie_frames[-1]).embedding])
    event_id = gallery.create_event("Tomorrow", opens_at="2099-01-01T09:00", closes_at="2099-01-01T10:00")
    decisions = run_clip(Pipeline(settings, models, gallery, event_id), selfie_frames)
    assert decisions[0][1].outcome is Outcome.OUTSIDE_WINDOW
    assert "opens" in decisions[0][1].message
    assert gallery.checkins(event_id) == []


def planar_motion(photo_bgr, frames=90, size=(640, 480)):
    """A photo held up to the camera: moved as one rigid plane (shift, rotation, scale, tilt)."""
    width, height = size
    h, w = photo_bgr.shape[:2]
    scale = 0.8 * height / h
    base = cv2.resize(photo_bgr, None, fx=scale, fy=scale)
    rng = np.random.default_rng(1)
    for index in range(frames):
        t = index / CLIP_FPS
        angle = 4 * np.sin(2 * t)
        dx, dy = 30 * np.sin(1.3 * t), 15 * np.sin(1.7 * t)
        zoom = 1 + 0.06 * np.sin(t)
        matrix = cv2.getRotationMatrix2D((base.shape[1] / 2, base.shape[0] / 2), angle, zoom)
        matrix[:, 2] += [(width - base.shape[1]) / 2 + dx, (height - base.shape[0]) / 2 + dy]
        frame = cv2.warpAffine(base, matrix, (width, height), borderValue=(90, 90, 90))
        tilt = 0.0004 * np.sin(t)
        homography = np.array([[1, 0, 0], [0, 1, 0], [tilt, 0, 1]], np.float64)
        frame = cv2.warpPerspective(frame, homography, (width, height), borderValue=(90, 90, 90))
        noise = rng.normal(0, 3, frame.shape)
        yield np.clip(frame + noise, 0, 255).astype(np.uint8)


def test_a_photo_moved_as_a_plane_is_never_checked_in(settings, models, encoder, gallery, known_faces):
    photo = cv2.imread(str(known_faces / "obama.jpg"))
    gallery.add_person("Barack Obama", [encoder.encode_photo(photo).embedding])
    event_id = gallery.create_event("Meeting")
    decisions = run_clip(Pipeline(settings, models, gallery, event_id), list(planar_motion(photo)))
    assert [d.outcome for _, d in decisions] == [Outcome.SPOOF]  # refused once, on screen
    assert gallery.checkins(event_id) == []
    attempts = gallery.spoof_attempts(event_id)
    assert len(attempts) == 1 and attempts[0]["thumbnail_jpeg"]


def test_empty_and_dark_frames_prompt_and_do_not_crash(settings, models, gallery):
    pipeline = Pipeline(settings, models, gallery, None)
    assert pipeline.process(np.zeros((0, 0, 3), np.uint8), 0.0).decision is None
    dark = pipeline.process(np.zeros((480, 640, 3), np.uint8), 0.1)
    assert dark.prompt is Prompt.TOO_DARK and dark.box_xyxy is None
    odd = pipeline.process(np.zeros((7, 3), np.uint8), 0.2)
    assert odd.decision is None


def test_the_next_attendee_stepping_in_without_a_gap_gets_their_own_answer(
    settings, models, encoder, gallery, selfie_frames, known_faces
):
    gallery.add_person("Selfie Person", [encoder.encode_photo(selfie_frames[-1]).embedding])
    event_id = gallery.create_event("Meeting")
    height, width = selfie_frames[0].shape[:2]
    photo = cv2.imread(str(known_faces / "obama.jpg"))
    attack = list(planar_motion(photo, frames=120, size=(width, height)))
    decisions = run_clip(Pipeline(settings, models, gallery, event_id), selfie_frames[:150] + attack)
    assert [d.outcome for _, d in decisions] == [Outcome.CHECKED_IN, Outcome.SPOOF]
    assert decisions[1][0] >= 150  # decided on the photo's frames
