"""Fixtures of the web UI's tests: the demo fleet (tests/web/fleet.py) in SQLite, a real
collector serving it (uvicorn in a thread, as `serve` runs it), and one headless Chromium
per test session (Debian's /usr/bin/chromium through Playwright; never `playwright
install`). Without Chromium, Playwright or the npm packages the browser tests skip, and
fail under CI (tests/needs.py)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from collector.db import Database
from collector.main import create_app
from collector.settings import Settings
from tests.needs import missing
from tests.web.fleet import PASSWORD, Fleet, build

CHROMIUM = Path("/usr/bin/chromium")
NPM_DIR = Path(__file__).parent
AXE = NPM_DIR / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def fleet_template(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """The demo fleet, built once per test process; tests copy its database file."""
    tmp = tmp_path_factory.mktemp("fleet")
    return build(f"sqlite:///{tmp / 'fleet.db'}", tmp)


def copy_fleet(template: Fleet, directory: Path) -> Fleet:
    source = Path(template.url.removeprefix("sqlite:///"))
    target = directory / "fleet.db"
    shutil.copyfile(source, target)
    return Fleet(f"sqlite:///{target}", template.hosts, template.orgs)


@dataclass
class Server:
    url: str
    fleet: Fleet
    db: Database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(fleet: Fleet) -> Iterator[Server]:
    """A collector on 127.0.0.1 serving ``fleet``'s database; it trusts X-Forwarded-* from
    127.0.0.1 as `serve` does (uvicorn's default)."""
    db = Database(fleet.url)
    app = create_app(Settings(database_url=fleet.url, decode_workers=0), db)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)  # fmt: skip
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the collector did not start")
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", fleet, db)
    finally:
        uv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def server(fleet_template: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(copy_fleet(fleet_template, tmp_path_factory.mktemp("served"))) as running:
        yield running


def ensure_npm_packages() -> None:
    """axe-core (and htmx.org) as pinned in tests/web/package-lock.json: `npm ci` when the
    packages are missing (.ci/run installs them first)."""
    if AXE.exists():
        return
    if shutil.which("npm") is None:
        missing("npm is needed to install axe-core (tests/web/package.json)")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NPM_DIR, check=True,
                   capture_output=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        missing("Debian's chromium is needed (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python is needed (pip install playwright)")
    ensure_npm_packages()
    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless (never a browser that Playwright downloads)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture
def context_factory(browser: Any) -> Iterator[Any]:
    """New browser contexts (own cookies), closed after the test."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, server: Server, user: str = "admin", next_url: str = "/") -> None:
    page.goto(f"{server.url}/login?next={next_url}")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(server.url) + ".*"))


@dataclass
class Client:
    """A test client of the app on a copy of the demo fleet (no lifespan: no background
    evaluator; pages load the shipped packs themselves)."""

    http: Any
    fleet: Fleet
    db: Database

    def login(self, user: str = "admin", password: str = PASSWORD) -> Any:
        form = self.http.get("/login")
        token = csrf_of(form.text)
        return self.http.post(
            "/login",
            data={"csrf_token": token, "username": user, "password": password, "next": "/"},
            follow_redirects=False,
        )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match[1]


@pytest.fixture
def client(fleet_template: Fleet, tmp_path: Path) -> Iterator[Client]:
    from fastapi.testclient import TestClient

    fleet = copy_fleet(fleet_template, tmp_path)
    db = Database(fleet.url)
    app = create_app(Settings(database_url=fleet.url, decode_workers=0), db)
    yield Client(TestClient(app, raise_server_exceptions=False), fleet, db)
    db.dispose()
