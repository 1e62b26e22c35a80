"""The real app on a video file: a person enrolled from a photo walks in and is checked in."""

from __future__ import annotations

from kiosk.pipeline import Outcome

CHECK_IN_TIMEOUT_MS = 20_000  # the clip checks in at about 4 s of video; slack for a busy CPU


def wait_for_decision(qtbot, window):
    with qtbot.waitSignal(window.check_in_recorded, timeout=CHECK_IN_TIMEOUT_MS) as blocker:
        pass
    return blocker.args[0]


def test_walk_in_checks_in_once_and_second_visit_is_not_duplicated(
    qtbot, make_window, gallery, enrolled, event_id
):
    window = make_window(event_id)
    decision = wait_for_decision(qtbot, window)
    assert decision.outcome is Outcome.CHECKED_IN, decision
    assert decision.person_id == enrolled
    assert "Welcome, Li Wei 李伟 - checked in" in window.banner.text()
    assert window.video.frames_shown > 10  # the picture moved while the worker ran
    rows = gallery.checkins(event_id)
    assert [(r["person_id"], r["method"]) for r in rows] == [(enrolled, "auto")]
    window.close()

    second = make_window(event_id)
    decision = wait_for_decision(qtbot, second)
    assert decision.outcome is Outcome.ALREADY_CHECKED_IN
    assert "already checked in at" in second.banner.text()
    assert len(gallery.checkins(event_id)) == 1


def test_closing_the_window_stops_every_thread(qtbot, make_window, event_id):
    window = make_window(event_id)
    qtbot.waitUntil(lambda: window.video.frames_shown > 3, timeout=10_000)
    window.close()
    assert window.thread.isFinished()
    assert not window.reader.is_alive()
