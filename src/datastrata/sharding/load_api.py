"""``/shards/status`` and ``/shards/{map}/hotspots``: load per shard, hot keys and ranges with the move for each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from datastrata.api.contract import problems
from datastrata.core.errors import NotFound
from datastrata.runtime import Runtime
from datastrata.sharding.hotspots import KEY_QPS, MAX_QPS, RANGE_QPS, Thresholds
from datastrata.sharding.loadstore import MAX_WINDOW
from datastrata.sharding.loadview import map_names, map_status

router = APIRouter(tags=["shards"])
MapPath = Annotated[str, Path(max_length=63, description="The shard map")]
Window = Annotated[float, Query(ge=1.0, le=MAX_WINDOW, description="Seconds of load to average over")]
KeyQps = Annotated[float, Query(gt=0, le=MAX_QPS, description="Operations per second that make a key hot")]
RangeQps = Annotated[
    float, Query(gt=0, le=MAX_QPS, description="Operations per second (hot keys aside) that make a range hot")
]


class ShardLoadOut(BaseModel):
    """One shard's load over the window, summed over every process."""

    shard: str
    reads: int
    writes: int
    bytes: int = Field(description="Payload bytes appended")
    qps: float = Field(description="Reads and writes per second")
    reads_per_s: float
    writes_per_s: float
    bytes_per_s: float


class KeyLoadOut(BaseModel):
    """One of the heaviest keys (an estimate: at most `error` operations too high, never too low)."""

    shard: str
    key: str
    slot: int
    reads: int
    writes: int
    bytes: int
    error: int
    qps: float


class HotspotOut(BaseModel):
    """A hot key or range and the move that relieves it (``action`` null: none can, said in ``reason``)."""

    kind: str = Field(description="key or range")
    shard: str
    qps: float
    key: str | None = None
    slot: int | None = None
    action: str | None = Field(description="pin (the key to target) or split (the slots from at_slot to target)")
    target: str | None = None
    at_slot: int | None = None
    runs: list[list[int]] | None = Field(default=None, description="The slot runs [first, last] a split moves")
    moved_share: float | None = None
    reason: str | None = None


class MapStatusOut(BaseModel):
    """One map: epoch, router, load per shard, heaviest keys, hotspots and its latest reshard."""

    map: str
    epoch: int | None
    router: str | None
    window_seconds: float
    processes: int = Field(description="How many processes flushed load in the window")
    shards: list[ShardLoadOut]
    keys: list[KeyLoadOut]
    thresholds: dict[str, float]
    hotspots: list[HotspotOut]
    reshard: dict[str, Any] | None = Field(description="The latest reshard: plan, state, epoch, each move's step")


class StatusOut(BaseModel):
    """Every map asked for."""

    maps: list[MapStatusOut]


class HotspotsOut(BaseModel):
    """A map's hotspots."""

    map: str
    hotspots: list[HotspotOut]
    thresholds: dict[str, float]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/shards/status", responses=problems(422), response_model=StatusOut)
def get_status(
    request: Request,
    map_name: Annotated[
        str | None, Query(alias="map", max_length=63, description="One map (default: every map)")
    ] = None,
    window: Window = 10.0,
    key_qps: KeyQps = KEY_QPS,
    range_qps: RangeQps = RANGE_QPS,
    keys: Annotated[int, Query(ge=1, le=1000, description="How many of the heaviest keys")] = 10,
) -> dict[str, Any]:
    """Each map's load per shard over the window (every process's), its heaviest keys, hotspots and moves."""
    runtime = _runtime(request)
    limits = Thresholds(key_qps, range_qps)
    names = [map_name] if map_name is not None else map_names(runtime.db)
    return {"maps": [map_status(runtime, n, window=window, thresholds=limits, keys=keys) for n in names]}


@router.get("/shards/{map_name}/hotspots", responses=problems(404, 422), response_model=HotspotsOut)
def get_hotspots(
    request: Request,
    map_name: MapPath,
    window: Window = 10.0,
    key_qps: KeyQps = KEY_QPS,
    range_qps: RangeQps = RANGE_QPS,
) -> dict[str, Any]:
    """The map's hot keys and ranges, each with the move that relieves it (``datastrata shards hotspots --auto``)."""
    found = map_status(_runtime(request), map_name, window=window, thresholds=Thresholds(key_qps, range_qps), keys=0)
    if found["epoch"] is None:
        raise NotFound(f"no shard map {map_name!r}; create it first (ShardMaps.create)", field="map")
    return {"map": map_name, "hotspots": found["hotspots"], "thresholds": found["thresholds"]}
