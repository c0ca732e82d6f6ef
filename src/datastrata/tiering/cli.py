"""``datastrata tiering``: plan, run and price a tiering policy on the configured store and object store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from datastrata.runtime.jobs import jobs_of
from datastrata.shell import JsonOption, emit, session, time_option
from datastrata.tiering.cost import CostModel
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.policy import load_policy
from datastrata.tiering.prices import load_prices
from datastrata.tiering.segments import readers_of
from datastrata.tiering.tiers import Kind

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
    """Carry out the plan now: copy, verify, record and delete each move; safe to run again after a crash."""
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
    result = {"job": job.id, **done.result}
    emit(result, as_json=as_json, text=_run_text)


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
