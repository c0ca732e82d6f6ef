"""Keyset pages: walking every page of a growing list misses and repeats nothing; a forged cursor is a 422."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.runtime.jobs import jobs_of
from datastrata.runtime.scope import Scope
from datastrata.systems.masterdata.alerts import DRIFT
from datastrata.systems.masterdata.service import MasterDataService
from tests.conftest import authenticated

P = "p1"


@dataclass(frozen=True)
class Letter:
    """An event as a dead letter names it."""

    event_id: str
    position: int
    type: str = "THING_FAILED"
    stream_id: str = "things-1"


@pytest.fixture
def http(store_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The whole app on each backend, without a worker."""
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")
    with authenticated(create_app(settings, worker=False)) as client:
        yield client


def walk(http: TestClient, path: str, grow: Callable[[int], None], *, key: str) -> list[Any]:
    """Read every page of `path` (3 a page), calling `grow(page)` between pages; return the items' `key`s."""
    seen: list[Any] = []
    cursor: str | None = None
    page = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        answer = http.get(path, params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen += [item[key] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        page += 1
        grow(page)


def refused_cursor(answer: Any) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "cursor", answer.json()


def forged(kind: str, key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": kind, "a": key}).encode()).decode().rstrip("=")


def test_event_history_and_audit_pages_stay_stable_while_writes_go_on(http: TestClient) -> None:
    for n in range(1, 8):
        assert http.post(f"/portfolios/{P}/deposits", json={"amount": str(n)}).status_code == 201
        assert http.put("/masterdata/customer/C1", json={"attributes": {"name": f"C{n}"}}).status_code == 200

    def deposit(page: int) -> None:
        assert http.post(f"/portfolios/{P}/deposits", json={"amount": str(100 + page)}).status_code == 201

    versions = walk(http, f"/portfolios/{P}/events", deposit, key="version")
    assert versions == list(range(1, len(versions) + 1)) and len(versions) > 7  # appended ones reached too

    def put(page: int) -> None:
        assert http.put("/masterdata/customer/C1", json={"attributes": {"name": f"X{page}"}}).status_code == 200

    audit = walk(http, "/masterdata/audit", put, key="position")
    assert audit == sorted(set(audit)) and len(audit) > 7
    history = walk(http, "/masterdata/customer/C1/history", put, key="version_id")
    assert len(history) == len(set(history)) and len(history) > len(audit)
    svc: MasterDataService = http.app.state.runtime.service("masterdata", MasterDataService)  # type: ignore[attr-defined]

    def alert(n: int) -> None:
        with svc.runtime.transaction(Scope.of("masterdata")) as tx:
            svc.alerts.raise_in(tx, DRIFT, "crm", f"drift {n}", entity_type="customer", entity_key="C1")

    for n in range(7):
        alert(n)
    alerts = walk(http, "/masterdata/alerts", lambda page: alert(100 + page), key="alert_id")
    assert len(alerts) == len(set(alerts)) and len(alerts) > 7
    for path, kind in (
        (f"/portfolios/{P}/events", "events"),
        ("/masterdata/audit", "audit"),
        ("/masterdata/alerts", "alerts"),
    ):
        refused_cursor(http.get(path, params={"cursor": "bm9wZQ"}))
        refused_cursor(http.get(path, params={"cursor": forged(kind, ["x", "y", "z"])}))
        refused_cursor(http.get(path, params={"cursor": forged("jobs", ["2026-01-01T00:00:00+00:00", "j"])}))
    refused_cursor(http.get("/masterdata/audit", params={"cursor": forged("audit", ["not a time", 1])}))
    refused_cursor(http.get(f"/portfolios/{P}/events", params={"cursor": forged("events", [2**63])}))


def test_dead_letters_and_jobs_are_paged_with_a_bounded_limit(http: TestClient) -> None:
    runtime = http.app.state.runtime  # type: ignore[attr-defined]
    letters = runtime.dead_letters

    def park(n: int) -> None:
        letters.record("demo.follower", Letter(f"e{n}", n), "boom", 5)

    for n in range(1, 8):
        park(n)
    ids = walk(http, "/deadletters", lambda page: park(100 + page), key="id")
    assert ids == sorted(set(ids)) and len(ids) > 7
    jobs = jobs_of(runtime)
    for n in range(5):
        jobs.run(jobs.create("verify", f"t{n}"), lambda progress: {"ok": True})
    made = walk(http, "/jobs", lambda page: None, key="id")
    assert len(made) == len(set(made)) == 5
    for path in ("/deadletters", "/jobs"):
        assert http.get(path, params={"limit": 1001}).status_code == 422
        refused_cursor(http.get(path, params={"cursor": forged("events", [1])}))
    refused_cursor(http.get("/jobs", params={"cursor": forged("jobs", ["yesterday", "j"])}))
