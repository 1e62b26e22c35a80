"""Fixtures of the web console's tests: the real service over a throw-away PostgreSQL with
console accounts, a kiosk key, people and an event; and the system's Chromium driven by
Selenium (the browser tests skip, saying why, where it is absent)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ADMIN, STAFF = ("ada", "admin password 1"), ("sam", "staff password 1")
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")


@dataclass
class Deployment:
    """A running service with the console: where it is and what it holds."""

    url: str
    database_url: str
    kiosk_key: str
    event_id: int
    people: dict[str, int] = field(default_factory=dict)

    def kiosk_upload(self, person_id: int, at: str | None = None,
                     event_id: int | None = None) -> str:
        """What a kiosk door does: ``POST /api/v1/checkins`` with its key (now, unless ``at``
        says when); the result."""
        import httpx

        from kiosk.store.base import now_iso

        answer = httpx.post(f"{self.url}/api/v1/checkins", timeout=30,
                            headers={"Authorization": f"Bearer {self.kiosk_key}"},
                            json={"checkins": [{"uuid": str(uuid.uuid4()),
                                                "event_id": event_id or self.event_id,
                                                "person_id": person_id,
                                                "at": at or now_iso()}]})
        answer.raise_for_status()
        return str(answer.json()["results"][0]["result"])

    @contextlib.contextmanager
    def signed_in(self, name: str, password: str) -> Iterator[Any]:
        """An HTTP client signed in through the contract: ``POST /console/login``."""
        import httpx

        with httpx.Client(base_url=self.url, timeout=30) as client:
            answer = client.post("/console/login",
                                 data={"username": name, "password": password})
            assert answer.status_code == 303, answer.text
            assert "console_session" in client.cookies
            yield client


class ConsoleService:
    """The service (with its console) in a uvicorn thread; a shutdown does not wait for the
    boards' open event streams longer than a second."""

    def __init__(self, app, port: int | None = None) -> None:  # noqa: ANN001
        from tests.service.serving import ServiceThread

        self.running = ServiceThread(app, port)
        self.running.server.config.timeout_graceful_shutdown = 1
        self.url = self.running.url
        self.port = self.running.port

    def start(self) -> ConsoleService:
        self.running.start()
        return self

    def stop(self) -> None:
        self.running.stop()


def make_app(database_url: str):  # noqa: ANN201 - the FastAPI app
    from kiosk.config import Settings
    from service.console.backend import create_app

    return create_app(database_url, Settings(), pool_size=4)


def populate(database_url: str, names: list[tuple[str, str | None]]) -> tuple[str, int, dict[str, int]]:
    """Accounts, a kiosk key, people (random embeddings) and an event; returns the key,
    the event id and the people's ids by name."""
    from kiosk.gallery import Gallery
    from service.console.backend import create_key
    from kiosk.store.events import Events
    from service.console.backend import PostgresStore
    from service.console.accounts import create_account, ensure_schema
    from tests.service.test_store_backends import vec

    with PostgresStore(database_url) as store:
        ensure_schema(store)
        create_account(store, ADMIN[0], "admin", ADMIN[1])
        create_account(store, STAFF[0], "staff", STAFF[1])
        _, key = create_key(store, "north door", "kiosk")
        gallery = Gallery(store=store, model_id="m")
        people = {name: gallery.add_person(name, [vec(i + 1)], external_id=external_id)
                  for i, (name, external_id) in enumerate(names)}
        event_id = Events(store).create_event("Annual meeting", actor="test")
        Events(store).replace_roster(event_id, [(e, n) for n, e in names], actor="test")
    return key, event_id, people


PEOPLE = [("Ada Lovelace", "E1"), ("Grace Hopper", "E2"), ("张伟", "E3"),
          ("<img src=x onerror=alert(1)>", "E4"), ("Alan Turing", None)]


@pytest.fixture
def deployment(pg_url: str) -> Iterator[Deployment]:
    key, event_id, people = populate(pg_url, PEOPLE)
    service = ConsoleService(make_app(pg_url)).start()
    try:
        yield Deployment(service.url, pg_url, key, event_id, people)
    finally:
        service.stop()


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e .[test])"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            return (f"{path} not found: install the Debian packages of .ci/browser-packages.txt "
                    "(./test.sh does it as root)")
    return None


def new_browser(width: int = 1280, height: int = 900, language: str = "en-US"):  # noqa: ANN201
    """Chromium (headless, a fresh profile) driven by chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--lang={language}")
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.profile_folder = profile
    return driver


def close_browser(driver) -> None:  # noqa: ANN001
    folder = getattr(driver, "profile_folder", None)
    driver.quit()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[object]:
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    driver = new_browser()
    try:
        yield driver
    finally:
        close_browser(driver)
