"""What the console's scripts share: a database (a throw-away PostgreSQL cluster unless
``--database`` names one), the service as ``python main.py serve`` in its own process,
accounts, kiosk keys, people and an event, and the system's Chromium."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN = ("ada", "admin password 1")
STAFF = ("sam", "staff password 1")


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """``url``, or a throw-away cluster's (deleted at the end)."""
    if url:
        yield url
        return
    from tests.service.pgcluster import PostgresCluster

    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.destroy()


def prepare(url: str, kiosks: int, people: list[tuple[str, str | None]],
            event_name: str = "Annual meeting", roster: bool = True) -> dict[str, Any]:
    """Accounts (admin and staff), kiosk keys ``door 1..N``, people (random embeddings), an
    event with them on its roster; returns their keys and ids."""
    from kiosk.gallery import Gallery
    from service.console.backend import create_key
    from kiosk.store.events import Events
    from service.console.backend import PostgresStore
    from service.console.accounts import create_account, ensure_schema

    with PostgresStore(url) as store:
        ensure_schema(store)
        create_account(store, ADMIN[0], "admin", ADMIN[1])
        create_account(store, STAFF[0], "staff", STAFF[1])
        keys = [create_key(store, f"door {k + 1}", "kiosk")[1] for k in range(kiosks)]
        gallery = Gallery(store=store, model_id="facenet-20180408-102900/flip")
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(len(people), 512)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        gallery.people_table.add_many([(name, external_id, vectors[i:i + 1])
                                       for i, (name, external_id) in enumerate(people)])
        ids = {str(r[1]): int(r[0]) for r in store.query("SELECT id, name FROM people")}
        event_id = Events(store).create_event(event_name, actor="script")
        if roster:
            Events(store).replace_roster(event_id, [(external_id, name)
                                                    for name, external_id in people],
                                         actor="script")
    return {"keys": keys, "event_id": event_id, "people": ids}


@contextlib.contextmanager
def service(url: str) -> Iterator[str]:
    """``python main.py serve`` on a free port of 127.0.0.1; yields its base URL."""
    from load_test import wait_healthy  # scripts/load_test.py, beside this file
    from tests.service.pgcluster import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "main.py", "serve", "--database", url, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def browser(width: int = 1280, height: int = 900, language: str = "en-US") -> Iterator[Any]:
    """The system's Chromium, headless with a fresh profile (see tests/service/console)."""
    from tests.service.console.conftest import browser_unavailable, close_browser, new_browser

    reason = browser_unavailable()
    if reason:
        raise SystemExit(reason)
    driver = new_browser(width, height, language)
    try:
        yield driver
    finally:
        close_browser(driver)


def sign_in(driver: Any, base: str, account: tuple[str, str], path: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}{path}")
    driver.find_element(By.NAME, "username").send_keys(account[0])
    driver.find_element(By.NAME, "password").send_keys(account[1])
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: "/login" not in d.current_url)


def wait_live(driver: Any, timeout_s: float = 30) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout_s, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: "on" in d.find_element("id", "live-state").get_attribute("class")
        and int(d.find_element("id", "board").get_attribute("data-refreshes")) >= 1)


def upload(client: Any, event_id: int, person_id: int, at: str) -> str:
    """One kiosk upload through the real API (the client carries the kiosk's key)."""
    import uuid

    answer = client.post("/api/v1/checkins", json={"checkins": [{
        "uuid": str(uuid.uuid4()), "event_id": event_id, "person_id": person_id, "at": at}]})
    answer.raise_for_status()
    return str(answer.json()["results"][0]["result"])
