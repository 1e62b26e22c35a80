"""The Events dialog never waits for the service or the database on the GUI thread: while a
slow service creates the event the dialog shows a busy state and the kiosk's event loop runs;
the answer arrives by signal."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class SlowService(BaseHTTPRequestHandler):
    """Creates event 42 once the test opens ``gate``; every other route is unknown (404)."""

    gate = threading.Event()
    seen: list[str] = []

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(f"POST {self.path}")
        if self.path == "/api/v1/events":
            self.gate.wait(10)
            self._answer(201, {"id": 42})
        else:
            self._answer(404, {"error": "not here"})

    def do_GET(self) -> None:  # noqa: N802 (http.server)
        self.seen.append(f"GET {self.path}")
        self._answer(404, {"error": "not here"})

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture()
def slow_service():
    SlowService.gate = threading.Event()
    SlowService.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    SlowService.gate.set()
    server.shutdown()
    server.server_close()
    thread.join()


def test_creating_an_event_on_a_slow_service_keeps_the_gui_running(qtbot, kiosk_settings,
                                                                    gallery, slow_service):
    from ui.server_link import ServerLink
    from ui.settings_dialog import EventsDialog

    settings = kiosk_settings.replace("server", url=slow_service, api_key="admin-key",
                                      request_timeout_s=20.0)
    link = ServerLink(settings)
    dialog = EventsDialog(gallery, None, server_link=link)
    qtbot.addWidget(dialog)
    dialog.tasks.wait()
    dialog.create_event("Lunch", None, None)
    assert dialog.tasks.busy and not dialog.create_button.isEnabled()
    qtbot.waitUntil(lambda: "POST /api/v1/events" in SlowService.seen, timeout=5_000)
    ticks = []  # the GUI thread's event loop goes on while the service has not answered
    qtbot.waitUntil(lambda: ticks.append(1) or len(ticks) > 3, timeout=5_000)
    assert dialog.created_event_id is None and dialog.tasks.busy
    SlowService.gate.set()
    qtbot.waitUntil(lambda: dialog.created_event_id == 42, timeout=10_000)
    assert dialog.tasks.wait()
    assert dialog.create_button.isEnabled() and dialog.error_message == ""


def test_a_local_event_is_created_and_listed_off_the_gui_thread(qtbot, gallery):
    from ui.settings_dialog import EventsDialog

    dialog = EventsDialog(gallery, None)
    qtbot.addWidget(dialog)
    dialog.tasks.wait()
    threads: list[int] = []
    gallery.store._conn.set_trace_callback(lambda _sql: threads.append(threading.get_ident()))
    with qtbot.waitSignal(dialog.events_listed, timeout=10_000):
        dialog.create_event("Board meeting", None, None)
    dialog.tasks.wait()
    gallery.store._conn.set_trace_callback(None)
    assert dialog.chosen_event_id() == dialog.created_event_id is not None
    assert dialog.events_list.currentItem().text().endswith("Board meeting")
    assert threads and threading.get_ident() not in threads


def test_a_refused_event_is_said_and_nothing_is_listed(qtbot, gallery, monkeypatch):
    from PyQt5.QtWidgets import QMessageBox

    from ui.settings_dialog import EventsDialog

    said = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text: said.append(text))
    dialog = EventsDialog(gallery, None)
    qtbot.addWidget(dialog)
    dialog.create_event("   ", None, None)
    dialog.tasks.wait()
    assert said and said == [dialog.error_message]
    assert dialog.events_list.count() == 0
