"""The overview page: systems, health, followers' lag and state, tenants and dead letters (retried by clicking)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.core.events import Event, NewEvent
from datastrata.runtime import Runtime, Scope
from datastrata.stores.database import Database, Tx
from tests.console.conftest import ConsoleServer, new_key, screenshot, serve_app, sign_in, signed_in

FOLLOWER = "console.fixable"


class Fixable:
    """A projection that fails on the event whose n is 2 until it is fixed."""

    name = FOLLOWER
    event_types = frozenset({"Counted"})

    def __init__(self) -> None:
        self.broken = True

    def setup(self, db: Database) -> None:
        db.ensure_schema(self.name, lambda d: "CREATE TABLE IF NOT EXISTS console_fixable (n INTEGER PRIMARY KEY);")

    def apply(self, tx: Tx, event: Event) -> None:
        n = int(event.payload["n"])
        if self.broken and n == 2:
            raise RuntimeError(f"cannot count {n}")
        tx.execute("INSERT INTO console_fixable (n) VALUES (?)", (n,))

    def clear(self, tx: Tx) -> None:
        tx.execute("DELETE FROM console_fixable")


@pytest.fixture
def halted(console_settings: Settings) -> Iterator[tuple[ConsoleServer, Fixable]]:
    """A keyed server (rounds run by the test, not a worker) whose follower is halted on a parked event."""
    app = create_app(console_settings, worker=False)
    for url in serve_app(app):
        runtime: Runtime = app.state.runtime
        runtime.supervisor.base_delay = 0.0
        projection = Fixable()
        runtime.register(projection)
        for n in (1, 2, 3):
            runtime.append(Scope("test", f"s{n}"), [NewEvent("Counted", {"n": n})])
        for _ in range(8):
            runtime.run_once()
        assert [x.consumer for x in runtime.dead_letters.open()] == [FOLLOWER]
        yield ConsoleServer(url, app), projection


def csrf_of(html: str) -> str:
    return html.split('name="csrf" content="')[1].split('"')[0]


def test_the_operator_sees_systems_health_followers_tenants_and_dead_letters(
    halted: tuple[ConsoleServer, Fixable],
) -> None:
    server, _ = halted
    new_key(server, "viewer", tenant="acme")  # catalogues acme
    admin = signed_in(server, new_key(server, "admin"))
    html = admin.get("/console/overview").text
    (letter,) = server.app.state.runtime.dead_letters.open()
    assert 'id="health">degraded' in html and f"not running: {FOLLOWER}" in html
    assert "portfolio" in html and "Event sourcing" in html and "<td>acme</td><td>indie</td>" in html
    assert f'id="letter-{letter.id}"' in html and "cannot count 2" in html
    assert f"/console/overview/deadletters/{letter.id}/retry" in html


def test_a_viewer_and_another_tenant_see_no_dead_letters_and_cannot_act_on_them(
    halted: tuple[ConsoleServer, Fixable],
) -> None:
    server, projection = halted
    (letter,) = server.app.state.runtime.dead_letters.open()
    viewer = signed_in(server, new_key(server, "viewer"))
    tenant_admin = signed_in(server, new_key(server, "admin", tenant="acme"))
    for http, who in ((viewer, "default · viewer"), (tenant_admin, "acme · admin")):
        html = http.get("/console/overview").text
        assert who in html and FOLLOWER in html  # followers' states are public (/health)
        assert "cannot count" not in html and "Dead letters" not in html and "/retry" not in html
        assert 'id="tenants"' not in html
        forged = http.post(f"/console/overview/deadletters/{letter.id}/retry", data={"csrf": csrf_of(html)})
        assert forged.status_code == 403
    projection.broken = False
    assert [x.id for x in server.app.state.runtime.dead_letters.open()] == [letter.id]  # nothing was retried


def test_a_dead_letter_retried_by_clicking_is_gone_from_the_list(
    halted: tuple[ConsoleServer, Fixable], watched: Any
) -> None:
    server, projection = halted
    sign_in(watched, server, new_key(server, "admin"), then="/console/overview")
    (letter,) = server.app.state.runtime.dead_letters.open()
    row = watched.locator(f"#letter-{letter.id}")
    assert "cannot count 2" in row.inner_text()
    screenshot(watched, "overview")
    projection.broken = False  # the operator fixed the cause
    row.locator("button", has_text="Retry").click()
    watched.wait_for_url(f"{server.url}/console/overview")
    assert watched.locator(f"#letter-{letter.id}").count() == 0
    assert "No dead letters." in watched.locator("#deadletters").inner_text()
    assert server.app.state.runtime.dead_letters.get(letter.id).status == "resolved"
