"""``POST /shards/{map}/reshard`` and ``POST /shards/{map}/hotspots/relieve``: long shard work started as a job.

Both answer ``202 Accepted`` with the job (``Location: /jobs/{id}``: state, rows copied of rows planned, the result
once done); a dry run of a reshard answers ``200`` with its plan. ``/shards`` is an operator area of the platform
(admin keys of the default tenant): a range holds every tenant's rows.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from datastrata.api.contract import problems
from datastrata.api.jobs import ACCEPTED, JobOut
from datastrata.core.errors import ValidationError
from datastrata.runtime import Runtime
from datastrata.sharding.hotspots import KEY_QPS, MAX_QPS, RANGE_QPS, Thresholds
from datastrata.sharding.keys import KEY_MAX_BYTES
from datastrata.sharding.load_api import HotspotOut
from datastrata.sharding.loadstore import MAX_WINDOW
from datastrata.sharding.reshard import GRACE, ReshardPlan
from datastrata.sharding.reshard_jobs import PlanOptions, plan_reshard, start_relief, start_reshard
from datastrata.sharding.reshardplan import MAX_ADD

router = APIRouter(tags=["shards"])
MapPath = Annotated[str, Path(max_length=63, description="The shard map")]
#: The longest grace period a request may ask for (a week).
MAX_GRACE = 7 * 86400.0
Grace = Annotated[
    float, Field(ge=0, le=MAX_GRACE, description="Seconds between the last switch and deleting the old copies")
]


class ReshardIn(BaseModel):
    """A reshard: a plan (from ``shards plan --out`` or a dry run) or the options to plan one — exactly one of
    `plan`, `add`, `remove`, `split` or `pin` (with `to`)."""

    model_config = ConfigDict(extra="forbid")

    plan: dict[str, Any] | None = Field(default=None, description="A plan as `shards plan --json` writes it")
    add: int | None = Field(default=None, ge=1, le=MAX_ADD, description="Add N shards (provisioned, empty)")
    remove: str | None = Field(default=None, max_length=63, description="Remove this shard: its slots go elsewhere")
    split: str | None = Field(default=None, max_length=63, description="Split this shard: half its slots move")
    pin: str | None = Field(default=None, max_length=KEY_MAX_BYTES, description="Move this key alone (with to)")
    to: str | None = Field(default=None, max_length=63, description="With pin: the shard the key goes to")
    grace: Grace = GRACE
    dry_run: bool = Field(default=False, description="Only plan it: answer 200 with the plan")


class ReliefIn(BaseModel):
    """How to find the hotspots to relieve (as ``shards hotspots --auto`` takes them)."""

    model_config = ConfigDict(extra="forbid")

    window: float = Field(default=10.0, ge=1.0, le=MAX_WINDOW, description="Seconds of load to average over")
    key_qps: float = Field(default=KEY_QPS, gt=0, le=MAX_QPS, description="Operations per second that make a key hot")
    range_qps: float = Field(
        default=RANGE_QPS, gt=0, le=MAX_QPS, description="Operations per second (hot keys aside) of a hot range"
    )
    grace: Grace = GRACE


class ReliefOut(JobOut):
    """The relief's job, and the hotspots it acts on (``action`` null: none can, said in ``reason``)."""

    hotspots: list[HotspotOut]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post("/shards/{map_name}/reshard", status_code=202, responses={**ACCEPTED, **problems(404, 409, 422)})
def post_reshard(request: Request, map_name: MapPath, body: ReshardIn) -> JSONResponse:
    """Start a reshard of the map as a job (poll ``Location``): the plan given, or one made from the options (its
    new shards provisioned first); ``dry_run`` answers the plan. Posting a running plan again resumes it."""
    runtime = _runtime(request)
    options = PlanOptions(add=body.add, remove=body.remove, split=body.split, pin=body.pin, to=body.to)
    if body.plan is not None:
        if any(v is not None for v in (body.add, body.remove, body.split, body.pin, body.to)):
            raise ValidationError(
                "give either a plan or the options to plan one (add, remove, split, pin)", field="plan"
            )
        plan = ReshardPlan.from_dict(body.plan)
        if plan.map_name != map_name:
            raise ValidationError(f"plan: the plan is of map {plan.map_name!r}, not {map_name!r}", field="plan")
    else:
        plan = plan_reshard(runtime, map_name, options)
    if body.dry_run:
        return JSONResponse(plan.to_dict(), status_code=200)
    job = start_reshard(runtime, plan, grace=body.grace)
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.post(
    "/shards/{map_name}/hotspots/relieve",
    status_code=202,
    responses={202: {"model": ReliefOut, "description": ACCEPTED[202]["description"]}, **problems(404, 409, 422)},
)
def post_relief(request: Request, map_name: MapPath, body: ReliefIn) -> JSONResponse:
    """Relieve the map's hotspots as a job (``shards hotspots --auto``): each hot key pinned to a shard of its own,
    each hot range split, one move after another; the hotspots found are in the answer, each action in the job's
    result."""
    job, found = start_relief(
        _runtime(request),
        map_name,
        window=body.window,
        thresholds=Thresholds(body.key_qps, body.range_qps),
        grace=body.grace,
    )
    return JSONResponse({**job.to_dict(), "hotspots": found}, status_code=202, headers={"Location": f"/jobs/{job.id}"})
