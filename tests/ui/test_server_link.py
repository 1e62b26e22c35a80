"""The service's state in the kiosk window's status line: what a round found, in both languages."""

from __future__ import annotations

import queue

from kiosk.config import ServerSettings
from kiosk.gallery import Gallery
from kiosk.store.outbox import Outbox
from kiosk.store.sqlite import SQLiteStore
from kiosk.sync import BackgroundSync, LinkState, attach_outbox
from tests.kiosk.fakes import person_embedding as vec
from ui.i18n import install_translator
from ui.server_link import status_text


def _kiosk_with_a_refused_checkin(path) -> None:
    """Two check-ins queued; the service refused one for good (set aside with its reason)."""
    with Gallery(path, "m") as gallery:
        attach_outbox(gallery.checkins_table)
        event_id = gallery.create_event("Meeting")
        for person in (1, 2):
            person_id = gallery.add_person(f"Person {person}", [vec(person)])
            assert gallery.check_in(person_id, event_id)[0]
        outbox = Outbox(gallery.store)
        refused = outbox.oldest(1)[0]["uuid"]
        outbox.settle([], [(refused, "the reason is longer than 1000 characters")])
        assert (outbox.pending(), outbox.rejected_count()) == (1, 1)


def test_the_status_line_counts_what_the_server_refused_in_both_languages(qapp, tmp_path):
    path = tmp_path / "faces.sqlite"
    _kiosk_with_a_refused_checkin(path)
    rounds: queue.Queue = queue.Queue()
    nobody_listens = ServerSettings(url="http://127.0.0.1:9", api_key="door-key",
                                    connect_timeout_s=2.0, retry_initial_s=30.0)
    syncer = BackgroundSync(nobody_listens, lambda: SQLiteStore(path), rounds.put)
    syncer.start()
    try:
        status = rounds.get(timeout=30)
    finally:
        syncer.stop()
    assert status.state is LinkState.OFFLINE
    assert (status.pending, status.rejected) == (1, 1)
    assert status_text(status) == ("offline: 1 check-ins waiting; "
                                   "1 refused by the server - see the staff panel")
    assert status.line() == "server offline: 1 check-ins waiting, 1 refused by the service"
    try:
        assert install_translator("zh_CN") == "zh_CN"
        assert status_text(status) == "离线：1 条签到等待上传；1 条被服务器拒绝 - 请在工作人员界面查看"
    finally:
        install_translator("en")


def test_nothing_refused_adds_nothing(qapp):
    from kiosk.sync import SyncStatus

    offline = SyncStatus(LinkState.OFFLINE, pending=3)
    assert status_text(offline) == "offline: 3 check-ins waiting"
    connected = SyncStatus(LinkState.CONNECTED, pending=0, last_sync_wall_s=0.0, rejected=2)
    assert status_text(connected).endswith("; 2 refused by the server - see the staff panel")
