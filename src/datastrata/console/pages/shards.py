"""The shards page: load per shard, hot keys and hotspots, a reshard plan (as ``shards plan`` makes it) and its
application as a job (the ``POST /shards/{map}/reshard`` job), followed to the map's new epoch.

Shard maps hold every tenant's rows, so the page is the platform operator's (an admin of tenant ``default``), as
the ``/shards`` API is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from datastrata.console.access import Acting, Viewer, Visitor
from datastrata.console.charts.bars import bars
from datastrata.console.charts.progress import fraction
from datastrata.console.pages import Page
from datastrata.console.render import PREFIX, fragment, page
from datastrata.console.routing import console_router
from datastrata.core.errors import DatastrataError, Forbidden, NotFound, RuleViolation
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.security.auth import is_platform_operator
from datastrata.sharding.hotspots import KEY_QPS, MAX_QPS, RANGE_QPS, Thresholds
from datastrata.sharding.loadstore import MAX_WINDOW
from datastrata.sharding.loadview import map_names, map_status
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.names import check_shard
from datastrata.sharding.reshard import GRACE
from datastrata.sharding.reshard_jobs import (
    RELIEVE_JOB,
    RESHARD_JOB,
    PlanOptions,
    plan_reshard,
    start_relief,
    start_reshard,
)
from datastrata.sharding.reshardplan import MAX_ADD, ReshardPlan

router = console_router("shards")
PAGE = Page(
    "shards",
    "Shards",
    80,
    "Load per shard, hot keys, a reshard plan and its progress to the map's next epoch.",
    router,
)
MapQuery = Annotated[str | None, Query(max_length=63, description="The shard map shown")]
WindowQuery = Annotated[float, Query(ge=1.0, le=MAX_WINDOW, description="Seconds of load to average over")]
KeyQpsQuery = Annotated[float, Query(gt=0, le=MAX_QPS, description="Operations per second that make a key hot")]
RangeQpsQuery = Annotated[
    float, Query(gt=0, le=MAX_QPS, description="Operations per second (hot keys aside) that make a range hot")
]
#: Seconds of load the page averages over unless asked (longer than the API's 10 s: a person reads it).
WINDOW = 60.0
#: The longest grace a reshard started here may ask for (as the API allows: a week).
MAX_GRACE = 7 * 86400.0
ACTIONS = ("add", "remove", "split")


def _runtime(request: Request, visitor: Visitor) -> Runtime:
    """The app's runtime, for the platform operator only (a shard holds every tenant's rows)."""
    if not is_platform_operator(visitor.principal):
        raise Forbidden(
            "shard maps span every tenant: only the platform operator (an admin key of tenant default) sees them"
        )
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("")
def shards_page(
    request: Request,
    map: MapQuery = None,
    window: WindowQuery = WINDOW,
    key_qps: KeyQpsQuery = KEY_QPS,
    range_qps: RangeQpsQuery = RANGE_QPS,
    visitor: Visitor = Viewer(),
) -> HTMLResponse:
    """Every shard map; the chosen one's load per shard, heaviest keys, hotspots, latest reshard and its job."""
    runtime = _runtime(request, visitor)
    names = map_names(runtime.db)
    chosen = map if map is not None else (names[0] if names else None)
    context: dict[str, Any] = {"maps": names, "chosen": chosen, "window": window, "actions": ACTIONS}
    if chosen is not None:
        status = map_status(runtime, check_shard(chosen, field="map"), window=window,
                            thresholds=Thresholds(key_qps, range_qps), keys=10)  # fmt: skip
        if status["epoch"] is None:
            raise NotFound(f"no shard map {chosen!r}; the maps are: {', '.join(names) or 'none yet'}", field="map")
        load = [(s["shard"], float(s["qps"])) for s in sorted(status["shards"], key=lambda s: s["shard"])]
        context.update(
            mapped=status,
            load=bars(load, label=f"Operations per second per shard of {chosen} over {window:g} s", unit="/s"),
            progress=_progress(runtime, visitor, chosen),
            grace=GRACE,
            max_add=MAX_ADD,
        )
    return page(request, "shards.html", title="Shards", **context)


