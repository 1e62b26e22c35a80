"""The attendee screen before the models, without a camera, and after the check-in window;
the staff gate; every tr() text translated."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from PyQt5.QtWidgets import QMessageBox

from ui.i18n import TRANSLATIONS_DIR, install_translator, load_ts

UI = Path(__file__).resolve().parents[2] / "ui"


def test_start_up_shows_the_event_and_the_picture_before_the_models(qtbot, early_window,
                                                                    gallery, event_id):
    window = early_window(event_id)
    assert window.banner.text() == "Starting... face recognition is loading"
    qtbot.waitUntil(lambda: window.event_label.text() == "Board meeting", timeout=5_000)
    qtbot.waitUntil(lambda: window.picture.first_frame_t is not None, timeout=5_000)
    assert not window.models_ready and window.video.frames_shown >= 1


def test_missing_video_file_is_said_in_both_languages_and_retried(qtbot, early_window,
                                                                   tmp_path, caplog):
    missing = str(tmp_path / "door.mp4")
    window = early_window(None, missing)
    expected = f"Video file not found: {missing} - check [camera] source in settings"
    qtbot.waitUntil(lambda: window.banner.text() == expected, timeout=5_000)
    assert window.video.placeholder == expected
    assert any("Video file not found" in r.getMessage() for r in caplog.records)
    first_reader = window.reader
    qtbot.waitUntil(lambda: window.reader is not first_reader, timeout=10_000)  # retried
    try:
        install_translator("zh_CN")
        window.retranslate()
        window.on_state_timer()
        assert window.banner.text().startswith("未找到视频文件：")
        assert "stopped" not in window.status_label.text()
    finally:
        install_translator("en")


def test_no_usb_camera_names_the_device(qtbot, early_window):
    window = early_window(None, "57")
    window.camera.started_t -= 10  # as if it had waited past the grace period
    window.on_state_timer()
    assert window.banner.text() in (
        "Camera not found: /dev/video57 - check the cable or [camera] source in settings",
        "Camera /dev/video57 cannot be opened - is another program using it?")


def test_closed_check_in_window_says_so_in_local_time(qtbot, early_window, gallery):
    now = dt.datetime.now().astimezone()
    opens, closes = now - dt.timedelta(hours=2), now - dt.timedelta(minutes=5)
    event_id = gallery.create_event("Morning", opens.isoformat(), closes.isoformat())
    window = early_window(event_id)
    qtbot.waitUntil(lambda: window.banner.text().startswith("Check-in closed"), timeout=5_000)
    assert window.banner.text() == f"Check-in closed (closed at {closes.strftime('%H:%M')})"
    try:
        install_translator("zh_CN")
        window.retranslate()
        assert window.banner.text() == f"签到已结束（{closes.strftime('%H:%M')} 截止）"
    finally:
        install_translator("en")


def test_the_staff_panel_needs_a_pin_and_admin_setup_is_never_offered(qtbot, early_window,
                                                                      gallery, event_id,
                                                                      monkeypatch):
    import ui.admin_login
    from kiosk.auth import Role, set_staff_pin

    said = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a: said.append(a[2]))
    window = early_window(event_id)
    window.admin_menu.on_staff_clicked()
    assert window.admin_menu.sessions.require_admin() is False
    assert "./run.sh staff set-pin" in said[0] and "./run.sh admin set-password" in said[1]
    set_staff_pin(gallery, "2468", actor="test")
    monkeypatch.setattr(ui.admin_login, "ask_access", lambda parent, g, needed: Role.STAFF)
    assert window.admin_menu.sessions.require_staff() == "staff"
    from ui.staff_panel import StaffPanelWidget

    panel = StaffPanelWidget(gallery, event_id, role="staff")
    qtbot.addWidget(panel)
    with pytest.raises(PermissionError):  # roster import is an admin action
        panel.import_roster_file(UI / "nothing.csv")


def test_every_tr_text_has_a_chinese_translation_in_its_context():
    table = load_ts(TRANSLATIONS_DIR / "kiosk_zh_CN.ts")
    missing = []
    for path in sorted(UI.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for node in ast.walk(cls):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "tr" and node.args
                        and isinstance(node.args[0], ast.Constant)):
                    if (cls.name, node.args[0].value) not in table:
                        missing.append((path.name, cls.name, node.args[0].value))
    assert missing == []


def test_enrolment_dialog_puts_a_walk_in_on_the_roster(qtbot, kiosk_settings, gallery, event_id,
                                                       clip_samples, encoder):
    from kiosk.roster import roster
    from ui.enroll_dialog import EnrollDialog

    dialog = EnrollDialog(kiosk_settings, gallery, lambda: encoder, None, event_id=event_id)
    qtbot.addWidget(dialog)
    assert dialog.tasks.wait()  # the event is read on a task thread
    assert dialog.roster_check.isChecked()
    assert dialog.roster_check.text() == "Add to the roster of Board meeting"
    dialog.name_edit.setText("王芳 Wang Fang")
    dialog.external_id_edit.setText("W7")
    dialog.samples = list(clip_samples[:1])
    with qtbot.waitSignal(dialog.save_finished, timeout=10_000) as saved:
        dialog.save()
    assert saved.args[0] is not None, dialog.error_message
    assert [(e.external_id, e.name) for e in roster(gallery, event_id)] == [("W7", "王芳 Wang Fang")]
