"""Inference capture: a model's inputs and outputs, in batches, to the cold tier (Parquet in the object store), and
a drift check (population stability index) of one feature between a saved training set and the captured inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.location import Work
from datastrata.stores.database import time_to_db
from datastrata.systems.mlops import offline
from datastrata.systems.mlops.domain import INFERENCE, MAX_STRING, check_model, check_name, psi, verdict
from datastrata.systems.mlops.features import FeatureStore
from datastrata.systems.mlops.registry import ModelRegistry
from datastrata.tiering.objects import ObjectStore
from datastrata.writes.commands import CommandHandler, CommandResult, Decision

PREFIX = "mlops/inference/"
#: The columns every captured batch has besides the inputs.
CAPTURED_AT = "captured_at"
PREDICTION = "prediction"
MAX_BATCH = 100_000


class InferenceCapture:
    """Captured inference of the current tenant's models."""

    def __init__(
        self,
        runtime: Runtime,
        commands: CommandHandler,
        objects: ObjectStore,
        registry: ModelRegistry,
        features: FeatureStore,
    ) -> None:
        self.runtime = runtime
        self.commands = commands
        self.objects = objects
        self.registry = registry
        self.features = features

    def capture(
        self,
        model: str,
        version: int | str,
        inputs: Sequence[Mapping[str, object]],
        predictions: Sequence[float],
        *,
        at: datetime | None = None,
        key: str | None = None,
    ) -> CommandResult:
        """Store one batch of a version's inputs with its predictions as a Parquet object of the day."""
        found = self.registry.version(model, version)
        when = offline.event_time(at or self.runtime.clock(), field="at")
        table = batch_table(inputs, predictions, when)
        day = when.date().isoformat()
        batch = new_id()
        path = f"{PREFIX}{Scope.of(INFERENCE).tenant}/{found.model}/day={day}/batch-{batch}.parquet"
        self.objects.put(path, offline.to_parquet(table))

        def decide(work: Work) -> Decision:
            work.execute(
                "INSERT INTO mlops_captures (tenant_id, model, batch_id, version, object_key, day, rows, captured_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    work.scope.tenant,
                    found.model,
                    batch,
                    found.version,
                    path,
                    day,
                    table.num_rows,
                    time_to_db(work.dialect, self.runtime.clock()),
                ),
            )
            payload = {
                "model": found.model,
                "version": found.version,
                "batch": batch,
                "rows": table.num_rows,
                "day": day,
                "object": path,
            }
            return Decision(work.scope, [NewEvent("InferenceCaptured", payload)])

        inputs_only = offline.digest(table.drop_columns([CAPTURED_AT]))  # a retry without `at` is the same batch
        content = {"model": found.model, "version": found.version, "sha256": inputs_only, "at": at}
        try:
            result = self.commands.execute(
                "capture", Scope.of(INFERENCE, found.model), decide, key=key, content=content
            )
        except BaseException:
            self.objects.delete(path)
            raise
        if result.duplicate:
            self.objects.delete(path)
        return result

    def captured(self, model: str, *, since: str | None = None, until: str | None = None) -> pa.Table:
        """Every captured batch of `model` in the day range (``YYYY-MM-DD``, inclusive), as one table."""
        name = check_model(model)
        with self.runtime.read(Scope.of(INFERENCE)) as work:
            rows = work.query(
                "SELECT object_key FROM mlops_captures WHERE tenant_id = ? AND model = ? AND day >= ? AND day <= ? "
                "ORDER BY day, captured_at, batch_id",
                (work.scope.tenant, name, since or "0000-00-00", until or "9999-99-99"),
            )
        tables = [offline.from_parquet(self.objects.read(str(r[0]))) for r in rows]
        if not tables:
            raise NotFound(f"nothing captured for model {name!r} in that range; capture inference first")
        return pa.concat_tables(tables, promote_options="permissive")

    def drift(
        self, model: str, feature: str, *, baseline: str, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        """The PSI of `feature` in captured inputs against the saved training set `baseline` (a query)."""
        check_name(feature, field="feature")
        expected = _numbers(self.features.saved(baseline), feature, f"training set {baseline!r}")
        actual = _numbers(self.captured(model, since=since, until=until), feature, f"captured inputs of {model!r}")
        index, edges = psi(expected, actual)
        return {
            "model": model,
            "feature": feature,
            "baseline": baseline,
            "psi": round(index, 6),
            "verdict": verdict(index),
            "baseline_rows": len(expected),
            "captured_rows": len(actual),
            "bin_edges": edges,
        }


def batch_table(inputs: Sequence[Mapping[str, object]], predictions: Sequence[float], at: datetime) -> pa.Table:
    """Check a batch (inputs as rows of name → number, text or bool; one prediction each) as an Arrow table."""
    if not isinstance(inputs, Sequence) or not 1 <= len(inputs) <= MAX_BATCH:
        raise ValidationError(f"inputs must be a list of 1-{MAX_BATCH} rows", field="inputs")
    if not isinstance(predictions, Sequence) or len(predictions) != len(inputs):
        raise ValidationError(f"predictions must have one number per input row ({len(inputs)})", field="predictions")
    names: dict[str, None] = {}
    for i, row in enumerate(inputs):
        if not isinstance(row, Mapping) or not 1 <= len(row) <= 200:
            raise ValidationError(f"inputs[{i}] must map 1-200 feature names to values", field=f"inputs[{i}]")
        for name in row:
            names.setdefault(check_name(name, field=f"inputs[{i}].{name}"), None)
    if CAPTURED_AT in names or PREDICTION in names:
        raise ValidationError(f"inputs must not name {CAPTURED_AT} or {PREDICTION}", field="inputs")
    columns: dict[str, pa.Array] = {
        CAPTURED_AT: pa.array([offline.event_time(at, field="at")] * len(inputs), offline.TIME)
    }
    for name in names:
        columns[name] = _column([row.get(name) for row in inputs], f"inputs[].{name}")
    out = []
    for i, p in enumerate(predictions):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p != p:
            raise ValidationError(f"predictions[{i}] must be a number; got {p!r}", field=f"predictions[{i}]")
        out.append(float(p))
    columns[PREDICTION] = pa.array(out, pa.float64())
    return pa.table(columns)


def _column(values: list[object], field: str) -> pa.Array:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool}:
        return pa.array(values, pa.bool_())
    if kinds <= {int, float}:
        if any(v != v or v in (float("inf"), float("-inf")) for v in values if v is not None):
            raise ValidationError(f"{field} must hold finite numbers", field=field)
        return pa.array([None if v is None else float(v) for v in values], pa.float64())  # type: ignore[arg-type]
    if kinds <= {str}:
        if any(len(v) > MAX_STRING for v in values if isinstance(v, str)):
            raise ValidationError(f"{field} has text longer than {MAX_STRING} characters", field=field)
        return pa.array(values, pa.string())
    raise ValidationError(f"{field} must hold one kind of value (numbers, text or booleans)", field=field)


def _numbers(table: pa.Table, feature: str, where: str) -> list[float]:
    if feature not in table.column_names:
        raise ValidationError(
            f"{where} has no column {feature!r} (has {', '.join(table.column_names)})", field="feature"
        )
    column = table.column(feature)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise ValidationError(f"{where}: {feature!r} is {column.type}; drift is measured on numbers", field="feature")
    values: list[float] = pc.drop_null(column).cast(pa.float64()).to_pylist()
    return values
