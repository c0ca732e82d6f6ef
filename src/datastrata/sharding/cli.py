"""``datastrata shards``: ask a router or a stored shard map which shard a key lives on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_int, read_json_file
from datastrata.sharding import catalog_cli, reshard_cli
from datastrata.sharding.codec import router_from_dict
from datastrata.sharding.keys import KEY_TYPES, Key, encode_key
from datastrata.sharding.loadcli import hotspots, status
from datastrata.sharding.shardmap import ShardMap
from datastrata.shell import JsonOption, emit

app = typer.Typer(
    no_args_is_help=True, help="Sharding: shard maps, their shards as real stores, and which shard a key lives on."
)
_QUICK_KINDS = ("ring", "jump", "rendezvous")
app.command()(status)  # load per shard, hot keys and ranges
app.command()(hotspots)  # ... and acting on them
app.command("init")(catalog_cli.init)
app.command("list")(catalog_cli.list_maps)
app.command("plan")(reshard_cli.plan)
app.command("reshard")(reshard_cli.reshard)
app.command("reverse")(reshard_cli.reverse)
app.command("reshard-status")(reshard_cli.status)
app.command("scatter")(catalog_cli.scatter_command)
app.command("coordinator")(catalog_cli.coordinator_command)
app.command("sql")(catalog_cli.sql_command)


@app.command()
def route(
    key: Annotated[str, typer.Argument(help="The key: text, or a whole number with --key-type int, or hex bytes.")],
    router: Annotated[
        Path | None,
        typer.Option("--router", help="A JSON file holding a router's dict, or a shard map {epoch, router}."),
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Instead of a file: ring, jump or rendezvous.")] = None,
    shards: Annotated[str | None, typer.Option("--shards", help="With --kind: shard names, comma-separated.")] = None,
    vnodes: Annotated[int | None, typer.Option("--vnodes", help="With --kind ring: virtual nodes per shard.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="With --kind: the hash seed.")] = 0,
    key_type: Annotated[str, typer.Option("--key-type", help="How to read KEY: str, int or bytes (hex).")] = "str",
    as_json: JsonOption = False,
) -> None:
    """Print the shard KEY goes to (and the shard map's epoch when --router names a map)."""
    shard_map, epoch = _shard_map(router, kind, shards, vnodes, seed)
    parsed = _key(key, key_type)
    routed = shard_map.route(parsed)
    emit(
        {
            "key": key,
            "key_type": key_type,
            "shard": routed.shard,
            "epoch": epoch,
            "router": shard_map.router.kind,
        },
        as_json=as_json,
        text=lambda data: data["shard"] + (f" (epoch {data['epoch']})" if data["epoch"] is not None else ""),
    )


def _shard_map(
    path: Path | None, kind: str | None, shards: str | None, vnodes: int | None, seed: int
) -> tuple[ShardMap, int | None]:
    """The map to route with, and its epoch (None for a bare router, which has no epoch)."""
    if (path is None) == (kind is None):
        raise ValidationError(
            "give either --router FILE or --kind with --shards (not both, not neither)", field="router"
        )
    if path is not None:
        data = read_json_file(path, field="router", what="router file")
        if isinstance(data, dict) and "router" in data:
            shard_map = ShardMap.from_dict(data)
            return shard_map, shard_map.epoch
        return ShardMap(router_from_dict(data)), None
    if kind not in _QUICK_KINDS:
        raise ValidationError(
            f"--kind must be one of {', '.join(_QUICK_KINDS)} (range and directory routers come from --router FILE); "
            f"got {kind!r}",
            field="kind",
        )
    if not shards:
        raise ValidationError("--shards is required with --kind, e.g. --shards s0,s1,s2", field="shards")
    spec: dict[str, Any] = {"kind": kind, "shards": [name.strip() for name in shards.split(",")], "seed": seed}
    if vnodes is not None:
        if kind != "ring":
            raise ValidationError("--vnodes applies to --kind ring only", field="vnodes")
        spec["vnodes"] = vnodes
    return ShardMap(router_from_dict(spec)), None


def _key(text: str, key_type: str) -> Key:
    if key_type not in KEY_TYPES:
        raise ValidationError(f"--key-type must be one of {', '.join(KEY_TYPES)}; got {key_type!r}", field="key_type")
    key: Key
    if key_type == "int":
        key = bounded_int(text, field="key", minimum=-(2**63), maximum=2**63 - 1)
    elif key_type == "bytes":
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise ValidationError(
                f"key must be hex digits with --key-type bytes; got {text[:40]!r}", field="key"
            ) from None
    else:
        key = text
    encode_key(key)
    return key
