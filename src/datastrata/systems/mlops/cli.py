"""``datastrata mlops …``: the feature store, the model registry and inference capture from the shell."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer

from datastrata.core.errors import ValidationError
from datastrata.runtime.jobs import jobs_of
from datastrata.shell import (
    BusOption,
    CacheOption,
    EventIdOption,
    JsonOption,
    StoreOption,
    emit,
    remember_stores,
    service,
    session,
)
from datastrata.systems.mlops import offline
from datastrata.systems.mlops.domain import LABEL, LABEL_TIME
from datastrata.systems.mlops.registry import POLICY_FILE
from datastrata.systems.mlops.service import ARCHIVE, MATERIALIZE, MlopsService
from datastrata.writes.commands import CommandResult

app = typer.Typer(help="The ML pipeline: feature store, model registry, inference capture.", no_args_is_help=True)
features_app = typer.Typer(help="Feature views, offline history, online values, training sets.", no_args_is_help=True)
models_app = typer.Typer(help="Model versions, approval stages, aliases, archive and restore.", no_args_is_help=True)
inference_app = typer.Typer(help="Captured inference and drift checks.", no_args_is_help=True)
app.add_typer(features_app, name="features")
app.add_typer(models_app, name="models")
app.add_typer(inference_app, name="inference")

ObjectsOption = Annotated[
    str | None,
    typer.Option("--objects", help="Objects URL: file:///dir or s3://bucket/prefix (env DATASTRATA_OBJECTS)"),
]
ViewArg = Annotated[str, typer.Argument(help="Feature view name, e.g. customer.")]
ModelArg = Annotated[str, typer.Argument(help="Model name, e.g. churn.")]
VersionArg = Annotated[int, typer.Argument(help="Version number.")]


@app.callback()
def _options(
    ctx: typer.Context,
    store: StoreOption = None,
    bus: BusOption = None,
    cache: CacheOption = None,
    objects: ObjectsOption = None,
) -> None:
    """The ML pipeline (online features in Redis with --cache redis://…, else in the store)."""
    remember_stores(ctx, store, bus, cache)
    if objects:
        session(ctx).overrides["objects"] = objects


def _svc(ctx: typer.Context) -> MlopsService:
    return service(ctx, "mlops", MlopsService)


def _events(result: CommandResult) -> str:
    again = " (already recorded; nothing new stored)" if result.duplicate else ""
    lines = [f"{e.type}: {json.dumps(dict(e.payload), default=str)}" for e in result.events]
    return "\n".join(lines) + again if lines else f"nothing changed{again}"


def _emit_command(result: CommandResult, as_json: bool) -> None:
    emit(result.to_dict(), as_json=as_json, text=lambda _: _events(result))


def _table(path: Path, schema: pa.Schema) -> pa.Table:
    """Read a CSV (with a header) or Parquet file, typed by `schema` where its columns are named."""
    if not path.is_file():
        raise ValidationError(f"file {str(path)!r} does not exist; check the path", field="file")
    if path.suffix == ".parquet":
        return pq.read_table(path)
    types = {f.name: f.type for f in schema}
    try:
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=types))
    except pa.ArrowInvalid as exc:
        raise ValidationError(f"{path}: not a CSV file of the expected columns: {exc}", field="file") from None


@app.command("policy")
def policy_path() -> None:
    """Print the path of the pipeline's tiering policy (for serve/worker --tiering and datastrata tiering …)."""
    typer.echo(str(POLICY_FILE))


# ---- features ------------------------------------------------------------------------------------------------


