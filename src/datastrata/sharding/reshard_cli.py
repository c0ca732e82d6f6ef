"""``datastrata shards plan|reshard|reverse|reshard-status``: plan a reshard, run it (resumable), undo it, watch it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from datastrata.core.validation import read_json_file
from datastrata.runtime.runtime import Runtime
from datastrata.sharding.catalog import ShardCatalog
from datastrata.sharding.names import check_shard
from datastrata.sharding.reshard import (
    GRACE,
    ReshardPlan,
    ReshardStatus,
    reshard_status,
    reverse_reshard,
    run_reshard,
)
from datastrata.sharding.reshard_jobs import PlanOptions, plan_reshard
from datastrata.shell import JsonOption, emit, session

MapArg = Annotated[str, typer.Argument(metavar="MAP", help="The shard map's name, e.g. accounts.")]


@contextlib.contextmanager
def sharded_runtime(ctx: typer.Context, map_name: str) -> Iterator[Runtime]:
    """A runtime routing by map `map_name` over its catalogued shards (`shards init` made them)."""
    home = session(ctx).open()
    placement = ShardCatalog(home.db).placement(check_shard(map_name, field="map"), home.home.spec)
    with Runtime.open(home.settings, placement=placement) as runtime:
        yield runtime


def plan(
    ctx: typer.Context,
    map_name: MapArg,
    add: Annotated[
        int | None, typer.Option("--add", help="Add N shards (their stores are provisioned, empty).")
    ] = None,
    remove: Annotated[str | None, typer.Option("--remove", help="Remove shard S: its slots go to the others.")] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Split shard S: half its slots go to a new shard.")
    ] = None,
    pin: Annotated[str | None, typer.Option("--pin", help="Move one key alone (with --to).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="With --pin: the shard the key goes to.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the plan's JSON here (for `shards reshard`).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Dry-run a reshard: which slot ranges and keys move where, rows, events and bytes per move, an estimate."""
    options = PlanOptions(add=add, remove=remove, split=split, pin=pin, to=to)
    made = plan_reshard(session(ctx).open(), map_name, options)
    data = made.to_dict()
    if out is not None:
        out.write_text(json.dumps(data, indent=2))
    emit(data, as_json=as_json, text=_plan_text)


def reshard(
    ctx: typer.Context,
    plan_file: Annotated[Path, typer.Argument(metavar="PLANFILE", help="A plan from `shards plan … --out FILE`.")],
    grace: Annotated[
        float, typer.Option(min=0, max=86_400, help="Seconds between the last switch and deleting the old copies.")
    ] = GRACE,
    as_json: JsonOption = False,
) -> None:
    """Run a reshard plan (copy, catch up, fence each range only, verify, switch epochs, clean up); run it again to
    resume a killed one."""
    made = ReshardPlan.from_dict(read_json_file(plan_file, field="plan", what="plan file"))
    with sharded_runtime(ctx, made.map_name) as runtime:
        if as_json:
            done = run_reshard(runtime, made, grace=grace)
        else:
            from rich.console import Console
            from rich.progress import Progress

            with Progress(console=Console(stderr=True), transient=False) as bar:
                task = bar.add_task(f"reshard {made.map_name}", total=max(made.rows, 1))

                def progress(status: ReshardStatus) -> None:
                    steps = ", ".join(f"{m['index']}:{m['step']}" for m in status.moves)
                    bar.update(task, completed=min(status.copied, made.rows), description=f"{status.state} [{steps}]")

                done = run_reshard(runtime, made, grace=grace, on_progress=progress)
                bar.update(task, completed=max(made.rows, 1))
    emit(done.to_dict(), as_json=as_json, text=_status_text)


def reverse(ctx: typer.Context, map_name: MapArg, as_json: JsonOption = False) -> None:
    """Undo MAP's latest reshard until its cleanup: running moves stop, switched ranges move back (verified)."""
    with sharded_runtime(ctx, map_name) as runtime:
        emit(reverse_reshard(runtime, map_name).to_dict(), as_json=as_json, text=_status_text)


def status(ctx: typer.Context, map_name: MapArg, as_json: JsonOption = False) -> None:
    """Show MAP's latest reshard: its state, the map's epoch, each range move's step and rows copied."""
    with sharded_runtime(ctx, map_name) as runtime:
        found = reshard_status(runtime, map_name)
    emit(None if found is None else found.to_dict(), as_json=as_json, text=_status_text)


def _plan_text(plan: dict[str, Any]) -> str:
    lines = [f"reshard {plan['map']} ({plan['action']}) from epoch {plan['base_epoch']}: plan {plan['plan_id']}"]
    for m in plan["moves"]:
        lines.append(
            f"  {m['source']} → {m['target']}: {m['slots']:,} slots in {m['runs']:,} runs, {m['keys']} pinned key(s); "
            f"{m['rows']:,} rows, {m['events']:,} events, ~{m['bytes'] / 1e6:.1f} MB, ~{m['estimate_seconds']} s"
        )
    lines.append(f"  total {plan['rows']:,} rows, {plan['events']:,} events, ~{plan['estimate_seconds']} s")
    return "\n".join(lines)


def _status_text(status: dict[str, Any] | None) -> str:
    if status is None:
        return "no reshard"
    lines = [f"reshard {status['map']} {status['state']} at epoch {status['epoch']} (plan {status['plan_id']})"]
    for m in status["moves"]:
        pause = f", writes paused {m['fenced_seconds']} s" if m["fenced_seconds"] is not None else ""
        lines.append(
            f"  {m['index']}: {m['source']} → {m['target']} {m['state']:<9} step {m['step']:<9} "
            f"{m['copied']:,}/{m['rows']:,} rows{pause}" + (f"\n     {m['error']}" if m["error"] else "")
        )
    return "\n".join(lines)
