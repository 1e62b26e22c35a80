"""The people manager lists, searches, renames and deletes on task threads; a refused rename
is said and changes nothing."""

from __future__ import annotations

import threading

from PyQt5.QtWidgets import QMessageBox


def test_people_are_listed_renamed_and_deleted_off_the_gui_thread(qtbot, kiosk_settings,
                                                                   gallery, enrolled,
                                                                   monkeypatch):
    from ui.people_dialog import PeopleDialog

    said = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: said.append(text))
    threads: list[int] = []
    gallery.store._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))
    dialog = PeopleDialog(kiosk_settings, gallery, None, None)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=5_000)
    with qtbot.waitSignal(dialog.listed, timeout=5_000):
        dialog.search_edit.setText("nobody by that name")
    assert dialog.table.rowCount() == 0
    with qtbot.waitSignal(dialog.listed, timeout=5_000):
        dialog.search_edit.setText("")

    with qtbot.waitSignal(dialog.action_finished, timeout=10_000) as finished:
        dialog.rename(enrolled, "   ")
    assert isinstance(finished.args[0], ValueError) and said == [str(finished.args[0])]
    with qtbot.waitSignal(dialog.gallery_changed, timeout=10_000):
        dialog.rename(enrolled, "李伟 Li Wei")
    assert dialog.table.item(0, 0).text() == "李伟 Li Wei"
    with qtbot.waitSignal(dialog.action_finished, timeout=10_000):
        dialog.delete(enrolled)
    assert dialog.table.rowCount() == 0
    dialog.tasks.wait()
    gallery.store._conn.set_trace_callback(None)
    assert gallery.people() == []
    assert threads and threading.get_ident() not in threads
