"""The console's rules over HTTP (no browser): the sign-in contract and its cookie, CSRF,
no open redirect, back-off after wrong passwords, exactly-once staff actions, roster upload,
the event window, the live feed across two service instances, and the accounts CLI."""

from __future__ import annotations

import io
import json
import re
import threading
import uuid

import pytest

from tests.service.console.conftest import ADMIN, PEOPLE, STAFF, ConsoleService, make_app


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def count(url: str, sql: str, params: tuple = ()) -> int:
    from service.console.backend import PostgresStore

    with PostgresStore(url, migrate=False) as store:
        return int(store.query_one(sql, params)[0])


def test_sign_in_sets_an_httponly_samesite_cookie_and_the_board_names_arrivals(deployment):
    import httpx

    deployment.kiosk_upload(deployment.people["Grace Hopper"])
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        assert client.get("/console/people").status_code == 303  # to the sign-in page
        answer = client.post("/console/login", data={"username": ADMIN[0], "password": ADMIN[1]})
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        board = client.get(f"/console/events/{deployment.event_id}")
        assert board.status_code == 200 and "Grace Hopper" in board.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in board.text  # on the roster, as text
        assert "<img src=x" not in board.text
        assert "script-src 'self'" in board.headers["content-security-policy"]
        client.post("/console/logout", data={"csrf": csrf_of(board.text)})
        assert client.get(f"/console/events/{deployment.event_id}").status_code == 303


def test_wrong_passwords_make_the_next_sign_in_wait_and_names_do_not_leak(deployment):
    import httpx

    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        unknown = client.post("/console/login", data={"username": "nobody", "password": "x"})
        wrong = client.post("/console/login", data={"username": STAFF[0], "password": "x"})
        assert unknown.status_code == wrong.status_code == 401
        assert "Wrong name or password." in unknown.text and "Wrong name or password." in wrong.text
        for _ in range(3):
            client.post("/console/login", data={"username": STAFF[0], "password": "x"})
        waiting = client.post("/console/login", data={"username": STAFF[0], "password": STAFF[1]})
        assert waiting.status_code == 429 and "try again in" in waiting.text
        assert "console_session" not in client.cookies


def test_no_open_redirect_after_sign_in(deployment):
    import httpx

    for target in ("https://evil.example/", "//evil.example/console", "/console/../x\\y",
                   "javascript:alert(1)", "/other"):
        with httpx.Client(base_url=deployment.url, timeout=30) as client:
            answer = client.post("/console/login", data={
                "username": ADMIN[0], "password": ADMIN[1], "next": target})
            assert answer.headers["location"] == "/console/", target
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        answer = client.post("/console/login", data={
            "username": ADMIN[0], "password": ADMIN[1], "next": "/console/doors"})
        assert answer.headers["location"] == "/console/doors"


def test_forms_without_the_csrf_token_or_from_another_site_change_nothing(deployment):
    person = deployment.people["Ada Lovelace"]
    with deployment.signed_in(*STAFF) as client:
        token = csrf_of(client.get(f"/console/events/{deployment.event_id}").text)
        path = f"/console/events/{deployment.event_id}/checkin"
        form = {"person_id": person, "reason": "no badge"}
        assert client.post(path, data=form).status_code == 403
        assert client.post(path, data={**form, "csrf": "forged"}).status_code == 403
        assert client.post(path, data={**form, "csrf": token},
                           headers={"Origin": "https://evil.example"}).status_code == 403
        assert count(deployment.database_url, "SELECT count(*) FROM checkins") == 0
        assert client.post(path, data={**form, "csrf": token}).status_code == 303
        assert count(deployment.database_url, "SELECT count(*) FROM checkins") == 1


def test_staff_actions_are_exactly_once_like_a_kiosks(deployment):
    person = deployment.people["Ada Lovelace"]
    url = deployment.database_url
    with deployment.signed_in(*STAFF) as client:
        token = csrf_of(client.get(f"/console/events/{deployment.event_id}").text)
        checkin = {"csrf": token, "person_id": person, "reason": "walk-in",
                   "uuid": str(uuid.uuid4())}
        path = f"/console/events/{deployment.event_id}"
        for _ in range(2):  # the same form sent twice
            client.post(f"{path}/checkin", data=checkin)
        assert count(url, "SELECT count(*) FROM checkins") == 1
        assert count(url, "SELECT count(*) FROM audit_log WHERE action = 'manual check-in'") == 1
        assert deployment.kiosk_upload(person) == "already"  # once per event, any door
        undo = {"csrf": token, "person_id": person, "reason": "mistake",
                "uuid": str(uuid.uuid4())}
        client.post(f"{path}/undo", data=undo)
        assert count(url, "SELECT count(*) FROM checkins") == 0
        assert deployment.kiosk_upload(person) == "stored"
        client.post(f"{path}/undo", data=undo)  # sent again later: a no-op
        assert count(url, "SELECT count(*) FROM checkins") == 1
        assert count(url, "SELECT count(*) FROM checkin_receipts WHERE door = 'console (sam)'") == 2


