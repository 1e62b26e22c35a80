"""The window is a view: every gallery read it makes (the event at start, its check-in window
every 250 ms, a change of event, the matrices after an enrolment) runs on a task thread, and
the screen follows when the answer arrives."""

from __future__ import annotations

import datetime as dt
import threading


def sql_threads(gallery) -> list[int]:
    """The thread of every SQL statement the gallery's connection runs from now on (SQLite's
    own trace hook, called by the thread that runs the statement)."""
    threads: list[int] = []
    gallery.store._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))
    return threads


def test_no_gallery_read_on_the_gui_thread(qtbot, early_window, gallery):
    now = dt.datetime.now().astimezone()
    board = gallery.create_event("Board meeting", actor="test")
    closed = gallery.create_event("Morning", (now - dt.timedelta(hours=2)).isoformat(),
                                  (now - dt.timedelta(minutes=5)).isoformat(), actor="test")
    window = early_window(board)
    threads = sql_threads(window.gallery)
    qtbot.waitUntil(lambda: window.event_label.text() == "Board meeting", timeout=5_000)
    for _ in range(8):  # two seconds of the 250 ms state timer
        window.on_state_timer()
    with qtbot.waitSignal(window.event_loaded, timeout=5_000):
        window.set_event(closed)
    assert window.event_label.text() == "Morning"
    assert window.banner.text().startswith("Check-in closed")
    window.on_gallery_changed()
    assert window.tasks.wait()
    assert threads, "the window read nothing at all"
    assert threading.get_ident() not in threads


def test_a_new_kiosk_takes_the_open_event_from_its_first_sync(qtbot, early_window, gallery):
    window = early_window(None)
    qtbot.waitUntil(lambda: window.event.read, timeout=5_000)
    assert window.event_id is None
    assert window.event_label.text() == "No event open - recognition only"
    event_id = gallery.create_event("Synced from the service", actor="test")
    with qtbot.waitSignal(window.event_loaded, timeout=5_000):
        window.event.load(choose_open_event=True)
    assert window.event_id == event_id
    assert window.event_label.text() == "Synced from the service"
