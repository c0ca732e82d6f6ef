"""``datastrata shards init`` and ``shards list``: provision a map's shards as real stores, and show the catalogue."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.core.errors import ConcurrencyConflict, NotFound, ValidationError
from datastrata.core.validation import bounded_int
from datastrata.sharding.catalog import ShardCatalog, check_context, describe, provision_all
from datastrata.sharding.jump import JumpRouter
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.names import MAX_SHARDS, check_shard, numbered
from datastrata.sharding.ranges import RangeRouter
from datastrata.sharding.rendezvous import RendezvousRouter
from datastrata.sharding.ring import RingRouter
from datastrata.sharding.router import Router
from datastrata.sharding.slots import SLOTS
from datastrata.shell import JsonOption, emit, session

#: The router kinds `shards init` builds over slots.
INIT_ROUTERS = ("jump", "range", "ring", "rendezvous")


def slot_router(kind: str, shards: list[str]) -> Router:
    """Return a router of `kind` over `shards` for slots 0..SLOTS-1 (``range``: the slots cut evenly)."""
    if kind == "jump":
        return JumpRouter(shards)
    if kind == "ring":
        return RingRouter(shards)
    if kind == "rendezvous":
        return RendezvousRouter(shards)
    if kind == "range":
        if len(shards) > SLOTS:
            raise ValidationError(f"--count must be at most {SLOTS} for a range router", field="count")
        bounds = [SLOTS * index // len(shards) for index in range(1, len(shards))]
        return RangeRouter(shards, bounds, key_type="int")
    raise ValidationError(f"--router must be one of {', '.join(INIT_ROUTERS)}; got {kind!r}", field="router")


def init(
    ctx: typer.Context,
    map_name: Annotated[str, typer.Argument(metavar="MAP", help="The shard map's name, e.g. accounts.")],
    count: Annotated[int, typer.Option("--count", help="How many shards (s0 … s<N-1>).")],
    router: Annotated[str, typer.Option("--router", help="jump, range, ring or rendezvous (over slots).")] = "jump",
    server: Annotated[
        list[str] | None,
        typer.Option("--server", help="A PostgreSQL server URL to create shard databases on (repeat: round robin)."),
    ] = None,
    context: Annotated[
        list[str] | None, typer.Option("--context", help="A context whose data is sharded (repeat; none: all).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Provision MAP's shards (SQLite files or PostgreSQL databases, each migrated) and create epoch 1 of MAP."""
    name = check_shard(map_name, field="map")
    count = bounded_int(count, field="count", minimum=1, maximum=MAX_SHARDS)
    shards = numbered(count)
    chosen = slot_router(router, shards)  # validated before anything is made
    contexts = [check_context(item) for item in context or ()]
    runtime = session(ctx).open()
    catalog, maps = ShardCatalog(runtime.db), ShardMaps(runtime.db)
    try:
        existing = maps.current(name)
    except NotFound:
        existing = None
    if existing is not None:
        raise ConcurrencyConflict(
            f"shard map {name!r} exists already (epoch {existing.epoch}); see `datastrata shards list {name}`",
            stream_id=f"sharding-map-{name}",
            expected=0,
            actual=existing.epoch,
        )
    provision_all(runtime.settings, catalog, name, shards, list(server or ()))
    catalog.set_contexts(name, contexts)
    maps.create(name, chosen)
    emit(describe(catalog, maps, name)[0], as_json=as_json, text=_text_one)


