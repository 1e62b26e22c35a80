"""The doors page shows what each kiosk reports of itself with its sync rounds (its outbox and
its model settings), and shows a hostile report as cleaned text or not at all."""

from __future__ import annotations

import re

from tests.service.console.conftest import ADMIN


def door_cells(deployment, key_name: str = "north door") -> list[str]:
    """The doors page's cells of one key, as text: role, state, last contact, uploads, last
    upload, outbox, model."""
    with deployment.signed_in(*ADMIN) as client:
        page = client.get("/console/doors").text
    row = re.search(rf"<tr>\s*<td class=\"name\">{key_name}</td>(.*?)</tr>", page, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_a_kiosk_round_reports_its_outbox_and_model_on_the_doors_page(deployment, tmp_path):
    from kiosk.config import RecognitionSettings, ServerSettings
    from kiosk.gallery import Gallery
    from kiosk.store.sqlite import SQLiteStore
    from kiosk.sync import SyncClient, attach_outbox, model_report

    assert door_cells(deployment)[5:] == ["not reported", "not reported"]
    recognition = RecognitionSettings(fusion=False, facenet_backend="tflite")
    path = tmp_path / "door.sqlite"
    client = SyncClient(ServerSettings(url=deployment.url, api_key=deployment.kiosk_key),
                        SQLiteStore(path), model=model_report(recognition))
    try:
        client.run_once()  # the replica: the service's people and event
        with Gallery(path, RecognitionSettings().model_id) as gallery:
            attach_outbox(gallery.checkins_table)
            for name in ("Ada Lovelace", "Grace Hopper"):
                assert gallery.check_in(deployment.people[name], deployment.event_id)[0]
        assert client.pending() == 2
        report = client.run_once()
    finally:
        client.close()
        client.store.close()
    assert report.uploaded == 2 and report.pending == 0
    cells = door_cells(deployment)
    assert cells[1] == "online" and cells[3] == "2"
    assert cells[5] == "0"  # reported after the upload: nothing waits
    assert cells[6] == model_report(recognition)
    assert cells[6] == "facenet-20180408-102900/flip/mixed tflite fusion=off threshold=0.98"


def test_a_hostile_report_is_refused_or_cleaned_and_shown_as_text(deployment):
    import httpx

    def sync_with(outbox: str | bytes, model: str | bytes) -> int:
        with httpx.Client(base_url=deployment.url, timeout=30, headers={
                "Authorization": f"Bearer {deployment.kiosk_key}",
                "X-Kiosk-Outbox": outbox, "X-Kiosk-Model": model}) as kiosk:
            return kiosk.get("/api/v1/sync", params={"since": 0}).status_code

    assert sync_with("4", "facenet tflite") == 200
    assert door_cells(deployment)[5:] == ["4", "facenet tflite"]
    hostile_model = "<script>alert(1)</script> " + "x" * 5000
    for outbox in ("-1", "4e3", "7 7", "99999999999", b"\xb2", "<b>9</b>", "0x10"):
        # a count that is not a whole number in range is ignored; the request still works
        assert sync_with(outbox, hostile_model) == 200
        cells = door_cells(deployment)
        assert cells[5] == "4", outbox
        assert cells[6] == ("scriptalert(1)/script " + "x" * 100)[:100]
    with deployment.signed_in(*ADMIN) as client:
        page = client.get("/console/doors").text
    assert "<script>alert" not in page and "alert(1)" in page
    assert sync_with("12", b"\xe9\xe8 model\tv1") == 200  # latin-1 and a tab are dropped
    assert door_cells(deployment)[5:] == ["12", "modelv1"]
