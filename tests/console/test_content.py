"""The content page: studios with their model and tier, storage classes over time, grants, and a live tenant move."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from datastrata.core.clock import FrozenClock
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.move import move_status
from tests.console.backends import stored_console_fixture  # noqa: F401 - the fixture stored_console
from tests.console.conftest import ConsoleServer, screenshot

STUDIO, OTHER = "acme-films", "beta-pictures"


def _seed(console: ConsoleServer) -> ContentService:
    """Two studios on the shared model; 45 days ago the first uploaded two items, published one and granted the second
    its status; today's lifecycle run moves the unpublished one's footage to infrequent access."""
    runtime = console.app.state.runtime
    catalogue = catalogue_of(runtime)
    catalogue.add(STUDIO, "indie")
    catalogue.add(OTHER, "indie")
    now = datetime.now(UTC)
    with Runtime.open(runtime.settings, clock=FrozenClock(now - timedelta(days=45))) as past:
        then = ContentService(past)
        with tenant(STUDIO):
            then.upload("pilot", "The Pilot", b"raw footage" * 300, budget="20000")
            then.publish("pilot")
            then.upload("trailer", "The Trailer", b"trailer" * 100, budget="300000000", expected_views=90_000_000)
            then.grant(OTHER, "pilot", "status:read", now + timedelta(days=30))
    svc: ContentService = runtime.service("content", ContentService)
    moved = svc.lifecycle_job().result["moved"]
    assert [(m["item"].split("/")[-2], m["to_class"]) for m in moved] == [("trailer", "STANDARD_IA")]
    return svc


def test_the_content_page_shows_the_studios_items_classes_and_grants(stored_console: ConsoleServer) -> None:
    _seed(stored_console)
    shown = httpx.get(f"{stored_console.url}/console/content", params={"studio": STUDIO})
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert STUDIO in html and OTHER in html and "shared" in html
    assert "The Pilot" in html and "The Trailer" in html
    assert "STANDARD_IA" in html and "premium" in html  # a basic upload and a premium one, as the service placed them
    assert "Storage classes of acme-films" in html and "status:read" in html and "never moved" in html
    lanes = re.findall(r"<title>(trailer: [A-Z_]+) from", html)  # its class as uploaded, then as the lifecycle moved it
    assert lanes == ["trailer: STANDARD", "trailer: STANDARD_IA"], lanes
    assert html.count('<td class="stored-in">STANDARD_IA</td>') == 2  # both objects in infrequent access now
    assert 'name="to"' in html and "dedicated-storage" in html  # the operator may move it
    missing = httpx.get(f"{stored_console.url}/console/content", params={"studio": "nobody"})
    assert missing.status_code == 404 and "no studio" in missing.text
    forged = httpx.post(
        f"{stored_console.url}/console/content/moves", data={"studio": STUDIO, "to": "dedicated-storage", "csrf": "x"}
    )
    assert forged.status_code == 403
    assert move_status(stored_console.app.state.runtime, STUDIO) == []  # nothing started


def test_a_studio_move_started_in_the_browser_is_followed_to_the_end(
    local_console: ConsoleServer, watched: Any
) -> None:
    svc = _seed(local_console)
    watched.goto(f"{local_console.url}/console/content?studio={STUDIO}")
    watched.select_option("select[name=to]", "dedicated-storage")
    watched.fill("input[name=grace]", "0")
    watched.click("button[name=start]")
    state = watched.locator("#move .move-state")
    state.filter(has_text="completed").wait_for(timeout=45_000)
    assert watched.locator("#move .step-name").inner_text() == "complete"
    watched.reload()  # followed after a reload too: the journal and the job say where it stands
    assert watched.locator("#move .move-state").inner_text() == "completed"
    row = watched.locator("table.studios tr.chosen")
    assert "dedicated-storage" in row.inner_text()
    with tenant(STUDIO):
        assert [i.item_id for i in svc.items(caller_region="*")] == ["pilot", "trailer"]  # it reads there now
    lane = watched.locator("svg title", has_text="trailer: STANDARD_IA from")
    assert lane.count() == 1  # the lifecycle's move, kept in the home's audit, still drawn after the move
    screenshot(watched, "content")


def test_a_studio_visitor_sees_its_own_studio_only_and_no_other_page_spanning_tenants(
    local_console: ConsoleServer,
) -> None:
    from types import SimpleNamespace

    import pytest

    from datastrata.console.access import Visitor
    from datastrata.console.pages import content, shards, tiering
    from datastrata.core.errors import Forbidden, NotFound
    from datastrata.security.keys import Principal

    _seed(local_console)
    runtime = local_console.app.state.runtime
    studio_admin = Visitor(Principal("k1", STUDIO, "admin"), "token")
    assert [s["tenant"] for s in content._studios(runtime, studio_admin)] == [STUDIO]
    with pytest.raises(NotFound):
        content._chosen(content._studios(runtime, studio_admin), OTHER)
    request: Any = SimpleNamespace(app=local_console.app)
    for runtime_of in (shards._runtime, tiering._runtime):
        with pytest.raises(Forbidden):
            runtime_of(request, studio_admin)


def test_the_content_page_of_a_store_with_no_studio_says_how_to_add_one(local_console: ConsoleServer) -> None:
    shown = httpx.get(f"{local_console.url}/console/content")
    assert shown.status_code == 200 and "No studio is catalogued yet" in shown.text and 'name="to"' not in shown.text
