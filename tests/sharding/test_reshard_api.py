"""``POST /shards/{map}/reshard`` and ``POST /shards/{map}/hotspots/relieve`` over HTTP on real shard stores: each
starts its work as a job (``GET /jobs/{id}`` with progress), refuses bad input with problem+json, and is an operator
area."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from datastrata.api.app import create_app
from datastrata.core.config import Settings
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.sharding.catalog import ShardCatalog
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import route_key
from datastrata.stores.open import open_database
from tests.conftest import authenticated, finished_job
from tests.sharding.resharding import CONTEXT, catalogue, credit, events_on, rows_on, seed, store_of

MAP = "accounts"
KEYS = [f"acct-{n}" for n in range(300)]


@contextmanager
def _sharded(settings: Settings) -> Iterator[Runtime]:
    db = open_database(settings.store)
    try:
        home = LocationSpec("main", settings.store, "", "")
        with Runtime.open(settings, placement=ShardCatalog(db).placement(MAP, home)) as runtime:
            yield runtime
    finally:
        db.close()


def _held(settings: Settings) -> tuple[dict[str, dict[str, tuple[int, int]]], dict[str, Counter[str]]]:
    """Every shard's ledger rows and its events per stream."""
    with _sharded(settings) as runtime:
        shards = runtime.placement.shards  # type: ignore[attr-defined]
        rows = {name: rows_on(runtime.location(spec)) for name, spec in shards.items()}
        logs = {name: events_on(runtime.location(spec)) for name, spec in shards.items()}
    return rows, logs


def _assert_each_once(settings: Settings, acked: Counter[str]) -> None:
    """Every key's row and events on exactly the shard the current map routes it to, with every write."""
    rows, logs = _held(settings)
    current = ShardMaps(open_database(settings.store)).current(MAP)
    for key in KEYS:
        home = route_key(current, key).shard
        assert [name for name, held in rows.items() if key in held] == [home], key
        assert rows[home][key] == (100 + acked[key], acked[key])
        stream = f"{CONTEXT}-{key}"
        assert [name for name, counts in logs.items() if counts[stream]] == ([home] if acked[key] else [])