def test_roster_upload_shows_the_bad_line_and_keeps_the_old_roster(deployment):
    url = deployment.database_url
    with deployment.signed_in(*ADMIN) as client:
        page = client.get(f"/console/events/{deployment.event_id}/settings")
        token = csrf_of(page.text)
        path = f"/console/events/{deployment.event_id}/roster"
        bad = "external_id,name\nE1,Ada\nE1,Bob\n".encode()
        answer = client.post(path, data={"csrf": token},
                             files={"roster": ("people.csv", io.BytesIO(bad), "text/csv")},
                             follow_redirects=True)
        assert "line 3" in answer.text and "E1" in answer.text
        assert count(url, "SELECT count(*) FROM roster") == len(PEOPLE)
        good = "工号,姓名\nE9,王芳\nE10,李娜\n".encode()
        answer = client.post(path, data={"csrf": token},
                             files={"roster": ("people.csv", io.BytesIO(good), "text/csv")},
                             follow_redirects=True)
        assert "2 roster entries stored." in answer.text and "王芳" in answer.text
        assert count(url, "SELECT count(*) FROM roster") == 2


def test_admin_edits_the_event_window_and_closes_it(deployment):
    from kiosk.store.events import Events
    from service.console.backend import PostgresStore

    with deployment.signed_in(*ADMIN) as client:
        token = csrf_of(client.get("/console/").text)
        created = client.post("/console/events", data={"csrf": token, "name": "Board <meeting>",
                                                       "opens_at": "2026-11-23T09:00"})
        event_id = int(created.headers["location"].split("/")[-2])
        bad = client.post(f"/console/events/{event_id}/window", follow_redirects=True, data={
            "csrf": token, "opens_at": "2026-11-23T09:00", "closes_at": "2026-11-23T08:00"})
        assert "closes before it opens" in bad.text
        client.post(f"/console/events/{event_id}/close", data={"csrf": token})
        assert "Board &lt;meeting&gt;" in client.get("/console/").text
    with PostgresStore(deployment.database_url, migrate=False) as store:
        event = Events(store).event(event_id)
    assert event["opens_at"].startswith("2026-11-23T09:00") and event["closes_at"]


def test_a_check_in_stored_through_one_instance_reaches_a_board_on_another(deployment):
    """Two service instances over one database: a board's stream on the second receives
    the upload made to the first (PostgreSQL NOTIFY from the trigger on check-ins)."""
    import httpx

    second = ConsoleService(make_app(deployment.database_url)).start()
    received: list[dict] = []
    opened = threading.Event()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as client:
            client.post("/console/login", data={"username": STAFF[0], "password": STAFF[1]})

            def read() -> None:
                with client.stream("GET", f"/console/events/{deployment.event_id}/stream") as s:
                    kind = None
                    for line in s.iter_lines():
                        if line.startswith("event: "):
                            kind = line[7:]
                            if kind == "hello":
                                opened.set()
                        elif line.startswith("data: ") and kind == "change":
                            received.append(json.loads(line[6:]))
                            return

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            assert opened.wait(20)
            second.running.server  # noqa: B018 - the stream is open on the second instance
            deployment.kiosk_upload(deployment.people["Grace Hopper"])  # to the first
            reader.join(20)
    finally:
        second.stop()
    assert received == [{"event_id": deployment.event_id,
                         "person_id": deployment.people["Grace Hopper"], "op": "checkin"}]


