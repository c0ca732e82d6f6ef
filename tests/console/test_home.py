"""The console's frame: the home page, its static files, its headers, and a first load in a real browser."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console.conftest import ConsoleServer, screenshot


def test_home_lists_pages_and_ships_its_assets(local_console: ConsoleServer) -> None:
    home = httpx.get(f"{local_console.url}/console")
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["x-content-type-options"] == "nosniff"
    assert "<h1>Console</h1>" in home.text and 'name="csrf"' in home.text
    for asset in ("htmx.min.js", "console.js", "console.css"):
        served = httpx.get(f"{local_console.url}/console/static/{asset}")
        assert served.status_code == 200 and len(served.content) > 100, asset


def test_console_routes_are_not_in_the_api_description(local_console: ConsoleServer) -> None:
    paths = httpx.get(f"{local_console.url}/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def test_a_keyed_server_sends_a_visitor_without_a_session_to_sign_in(console_settings: Any) -> None:
    from datastrata.api import create_app
    from tests.console.conftest import serve_app

    for url in serve_app(create_app(console_settings)):
        answer = httpx.get(f"{url}/console", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")


def test_home_loads_in_chromium_with_no_errors(local_console: ConsoleServer, watched: Any) -> None:
    watched.goto(f"{local_console.url}/console")
    assert watched.locator("h1").inner_text() == "Console"
    screenshot(watched, "home")
