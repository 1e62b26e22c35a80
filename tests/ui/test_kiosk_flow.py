"""The real app on a video file: a person enrolled from a photo walks in and is checked in."""

from __future__ import annotations

from kiosk.decision import Outcome

CHECK_IN_TIMEOUT_MS = 20_000  # the clip checks in at about 0.3 s of video; slack for a busy CPU


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
    assert window.video.frames_shown > 3  # the picture moved while the worker ran (check-in ~0.3 s)
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


def test_storage_trouble_is_shown_and_the_picture_keeps_moving(
    qtbot, make_window, gallery, enrolled, event_id, monkeypatch, caplog
):
    """A database that refuses writes (read-only storage): the attendee is told to see staff,
    the error is logged, nothing is stored, and the kiosk keeps running."""
    import ui.app as app_module

    real_pipeline = app_module.Pipeline

    def read_only_pipeline(settings, models, pipeline_gallery, chosen_event_id):
        pipeline_gallery.store._conn.execute("PRAGMA query_only = ON")  # every write now fails
        return real_pipeline(settings, models, pipeline_gallery, chosen_event_id)

    monkeypatch.setattr(app_module, "Pipeline", read_only_pipeline)
    window = make_window(event_id)
    decision = wait_for_decision(qtbot, window)
    assert decision.outcome is Outcome.STORAGE_ERROR
    assert "read-only" in decision.message
    assert "could not be saved" in window.banner.text()
    assert any("check-in not saved" in r.getMessage() for r in caplog.records)
    shown = window.video.frames_shown
    qtbot.waitUntil(lambda: window.video.frames_shown > shown + 10, timeout=5_000)
    assert gallery.checkins(event_id) == []


def test_without_the_admin_password_nothing_admin_opens(qtbot, make_window, event_id, monkeypatch):
    """Staff at the kiosk can open their panel, but enrolment, the people manager (rename,
    delete), folder enrolment, events and settings all ask for the admin password first."""
    import ui.admin_login
    import ui.enroll_dialog
    import ui.folder_enroll_dialog
    import ui.people_dialog
    import ui.settings_dialog

    asked = []
    opened = []
    monkeypatch.setattr(ui.admin_login, "ask_admin_password", lambda *a: asked.append(1) or False)
    for module, name in [(ui.enroll_dialog, "EnrollDialog"), (ui.folder_enroll_dialog, "FolderEnrollDialog"),
                         (ui.people_dialog, "PeopleDialog"), (ui.settings_dialog, "SettingsDialog"),
                         (ui.settings_dialog, "EventsDialog")]:
        monkeypatch.setattr(module, name, lambda *a, _n=name, **k: opened.append(_n))
    window = make_window(event_id)
    menu = window.admin_menu
    for slot in (menu.on_enroll_triggered, menu.on_people_triggered, menu.on_folder_triggered,
                 menu.on_events_triggered, menu.on_settings_triggered):
        slot()
    assert len(asked) == 5 and opened == []

    # with the password, the unlock holds for the next admin action, then expires
    monkeypatch.setattr(ui.admin_login, "ask_admin_password", lambda *a: asked.append(1) or True)
    sessions = menu.sessions
    assert sessions.require_admin() and sessions.require_admin()
    assert len(asked) == 6
    sessions.admin_until_s = 0.0  # the session ran out
    assert sessions.require_admin() and len(asked) == 7
