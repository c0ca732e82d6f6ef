"""The feature store on SQLite and PostgreSQL: definitions, ingestion, materialisation, online reads, training sets."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.runtime import Runtime, Scope
from datastrata.systems.mlops.domain import FEATURES
from datastrata.systems.mlops.service import MlopsService
from datastrata.systems.mlops.training import labels_table, point_in_time

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rows(*values: tuple[str, float, float]) -> list[dict[str, Any]]:
    return [{"customer_id": c, "event_time": T0 + timedelta(hours=h), "spend": s} for c, h, s in values]


def define(svc: MlopsService, ttl: str | None = None) -> None:
    svc.features.define("customer", "customer_id", {"spend": "float64", "tier": "string"}, ttl=ttl)


def objects(svc: MlopsService) -> list[str]:
    return [o.key for o in svc.objects.list("mlops/features/")]


@pytest.mark.parametrize(
    ("features", "field"),
    [
        ({"spend": "decimal"}, "features.spend"),
        ({"event_time": "float64"}, "features.event_time"),
        ({"Spend": "float64"}, "features.Spend"),
        ({}, "features"),
    ],
)
def test_a_bad_definition_is_refused_and_nothing_is_written(
    lite: MlopsService, features: dict[str, str], field: str
) -> None:
    svc = lite
    with pytest.raises(ValidationError) as caught:
        svc.features.define("customer", "customer_id", features)
    assert caught.value.field == field
    assert svc.features.views() == []


def test_a_view_is_defined_once_and_never_changes(svc: MlopsService) -> None:
    first = svc.features.define("customer", "customer_id", {"spend": "float64"}, ttl="30d")
    again = svc.features.define("customer", "customer_id", {"spend": "float64"}, ttl="30d")
    assert [e.type for e in first.events] == ["FeatureViewDefined"]
    assert again.duplicate and again.events == first.events
    with pytest.raises(RuleViolation, match="new name"):
        svc.features.define("customer", "customer_id", {"spend": "int64"})
    assert svc.features.view("customer").ttl == timedelta(days=30)
    with pytest.raises(NotFound, match="define it first"):
        svc.features.view("nope")


def test_ingestion_writes_a_zstd_parquet_part_per_day_and_a_key_replays(svc: MlopsService) -> None:
    define(svc)
    batch = rows(("a", 1, 1.0), ("b", 30, 2.0), ("a", 26, 3.0))
    result = svc.features.ingest("customer", batch, key="load-1")
    assert result.events[0].payload["days"] == ["2026-03-01", "2026-03-02"]
    keys = objects(svc)
    assert len(keys) == 2 and all("/day=2026-03-0" in k for k in keys)
    meta = pq.ParquetFile(io.BytesIO(svc.objects.read(keys[0]))).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    again = svc.features.ingest("customer", batch, key="load-1")
    assert again.duplicate and objects(svc) == keys
    with pytest.raises(RuleViolation, match="load-1"):
        svc.features.ingest("customer", rows(("a", 1, 9.0)), key="load-1")
    assert objects(svc) == keys  # the refused batch's parts are gone again
    history = svc.features.history("customer")
    assert sorted(history.column("spend").to_pylist()) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"customer_id": "a", "event_time": "2026-03-01T00:00:00", "spend": 1.0}, "rows[1].event_time"),
        ({"customer_id": "a", "event_time": "2026-03-01T00:00:00Z", "spend": "1.0"}, "rows[1].spend"),
        ({"customer_id": "a", "event_time": "2026-03-01T00:00:00Z", "spend": float("inf")}, "rows[1].spend"),
        ({"customer_id": "a", "event_time": "2026-03-01T00:00:00Z", "tier": 3}, "rows[1].tier"),
        ({"customer_id": "a", "event_time": "2026-03-01T00:00:00Z", "colour": 1}, "rows[1].colour"),
        ({"event_time": "2026-03-01T00:00:00Z"}, "rows[1].customer_id"),
    ],
)
def test_a_bad_row_is_refused_naming_the_field_and_nothing_is_written(
    lite: MlopsService, row: dict[str, Any], field: str
) -> None:
    svc = lite
    define(svc)
    good = {"customer_id": "z", "event_time": "2026-03-01T00:00:00Z", "spend": 1.0}
    with pytest.raises(ValidationError) as caught:
        svc.features.ingest("customer", [good, row])
    assert caught.value.field == field
    assert objects(svc) == [] and svc.features.history("customer").num_rows == 0


@pytest.fixture(params=["embedded", "redis"])
def online_svc(request: pytest.FixtureRequest, settings: Settings, clock: FrozenClock) -> MlopsService:
    if request.param == "redis":
        settings = Settings(store=settings.store, objects=settings.objects, cache=request.getfixturevalue("redis_url"))
    runtime = Runtime.open(settings, clock=clock)
    request.addfinalizer(runtime.close)
    svc = MlopsService(runtime)
    assert svc.features.online_store.name == request.param
    return svc


def test_materialisation_keeps_the_latest_value_and_is_idempotent(online_svc: MlopsService) -> None:
    svc = online_svc
    define(svc, ttl="10d")
    svc.features.ingest("customer", rows(("a", 1, 1.0), ("a", 5, 5.0), ("b", 2, 2.0)))
    job = svc.materialize_job()
    assert job.state == "succeeded" and job.result["parts"] == 1
    svc.features.ingest("customer", rows(("a", 3, 3.0)))  # late and older than what is served: kept offline only
    svc.features.ingest("customer", rows(("b", 2, 7.0)))  # same event time, later ingestion: it wins
    assert svc.materialize_job().result["parts"] == 2
    assert svc.materialize_job().result["parts"] == 0
    served = {r["customer_id"]: (r["status"], r["features"]) for r in svc.features.online("customer", ["a", "b", "c"])}
    assert served == {
        "a": ("found", {"spend": 5.0, "tier": None}),
        "b": ("found", {"spend": 7.0, "tier": None}),
        "c": ("missing", None),
    }
    # A crash after writing the online store but before the checkpoint: the next run applies the parts again.
    with svc.runtime.transaction(Scope.of(FEATURES)) as work:
        work.execute("DELETE FROM mlops_materialized")
    assert svc.materialize_job().result["parts"] == 3
    assert svc.features.online("customer", ["a", "b"]) == [
        {
            "customer_id": "a",
            "status": "found",
            "event_time": "2026-03-01T05:00:00+00:00",
            "features": {"spend": 5.0, "tier": None},
        },
        {
            "customer_id": "b",
            "status": "found",
            "event_time": "2026-03-01T02:00:00+00:00",
            "features": {"spend": 7.0, "tier": None},
        },
    ]
    svc.runtime.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    assert svc.features.online("customer", ["a"])[0]["status"] == "expired"


def test_a_training_set_reads_the_parquet_history_and_skips_parts_after_the_last_label(svc: MlopsService) -> None:
    define(svc)
    svc.features.ingest("customer", rows(("a", 1, 1.0), ("b", 2, 2.0)))
    svc.features.ingest("customer", rows(("a", 50, 9.0)))  # the next day's part: after every label
    later = [o.key for o in svc.objects.list("mlops/features/") if "day=2026-03-03" in o.key]
    svc.objects.set_class(later[0], "DEEP_ARCHIVE")  # frozen: reading it would fail
    labels = [
        {"customer_id": "a", "label_time": "2026-03-01T12:00:00Z", "label": 1},
        {"customer_id": "b", "label_time": "2026-03-01T01:00:00Z", "label": 0},
    ]
    got = svc.features.training_set(["customer"], labels, save_as="base")
    assert [r["spend"] for r in got.to_pylist()] == [1.0, None]
    assert svc.features.saved("base").to_pylist() == got.to_pylist()
    with pytest.raises(RuleViolation, match="restore it first"):
        svc.features.training_set(
            ["customer"], [{"customer_id": "a", "label_time": "2026-03-04T00:00:00Z", "label": 1}]
        )
    view = svc.features.view("customer")
    expected = point_in_time(
        labels_table(labels, ["customer_id"]),
        [(view, svc.features.history("customer", until_us=_us(T0 + timedelta(hours=12))))],
    )
    assert expected.to_pylist() == got.to_pylist()


def test_a_csv_ingestion_through_the_cli_reaches_the_online_store(lite_settings: Settings, tmp_path: Path) -> None:
    settings = lite_settings
    from typer.testing import CliRunner

    from datastrata.cli import app

    runner = CliRunner()
    base = ["--store", settings.store, "mlops", "--objects", settings.objects]
    run = lambda *a: runner.invoke(app, [*base, *a])  # noqa: E731
    assert run("features", "define", "customer", "--entity", "customer_id", "--feature", "spend:float64").exit_code == 0
    csv = tmp_path / "values.csv"
    csv.write_text("customer_id,event_time,spend\na,2026-03-01T00:00:00Z,1.5\na,2026-03-02T00:00:00Z,2.5\n")
    done = run("features", "ingest", "customer", str(csv), "--json")
    assert done.exit_code == 0, done.stderr
    assert run("features", "materialize", "--json").exit_code == 0
    online = run("features", "online", "customer", "a", "--json")
    assert '"spend": 2.5' in online.stdout
    bad = run("features", "define", "x", "--entity", "id", "--feature", "spend")
    assert bad.exit_code != 0 and "NAME:TYPE" in bad.stderr


def _us(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_the_registry_and_a_training_set_through_the_cli(lite_settings: Settings, tmp_path: Path) -> None:
    settings = lite_settings
    import json

    from typer.testing import CliRunner

    from datastrata.cli import app

    runner = CliRunner()
    base = ["--store", settings.store, "mlops", "--objects", settings.objects]

    def run(*args: str) -> Any:
        result = runner.invoke(app, [*base, *args])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout) if "--json" in args else result.stdout

    run("features", "define", "customer", "--entity", "customer_id", "--feature", "spend:float64")
    values = tmp_path / "values.csv"
    values.write_text("customer_id,event_time,spend\na,2026-03-01T00:00:00Z,1.5\na,2026-03-03T00:00:00Z,2.5\n")
    run("features", "ingest", "customer", str(values))
    labels = tmp_path / "labels.csv"
    labels.write_text("customer_id,label_time,label\na,2026-03-02T00:00:00Z,1\na,2026-02-01T00:00:00Z,0\n")
    out = tmp_path / "train.parquet"
    summary = run("features", "training-set", "customer", "--labels", str(labels), "--out", str(out), "--json")
    assert summary["rows"] == 2 and [r["spend"] for r in summary["first_rows"]] == [1.5, None]
    assert pq.read_table(out).num_rows == 2
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights")
    registered = run("models", "register", "churn", str(artifact), "--metric", "auc=0.9", "--json")
    assert registered["events"][0]["payload"]["version"] == 1
    run("models", "approve", "churn", "1")
    run("models", "alias", "churn", "champion", "1")
    listed = run("models", "list", "--json")
    assert [(v["stage"], v["aliases"], v["metrics"]) for v in listed] == [("approved", ["champion"], {"auc": 0.9})]
    assert run("models", "archive", "--plan", "--json")["moves"] == []
    assert run("models", "archive-status", "--json")[0]["tier"] == "hot"
    run("models", "download", "churn", "champion", "--out", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == b"weights"
    refused = runner.invoke(app, [*base, "models", "restore", "churn", "1"])
    assert refused.exit_code != 0 and "readable as it is" in refused.stderr
    bad = runner.invoke(app, [*base, "models", "register", "churn", str(artifact), "--metric", "auc"])
    assert bad.exit_code != 0 and "NAME=NUMBER" in bad.stderr