def test_accounts_commands_create_list_and_disable(pg_url, capsys, monkeypatch):
    from functools import partial

    from kiosk.cli import main as kiosk_main

    main = partial(kiosk_main, extra=("service.commands", "service.console.commands"))
    from service.console.backend import PostgresStore
    from service.console.accounts import session_of, sign_in

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["accounts", "create", "--database", pg_url, "--name", "Li Na",
                 "--role", "staff"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["accounts", "create", "--database", pg_url, "--name", "x",
                 "--role", "admin"]) != 0
    assert "at least 8 characters" in capsys.readouterr().err
    assert main(["accounts", "list", "--database", pg_url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(a["name"], a["role"], a["disabled_at"]) for a in listed] == [("Li Na", "staff", None)]
    with PostgresStore(pg_url) as store:
        token, _ = sign_in(store, "Li Na", "a long password")
        assert session_of(store, token) is not None
        assert main(["accounts", "disable", "--database", pg_url, "--name", "Li Na"]) == 0
        assert session_of(store, token) is None  # its sessions ended at once
        assert sign_in(store, "Li Na", "a long password") is None
        stored = store.query_one("SELECT password_hash FROM console_accounts")[0]
    assert stored.startswith("scrypt$") and "a long password" not in stored
    assert main(["accounts", "disable", "--database", pg_url, "--name", "Li Na"]) != 0


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"), ("en-GB,zh;q=0.5", "en"), ("fr-FR", "en"),
    ("fr;q=0.9,zh-TW;q=0.8", "zh_CN"), ("", "en")])
def test_the_language_follows_the_browser_unless_chosen(header, expected):
    from service.console.i18n import choose_language

    assert choose_language(None, header) == expected
    assert choose_language("en", header) == "en"


def test_admin_enrols_from_photos_with_the_services_checks(pg_url, encoder, settings, known_faces):
    """The enrolment form goes through the service's own enrolment: a face is found and
    stored with its thumbnail, a look-alike is refused unless allowed, no face is refused."""
    from service.console.backend import create_app
    from tests.service.console.conftest import Deployment, populate

    key, event_id, people = populate(pg_url, PEOPLE[:1])
    service = ConsoleService(create_app(pg_url, settings, encoder_factory=lambda: encoder,
                                        pool_size=2)).start()
    try:
        deployment = Deployment(service.url, pg_url, key, event_id, people)
        with deployment.signed_in(*ADMIN) as client:
            token = csrf_of(client.get("/console/people").text)

            def enrol(name: str, photo: str) -> str:
                data = (known_faces / photo).read_bytes()
                return client.post("/console/people", data={"csrf": token, "name": name},
                                   files=[("photos", (photo, data, "image/jpeg"))],
                                   follow_redirects=True).text

            assert "Barack Obama was enrolled" in enrol("Barack Obama", "obama.jpg")
            assert "looks like person" in enrol("Barack Obama again", "obama2.jpg")
            page = client.get("/console/people").text
            assert "Barack Obama again" not in page
            thumbnail = re.search(r'src="(/console/people/\d+/thumbnail)"', page).group(1)
            picture = client.get(thumbnail)
            assert picture.headers["content-type"] == "image/jpeg" and picture.content[:2] == b"\xff\xd8"
    finally:
        service.stop()


def test_messages_without_a_translation_are_shown_as_they_are():
    from service.console.i18n import translator

    assert translator("zh_CN")("checked_in", name="{x}") == "{x} 已签到。"
    assert translator("en")("no such {x.__class__} key", x="y") == "no such {x.__class__} key"


def test_doors_show_each_keys_last_contact_and_what_it_reported(deployment):
    import httpx

    with httpx.Client(base_url=deployment.url, timeout=30, headers={
            "Authorization": f"Bearer {deployment.kiosk_key}", "X-Kiosk-Outbox": "3",
            "X-Kiosk-Model": "openvino-mixed"}) as kiosk:
        assert kiosk.get("/api/v1/sync", params={"since": 0}).status_code == 200
    deployment.kiosk_upload(deployment.people["Grace Hopper"])
    with deployment.signed_in(*ADMIN) as client:
        page = client.get("/console/doors").text
    row = re.search(r"<tr>\s*<td class=\"name\">north door</td>(.*?)</tr>", page, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[0] == "kiosk" and cells[1] == "online" and cells[3] == "1"
    assert cells[5] == "3" and cells[6] == "openvino-mixed"
    assert "kk_" not in page  # a key is never shown


def test_audit_and_spoof_pages_show_what_happened_as_text(deployment):
    from kiosk.store.checkins import CheckIns
    from service.console.backend import PostgresStore

    with PostgresStore(deployment.database_url, migrate=False) as store:
        CheckIns(store).add_spoof_attempt(deployment.event_id, "screen <b>replay</b>",
                                          b"\xff\xd8\xff\xe0 not really a jpeg")
    with deployment.signed_in(*ADMIN) as client:
        audit = client.get("/console/audit").text
        spoofs = client.get("/console/spoofs").text
        picture = client.get(re.search(r'src="(/console/spoofs/\d+/thumbnail)"', spoofs).group(1))
    assert "console sign-in" in audit and "create console account" in audit
    assert "screen &lt;b&gt;replay&lt;/b&gt;" in spoofs
    assert picture.content.startswith(b"\xff\xd8")
