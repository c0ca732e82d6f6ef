"""The fab through the shell and HTTP: simulate, alerts, query, reports, tiering status; keyed batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app
from datastrata.core.config import Settings
from tests.conftest import ApiClient

runner = CliRunner()


def cli(store: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--store", store, *args])
    return result.exit_code, result.stdout, result.stderr


def test_simulate_then_read_every_tier_via_cli(store_url: str) -> None:
    start = "2026-11-02T00:00:00Z"
    code, out, err = cli(
        store_url,
        "fab",
        "simulate",
        "--sensors",
        "6",
        "--rate",
        "0.05",
        "--minutes",
        "200",
        "--start",
        start,
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["readings"] == 6 * 200 * 3 and summary["tiering_runs"] == 4
    code, out, err = cli(store_url, "fab", "tiering", "status", "--json")
    assert code == 0, err
    tiers = json.loads(out)["tiers"]
    assert tiers["readings"]["hot"]["rows"] and tiers["readings"]["warm"]["rows"]
    assert tiers["readings"]["hot"]["rows"] + tiers["readings"]["warm"]["rows"] == summary["readings"]
    code, out, err = cli(
        store_url, "fab", "query", "temperature-0001", "--from", start, "--to", "2026-11-02T04:00:00Z", "--json"
    )
    assert code == 0, err
    assert len(json.loads(out)["rows"]) == 200 * 3
    code, out, err = cli(store_url, "fab", "report", "daily", "--day", "2026-11-02", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert sum(k["readings"] for k in report["kinds"]) == 6 * (200 - 15) * 3  # minutes no reading can still reach
    code, out, _ = cli(store_url, "fab", "alerts", "--json")
    assert code == 0 and len(json.loads(out)) == summary["alerts"]
    code, out, _ = cli(store_url, "fab", "access-log", "--json")
    assert [a["action"] for a in json.loads(out)] == ["report.daily", "query"]


def test_cli_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/fab.db"
    code, _, err = cli(store, "fab", "simulate", "--sensors", "0")
    assert code == 2 and "sensors must be between 1 and 10000" in err
    code, _, err = cli(store, "fab", "register", "temp-1")
    assert code == 2 and "must be ID:KIND" in err
    code, _, err = cli(store, "fab", "report", "monthly")
    assert code == 2 and "period must be daily or weekly" in err
    cli(store, "fab", "register", "temp-1:temperature")
    code, _, err = cli(
        store, "fab", "query", "temp-1", "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-01T00:00:00Z"
    )
    assert code == 2 and "must be after from" in err


def test_batches_alerts_and_queries_via_http(store_url: str, api_client: ApiClient) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with api_client(create_app(Settings(store=store_url))) as http:
        answer = http.post("/fab/sensors", json={"sensors": [{"sensor_id": "temp-1", "kind": "temperature"}]})
        assert answer.status_code == 201, answer.text
        readings = [
            {"sensor_id": "temp-1", "at": (now - timedelta(seconds=3 - i)).isoformat(), "value": v}
            for i, v in enumerate([70.0, 90.0, 95.0])
        ]
        answer = http.post("/fab/batches", json={"readings": readings}, headers={"Idempotency-Key": "gw-1-0001"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["alerts"] == 1 and answer.json()["alert_latency_max_s"] is not None
        again = http.post("/fab/batches", json={"readings": readings}, headers={"Idempotency-Key": "gw-1-0001"})
        assert again.status_code == 201 and again.json()["duplicate"] is True
        assert http.post("/fab/batches", json={"readings": readings}).status_code == 422  # a batch needs its id
        bad = [{**readings[0], "value": "NaN"}]
        assert http.post("/fab/batches", json={"readings": bad}, headers={"Idempotency-Key": "x"}).status_code == 422
        alerts = http.get("/fab/alerts").json()
        assert [a["value"] for a in alerts] == [90.0]
        found = http.get(
            "/fab/sensors/temp-1/readings",
            params={"from": (now - timedelta(minutes=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()},
        )
        assert found.status_code == 200, found.text
        assert [r["value"] for r in found.json()["rows"]] == [70.0, 90.0, 95.0]
        assert http.get("/fab/reports/daily").status_code == 200
        assert http.get("/fab/tiering").json()["tiers"]["readings"]["hot"]["rows"] == 3
        assert http.get("/fab/sensors").json() == [{"sensor_id": "temp-1", "kind": "temperature", "alarm": True}]


def test_fab_http_needs_a_key(store_url: str) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(store=store_url))) as http:
        assert http.get("/fab/alerts").status_code == 401
