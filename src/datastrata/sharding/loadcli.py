"""``datastrata shards status`` and ``shards hotspots``: load per shard and hot keys or ranges, and acting on them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.runtime import Runtime
from datastrata.sharding.hotspots import KEY_QPS, RANGE_QPS, Thresholds
from datastrata.sharding.loadstore import MAX_WINDOW
from datastrata.sharding.loadview import map_names, map_status
from datastrata.sharding.relieve import act, hotspots_of
from datastrata.sharding.reshard import GRACE
from datastrata.shell import JsonOption, emit, session

WindowOption = Annotated[
    float, typer.Option("--window", min=1.0, max=MAX_WINDOW, help="Seconds of load to average over (the window).")
]
KeyQpsOption = Annotated[
    float, typer.Option("--key-qps", min=0.001, help="Operations per second over the window that make a key hot.")
]
RangeQpsOption = Annotated[
    float,
    typer.Option(
        "--range-qps", min=0.001, help="Operations per second (hot keys aside) that make a shard's range hot."
    ),
]
KeysOption = Annotated[int, typer.Option("--keys", min=1, max=1000, help="How many of the heaviest keys to list.")]


def status(
    ctx: typer.Context,
    map_name: Annotated[
        str | None, typer.Argument(help="A shard map (default: every map with load or epochs).")
    ] = None,
    window: WindowOption = 10.0,
    key_qps: KeyQpsOption = KEY_QPS,
    range_qps: RangeQpsOption = RANGE_QPS,
    keys: KeysOption = 10,
    as_json: JsonOption = False,
) -> None:
    """Show each map's load per shard over the window (every process's), its heaviest keys and its hotspots."""
    runtime = session(ctx).open()
    limits = Thresholds(key_qps, range_qps)
    names = [map_name] if map_name is not None else map_names(runtime.db)
    found = [map_status(runtime, name, window=window, thresholds=limits, keys=keys) for name in names]
    emit({"maps": found}, as_json=as_json, text=_status_text)


def hotspots(
    ctx: typer.Context,
    map_name: Annotated[str, typer.Argument(help="The shard map.")],
    auto: Annotated[
        bool, typer.Option("--auto", help="Act: pin each hot key to a shard of its own, split each hot range.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0.0, max=7 * 86400.0, help="With --auto: seconds before each move's cleanup."),
    ] = GRACE,
    window: WindowOption = 10.0,
    key_qps: KeyQpsOption = KEY_QPS,
    range_qps: RangeQpsOption = RANGE_QPS,
    as_json: JsonOption = False,
) -> None:
    """Report MAP's hot keys and ranges with the move that relieves each; with --auto, run those moves."""
    runtime: Runtime = session(ctx).open()
    found = hotspots_of(runtime, map_name, window=window, thresholds=Thresholds(key_qps, range_qps))
    result: dict[str, Any] = {"map": map_name, "hotspots": found, "auto": auto, "actions": []}
    if auto:
        result["actions"] = act(runtime, map_name, found, grace=grace)
    emit(result, as_json=as_json, text=_hotspots_text)


def _status_text(data: dict[str, Any]) -> str:
    if not data["maps"]:
        return "no shard maps and no load recorded"
    lines: list[str] = []
    for found in data["maps"]:
        epoch = "no stored map" if found["epoch"] is None else f"epoch {found['epoch']} ({found['router']})"
        lines.append(
            f"map {found['map']}  {epoch}  window {found['window_seconds']:g}s  processes {found['processes']}"
        )
        lines.append(f"  {'shard':<20} {'ops/s':>10} {'reads/s':>10} {'writes/s':>10} {'bytes/s':>12}")
        for shard in found["shards"]:
            lines.append(
                f"  {shard['shard']:<20} {shard['qps']:>10.1f} {shard['reads_per_s']:>10.1f} "
                f"{shard['writes_per_s']:>10.1f} {shard['bytes_per_s']:>12.1f}"
            )
        if found["keys"]:
            lines.append("  heaviest keys:")
            lines.extend(f"    {k['key']:<30} on {k['shard']:<12} {k['qps']:>10.1f} ops/s" for k in found["keys"])
        lines.extend(f"  {_hotspot_line(h)}" for h in found["hotspots"])
        if found["reshard"] is not None:
            lines.append(_reshard_line(found["reshard"]))
    return "\n".join(lines)


def _reshard_line(reshard: dict[str, Any]) -> str:
    moves = reshard["moves"]
    steps = ", ".join(f"{m.get('source', '?')}->{m.get('target', '?')} {m.get('step', '?')}" for m in moves)
    return (
        f"  reshard {reshard['plan_id']} ({reshard['action']}): {reshard['state']} at epoch {reshard['epoch']}, "
        f"{reshard['copied']}/{reshard['rows']} rows copied" + (f"; {steps}" if steps else "")
    )


def _hotspots_text(data: dict[str, Any]) -> str:
    if not data["hotspots"]:
        return f"no hotspots in map {data['map']}"
    lines = [_hotspot_line(h) for h in data["hotspots"]]
    for done in data["actions"]:
        plan = done["plan"]
        lines.append(
            f"done: {plan['action']} {plan.get('key') or plan['shard']} -> {done['status']['state']} "
            f"at epoch {done['status']['epoch']} ({done['reshard']['plan_id']})"
        )
    return "\n".join(lines)


def _hotspot_line(hot: dict[str, Any]) -> str:
    what = f"hot key {hot['key']!r} on {hot['shard']}" if hot["kind"] == "key" else f"hot range of {hot['shard']}"
    if hot["action"] == "pin":
        plan = f"pin it to new shard {hot['target']}"
    elif hot["action"] == "split":
        plan = f"split at slot {hot['at_slot']}: {len(hot['runs'])} slot runs to new shard {hot['target']}"
    else:
        plan = f"no action: {hot.get('reason', '')}"
    return f"{what}: {hot['qps']:.1f} ops/s -> {plan}"
