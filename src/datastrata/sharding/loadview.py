"""What ``shards status`` shows of one map: its epoch, load per shard, heaviest keys, hotspots and its reshard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datastrata.core.errors import NotFound
from datastrata.sharding.hotspots import Thresholds, detect
from datastrata.sharding.loadstore import MIGRATIONS, read_load
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.names import check_shard
from datastrata.sharding.relieve import moves_of
from datastrata.stores.database import Database

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime


def map_names(db: Database) -> list[str]:
    """Return the maps with stored epochs or recorded load, by name."""
    ShardMaps(db)
    db.ensure(MIGRATIONS)
    with db.read() as tx:
        rows = tx.query(
            "SELECT name FROM sharding_maps UNION SELECT map_name FROM sharding_load ORDER BY 1",
        )
    return [str(r[0]) for r in rows]


def map_status(runtime: Runtime, map_name: str, *, window: float, thresholds: Thresholds, keys: int) -> dict[str, Any]:
    """Return map `map_name`'s status: epoch and router, load per shard, the `keys` heaviest keys, hotspots, moves."""
    name = check_shard(map_name, field="map")
    try:
        shard_map = ShardMaps(runtime.db).current(name)
    except NotFound:
        shard_map = None
    report = read_load(runtime.db, name, window=window)
    found = report.to_dict(keys=keys)
    if shard_map is not None:  # a shard with no load yet shows, at zero
        listed = {s["shard"] for s in found["shards"]}  # type: ignore[attr-defined]
        found["shards"] += [  # type: ignore[operator]
            {
                "shard": s,
                "reads": 0,
                "writes": 0,
                "bytes": 0,
                "qps": 0.0,
                "reads_per_s": 0.0,
                "writes_per_s": 0.0,
                "bytes_per_s": 0.0,
            }
            for s in shard_map.shards
            if s not in listed
        ]
    return {
        **found,
        "epoch": None if shard_map is None else shard_map.epoch,
        "router": None if shard_map is None else shard_map.router.kind,
        "thresholds": thresholds.to_dict(),
        "hotspots": [h.to_dict() for h in detect(report, shard_map, thresholds)],
        "reshard": moves_of(runtime, name),
    }