def _progress(runtime: Runtime, visitor: Visitor, map_name: str) -> dict[str, Any]:
    """The map's latest reshard or relief job (rows copied of rows planned, state, epoch reached); polled while it
    runs."""
    mine = jobs_of(runtime).list(tenant=visitor.principal.tenant, limit=200)
    job: Job | None = next((j for j in mine if j.kind in (RESHARD_JOB, RELIEVE_JOB) and j.target == map_name), None)
    epoch = ShardMaps(runtime.db).current(map_name).epoch
    view: dict[str, Any] = {
        "map": map_name,
        "epoch": epoch,
        "job": None if job is None else job.to_dict(),
        "live": job is not None and not job.finished,
        "href": f"{PREFIX}/shards/{map_name}/progress",
    }
    if job is not None:
        view["rows"] = fraction(job.position, job.goal, label=f"Reshard job {job.id}: rows copied of rows planned")
    return view


@router.get("/{map_name}/progress")
def reshard_progress(request: Request, map_name: str, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The map's latest reshard job as an htmx fragment (polled every second while it runs)."""
    runtime = _runtime(request, visitor)
    return fragment("shards_progress.html", progress=_progress(runtime, visitor, check_shard(map_name, field="map")))


def _options(action: str, count: int | None, shard: str | None) -> PlanOptions:
    """The plan's options from the form: add N shards, or remove or split one."""
    if action == "add":
        return PlanOptions(add=count)
    if action == "remove":
        return PlanOptions(remove=shard)
    return PlanOptions(split=shard)


Action = Annotated[str, Form(pattern="^(add|remove|split)$", description="add, remove or split")]
Count = Annotated[int | None, Form(ge=1, le=MAX_ADD, description="With add: how many shards")]
Shard = Annotated[str | None, Form(max_length=63, description="With remove or split: the shard")]


@router.post("/{map_name}/plan")
def post_plan(
    request: Request,
    map_name: str,
    action: Action,
    count: Count = None,
    shard: Shard = None,
    visitor: Visitor = Acting("admin"),
) -> HTMLResponse:
    """Plan a reshard (a dry run; its new shards' stores are provisioned, routed to by nothing) as an htmx fragment."""
    runtime = _runtime(request, visitor)
    try:
        plan: ReshardPlan | None = plan_reshard(runtime, map_name, _options(action, count, shard or None))
        problem = None
    except DatastrataError as exc:  # shown where the plan would be: the form stays as it was
        plan, problem = None, exc
    return fragment(
        "shards_plan.html",
        plan=None if plan is None else plan.to_dict(),
        problem=None if problem is None else {"message": problem.message, "field": problem.field},
        asked={"action": action, "count": count, "shard": shard},
        map=map_name,
        grace=GRACE,
        visitor=visitor,
        prefix=PREFIX,
    )


@router.post("/{map_name}/reshard")
def post_reshard(
    request: Request,
    map_name: str,
    action: Action,
    base_epoch: Annotated[int, Form(ge=1, description="The epoch the plan shown was made at")],
    count: Count = None,
    shard: Shard = None,
    grace: Annotated[float, Form(ge=0, le=MAX_GRACE)] = GRACE,
    visitor: Visitor = Acting("admin"),
) -> RedirectResponse:
    """Apply the plan shown: planned again from its options at the same epoch, run as the reshard job."""
    runtime = _runtime(request, visitor)
    plan = plan_reshard(runtime, map_name, _options(action, count, shard or None))
    if plan.base_epoch != base_epoch:
        raise RuleViolation(
            f"map {map_name} is at epoch {plan.base_epoch} now, not {base_epoch} as when the plan was shown; "
            "plan it again",
            field="base_epoch",
        )
    start_reshard(runtime, plan, grace=grace)
    return RedirectResponse(f"{PREFIX}/shards?map={map_name}", status_code=303)


@router.post("/{map_name}/relieve")
def post_relieve(
    request: Request,
    map_name: str,
    window: Annotated[float, Form(ge=1.0, le=MAX_WINDOW)] = WINDOW,
    key_qps: Annotated[float, Form(gt=0, le=MAX_QPS)] = KEY_QPS,
    range_qps: Annotated[float, Form(gt=0, le=MAX_QPS)] = RANGE_QPS,
    grace: Annotated[float, Form(ge=0, le=MAX_GRACE)] = GRACE,
    visitor: Visitor = Acting("admin"),
) -> RedirectResponse:
    """Relieve the hotspots shown as one job (``POST /shards/{map}/hotspots/relieve``): each hot key pinned to a shard
    of its own, each hot range split, one move after another."""
    runtime = _runtime(request, visitor)
    name = check_shard(map_name, field="map")
    start_relief(runtime, name, window=window, thresholds=Thresholds(key_qps, range_qps), grace=grace)
    shown = f"map={name}&window={window:g}&key_qps={key_qps:g}&range_qps={range_qps:g}"
    return RedirectResponse(f"{PREFIX}/shards?{shown}", status_code=303)
