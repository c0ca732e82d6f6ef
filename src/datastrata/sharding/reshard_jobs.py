"""Resharding and hotspot relief as jobs: a plan made from its options (its new shards provisioned), then run.

``POST /shards/{map}/reshard`` and ``POST /shards/{map}/hotspots/relieve`` start their work here as a job of the
runtime's jobs (``GET /jobs/{id}``: state, rows copied of rows planned, the reshard's status as its result), after
every check a client can be told about at once (bad options 422, an unknown map 404, an unfinished reshard 409);
``datastrata shards plan`` makes its plans through :func:`plan_reshard` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.core.validation import bounded_int
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.runtime.runtime import Runtime
from datastrata.sharding.catalog import ShardCatalog, provision_all
from datastrata.sharding.hotspots import Thresholds
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.names import check_shard, numbered
from datastrata.sharding.relieve import act, hotspots_of, moving_runtime
from datastrata.sharding.reshard import (
    GRACE,
    ReshardPlan,
    ReshardStatus,
    admitted,
    plan_add,
    plan_pin,
    plan_remove,
    plan_split,
    run_reshard,
)
from datastrata.sharding.reshardplan import MAX_ADD

#: The job kinds (``GET /jobs``, ``datastrata jobs list``); a job's target is the map's name.
RESHARD_JOB, RELIEVE_JOB = "reshard", "relieve"


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """What a reshard does, as ``shards plan`` takes it: exactly one of add, remove, split or pin (with `to`)."""

    add: int | None = None
    remove: str | None = None
    split: str | None = None
    pin: str | None = None
    to: str | None = None

    def checked(self) -> PlanOptions:
        """Return the options once exactly one action is given and each is valid (else ValidationError)."""
        given = [n for n, v in (("add", self.add), ("remove", self.remove), ("split", self.split), ("pin", self.pin))]
        chosen = [n for n in given if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValidationError("give exactly one of add N, remove S, split S or pin KEY with to S", field="add")
        if self.add is not None:
            bounded_int(self.add, field="add", minimum=1, maximum=MAX_ADD)
        for name in ("remove", "split", "to"):
            value = getattr(self, name)
            if value is not None:
                check_shard(value, field=name)
        if self.pin is not None and self.to is None:
            raise ValidationError("pin KEY needs to SHARD (the shard the key goes to)", field="to")
        if self.to is not None and self.pin is None:
            raise ValidationError("to SHARD goes with pin KEY only", field="to")
        return self


def plan_reshard(runtime: Runtime, map_name: str, options: PlanOptions) -> ReshardPlan:
    """Plan a reshard of `map_name` (a dry run), first making the stores its new shards need (empty, migrated,
    routed to by nothing) through the shard catalogue, so the plan's targets are real."""
    name, options = check_shard(map_name, field="map"), options.checked()
    catalog = ShardCatalog(runtime.db)
    current = ShardMaps(runtime.db).current(name)
    known = {e.shard for e in catalog.entries(name)}
    wanted: list[str] = []
    if options.add is not None:
        wanted = [s for s in known if s not in current.shards]  # catalogued, unrouted: the first to be used
        wanted += numbered(max(0, options.add - len(wanted)), taken=known)
    elif options.split is not None and not [s for s in known if s not in current.shards]:
        wanted = numbered(1, taken=known)
    elif options.to is not None:
        wanted = [options.to]
    provision_all(runtime.settings, catalog, name, [s for s in wanted if s not in known])
    with moving_runtime(runtime, name) as sharded:
        if options.add is not None:
            return plan_add(sharded, name, options.add)
        if options.remove is not None:
            return plan_remove(sharded, name, options.remove)
        if options.split is not None:
            return plan_split(sharded, name, options.split)
        assert options.pin is not None and options.to is not None
        return plan_pin(sharded, name, options.pin, options.to)


def start_reshard(runtime: Runtime, plan: ReshardPlan, *, grace: float = GRACE) -> Job:
    """Run `plan` as a background job of `runtime` (resumed where its journal stopped); return the queued job.

    Refused before any job starts: a plan that may not run now (:func:`datastrata.sharding.reshard.admitted`).
    The job's progress is rows copied of rows planned; its result is the reshard's final status.
    """
    with moving_runtime(runtime, plan.map_name) as sharded:
        admitted(sharded, plan)

    def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
        def report(status: ReshardStatus) -> None:
            progress(status.copied, status.rows)

        with moving_runtime(runtime, plan.map_name) as sharded:
            return run_reshard(sharded, plan, grace=grace, on_progress=report).to_dict()

    return jobs_of(runtime).submit(RESHARD_JOB, plan.map_name, work)


def start_relief(
    runtime: Runtime, map_name: str, *, window: float, thresholds: Thresholds, grace: float = GRACE
) -> tuple[Job, list[dict[str, Any]]]:
    """Relieve `map_name`'s hotspots as a background job (what ``shards hotspots --auto`` does): the queued job and
    the hotspots found now. The job runs the move each names, one after another; its progress is rows copied of
    rows planned over the moves so far, its result each action's plan and outcome."""
    found = hotspots_of(runtime, map_name, window=window, thresholds=thresholds)

    def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
        actions = act(runtime, map_name, found, grace=grace, on_progress=_Summed(progress))
        return {"map": map_name, "hotspots": found, "actions": actions}

    return jobs_of(runtime).submit(RELIEVE_JOB, map_name, work), found


class _Summed:
    """Rows copied and planned over a run of reshards, reported as one job's progress."""

    def __init__(self, progress: Callable[[int, int], None]) -> None:
        self.progress = progress
        self.before = (0, 0)
        self.last: tuple[str, int, int] | None = None

    def __call__(self, status: ReshardStatus) -> None:
        if self.last is not None and self.last[0] != status.plan_id:  # the previous action finished
            self.before = (self.before[0] + self.last[1], self.before[1] + self.last[2])
        self.last = (status.plan_id, status.copied, status.rows)
        self.progress(self.before[0] + status.copied, self.before[1] + status.rows)
