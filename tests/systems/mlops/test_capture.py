"""Inference capture to the cold tier and the drift check over it."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound, ValidationError
from datastrata.systems.mlops.capture import batch_table
from datastrata.systems.mlops.domain import psi, verdict
from datastrata.systems.mlops.service import MlopsService
from tests.systems.mlops.conftest import NOW


def baseline(svc: MlopsService, rng: random.Random) -> None:
    svc.features.define("customer", "customer_id", {"spend": "float64"})
    svc.features.ingest(
        "customer",
        [
            {"customer_id": f"c{i}", "event_time": NOW - timedelta(days=2), "spend": rng.gauss(50, 10)}
            for i in range(400)
        ],
    )
    labels = [{"customer_id": f"c{i}", "label_time": NOW - timedelta(days=1), "label": i % 2} for i in range(400)]
    svc.features.training_set(["customer"], labels, save_as="train")


def test_captured_batches_are_parquet_by_day_and_drift_is_measured_against_the_training_set(
    svc: MlopsService, clock: FrozenClock
) -> None:
    rng = random.Random(3)
    baseline(svc, rng)
    svc.models.register("churn", b"m")
    same = [{"spend": rng.gauss(50, 10)} for _ in range(400)]
    svc.inference.capture("churn", 1, same, [0.1] * 400, key="batch-1")
    clock.advance(timedelta(seconds=5))  # a retry a moment later, without `at`: the same batch
    assert svc.inference.capture("churn", 1, same, [0.1] * 400, key="batch-1").duplicate
    keys = [o.key for o in svc.objects.list("mlops/inference/")]
    assert len(keys) == 1 and "/churn/day=2026-03-10/" in keys[0]
    stable = svc.inference.drift("churn", "spend", baseline="train")
    assert stable["verdict"] == "stable" and stable["captured_rows"] == 400
    clock.advance(timedelta(days=1))
    svc.inference.capture("churn", 1, [{"spend": rng.gauss(80, 10)} for _ in range(400)], [0.9] * 400)
    shifted = svc.inference.drift("churn", "spend", baseline="train", since="2026-03-11")
    assert shifted["verdict"] == "drift" and shifted["psi"] > 0.25
    both = svc.inference.drift("churn", "spend", baseline="train")
    assert both["captured_rows"] == 800 and stable["psi"] < both["psi"] < shifted["psi"]
    with pytest.raises(NotFound, match="nothing captured"):
        svc.inference.drift("churn", "spend", baseline="train", until="2026-03-01")
    with pytest.raises(ValidationError, match="no column 'visits'"):
        svc.inference.drift("churn", "visits", baseline="train")


@pytest.mark.parametrize(
    ("inputs", "predictions", "field"),
    [
        ([{"spend": 1.0}], [0.1, 0.2], "predictions"),
        ([{"spend": 1.0}, {"spend": "high"}], [0.1, 0.2], "inputs[].spend"),
        ([{"spend": float("nan")}], [0.1], "inputs[].spend"),
        ([{"Spend": 1.0}], [0.1], "inputs[0].Spend"),
        ([{"spend": 1.0}], [True], "predictions[0]"),
        ([], [], "inputs"),
    ],
)
def test_a_bad_batch_is_refused_naming_the_field(inputs: list, predictions: list, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        batch_table(inputs, predictions, NOW)
    assert caught.value.field == field


def test_psi_is_zero_for_one_distribution_and_grows_with_the_shift() -> None:
    rng = random.Random(1)
    base = [rng.random() for _ in range(2000)]
    assert psi(base, base)[0] == pytest.approx(0.0, abs=1e-9)
    small = psi(base, [x + 0.05 for x in base])[0]
    large = psi(base, [x + 0.5 for x in base])[0]
    assert 0 < small < large and verdict(small) == "stable" and verdict(large) == "drift"


def test_capture_and_drift_through_the_cli(sqlite_url: str, tmp_path: Path) -> None:
    store_url = sqlite_url
    import json

    from typer.testing import CliRunner

    from datastrata.cli import app

    runner = CliRunner()
    base = ["--store", store_url, "mlops", "--objects", f"file://{tmp_path / 'objects'}"]

    def run(*args: str) -> Any:
        result = runner.invoke(app, [*base, *args])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout) if "--json" in args else result.stdout

    run("features", "define", "customer", "--entity", "customer_id", "--feature", "spend:float64")
    values = tmp_path / "values.csv"
    values.write_text("customer_id,event_time,spend\n" + "".join(f"c{i},2026-03-01T00:00:00Z,{i}\n" for i in range(50)))
    run("features", "ingest", "customer", str(values))
    labels = tmp_path / "labels.csv"
    labels.write_text("customer_id,label_time,label\n" + "".join(f"c{i},2026-03-02T00:00:00Z,1\n" for i in range(50)))
    run("features", "training-set", "customer", "--labels", str(labels), "--save", "base")
    (tmp_path / "m.bin").write_bytes(b"m")
    run("models", "register", "churn", str(tmp_path / "m.bin"))
    batch = tmp_path / "batch.csv"
    batch.write_text("spend,prediction\n" + "".join(f"{i + 100},0.5\n" for i in range(50)))
    captured = run("inference", "capture", "churn", "1", str(batch), "--json")
    assert captured["events"][0]["payload"]["rows"] == 50
    drift = run("inference", "drift", "churn", "spend", "--baseline", "base", "--json")
    assert drift["verdict"] == "drift" and drift["captured_rows"] == drift["baseline_rows"] == 50
