"""The web console in a real browser (Debian's Chromium through Selenium): signing in as admin
and staff, the live board updated by a kiosk's upload without a reload (also across a restart
of the service), manual check-in and undo, the xlsx download, user text shown as text, and
Simplified Chinese."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.service.console.conftest import (
    ADMIN, PEOPLE, STAFF, ConsoleService, close_browser, make_app, new_browser,
)

XSS_NAME = PEOPLE[3][0]
WAIT_S = 20


def wait_for(driver, condition, timeout_s: float = WAIT_S):  # noqa: ANN001, ANN201
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, ignored_exceptions=(
        StaleElementReferenceException,)).until(condition)


def sign_in(driver, url: str, account: tuple[str, str], path: str = "/console/") -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    driver.get(f"{url}{path}")
    driver.find_element(By.NAME, "username").send_keys(account[0])
    driver.find_element(By.NAME, "password").send_keys(account[1])
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: "/login" not in d.current_url)


def wait_live(driver, word: str = "live") -> None:  # noqa: ANN001
    """Until the board's stream is open and the board was fetched anew once since."""
    wait_for(driver, lambda d: d.find_element("id", "live-state").text == word
             and int(d.find_element("id", "board").get_attribute("data-refreshes")) >= 1)


def arrived_names(driver) -> list[str]:  # noqa: ANN001
    """The names in the board's arrived list, read at one moment (the list is replaced live)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#arrived td.name'), c => c.textContent);")


def test_admin_signs_in_and_sees_people_and_doors_with_names_as_text(deployment, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    sign_in(browser, deployment.url, ADMIN, "/console/people")
    assert browser.current_url.endswith("/console/people")
    names = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.name")]
    assert XSS_NAME in names and "张伟" in names
    assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x']")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - no script of the name ran
    browser.find_element(By.LINK_TEXT, "Doors").click()
    assert "north door" in browser.find_element(By.TAG_NAME, "table").text


def test_staff_sign_in_and_the_server_refuses_them_the_admin_pages(deployment, browser):
    from selenium.webdriver.common.by import By

    sign_in(browser, deployment.url, STAFF)
    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "header nav a")]
    assert "Events" in links and "People" not in links and "Doors" not in links
    for page in ("/console/people", "/console/doors", "/console/audit"):
        browser.get(f"{deployment.url}{page}")
        assert "This page needs the admin role." in browser.find_element(By.TAG_NAME, "main").text
    with deployment.signed_in(*STAFF) as client:
        for page in ("/console/people", "/console/doors", "/console/audit", "/console/spoofs"):
            assert client.get(page).status_code == 403
        refused = client.post(f"/console/people/{deployment.people['Ada Lovelace']}/delete",
                              data={"csrf": "x"})
        assert refused.status_code == 403
    with deployment.signed_in(*ADMIN) as client:
        assert client.get("/console/people").status_code == 200


def test_a_kiosk_upload_appears_on_an_open_board_without_a_reload(deployment, browser):
    sign_in(browser, deployment.url, STAFF, f"/console/events/{deployment.event_id}")
    wait_live(browser)
    browser.execute_script("window.boardWasNotReloaded = true;")
    assert deployment.kiosk_upload(deployment.people["Grace Hopper"]) == "stored"
    wait_for(browser, lambda d: "Grace Hopper" in arrived_names(d))
    assert deployment.kiosk_upload(deployment.people[XSS_NAME]) == "stored"
    wait_for(browser, lambda d: XSS_NAME in arrived_names(d))
    assert browser.execute_script("return window.boardWasNotReloaded === true;")
    assert browser.find_element("id", "count-arrived").text == "2"
    assert "north door" in browser.find_element("id", "arrived").text
    browser.find_element("id", "board-search").send_keys("GRACE")
    wait_for(browser, lambda d: arrived_names(d) == ["Grace Hopper"])
    assert "?q=GRACE" in browser.current_url
    assert deployment.kiosk_upload(deployment.people["Ada Lovelace"]) == "stored"
    wait_for(browser, lambda d: d.find_element("id", "count-arrived").text == "3")
    assert arrived_names(browser) == ["Grace Hopper"]  # the search holds across updates


def test_the_board_reconnects_after_the_service_restarts(pg_url, browser):
    from tests.service.console.conftest import Deployment, populate

    key, event_id, people = populate(pg_url, PEOPLE)
    first = ConsoleService(make_app(pg_url)).start()
    sign_in(browser, first.url, STAFF, f"/console/events/{event_id}")
    wait_live(browser)
    browser.execute_script("window.boardWasNotReloaded = true;")
    first.stop()
    wait_for(browser, lambda d: d.find_element("id", "live-state").text != "live")
    second = ConsoleService(make_app(pg_url), port=first.port).start()
    try:
        wait_for(browser, lambda d: d.find_element("id", "live-state").text == "live", 30)
        Deployment(second.url, pg_url, key, event_id, people).kiosk_upload(people["张伟"])
        wait_for(browser, lambda d: "张伟" in arrived_names(d))
        assert browser.execute_script("return window.boardWasNotReloaded === true;")
    finally:
        second.stop()


def test_manual_check_in_with_a_reason_and_undo(deployment, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sign_in(browser, deployment.url, STAFF, f"/console/events/{deployment.event_id}")
    wait_live(browser)
    form = browser.find_element(By.ID, "manual-checkin")
    Select(form.find_element(By.NAME, "person_id")).select_by_visible_text("Alan Turing")
    form.find_element(By.NAME, "reason").send_keys("badge forgotten <b>at home</b>")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda d: "Alan Turing" in arrived_names(d))
    wait_live(browser)
    row = browser.find_element(By.CSS_SELECTOR, "#arrived tbody tr")
    assert "manual" in row.text and "badge forgotten <b>at home</b>" in row.text
    assert "console (sam)" in row.text
    assert "Alan Turing checked in." in browser.find_element(By.CSS_SELECTOR, ".flash").text
    row.find_element(By.NAME, "reason").send_keys("checked in the wrong person")
    row.find_element(By.CSS_SELECTOR, "form.undo button").click()
    wait_for(browser, lambda d: "Alan Turing" not in arrived_names(d))
    assert "was undone" in browser.find_element(By.CSS_SELECTOR, ".flash").text

    from kiosk.store.base import audit_log
    from service.console.backend import PostgresStore

    with PostgresStore(deployment.database_url, migrate=False) as store:
        actions = [(row["actor"], row["action"]) for row in audit_log(store, 20)]
    assert ("console:sam", "manual check-in") in actions
    assert ("key:console (sam)", "undo check-in") in actions


def test_the_xlsx_download_opens_with_openpyxl(deployment, tmp_path: Path):
    import openpyxl

    from tests.service.console.conftest import browser_unavailable

    if browser_unavailable():
        pytest.skip(browser_unavailable())
    driver = new_browser()
    try:
        driver.execute_cdp_cmd("Page.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(tmp_path)})
        deployment.kiosk_upload(deployment.people["张伟"])
        sign_in(driver, deployment.url, ADMIN, f"/console/events/{deployment.event_id}")
        driver.find_element("link text", ".xlsx").click()
        deadline = time.monotonic() + WAIT_S
        target = tmp_path / f"attendance-event-{deployment.event_id}.xlsx"
        while not target.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        close_browser(driver)
    sheet = openpyxl.load_workbook(target).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("external_id", "name", "status") and "door" in rows[0]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["张伟"][2] == "arrived" and by_name["张伟"][rows[0].index("door")] == "north door"
    assert by_name["Ada Lovelace"][2] == "missing"
    assert len(rows) == 1 + len(PEOPLE)


def test_simplified_chinese_by_browser_language_and_switchable(deployment):
    from selenium.webdriver.common.by import By

    from tests.service.console.conftest import browser_unavailable

    if browser_unavailable():
        pytest.skip(browser_unavailable())
    driver = new_browser(language="zh-CN")
    try:
        driver.get(f"{deployment.url}/console/login")
        assert driver.find_element(By.TAG_NAME, "h1").text == "登录"
        sign_in(driver, deployment.url, STAFF, f"/console/events/{deployment.event_id}")
        wait_for(driver, lambda d: d.find_element("id", "live-state").text == "实时")
        assert "未到人员" in driver.find_element(By.ID, "board").text
        driver.find_element(By.LINK_TEXT, "English").click()
        wait_for(driver, lambda d: d.find_element("id", "live-state").text == "live")
        assert "Not yet arrived" in driver.find_element(By.ID, "board").text
    finally:
        close_browser(driver)
