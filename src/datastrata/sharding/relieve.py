"""Acting on hotspots (``shards hotspots --auto``): each hot key pinned to a new shard, each hot range split.

Each action is one reshard (item 4's workflow, :mod:`datastrata.sharding.reshard`) run to completion before the
next is planned, so every plan is made at the map's current epoch. The new shard a hotspot names is provisioned
through the shard catalogue first (a SQLite file beside the home, or a PostgreSQL database) when the runtime's
placement has no location of that name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from datastrata.core.errors import NotFound, ValidationError
from datastrata.runtime.runtime import Runtime
from datastrata.sharding.catalog import ShardCatalog
from datastrata.sharding.hotspots import Thresholds
from datastrata.sharding.placement import ByShard, StoredMap
from datastrata.sharding.reshard import GRACE, ReshardStatus, run_reshard
from datastrata.sharding.reshardplan import ReshardPlan, plan_pin, plan_split


def act(
    runtime: Runtime,
    map_name: str,
    hotspots: list[dict[str, Any]],
    *,
    grace: float = GRACE,
    on_progress: Callable[[ReshardStatus], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the move each hotspot names (pin or split), one after another; return each one's plan and outcome."""
    done: list[dict[str, Any]] = []
    for hot in hotspots:
        if hot["action"] is None:
            continue
        with moving_runtime(runtime, map_name, str(hot["target"])) as moving:
            plan = _plan(moving, map_name, hot)
            status = run_reshard(moving, plan, grace=grace, on_progress=on_progress)
        done.append(
            {
                "plan": _asked(hot),
                "applied": True,
                "reshard": {"plan_id": plan.plan_id, "moves": [m.to_dict() for m in plan.moves]},
                "status": status.to_dict(),
            }
        )
    return done


def hotspots_of(runtime: Runtime, map_name: str, *, window: float, thresholds: Thresholds) -> list[dict[str, Any]]:
    """The hot keys and ranges of `map_name` over the last `window` seconds, each with the move that relieves it."""
    from datastrata.sharding.loadview import map_status

    found = map_status(runtime, map_name, window=window, thresholds=thresholds, keys=0)
    if found["epoch"] is None:
        raise NotFound(f"no shard map {map_name!r}; create it first (ShardMaps.create)", field="map")
    return list(found["hotspots"])


def _plan(runtime: Runtime, map_name: str, hot: dict[str, Any]) -> ReshardPlan:
    if hot["action"] == "pin":
        return plan_pin(runtime, map_name, str(hot["key"]), str(hot["target"]))
    return plan_split(runtime, map_name, str(hot["shard"]))


def _asked(hot: dict[str, Any]) -> dict[str, Any]:
    return {k: hot[k] for k in ("action", "shard", "key", "target", "at_slot", "runs") if k in hot}


def routes_by(runtime: Runtime, map_name: str) -> ByShard | None:
    """The runtime's placement when it is by_shard over stored map `map_name` (else None)."""
    placement = runtime.placement
    if not isinstance(placement, ByShard):
        return None
    source = placement.source
    return placement if isinstance(source, StoredMap) and source.name == map_name else None


@contextlib.contextmanager
def moving_runtime(runtime: Runtime, map_name: str, target: str | None = None) -> Iterator[Runtime]:
    """Yield a runtime routing by map `map_name` with a location for shard `target` (provisioned if need be).

    `runtime` itself when its placement is that map's and has the location; else a runtime over the catalogued
    shards of the map (closed after), with `target` provisioned through the catalogue first.
    """
    placement = routes_by(runtime, map_name)
    if placement is not None and (target is None or target in placement.shards):
        yield runtime
        return
    catalog = ShardCatalog(runtime.db)
    if not catalog.entries(map_name):
        raise ValidationError(
            f"map {map_name!r} has no catalogued shards and this runtime's placement has no location for shard "
            f"{target!r}; add the shard location (or `datastrata shards init`) first",
            field="map",
        )
    if target is not None:
        catalog.provision(runtime.settings, map_name, target)
    with Runtime.open(runtime.settings, placement=catalog.placement(map_name, runtime.home.spec)) as opened:
        yield opened


def moves_of(runtime: Runtime, map_name: str) -> dict[str, Any] | None:
    """Where the latest reshard of `map_name` stands (None: never resharded, or no shards to read it by)."""
    from datastrata.sharding.reshard import reshard_status

    try:
        with moving_runtime(runtime, map_name) as moving:
            status = reshard_status(moving, map_name)
    except (NotFound, ValidationError):  # a map with no stored epochs or no catalogued shards: no reshard yet
        return None
    return None if status is None else status.to_dict()
