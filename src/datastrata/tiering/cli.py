"""``datastrata tiering``: plan, run and price a tiering policy on the configured store and object store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_int
from datastrata.runtime.jobs import jobs_of
from datastrata.shell import JsonOption, emit, session, time_option
from datastrata.tiering.cost import CostModel
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.policy import load_policy
from datastrata.tiering.prices import load_prices
from datastrata.tiering.query import Aggregation, RangeQuery, run_query
from datastrata.tiering.restores import DEFAULT_DAYS, TIERS, Restores, list_restores
from datastrata.tiering.segments import readers_of
from datastrata.tiering.tiers import Kind, parse_age

app = typer.Typer(no_args_is_help=True, help="Tiering: plan, run and price a policy of hot/warm/cold/frozen data.")

PolicyArgument = Annotated[Path, typer.Argument(help="The policy file (YAML or JSON).")]
ObjectsOption = Annotated[
    str | None,
    typer.Option("--objects", help="Objects URL: file:///dir or s3://bucket/prefix (env DATASTRATA_OBJECTS)"),
]
AtOption = Annotated[str | None, typer.Option("--at", help="Plan as of this ISO-8601 time (default: now).")]


def _mover(ctx: typer.Context, policy_path: Path, objects: str | None) -> Mover:
    policy = load_policy(policy_path)
    if objects:
        session(ctx).overrides["objects"] = objects
    runtime = session(ctx).open()
    if any(d.kind is Kind.SEGMENTS for d in policy.datasets.values()):
        from datastrata.catalog import install_all

        install_all(runtime)  # closed streams wait for every projection of the systems to pass them
    store = ObjectStore(runtime.settings.objects, clock=runtime.clock)
    return Mover(runtime.db, store, policy, clock=runtime.clock, readers=lambda: readers_of(runtime))


@app.command("plan")
def plan_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    objects: ObjectsOption = None,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what a run would move, hold back or leave, and why; changes nothing."""
    mover = _mover(ctx, policy, objects)
    now = time_option(at, field="at") or mover.clock()
    emit(mover.plan(now).to_dict(), as_json=as_json, text=_plan_text)


@app.command("run")
def run_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    objects: ObjectsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Carry out the plan now (copy, verify, record, delete each move) and finish the restores that are ready."""
    mover = _mover(ctx, policy, objects)
    jobs = jobs_of(session(ctx).open())
    job = jobs.create("tiering", mover.policy.name)
    work = mover.work()
    if as_json:
        done = jobs.run(job, work, reraise=True)
    else:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task(f"tiering {mover.policy.name} (job {job.id})", total=None)

            def drawn(report: Callable[[int, int], None]) -> Any:
                def step(position: int, goal: int) -> None:
                    bar.update(task, completed=position, total=goal)
                    report(position, goal)

                return work(step)

            done = jobs.run(job, drawn, reraise=True)
    ready = Restores(mover, jobs=jobs, log=session(ctx).open().log).complete_ready()
    result = {"job": job.id, **done.result, "restores_completed": [r.job for r in ready]}
    emit(result, as_json=as_json, text=_run_text)
    if result.get("blocked"):
        raise typer.Exit(2)  # the other datasets moved; this one needs its configuration fixed


@app.command("cost")
def cost_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    objects: ObjectsOption = None,
    prices: Annotated[Path | None, typer.Option("--prices", help="A complete price table (JSON) to use.")] = None,
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """This month's storage cost as placed, all hot, and under the policy, with its one-off charges."""
    mover = _mover(ctx, policy, objects)
    now = time_option(at, field="at") or mover.clock()
    inventory = mover.inventory()
    report = CostModel(mover.policy, load_prices(prices)).report(inventory, mover.plan(now))
    emit(report.to_dict(), as_json=as_json, text=_cost_text)


