"""Tiering over HTTP and under serve: plan, moves (keyset pages), restores (202 + job), one query over all tiers."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from datastrata.api import create_app
from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.stores.database import time_to_db
from datastrata.stores.open import open_database
from datastrata.tiering.job import serve_tiering
from datastrata.tiering.policy import Policy, parse_policy
from tests.conftest import ApiClient
from tests.tiering.rowdata import POLICY

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _policy() -> Policy:
    data = copy.deepcopy(POLICY)
    data["datasets"]["readings"]["rules"] = [{"after": "3d", "to": "cold"}, {"after": "5d", "to": "frozen"}]  # type: ignore[index]
    data["queries"] = [{"name": "recent", "dataset": "readings", "covers": "5d"}]
    return parse_policy(data)


def _settings(store_url: str, tmp_path: Path) -> Settings:
    db = open_database(store_url)
    kind = "TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"
    with db.transaction() as tx:
        tx.run_script(f"CREATE TABLE readings (sensor TEXT NOT NULL, ts {kind} NOT NULL, value DOUBLE PRECISION)")
        tx.executemany(
            "INSERT INTO readings (sensor, ts, value) VALUES (?, ?, ?)",
            [
                (f"s{h % 2}", time_to_db(tx.dialect, TODAY - timedelta(days=d, hours=h)), float(h))
                for d in range(9)
                for h in range(4)
            ],
        )
    db.close()
    return Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'g'}", objects=f"file://{tmp_path / 'objects'}")


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def test_tiering_routes_plan_move_restore_and_query(store_url: str, tmp_path: Path, api_client: ApiClient) -> None:
    app = create_app(_settings(store_url, tmp_path), worker=False, tiering=[_policy()])
    with api_client(app, role="editor") as http:
        planned = _ok(http.get("/tiering/plan"))
        assert planned["policy"] == "test" and {m["to"] for m in planned["moves"]} == {"cold", "frozen"}
        mover = app.state.tiering["test"]
        mover.run(_plan(mover))
        pages = _pages(http, "/tiering/moves?limit=2")
        assert [m["item"] for m in pages] == [r.item for r in mover.records()] and len(pages) == len(planned["moves"])
        old, now = (TODAY - timedelta(days=8)).isoformat(), TODAY.isoformat()
        refused = http.get("/tiering/query", params={"dataset": "readings", "from": old, "to": now})
        assert refused.status_code == 409 and "datastrata tiering restore POLICY readings" in refused.json()["detail"]
        body = {"dataset": "readings", "from": old, "to": now, "tier": "bulk", "days": 3}
        accepted = http.post("/tiering/restores", json=body, headers={"Idempotency-Key": "r1"})
        job = _ok(accepted, 202)
        assert accepted.headers["location"] == f"/jobs/{job['id']}" and (job["kind"], job["state"]) == (
            "restore",
            "running",
        )
        again = http.post("/tiering/restores", json=body, headers={"Idempotency-Key": "r1"})
        assert _ok(again, 202)["id"] == job["id"]
        listed = _ok(http.get("/tiering/restores"))["items"]
        assert [r["job"] for r in listed] == [job["id"]] and listed[0]["state"] == "restoring"
        one = _ok(http.get(f"/tiering/restores/{job['id']}"))
        eta = datetime.fromisoformat(one["ready_at"]) - datetime.fromisoformat(one["requested_at"])
        assert timedelta(hours=12) <= eta < timedelta(hours=12, minutes=1)  # bulk, from GLACIER
        recent = (TODAY - timedelta(days=2)).isoformat()
        params: dict[str, Any] = {"dataset": "readings", "from": recent, "to": now, "where": "sensor=s1", "agg": "1d"}
        rows = _ok(http.get("/tiering/query", params=params))
        assert [r["count"] for r in rows["rows"]] == [2, 2] and rows["truncated"] is False
        raw = _ok(http.get("/tiering/query", params={"dataset": "readings", "from": recent, "to": now, "limit": 3}))
        assert len(raw["rows"]) == 3 and raw["truncated"] is True
        too_long = {"dataset": "readings", "from": (TODAY - timedelta(days=40)).isoformat(), "to": now}
        wide = http.get("/tiering/query", params=too_long)
        assert wide.status_code == 422 and wide.json()["field"] == "to" and "31 days" in wide.json()["detail"]
        bad = http.post("/tiering/restores", json={**body, "tier": "fast"})
        assert bad.status_code == 422


def test_viewers_read_and_editors_restore(tmp_path: Path, sqlite_url: str, api_client: ApiClient) -> None:
    app = create_app(_settings(sqlite_url, tmp_path), worker=False, tiering=[_policy()])
    with api_client(app, role="viewer") as http:
        _ok(http.get("/tiering/plan"))
        _ok(http.get("/tiering/restores"))
        denied = http.post("/tiering/restores", json={"dataset": "readings", "items": ["2020-01-01"]})
        assert denied.status_code == 403
    bare = create_app(_settings(f"sqlite:///{tmp_path / 'other.db'}", tmp_path / "o"), worker=False)
    with api_client(bare, role="viewer") as http:
        missing = http.get("/tiering/plan")
        assert missing.status_code == 404 and "--tiering POLICY" in missing.json()["detail"]


def test_serve_runs_the_tiering_job_under_its_supervisor(tmp_path: Path, sqlite_url: str) -> None:
    settings = _settings(sqlite_url, tmp_path)
    runtime = Runtime.open(settings, clock=FrozenClock(TODAY + timedelta(hours=6)))
    try:
        movers = serve_tiering(runtime, [_policy()], supervised=True)
        while runtime.run_once():
            pass
        assert movers["test"].records() and {s.name for s in runtime.statuses()} >= {"tiering:test"}
    finally:
        runtime.close()


def _plan(mover: Any) -> Any:
    from datastrata.tiering.plan import plan

    return plan(mover.policy, mover.inventory(), mover.clock())


def _pages(http: TestClient, first: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = _ok(http.get(first))
    while True:
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        page = _ok(http.get(first, params={"cursor": page["next_cursor"]}))