def list_maps(
    ctx: typer.Context,
    map_name: Annotated[str | None, typer.Argument(metavar="[MAP]", help="One map (default: every map).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List each map's shards and stores (secrets redacted), its epoch and router kind."""
    runtime = session(ctx).open()
    catalog, maps = ShardCatalog(runtime.db), ShardMaps(runtime.db)
    if map_name is not None and not catalog.entries(map_name):
        raise NotFound(f"no shards catalogued for map {map_name!r}; run `datastrata shards init`", field="map")
    rows = describe(catalog, maps, map_name)
    emit(rows, as_json=as_json, text=lambda data: "\n".join(_text_one(row) for row in data) or "no shard maps")


def _text_one(row: dict[str, Any]) -> str:
    contexts = ", ".join(row["contexts"]) if row["contexts"] else "every context"
    lines = [f"{row['map']}: epoch {row['epoch']}, {row['router']} router, {len(row['shards'])} shards ({contexts})"]
    lines += [f"  {s['shard']}: {s['store']}{'' if s['routed'] else ' (not routed)'}" for s in row["shards"]]
    return "\n".join(lines)


def scatter_command(
    ctx: typer.Context,
    map_name: Annotated[str, typer.Argument(metavar="MAP", help="The shard map whose shards to ask.")],
    sql: Annotated[str, typer.Option("--sql", help="One read-only statement run on every shard.")],
    policy: Annotated[str, typer.Option("--policy", help="fail (any shard missing: error) or partial.")] = "fail",
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds each shard gets; its query is then cancelled.")
    ] = 30.0,
    merge: Annotated[
        str, typer.Option("--merge", help="none, sum or count (one numeric column), rows (one sorted list).")
    ] = "none",
    limit: Annotated[int | None, typer.Option("--limit", help="With --merge rows: at most this many rows.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a read-only statement on every shard of MAP at once and merge the answers (the article's Total/Sum/All)."""
    from datastrata.sharding.adhoc import check_merge, check_read_sql, scatter_sql
    from datastrata.sharding.scatter import check_policy, check_timeout

    check_read_sql(sql)  # every input checked before a store is opened
    check_policy(policy)
    check_timeout(timeout)
    check_merge(merge)
    if limit is not None:
        bounded_int(limit, field="limit", minimum=0, maximum=10_000_000)
    runtime = session(ctx).open()
    answer = scatter_sql(
        ShardCatalog(runtime.db),
        ShardMaps(runtime.db),
        map_name,
        sql,
        timeout=timeout,
        policy=policy,
        merge=merge,
        limit=limit,
    )
    emit(answer.to_dict(), as_json=as_json, text=_scatter_text)


def _scatter_text(data: dict[str, Any]) -> str:
    lines = []
    if "value" in data:
        lines.append(str(data["value"]))
    elif "rows" in data:
        lines += ["\t".join("" if v is None else str(v) for v in row) for row in data["rows"]]
    else:
        for shard, rows in data["shards"].items():
            lines += [f"{shard}\t" + "\t".join("" if v is None else str(v) for v in row) for row in rows]
    lines += [f"missing {m['shard']}: {m['reason']}" for m in data["missing"]]
    return "\n".join(lines)


ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="The PostgreSQL server of the coordinator (default: the home store's server)."),
]


def coordinator_command(
    ctx: typer.Context,
    map_name: Annotated[str, typer.Argument(metavar="MAP", help="The shard map the coordinator spans.")],
    table: Annotated[str, typer.Option("--table", help="A sharded table (it carries shard_slot) on every shard.")],
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Rebuild the table's partitions for the current epoch.")
    ] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create MAP's postgres_fdw coordinator database and TABLE's foreign partitions (one per shard, LIST on slots)."""
    from datastrata.sharding.fdw import Coordinator, check_table

    check_table(table)
    runtime = session(ctx).open()
    coordinator = Coordinator(
        runtime.settings, ShardCatalog(runtime.db), ShardMaps(runtime.db), map_name, server=server
    )
    built = coordinator.build(table, refresh=refresh)
    emit(
        built,
        as_json=as_json,
        text=lambda d: (
            f"{d['table']} on {d['coordinator']}: built from epoch {d['built_from_epoch']} "
            f"(map at epoch {d['epoch']}{'' if d['fresh'] else '; stale: run with --refresh'})"
        ),
    )


def sql_command(
    ctx: typer.Context,
    map_name: Annotated[str, typer.Argument(metavar="MAP", help="The shard map whose coordinator to ask.")],
    statement: Annotated[str, typer.Argument(metavar="SQL", help="One read-only statement, run on the coordinator.")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run ad-hoc read-only SQL across MAP's shards through its postgres_fdw coordinator."""
    from datastrata.sharding.adhoc import check_read_sql
    from datastrata.sharding.fdw import Coordinator

    check_read_sql(statement)
    runtime = session(ctx).open()
    coordinator = Coordinator(
        runtime.settings, ShardCatalog(runtime.db), ShardMaps(runtime.db), map_name, server=server
    )
    names, rows = coordinator.sql(statement)
    data = {"columns": names, "rows": [list(row) for row in rows]}
    emit(
        data,
        as_json=as_json,
        text=lambda d: "\n".join(["\t".join(d["columns"]), *("\t".join(str(v) for v in r) for r in d["rows"])]),
    )
