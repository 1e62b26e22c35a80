"""The enrolment dialog on a video source, the staff panel's manual check-in, undo and export."""

from __future__ import annotations

import csv

from kiosk.camera import LatestFrameReader


def test_enrol_dialog_enrols_from_a_source(qtbot, kiosk_settings, gallery, encoder, clip_path):
    from ui.enroll_dialog import EnrollDialog

    reader = LatestFrameReader(kiosk_settings.camera, str(clip_path))
    reader.start()
    try:
        dialog = EnrollDialog(kiosk_settings, gallery, lambda: encoder, reader)
        qtbot.addWidget(dialog)
        dialog.name_edit.setText("张伟 Zhang Wei")
        dialog.external_id_edit.setText("E777")
        dialog.on_capture_clicked()
        qtbot.waitUntil(lambda: dialog.capture_outcome is not None, timeout=25_000)
        assert dialog.capture_outcome.live, dialog.feedback_label.text()
        assert len(dialog.samples) == 3
        assert dialog.preview.frames_shown > 5
        with qtbot.waitSignal(dialog.save_finished, timeout=10_000) as saved:
            assert dialog.save()
        person_id = saved.args[0]
        dialog.close()
    finally:
        reader.stop()
    person = gallery.person(person_id)
    assert (person.name, person.external_id, person.images) == ("张伟 Zhang Wei", "E777", 3)
    assert gallery.audit_log()[0]["action"] == "enrol"


def test_staff_manual_check_in_undo_and_export(qtbot, gallery, enrolled, event_id, tmp_path):
    from kiosk.roster import RosterEntry, import_roster
    from ui.staff_panel import StaffPanelWidget

    import_roster(gallery, event_id, [RosterEntry("E001", "Li Wei 李伟"), RosterEntry("E002", "王芳")])
    panel = StaffPanelWidget(gallery, event_id, operator="desk-1")
    qtbot.addWidget(panel)

    def act(action, *args, **options):
        """Run a panel action (on its task thread) and return its result once the lists
        show it."""
        with qtbot.waitSignal(panel.action_finished, timeout=10_000) as finished:
            assert action(*args, **options)
        return finished.args[0]

    qtbot.waitUntil(lambda: panel.missing_table.rowCount() == 2, timeout=5_000)
    assert panel.arrived_table.rowCount() == 0 and panel.title_label.text() == "Board meeting"

    assert act(panel.manual_check_in, enrolled, "glasses, not recognised") is True
    assert panel.arrived_table.rowCount() == 1 and panel.missing_table.rowCount() == 1
    assert "Arrived 1" in panel.counts_label.text()
    row = gallery.checkins(event_id)[0]
    assert (row["method"], row["operator"], row["reason"]) == ("manual", "desk-1", "glasses, not recognised")

    out = tmp_path / "attendance.csv"
    assert act(panel.export_file, out) == 2
    assert isinstance(act(panel.export_file, out), FileExistsError)  # asks before replacing
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert [(r["name"], r["status"], r["method"]) for r in rows] == [
        ("Li Wei 李伟", "arrived", "manual"), ("王芳", "missing", "")]

    assert act(panel.undo_check_in, enrolled, "wrong person") is True
    assert gallery.checkins(event_id) == []
    assert panel.arrived_table.rowCount() == 0
    actions = [entry["action"] for entry in gallery.audit_log()]
    assert actions[:3] == ["undo check-in", "export attendance", "manual check-in"]

    panel.search_edit.setText("王")
    assert panel.missing_table.rowCount() == 1
