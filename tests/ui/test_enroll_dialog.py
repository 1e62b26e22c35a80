"""The enrolment dialog stores a person on a task thread, shows a busy state meanwhile, and
says why when the gallery refuses (nothing is stored)."""

from __future__ import annotations

import threading

from PyQt5.QtCore import QCoreApplication
from PyQt5.QtWidgets import QMessageBox

from ui.i18n import install_translator


def test_saving_runs_off_the_gui_thread(qtbot, kiosk_settings, gallery, clip_samples, encoder):
    from ui.enroll_dialog import EnrollDialog

    dialog = EnrollDialog(kiosk_settings, gallery, lambda: encoder, None)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("王芳 Wang Fang")
    dialog.samples = list(clip_samples)
    threads: list[int] = []
    gallery.store._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))
    with qtbot.waitSignal(dialog.save_finished, timeout=10_000) as saved:
        assert dialog.save()
        assert not dialog.save_button.isEnabled() and not dialog.retake_button.isEnabled()
    gallery.store._conn.set_trace_callback(None)
    person = gallery.person(saved.args[0])
    assert (person.name, person.images) == ("王芳 Wang Fang", len(clip_samples))
    assert dialog.saved_person_id == person.id
    assert threads and threading.get_ident() not in threads


def test_a_refused_enrolment_is_said_and_stores_nothing(qtbot, kiosk_settings, gallery,
                                                        clip_samples, encoder, monkeypatch):
    from ui.enroll_dialog import EnrollDialog

    said = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: said.append(text))
    dialog = EnrollDialog(kiosk_settings, gallery, lambda: encoder, None)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("   ")  # no name
    dialog.samples = list(clip_samples[:1])
    with qtbot.waitSignal(dialog.save_finished, timeout=10_000) as saved:
        dialog.save()
    assert saved.args[0] is None
    assert said == [dialog.error_message] and dialog.error_message
    assert gallery.people() == []
    assert dialog.tasks.wait() and dialog.save_button.isEnabled()  # the admin can fix the name and save again


def test_what_the_liveness_asks_is_said_as_on_the_attendee_screen(qtbot, kiosk_settings,
                                                                  gallery, encoder):
    from ui.enroll_dialog import EnrollDialog

    dialog = EnrollDialog(kiosk_settings, gallery, lambda: encoder, None)
    qtbot.addWidget(dialog)
    for code, english in [("turn_left", "Please turn your head to your left"),
                          ("turn_right", "Please turn your head to your right"),
                          ("hold_on", "Hold on, checking..."),
                          ("too_dark", "Too dark: face the light")]:
        dialog.on_feedback(code)
        assert dialog.feedback_label.text() == english
    try:
        install_translator("zh_CN")
        dialog.on_feedback("turn_left")
        chinese = QCoreApplication.translate("AttendeeText", "Please turn your head to your left")
        assert dialog.feedback_label.text() == chinese != "Please turn your head to your left"
    finally:
        install_translator("en")