@app.command("iceberg")
def iceberg_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    objects: ObjectsOption = None,
    as_json: JsonOption = False,
) -> None:
    """The policy's Iceberg tables: location, snapshots, data files, and recorded parts not yet registered."""
    mover = _mover(ctx, policy, objects)
    datasets = [ds for ds in mover.policy.datasets.values() if ds.iceberg]
    if not datasets:
        raise ValidationError(
            f"policy {mover.policy.name!r} registers no dataset in Iceberg; add iceberg: {{table: ns.name}} to a "
            "rows dataset",
            field="iceberg",
        )
    tables = [mover.iceberg.describe(ds, mover.cold_keys(ds.name)) for ds in datasets]
    emit({"policy": mover.policy.name, "tables": tables}, as_json=as_json, text=_iceberg_text)


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    dataset: Annotated[str, typer.Argument(help="The dataset of the policy.")],
    items: Annotated[
        list[str] | None, typer.Argument(help="Frozen days (YYYY-MM-DD) or object keys; or give --from and --to.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Restore every frozen item from this time (ISO-8601).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="… up to this time (exclusive).")] = None,
    tier: Annotated[str, typer.Option("--tier", help=f"Restore tier: {', '.join(TIERS)} (faster costs more).")] = (
        "standard"
    ),
    days: Annotated[int, typer.Option("--days", help="Days the restored copy stays readable (1-365).")] = DEFAULT_DAYS,
    objects: ObjectsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask for a readable copy of frozen data; answers with the job and its ETA (RestoreCompleted when ready)."""
    mover = _mover(ctx, policy, objects)
    runtime = session(ctx).open()
    restores = Restores(mover, jobs=jobs_of(runtime), log=runtime.log)
    found = restores.request(
        dataset,
        items or [],
        start=time_option(start, field="from"),
        end=time_option(end, field="to"),
        tier=tier,
        days=days,
    )
    emit(found.to_dict(mover.clock()), as_json=as_json, text=_restore_text)


@app.command("restores")
def restores_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first (1-1000).")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List restore requests, newest first: state (restoring, ready, expired), ETA and expiry."""
    runtime = session(ctx).open()
    now = runtime.clock()
    found = [r.to_dict(now) for r in list_restores(runtime.db, limit=min(max(limit, 1), 1000))]
    emit({"restores": found}, as_json=as_json, text=_restores_text)


@app.command("query")
def query_command(
    ctx: typer.Context,
    policy: PolicyArgument,
    dataset: Annotated[str, typer.Argument(help="A rows dataset of the policy.")],
    start: Annotated[str, typer.Option("--from", help="From this time (ISO-8601), inclusive.")],
    end: Annotated[str, typer.Option("--to", help="To this time, exclusive.")],
    where: Annotated[
        list[str] | None, typer.Option("--where", help="A series filter COLUMN=VALUE (repeatable), e.g. sensor=s1.")
    ] = None,
    every: Annotated[str | None, typer.Option("--agg", help="Aggregate per bucket of this age, e.g. 1m, 1h.")] = None,
    value: Annotated[str, typer.Option("--value", help="The aggregated column.")] = "value",
    by: Annotated[list[str] | None, typer.Option("--by", help="Aggregate per this column too (repeatable).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows (1-100000).")] = 1000,
    objects: ObjectsOption = None,
    as_json: JsonOption = False,
) -> None:
    """One query over every tier (table, Parquet, restored copies), as if every row were still hot."""
    mover = _mover(ctx, policy, objects)
    series: dict[str, str] = {}
    for clause in where or []:
        column, sep, text = clause.partition("=")
        if not sep or not column:
            raise ValidationError(f"--where {clause!r} must be COLUMN=VALUE, e.g. sensor=s1", field="where")
        series[column.strip()] = text
    aggregate = Aggregation(parse_age(every, field="agg"), value, tuple(by or ())) if every else None
    q = RangeQuery(
        dataset,
        time_option(start, field="from"),
        time_option(end, field="to"),
        series,
        aggregate,
        bounded_int(limit, field="limit", minimum=1, maximum=100_000),
    )
    rows = run_query(mover, q).to_pylist()
    emit({"rows": rows}, as_json=as_json, text=_query_text)


def _restore_text(data: dict[str, Any]) -> str:
    return (
        f"job {data['job']}: restoring {data['dataset']} {' '.join(data['items'][:10])} ({data['tier']}); "
        f"ready at {data['ready_at']}, readable until {data['expires_at']} (poll GET {data['location']})"
    )


def _restores_text(data: dict[str, Any]) -> str:
    lines = [
        f"{r['job']}  {r['state']:<9} {r['dataset']} {' '.join(r['items'][:5])}  {r['tier']}  "
        f"ready {r['ready_at']}  expires {r['expires_at']}"
        for r in data["restores"]
    ]
    return "\n".join(lines) or "no restore requests"


def _query_text(data: dict[str, Any]) -> str:
    return "\n".join("  ".join(f"{k}={v}" for k, v in row.items()) for row in data["rows"]) or "no rows"


def _plan_text(data: dict[str, Any]) -> str:
    lines = [f"policy {data['policy']} at {data['at']}: {len(data['moves'])} move(s), {data['unchanged']} unchanged"]
    lines += [
        f"  move {m['dataset']} {m['key']}: {m['tier']} → {m['to']}  ({m['reason']}; {m['rule']})"
        for m in data["moves"]
    ]
    lines += [f"  hold {h['dataset']} {h['key']}: {h['reason']}" for h in data["held"]]
    return "\n".join(lines)


def _run_text(data: dict[str, Any]) -> str:
    lines = [f"job {data['job']}: moved {len(data['moved'])} item(s)"]
    lines += [
        f"  {r['dataset']} {r['item']}: {r['from_tier']} → {r['to_tier']}, {r['rows']} rows, {r['bytes']} bytes"
        for r in data["moved"]
    ]
    lines += [f"  held {h['dataset']} {h['key']}: {h['reason']}" for h in data["held"]]
    lines += [f"  blocked {b['dataset']}: {b['reason']}" for b in data.get("blocked", [])]
    lines += [f"  restore {job} is ready (RestoreCompleted appended)" for job in data["restores_completed"]]
    return "\n".join(lines)


def _cost_text(data: dict[str, Any]) -> str:
    one_off = data["one_off"]
    return "\n".join(
        [
            f"as placed      {data['as_placed_per_month']} {data['currency']}/month",
            f"all hot        {data['all_hot_per_month']} {data['currency']}/month",
            f"under policy   {data['proposed_per_month']} {data['currency']}/month "
            f"(saves {data['saving_per_month']}/month)",
            f"one-off        early deletion {one_off['early_deletion']}, transitions {one_off['transitions']}",
            f"first month    {data['first_month_net']} net; prices of {data['prices']}",
        ]
    )


def _iceberg_text(data: dict[str, Any]) -> str:
    lines = [f"policy {data['policy']}: {len(data['tables'])} Iceberg table(s)"]
    for t in data["tables"]:
        if not t["exists"]:
            lines.append(
                f"  {t['table']} (dataset {t['dataset']}): not created yet; {len(t['pending'])} part(s) pending"
            )
            continue
        lines.append(f"  {t['table']} (dataset {t['dataset']}) at {t['location']}, partitioned {t['partitioning']}")
        lines.append(f"    metadata {t['metadata']}")
        lines += [
            f"    snapshot {s['id']} {s['at']} {s['operation']}: +{s['added_files']} -{s['removed_files']} file(s), "
            f"{s['total_rows']} rows"
            for s in t["snapshots"]
        ]
        lines += [f"    file {f['day']} {f['rows']} rows {f['bytes']} bytes {f['path']}" for f in t["files"]]
        lines += [f"    pending {key} (recorded, not registered: the next run registers it)" for key in t["pending"]]
    return "\n".join(lines)
