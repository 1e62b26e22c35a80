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


def test_the_panel_lists_what_the_service_refused_with_its_reason(qtbot, gallery, enrolled,
                                                                  event_id, kiosk_settings):
    """A check-in the service refused for good never reaches the other doors: staff see it,
    with the service's reason, in its own tab (in both languages)."""
    from kiosk.store.outbox import Outbox
    from kiosk.sync import attach_outbox
    from ui.i18n import install_translator
    from ui.server_link import ServerLink
    from ui.staff_panel import StaffPanelWidget

    attach_outbox(gallery.checkins_table)
    assert gallery.check_in(enrolled, event_id)[0]
    outbox = Outbox(gallery.store)
    refused = outbox.oldest(1)[0]["uuid"]
    outbox.settle([], [(refused, "the check-in time is outside the event's window")])
    other_event = gallery.create_event("Another meeting", actor="test")
    assert gallery.check_in(enrolled, other_event)[0]
    outbox.settle([], [(outbox.oldest(1)[0]["uuid"], "not this event's")])
    # a link that is never started: the service is out of reach, the panel shows this door
    link = ServerLink(kiosk_settings.replace("server", url="http://127.0.0.1:9",
                                             api_key="door-key"))
    panel = StaffPanelWidget(gallery, event_id, operator="desk-1", server_link=link)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.refused_table.rowCount() == 1, timeout=5_000)
    row = [panel.refused_table.item(0, column).text() for column in range(5)]
    assert row[1:] == ["Li Wei 李伟", "E001", "face",
                       "the check-in time is outside the event's window"]
    assert panel.tabs.tabText(3) == "Refused by the service (1)"
    panel.close()
    try:
        assert install_translator("zh_CN") == "zh_CN"
        chinese = StaffPanelWidget(gallery, event_id, operator="desk-1", server_link=link)
        qtbot.addWidget(chinese)
        qtbot.waitUntil(lambda: chinese.refused_table.rowCount() == 1, timeout=5_000)
        assert chinese.tabs.tabText(3) == "被服务拒绝 (1)"
        assert chinese.refused_table.item(0, 3).text() == "人脸"
        chinese.close()
    finally:
        install_translator("en")
    # without the service there is no such tab
    alone = StaffPanelWidget(gallery, event_id, operator="desk-1")
    qtbot.addWidget(alone)
    assert alone.refused_table is None and alone.tabs.count() == 3
    alone.close()