@features_app.command("define")
def define(
    ctx: typer.Context,
    name: ViewArg,
    entity: Annotated[str, typer.Option("--entity", help="The entity key column, e.g. customer_id.")],
    feature: Annotated[
        list[str], typer.Option("--feature", help="NAME:TYPE (int64, float64, string, bool); repeat per feature.")
    ],
    ttl: Annotated[str | None, typer.Option("--ttl", help="Values older than this are not used, e.g. 30d.")] = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Define a feature view: its entity, its typed features and an optional time to live."""
    pairs = {}
    for item in feature:
        name_, sep, kind = item.partition(":")
        if not sep:
            raise ValidationError(f"--feature must be NAME:TYPE, e.g. spend:float64; got {item!r}", field="feature")
        pairs[name_] = kind
    _emit_command(_svc(ctx).features.define(name, entity, pairs, ttl=ttl, key=event_id), as_json)


@features_app.command("list")
def list_views(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the feature views."""
    found = [v.to_dict() for v in _svc(ctx).features.views()]
    emit(
        found,
        as_json=as_json,
        text=lambda rows: (
            "\n".join(
                f"{r['name']:<20} entity {r['entity']:<16} ttl {r['ttl'] or '-':<6} {r['features']}" for r in rows
            )
            or "no feature views"
        ),
    )


@features_app.command("ingest")
def ingest(
    ctx: typer.Context,
    view: ViewArg,
    file: Annotated[Path, typer.Argument(help="CSV (header: entity, event_time, features) or Parquet file.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Append feature values to the view's offline history (zstd Parquet in the object store, a part per day)."""
    svc = _svc(ctx)
    table = _table(file, offline.arrow_schema(svc.features.view(view)))
    _emit_command(svc.features.ingest(view, table, key=event_id), as_json)


@features_app.command("materialize")
def materialize(
    ctx: typer.Context,
    view: Annotated[str | None, typer.Argument(help="One view (default: every view).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy the latest values of new offline parts to the online store (a recorded job; idempotent)."""
    svc = _svc(ctx)
    done = _job(ctx, MATERIALIZE, view or "*", svc.materialize_work(view), as_json)
    emit(
        done,
        as_json=as_json,
        text=lambda d: (
            f"job {d['job']}: {d['parts']} part(s) of {', '.join(d['views']) or 'no views'} into the {d['online']} "
            f"online store ({d['entities']} entity values)"
        ),
    )


@features_app.command("online")
def online(
    ctx: typer.Context,
    view: ViewArg,
    entities: Annotated[list[str], typer.Argument(help="Entity ids.")],
    as_json: JsonOption = False,
) -> None:
    """Read the latest materialised values of entities (as served at inference)."""
    found = _svc(ctx).features.online(view, entities)
    emit(found, as_json=as_json, text=lambda rows: "\n".join(json.dumps(r, default=str) for r in rows))


@features_app.command("training-set")
def training_set(
    ctx: typer.Context,
    views: Annotated[list[str], typer.Argument(help="Feature views to join.")],
    labels: Annotated[Path, typer.Option("--labels", help="CSV or Parquet: entity ids, label_time, label.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the training set here (.parquet or .csv).")] = None,
    save: Annotated[str | None, typer.Option("--save", help="Also keep it by name (a drift baseline).")] = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Join each label with feature values as of its own time (point-in-time correct: no leakage)."""
    svc = _svc(ctx)
    entities = [svc.features.view(v).entity for v in views]
    schema = pa.schema(
        [
            *(pa.field(e, pa.string()) for e in entities),
            pa.field(LABEL_TIME, offline.TIME),
            pa.field(LABEL, pa.float64()),
        ]
    )
    result = svc.features.training_set(views, _table(labels, schema), save_as=save, key=event_id)
    if out is not None:
        if out.suffix == ".csv":
            pacsv.write_csv(result, out)
        else:
            pq.write_table(result, out, compression="zstd")
    preview = result.slice(0, 5).to_pylist()
    summary = {
        "rows": result.num_rows,
        "columns": result.column_names,
        "out": str(out) if out else None,
        "saved_as": save,
        "first_rows": preview,
    }
    emit(
        summary,
        as_json=as_json,
        text=lambda s: "\n".join(
            [
                f"{s['rows']} row(s), columns {', '.join(s['columns'])}"
                + (f"; written to {s['out']}" if s["out"] else "")
            ]
            + [json.dumps(r, default=str) for r in s["first_rows"]]
        ),
    )


# ---- models --------------------------------------------------------------------------------------------------


@models_app.command("register")
def register(
    ctx: typer.Context,
    model: ModelArg,
    artifact: Annotated[Path, typer.Argument(help="The model artifact file (e.g. model.tar.gz).")],
    metric: Annotated[list[str] | None, typer.Option("--metric", help="NAME=NUMBER, e.g. auc=0.91; repeat.")] = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a new version (pending approval); its artifact goes to the object store."""
    if not artifact.is_file():
        raise ValidationError(f"artifact {str(artifact)!r} does not exist; check the path", field="artifact")
    metrics: dict[str, float] = {}
    for item in metric or []:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            metrics[name] = float(value)
        except ValueError:
            raise ValidationError(f"--metric must be NAME=NUMBER; got {item!r}", field="metric") from None
    result = _svc(ctx).models.register(model, artifact.read_bytes(), metrics=metrics, key=event_id)
    _emit_command(result, as_json)


@models_app.command("stage")
def stage(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    to: Annotated[str, typer.Argument(help="approved, rejected or archived.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a version along its lifecycle (pending → approved | rejected → archived)."""
    _emit_command(_svc(ctx).models.set_stage(model, version, to, key=event_id), as_json)


@models_app.command("approve")
def approve(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a pending version (only approved versions take aliases and stay out of the archive)."""
    _emit_command(_svc(ctx).models.set_stage(model, version, "approved", key=event_id), as_json)


@models_app.command("alias")
def alias(
    ctx: typer.Context,
    model: ModelArg,
    name: Annotated[str, typer.Argument(help="Alias, e.g. champion.")],
    version: VersionArg,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point an alias at an approved version (it leaves the version it was on)."""
    _emit_command(_svc(ctx).models.move_alias(model, name, version, key=event_id), as_json)


@models_app.command("list")
def list_models(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="One model (default: all).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List model versions with their stage, aliases and metrics."""
    found = [v.to_dict() for v in _svc(ctx).models.versions(model)]
    emit(
        found,
        as_json=as_json,
        text=lambda rows: (
            "\n".join(
                f"{r['model']} v{r['version']:<4} {r['stage']:<9} {','.join(r['aliases']) or '-':<12} "
                f"{r['registered_at']}  {r['metrics']}"
                for r in rows
            )
            or "no models"
        ),
    )


@models_app.command("archive")
def archive(
    ctx: typer.Context,
    plan_only: Annotated[bool, typer.Option("--plan", help="Show what would move and why; change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline's tiering policy: unapproved versions older than a year go to the archive class."""
    svc = _svc(ctx)
    if plan_only:
        emit(
            svc.models.archive(dry_run=True),
            as_json=as_json,
            text=lambda p: (
                "\n".join(
                    f"{m['dataset']:<10} {m['key']}  {m['tier']} → {m['to']}  ({m['reason']})" for m in p["moves"]
                )
                or "nothing to move"
            ),
        )
        return
    done = _job(ctx, ARCHIVE, "mlops", svc.archive_work(), as_json)
    emit(
        done,
        as_json=as_json,
        text=lambda d: "\n".join(
            [f"job {d['job']}: {len(d['moved'])} move(s)"]
            + [f"  {m['dataset']:<10} {m['item']}  {m['from_tier']} → {m['to_tier']}" for m in d["moved"]]
        ),
    )


@models_app.command("archive-status")
def archive_status(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="One model (default: all).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Where each version's artifact is: storage class, tier, readable now, restore in progress."""
    found = _svc(ctx).models.archive_status(model)
    emit(
        found,
        as_json=as_json,
        text=lambda rows: (
            "\n".join(
                f"{r['model']} v{r['version']:<4} {r['stage']:<9} {r['tier']:<7} {r['storage_class']:<13} "
                f"{'readable' if r['readable'] else 'needs restore'}"
                + (f" (restore ready {r['restore']['ready_at']})" if r["restore"] else "")
                for r in rows
            )
            or "no models"
        ),
    )


@models_app.command("restore")
def restore(
    ctx: typer.Context,
    model: ModelArg,
    version: VersionArg,
    tier: Annotated[str, typer.Option("--tier", help="expedited, standard or bulk.")] = "standard",
    days: Annotated[int, typer.Option("--days", help="Keep the restored copy this many days.")] = 7,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask for a frozen artifact back: a restore job with when it will be readable (the ETA)."""
    found = _svc(ctx).models.restore(model, version, tier=tier, days=days, key=event_id)
    emit(
        found,
        as_json=as_json,
        text=lambda r: (
            f"restore of {r['model']} v{r['version']} requested ({r['tier']}, job {r['job']}): readable from "
            f"{r['ready_at']} until {r['expires_at']}; RestoreCompleted follows once the policy runs supervised "
            '(serve/worker --tiering "$(datastrata mlops policy)")'
        ),
    )


@models_app.command("download")
def download(
    ctx: typer.Context,
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="Version number or alias (champion).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the artifact.")],
) -> None:
    """Write a version's artifact to a file (a frozen one must be restored first)."""
    data = _svc(ctx).models.artifact(model, version)
    out.write_bytes(data)
    typer.echo(f"{len(data)} bytes written to {out}")


# ---- inference -----------------------------------------------------------------------------------------------


@inference_app.command("capture")
def capture(
    ctx: typer.Context,
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="Version number or alias.")],
    file: Annotated[Path, typer.Argument(help="CSV or Parquet: input columns and a prediction column.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Capture a batch of inference inputs and predictions to the cold tier (Parquet)."""
    rows = _table(file, pa.schema([pa.field("prediction", pa.float64())])).to_pylist()
    predictions = [r.pop("prediction", None) for r in rows]
    if any(p is None for p in predictions):
        raise ValidationError("every row needs a prediction column value", field="prediction")
    result = _svc(ctx).inference.capture(model, version, rows, predictions, key=event_id)
    _emit_command(result, as_json)


@inference_app.command("drift")
def drift(
    ctx: typer.Context,
    model: ModelArg,
    feature: Annotated[str, typer.Argument(help="A numeric input feature.")],
    baseline: Annotated[str, typer.Option("--baseline", help="A saved training set (training-set --save).")],
    since: Annotated[str | None, typer.Option("--since", help="First captured day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last captured day, YYYY-MM-DD.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Population stability index of a feature: captured inputs against the training set (< 0.1 stable)."""
    found = _svc(ctx).inference.drift(model, feature, baseline=baseline, since=since, until=until)
    emit(
        found,
        as_json=as_json,
        text=lambda r: (
            f"{r['feature']} of {r['model']}: PSI {r['psi']} ({r['verdict']}) over {r['captured_rows']} captured vs "
            f"{r['baseline_rows']} training rows"
        ),
    )


def _job(ctx: typer.Context, kind: str, target: str, work: Callable[..., Any], as_json: bool) -> dict[str, Any]:
    """Run `work` as a recorded job, with a progress bar unless JSON was asked for; return its result and id."""
    jobs = jobs_of(session(ctx).open())
    job = jobs.create(kind, target)
    if as_json:
        return {"job": job.id, **jobs.run(job, work, reraise=True).result}
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"{kind} (job {job.id})", total=None)

        def drawn(report: Callable[[int, int], None]) -> Any:
            def step(position: int, goal: int) -> None:
                bar.update(task, completed=position, total=goal)
                report(position, goal)

            return work(step)

        return {"job": job.id, **jobs.run(job, drawn, reraise=True).result}
