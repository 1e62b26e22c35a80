"""The staff panel reads and changes the gallery on task threads only: its lists, a manual
check-in and the people list of the manual check-in dialog."""

from __future__ import annotations

import threading

from PyQt5.QtWidgets import QDialog


def test_the_panel_never_touches_the_gallery_on_the_gui_thread(qtbot, gallery, enrolled,
                                                               event_id, monkeypatch):
    from ui.staff_panel import ManualCheckInDialog, StaffPanelWidget

    threads: list[int] = []
    gallery.store._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))
    panel = StaffPanelWidget(gallery, event_id, operator="desk-1")
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.title_label.text() == "Board meeting", timeout=5_000)
    offered = []
    monkeypatch.setattr(ManualCheckInDialog, "exec_",
                        lambda dialog: offered.append(dialog.person_combo.count()) or
                        QDialog.Rejected)
    panel.on_checkin_clicked()  # reads the people, then asks
    qtbot.waitUntil(lambda: offered == [1], timeout=5_000)
    with qtbot.waitSignal(panel.action_finished, timeout=10_000) as finished:
        panel.manual_check_in(enrolled, "badge forgotten")
    assert finished.args[0] is True and panel.arrived_table.rowCount() == 1
    panel.close()
    gallery.store._conn.set_trace_callback(None)
    assert threads and threading.get_ident() not in threads
