"""Console fixtures: the app under uvicorn on a loopback port, and Playwright driving Debian's Chromium headless."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.security.auth import AuthConfig

#: Debian's Chromium (`apt-get install chromium`); Playwright's own browser download does not work offline.
CHROMIUM = "/usr/bin/chromium"
#: CI runs as root on a closed network: no sandbox, nothing that phones home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
#: Where browser tests save their screenshots (the best are copied into docs/console/ by hand).
SCREENSHOTS = Path(
    os.environ.get("DATASTRATA_SCREENSHOTS", Path(__file__).resolve().parents[2] / "build" / "screenshots")
)


@dataclass
class ConsoleServer:
    """A running app: its base URL, the app (its runtime on ``app.state.runtime``)."""

    url: str
    app: FastAPI
    problems: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_app(app: FastAPI) -> Iterator[str]:
    """Serve `app` under uvicorn in a thread until the generator is closed; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console's server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def console_settings(tmp_path: Path) -> Settings:
    """Embedded stores in the test's folder."""
    return Settings(store=f"sqlite:///{tmp_path / 'db.sqlite'}", graph=f"ladybug:///{tmp_path / 'graph'}")


@pytest.fixture
def local_console(console_settings: Settings) -> Iterator[ConsoleServer]:
    """The app as ``serve --insecure-local`` runs it (no sign-in: the local operator), with its worker."""
    app = create_app(console_settings, auth=AuthConfig(insecure_local=True))
    for url in serve_app(app):
        yield ConsoleServer(url, app)


def chromium_or_skip() -> None:
    """Skip a browser test where Chromium is missing, unless servers are required (CI installs it)."""
    if shutil.which(CHROMIUM) is None and not os.path.exists(CHROMIUM):
        if os.environ.get("DATASTRATA_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (the console's browser tests need it)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright for one test module (pytest-playwright's ``browser``, scoped shorter).

    Playwright's synchronous API keeps an event loop running in the thread while it is started, so a later
    ``asyncio.run`` in the same test process (the Temporal saga tests) would fail; stopping it after each module
    of browser tests gives the process back its loop-free main thread.
    """
    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page for one test (no cookies or storage shared between tests)."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def watched(page: Any) -> Iterator[Any]:
    """A Playwright page that fails the test on any console error, uncaught exception or failed request."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.method} {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    yield page
    assert not problems, "the browser saw problems:\n" + "\n".join(problems)


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot of `page` as ``<name>.png`` (build/screenshots, or DATASTRATA_SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def keyed_console(console_settings: Settings) -> Iterator[ConsoleServer]:
    """The app as ``serve`` runs it (API keys, sign-in sessions), with its worker."""
    app = create_app(console_settings)
    for url in serve_app(app):
        yield ConsoleServer(url, app)


def new_key(server: ConsoleServer, role: str = "admin", tenant: str = "default") -> str:
    """Create an API key of `role` for `tenant` (catalogued first when it is not the platform's) on `server`."""
    from datastrata.core.errors import ConcurrencyConflict
    from datastrata.security.keys import key_store
    from datastrata.tenancy.catalogue import catalogue_of

    runtime = server.app.state.runtime
    if tenant != "default":
        with contextlib.suppress(ConcurrencyConflict):  # catalogued by an earlier key
            catalogue_of(runtime).add(tenant, "indie")
    _, key = key_store(runtime).create(role=role, tenant=tenant)
    return key


def signed_in(server: ConsoleServer, key: str) -> httpx.Client:
    """An httpx client of `server` signed in to the console with `key` (its session cookie set)."""
    client = httpx.Client(base_url=server.url, headers={"Origin": server.url})
    answer = client.post("/console/login", data={"key": key})
    assert answer.status_code == 303, answer.text
    return client


def sign_in(page: Any, server: ConsoleServer, key: str, then: str = "/console") -> None:
    """Sign `page` (Playwright) in to the console with `key` by filling the sign-in form, landing on `then`."""
    page.goto(f"{server.url}{then}")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}{then}")
