"""The portfolio page: the timeline, time travel by version and business time, and the deposit form."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from datastrata.systems.portfolio.service import PortfolioService
from datastrata.systems.portfolio.tour import PORTFOLIO
from tests.console.conftest import ConsoleServer, screenshot

DAY = datetime(2025, 9, 12, tzinfo=UTC)


def seed(server: ConsoleServer) -> PortfolioService:
    """The tour's story: deposit 10000, buy AAPL 10 @ 175, buy NVDA 5 @ 950, sell AAPL 3 @ 180."""
    svc: PortfolioService = server.app.state.runtime.service("portfolio", PortfolioService)
    svc.deposit(PORTFOLIO, "10000", at=DAY.replace(hour=9))
    svc.buy(PORTFOLIO, "AAPL", "10", "175", at=DAY.replace(hour=10))
    svc.buy(PORTFOLIO, "NVDA", "5", "950", at=DAY.replace(hour=11))
    svc.sell(PORTFOLIO, "AAPL", "3", "180", at=DAY.replace(hour=12))
    return svc


def cash(html: str) -> str:
    found = re.search(r'id="cash">([^<]+)<', html)
    assert found, html
    return found.group(1)


def test_the_page_shows_the_services_state_and_travels_in_time(local_console: ConsoleServer) -> None:
    svc = seed(local_console)
    base = f"{local_console.url}/console/portfolio"
    now = httpx.get(base)
    assert now.status_code == 200
    assert cash(now.text) == svc.state(PORTFOLIO).to_dict()["cash"] == "4040.00"
    assert "STOCK_SOLD" in now.text and "AAPL 3 @ 180" in now.text and '<svg class="chart"' in now.text
    svc.deposit(PORTFOLIO, "250", at=DAY.replace(hour=13))
    assert cash(httpx.get(base).text) == "4290.00"
    by_version = httpx.get(f"{base}/moment", params={"portfolio_id": PORTFOLIO, "at_version": 2})
    assert by_version.status_code == 200 and "<h1>" not in by_version.text  # a fragment, no layout
    assert cash(by_version.text) == "8250.00" and ">AAPL<" in by_version.text and ">NVDA<" not in by_version.text
    half_past_ten = int(DAY.replace(hour=10, minute=30).timestamp())
    by_time = httpx.get(base, params={"portfolio_id": PORTFOLIO, "at": half_past_ten})
    assert cash(by_time.text) == "8250.00" and "version <strong>2</strong> of 5" in by_time.text
    before = httpx.get(f"{base}/moment", params={"portfolio_id": PORTFOLIO, "at_version": 0})
    assert cash(before.text) == "0.00" and "no holdings at this moment" in before.text


def test_bad_input_is_a_page_naming_the_field(local_console: ConsoleServer) -> None:
    seed(local_console)
    base = f"{local_console.url}/console/portfolio"
    both = httpx.get(base, params={"portfolio_id": PORTFOLIO, "at_version": 1, "at": 1})
    assert both.status_code == 422 and "not both" in both.text
    beyond = httpx.get(base, params={"portfolio_id": PORTFOLIO, "at_version": 99})
    assert beyond.status_code == 422 and "at_version" in beyond.text
    malformed = httpx.get(base, params={"portfolio_id": "no spaces"})
    assert malformed.status_code == 422 and "portfolio_id" in malformed.text
    empty = httpx.get(base, params={"portfolio_id": "fresh-one"})
    assert empty.status_code == 200 and "has no events yet" in empty.text


def test_a_deposit_form_needs_its_csrf_token_and_is_idempotent(local_console: ConsoleServer) -> None:
    svc = seed(local_console)
    base = f"{local_console.url}/console/portfolio"
    token = re.search(r'name="csrf" value="([^"]+)"', httpx.get(base).text)
    assert token
    form = {"portfolio_id": PORTFOLIO, "amount": "100", "event_id": "same-form", "at": ""}
    refused = httpx.post(f"{base}/deposit", data=form)
    assert refused.status_code == 403 and svc.state(PORTFOLIO).version == 4
    for _ in range(2):  # the form sent twice is one deposit
        sent = httpx.post(f"{base}/deposit", data={**form, "csrf": token.group(1)}, follow_redirects=False)
        assert sent.status_code == 303 and sent.headers["location"].startswith("/console/portfolio?portfolio_id=")
    assert svc.state(PORTFOLIO).to_dict()["cash"] == "4140.00" and svc.state(PORTFOLIO).version == 5
    backwards = httpx.post(
        f"{base}/deposit", data={**form, "event_id": "other", "at": "2025-09-12T08:00", "csrf": token.group(1)}
    )
    assert backwards.status_code == 409 and "business time must not go backwards" in backwards.text
    assert svc.state(PORTFOLIO).version == 5


def test_deposit_then_travel_back_in_chromium(local_console: ConsoleServer, watched: Any) -> None:
    seed(local_console)
    watched.goto(f"{local_console.url}/console/portfolio")
    assert watched.locator("#cash").inner_text() == "4040.00"
    watched.fill("input[name=amount]", "500")
    watched.click("button:has-text('Deposit')")
    watched.wait_for_url("**/console/portfolio?portfolio_id=*")
    assert watched.locator("#cash").inner_text() == "4540.00"
    assert watched.locator("#events tbody tr").count() == 5
    watched.locator("#by-version").fill("4")  # back before the deposit
    watched.locator("#shown:has-text('At version 4')").wait_for()
    assert watched.locator("#cash").inner_text() == "4040.00"
    assert watched.locator("#events tr.future").count() == 1
    watched.locator("#by-time").fill(str(int(DAY.replace(hour=10, minute=30).timestamp())))
    watched.locator("#shown:has-text('As of 2025-09-12T10:30')").wait_for()
    assert watched.locator("#cash").inner_text() == "8250.00"
    screenshot(watched, "portfolio")


def test_the_timeline_fades_the_future_and_marks_the_moment_between_events() -> None:
    from datastrata.console.charts.timeline import FADED, MARKER, Moment, timeline

    moments = [Moment(DAY.replace(hour=h), "CASH" if h == 9 else "TRADE", f"<v{h}>") for h in (9, 10, 12)]
    svg = str(timeline(moments, label="t", marker=DAY.replace(hour=11), width=460))
    assert svg.count("<circle") == 3 + 2 and svg.count(f'fill="{FADED}"') == 1  # 3 events + 2 legend dots
    assert "&lt;v9&gt;" in svg and "<v9>" not in svg  # hover text escaped
    marker = re.search(rf'<line x1="([\d.]+)"[^>]*stroke="{MARKER}"', svg)
    assert marker and 60 + 170 < float(marker.group(1)) < 60 + 340  # between the 2nd (x=230) and 3rd (x=400) dots
    assert "no events yet" in str(timeline([], label="t"))
