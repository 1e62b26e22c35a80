"""Bulk enrolment from a folder in the dialog: photos named by external id are enrolled in a
worker thread with its own gallery connection; the report lists the refused ones."""

from __future__ import annotations

import shutil


def test_a_folder_is_enrolled_with_a_report(qtbot, kiosk_settings, gallery, encoder,
                                            known_faces, tmp_path):
    from ui.folder_enroll_dialog import FolderEnrollDialog

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(known_faces / "obama.jpg", folder / "E044.jpg")
    shutil.copy(known_faces / "biden.jpg", folder / "E046.jpg")
    (folder / "E047.jpg").write_bytes(b"not a picture")
    dialog = FolderEnrollDialog(kiosk_settings, gallery, lambda: encoder)
    qtbot.addWidget(dialog)
    dialog.folder_edit.setText(str(folder))
    with qtbot.waitSignal(dialog.report_ready, timeout=60_000) as ready, \
            qtbot.waitSignal(dialog.gallery_changed, timeout=60_000):
        dialog.on_start_clicked()
    report = ready.args[0]
    assert (len(report.enrolled), report.total, len(report.refused)) == (2, 3, 1)
    assert "2 people enrolled from 3 photos; 1 photos refused." in dialog.report_text.toPlainText()
    assert "E047" in dialog.report_text.toPlainText()
    assert sorted(p.external_id for p in gallery.people()) == ["E044", "E046"]
    assert dialog.start_button.isEnabled()
