"""The tiering page: bytes and monthly cost per tier, the moves, and a restore requested and shown with its ETA."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from datastrata.core.clock import FrozenClock
from datastrata.runtime import Runtime
from datastrata.systems.fab.domain import Reading
from datastrata.systems.fab.service import FabService
from datastrata.tiering.restores import list_restores
from tests.console.backends import stored_console_fixture  # noqa: F401 - the fixture stored_console
from tests.console.conftest import ConsoleServer, screenshot


def _seed(console: ConsoleServer) -> FabService:
    """The fab: two reports read more than a year ago (access-log days the lifecycle freezes), fresh readings."""
    runtime = console.app.state.runtime
    now = datetime.now(UTC)
    clock = FrozenClock(now - timedelta(days=400))
    with Runtime.open(runtime.settings, clock=clock) as past:
        then = FabService(past)
        then.reports.daily(actor="quality-engineer")
        clock.set(now - timedelta(days=380))
        then.reports.daily(actor="auditor")
    svc: FabService = runtime.service("fab", FabService)
    svc.register_sensors([("temp-1", "temperature")])
    svc.ingest("b1", [Reading("temp-1", now - timedelta(seconds=s), 20.0 + s) for s in range(1, 40)])
    svc.tiers.run(now)  # the fab's lifecycle: the old access-log days go frozen
    return svc


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf" content="([0-9a-f]+)">', html)
    assert found is not None
    return found.group(1)


def test_the_tiering_page_shows_tiers_costs_moves_and_takes_a_restore(stored_console: ConsoleServer) -> None:
    svc = _seed(stored_console)
    frozen = [r.item for r in svc.tiers.mover.records() if r.to_tier == "frozen"]
    assert len(frozen) == 2
    shown = httpx.get(f"{stored_console.url}/console/tiering")
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert "Bytes per tier of fab" in html and ">hot<" in html and ">frozen<" in html
    assert all(day in html for day in frozen) and "after 1y → frozen" in html  # the audit's moves
    assert "No restore requested yet" in html
    token = _csrf(html)
    url = f"{stored_console.url}/console/tiering/restores"
    bad = httpx.post(url, data={"csrf": token, "policy": "fab", "item": "access_log"})
    assert bad.status_code == 422 and "DATASET|KEY" in bad.text
    unknown = httpx.post(url, data={"csrf": token, "policy": "fab", "item": "access_log|1999-01-01"})
    assert unknown.status_code == 404
    assert list_restores(svc.tiers.mover.db) == []  # refused: nothing asked for
    asked = httpx.post(url, data={"csrf": token, "policy": "fab", "item": f"access_log|{frozen[0]}", "tier": "bulk"})
    assert asked.status_code == 303
    [restore] = list_restores(svc.tiers.mover.db)
    assert restore.items == (frozen[0],) and restore.tier == "bulk"
    listed = httpx.get(f"{stored_console.url}/console/tiering").text
    assert restore.job in listed and "restoring" in listed and restore.ready_at.isoformat() in listed


def test_a_restore_requested_in_the_browser_is_shown_with_its_eta(local_console: ConsoleServer, watched: Any) -> None:
    svc = _seed(local_console)
    watched.goto(f"{local_console.url}/console/tiering")
    day = [r.item for r in svc.tiers.mover.records() if r.to_tier == "frozen"][-1]
    watched.select_option("select[name=item]", f"access_log|{day}")
    watched.select_option("select[name=tier]", "standard")
    watched.click("button[name=restore]")
    restore = watched.locator("li.restore").first
    restore.wait_for()
    assert day in restore.inner_text()
    assert restore.locator(".restore-state").inner_text() == "restoring"
    assert " h " in restore.locator(".eta").inner_text()  # hours away, as the archive class's restore takes
    [asked] = list_restores(svc.tiers.mover.db)
    assert asked.items == (day,) and asked.tier == "standard"
    screenshot(watched, "tiering")


def test_the_tiering_page_of_a_fresh_store_has_nothing_to_restore(local_console: ConsoleServer) -> None:
    shown = httpx.get(f"{local_console.url}/console/tiering")
    assert shown.status_code == 200, shown.text
    assert "Nothing of fab is frozen" in shown.text and "No restore requested yet" in shown.text
    assert "No move yet" in shown.text