def _setup(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    store, databases = store_of(tmp_path, backend, request)
    settings = Settings(store=store, graph=f"ladybug:///{tmp_path}/graph")
    catalogue(settings, ["s0", "s1", "s2"], ["s0", "s1"], databases)
    return settings


def _problem(answer: Any, status: int, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert answer.json().get("field") == field, answer.json()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_reshard_posted_over_http_runs_as_a_job_with_progress_and_loses_nothing(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    settings = _setup(tmp_path, backend, request)
    acked: Counter[str] = Counter()
    with _sharded(settings) as runtime:
        seed(runtime, KEYS)
        for key in KEYS[:60]:
            credit(runtime, key)
            acked[key] += 1
    with authenticated(create_app(settings, worker=False)) as http:
        dry = http.post(f"/shards/{MAP}/reshard", json={"add": 1, "dry_run": True})
        assert dry.status_code == 200, dry.text
        plan = dry.json()
        assert plan["map"] == MAP and plan["base_epoch"] == 1 and {m["target"] for m in plan["moves"]} == {"s2"}
        assert ShardMaps(open_database(settings.store)).current(MAP).epoch == 1  # a dry run changes nothing
        answer = http.post(f"/shards/{MAP}/reshard", json={"plan": plan, "grace": 0})
        assert answer.json()["kind"] == "reshard" and answer.json()["target"] == MAP
        job = finished_job(http, answer)
        assert job["state"] == "succeeded", job
        assert job["progress"] == {"position": plan["rows"], "target": plan["rows"]} and plan["rows"] > 0
        result = job["result"]
        assert result["state"] == "completed" and result["epoch"] == 1 + len(plan["moves"])
        assert result["plan_id"] == plan["plan_id"]
        again = http.post(f"/shards/{MAP}/reshard", json={"plan": plan, "grace": 0})  # finished: nothing more
        assert finished_job(http, again)["result"]["epoch"] == result["epoch"]
        stale = {**plan, "plan_id": "another"}  # made at epoch 1, the map is past it
        _problem(http.post(f"/shards/{MAP}/reshard", json={"plan": stale}), 409)
        listed = http.get("/jobs").json()["items"]
        assert [j["kind"] for j in listed][:2] == ["reshard", "reshard"]
    _assert_each_once(settings, acked)


def test_bad_reshard_and_relief_requests_are_refused_naming_the_field_and_start_nothing(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path}/home.db", graph=f"ladybug:///{tmp_path}/graph")
    catalogue(settings, ["s0", "s1", "s2"], ["s0", "s1"], None)
    with authenticated(create_app(settings, worker=False)) as http:
        url = f"/shards/{MAP}/reshard"
        _problem(http.post(url, json={}), 422, "add")
        _problem(http.post(url, json={"add": 1, "remove": "s0"}), 422, "add")
        _problem(http.post(url, json={"pin": "acct-1"}), 422, "to")
        _problem(http.post(url, json={"remove": "Bad Name"}), 422, "remove")
        _problem(http.post(url, json={"remove": "s9"}), 422, "shard")
        _problem(http.post(url, json={"add": 0}), 422)
        _problem(http.post(url, json={"add": 1, "grace": -1}), 422)
        _problem(http.post(url, json={"add": 1, "surprise": True}), 422)
        _problem(http.post(url, json={"plan": {"map": MAP}}), 422, "plan_id")
        _problem(http.post(url, json={"plan": {"map": MAP}, "add": 1}), 422, "plan")
        plan = http.post(url, json={"add": 1, "dry_run": True}).json()
        _problem(http.post("/shards/other/reshard", json={"plan": plan}), 422, "plan")
        broken = {**plan, "moves": [{"source": "s0"}]}
        _problem(http.post(url, json={"plan": broken}), 422, "moves")
        _problem(http.post("/shards/nosuchmap/reshard", json={"add": 1}), 404)
        relieve = f"/shards/{MAP}/hotspots/relieve"
        _problem(http.post(relieve, json={"window": 0}), 422)
        _problem(http.post(relieve, json={"key_qps": 0}), 422)
        _problem(http.post("/shards/nosuchmap/hotspots/relieve", json={}), 404, "map")
        assert http.get("/jobs").json()["items"] == []  # nothing started
    assert ShardMaps(open_database(settings.store)).current(MAP).epoch == 1
    for role in ("viewer", "editor"):
        with authenticated(create_app(settings, worker=False), role=role) as http:
            assert http.post(f"/shards/{MAP}/reshard", json={"add": 1}).status_code == 403
            assert http.post(f"/shards/{MAP}/hotspots/relieve", json={}).status_code == 403


def test_relieving_hotspots_over_http_pins_the_hot_key_as_a_job(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path}/home.db", graph=f"ladybug:///{tmp_path}/graph")
    catalogue(settings, ["s0", "s1", "hot1"], ["s0", "s1"], None)
    hot = "acct-7"
    acked: Counter[str] = Counter()
    with _sharded(settings) as runtime:  # its load is flushed to the home store as it closes
        seed(runtime, KEYS)
        for key in [*KEYS[:30], *([hot] * 60)]:
            credit(runtime, key)
            acked[key] += 1
        source = runtime.placement.route(hot).shard  # type: ignore[attr-defined]
    rows_before, _ = _held(settings)
    with authenticated(create_app(settings, worker=False)) as http:
        body = {"window": 600, "key_qps": 0.05, "range_qps": 1e6, "grace": 0}
        answer = http.post(f"/shards/{MAP}/hotspots/relieve", json=body)
        assert answer.status_code == 202, answer.text
        assert [(h["kind"], h["key"], h["action"], h["target"]) for h in answer.json()["hotspots"]] == [
            ("key", hot, "pin", "hot1")
        ]
        job = finished_job(http, answer)
        assert job["state"] == "succeeded" and job["kind"] == "relieve", job
        assert job["progress"] == {"position": 1, "target": 1}  # the one row of the pinned key
        [action] = job["result"]["actions"]
        assert action["plan"] == {"action": "pin", "shard": source, "key": hot, "target": "hot1"}
        assert action["status"]["state"] == "completed"
        again = finished_job(http, http.post(f"/shards/{MAP}/hotspots/relieve", json=body))
        assert again["result"]["actions"] == []  # alone on its shard now: nothing to do
    rows_after, _ = _held(settings)
    assert rows_after["hot1"] == {hot: rows_before[source][hot]}
    assert route_key(ShardMaps(open_database(settings.store)).current(MAP), hot).shard == "hot1"
    _assert_each_once(settings, acked)
