"""The trading page: both regions' view of an account, the link cut and restored, Singapore's staleness, an order."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from datastrata.systems.trading.service import SERVICE, TradingService
from tests.console.conftest import ConsoleServer, screenshot


def _trading(server: ConsoleServer) -> TradingService:
    """The server's trading system with a quick link and a funded account (through the service)."""
    svc: TradingService = server.app.state.runtime.service(SERVICE, TradingService)
    svc.set_latency(5)
    svc.deposit("mei", "10000", region="new-york")
    return svc


def _until(done: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "New York's enrichment did not run"
        time.sleep(0.05)


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf" content="([0-9a-f]+)">', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def test_both_regions_the_link_and_staleness_come_from_the_service(local_console: ConsoleServer) -> None:
    svc = _trading(local_console)
    svc.order("mei", "AAPL", "20", "190", side="buy", region="singapore")
    assert svc.catch_up(timeout=20)
    with httpx.Client(base_url=local_console.url) as client:
        shown = client.get("/console/trading", params={"user": "mei"})
        assert shown.status_code == 200
        assert 'id="ny-cash">6200<' in shown.text  # New York's record: 10000 - 20 x 190
        singapore = shown.text.split('id="singapore"', 1)[1]
        assert "<td>AAPL</td>" in singapore and 'id="staleness">up to date' in shown.text
        token = _csrf(shown.text)

        cut = client.post("/console/trading/link", data={"csrf": token, "action": "cut", "user": "mei"})
        assert cut.status_code == 303 and cut.headers["location"] == "/console/trading?user=mei"
        svc.order("mei", "MSFT", "2", "410", side="buy", region="new-york")  # New York trades on while cut
        _until(lambda: svc.pending() > 0)  # enriched in New York, its events held there by the cut
        behind = client.get("/console/trading/live", params={"user": "mei"}).text
        assert "cut</span>" in behind and re.search(r'id="staleness">\d+ events wait in New York', behind)
        assert "<td>MSFT</td>" not in behind.split('id="singapore"', 1)[1]

        client.post("/console/trading/link", data={"csrf": token, "action": "restore"})
        assert svc.catch_up(timeout=20)
        caught_up = client.get("/console/trading/live", params={"user": "mei"}).text
        assert "<td>MSFT</td>" in caught_up.split('id="singapore"', 1)[1] and "up to date" in caught_up

        version = svc.account("mei")["version"]
        refused = client.post(
            "/console/trading/orders",
            headers={"HX-Request": "true"},
            data={"csrf": token, "user": "mei", "symbol": "AAPL", "quantity": "500", "price": "190", "side": "sell"},
        )
        assert refused.status_code == 200 and 'role="alert"' in refused.text
        assert svc.account("mei")["version"] == version  # nothing written
        bad = client.post("/console/trading/link", data={"csrf": token, "action": "latency", "latency_ms": "9000"})
        assert bad.status_code == 422 and "latency_ms" in bad.text


def test_an_order_from_singapore_and_the_link_cut_in_the_browser(local_console: ConsoleServer, watched: Any) -> None:
    _trading(local_console)
    watched.goto(f"{local_console.url}/console/trading?user=mei")
    watched.fill("#order-form input[name=quantity]", "15")
    watched.click("#order-form button")
    watched.locator("#result", has_text="Bought 15 AAPL").wait_for()
    watched.locator("#singapore td", has_text="AAPL").wait_for(timeout=20_000)  # crossed; the poll showed it
    assert "6200" not in watched.locator("#ny-cash").inner_text()
    watched.click("#link-cut")
    watched.locator("#link-badge", has_text="cut").wait_for()
    watched.select_option("#order-form select[name=region]", "new-york")  # New York trades on while cut
    watched.fill("#order-form input[name=quantity]", "5")
    watched.click("#order-form button")
    watched.locator("#result", has_text="Bought 5 AAPL").wait_for()
    watched.locator("#staleness", has_text="wait in New York").wait_for(timeout=20_000)
    screenshot(watched, "trading")
    watched.click("#link-restore")
    watched.locator("#link-badge", has_text="up").wait_for()
    watched.locator("#staleness", has_text="up to date").wait_for(timeout=20_000)
