"""Live enrolment capture (kiosk/enroll_capture.py) on the live selfie clip with the real models:
what the person is asked while the liveness is not confirmed."""

from __future__ import annotations

from kiosk.enroll_capture import WANTED_SAMPLES, EnrollCapture

FPS = 30.0
TURN_PROMPTS = {"turn_left", "turn_right"}


def test_a_head_turn_asked_during_capture_is_what_the_person_is_told(encoder, settings,
                                                                     selfie_frames):
    # without the texture cue only the head-turn challenge can confirm life
    capture = EnrollCapture(encoder, settings.replace("liveness", use_texture=False))
    feedbacks = []
    for index, frame in enumerate(selfie_frames):
        step = capture.update(frame, index / FPS)
        assert step.outcome is None
        feedbacks.append(step.feedback)
    assert capture.captured == WANTED_SAMPLES and not capture.live
    asked = [code for code in feedbacks if code in TURN_PROMPTS]
    assert asked and len(set(asked)) == 1  # one direction, asked until the person turns
    after = feedbacks[feedbacks.index(asked[0]):]
    assert not {"ok", "hold_on", "blink"} & set(after)  # nothing hides the turn once it is asked
    assert not {"blink", "move_a_little"} & set(feedbacks)  # prompts of the old liveness
    outcome = capture.timed_out(len(selfie_frames) / FPS + 60.0)
    assert outcome is not None and not outcome.live and outcome.timed_out
