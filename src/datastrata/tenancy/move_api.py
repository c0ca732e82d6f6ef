"""``/tenants/{id}/moves``: start a tenant's move as a job (202 + ``Location``), list its moves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from datastrata.api.contract import problems
from datastrata.api.jobs import ACCEPTED
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import Job
from datastrata.runtime.moves import Plan
from datastrata.tenancy.move import GRACE, move_status, start_move

router = APIRouter(tags=["tenants"])
TenantPath = Annotated[str, Path(max_length=63, description="The tenant's id")]


class MoveIn(BaseModel):
    """Where to move the tenant, or only plan it."""

    to: str = Field(max_length=40, description="shared, dedicated-storage or dedicated-infrastructure")
    dry_run: bool = False
    grace: float = Field(
        default=GRACE, ge=0, le=7 * 86400, description="Seconds between the switch and deleting the source's copy"
    )


class MoveOut(BaseModel):
    """One move as journalled."""

    id: str
    kind: str = Field(description="What moves: tenant")
    subject: str = Field(description="The tenant")
    source: dict[str, Any] = Field(description="Model, location and spec it moves from")
    target: dict[str, Any] = Field(description="Model, location and spec it moves to")
    step: str = Field(
        description="plan, restore, copy, events, catchup, followers, closed, fence, delta, verify, switch, grace, "
        "complete"
    )
    state: str = Field(description="running, switched, completed, failed or reversed")
    cursors: dict[str, Any] = Field(
        description="Where each step stands (rows copied, log positions; restores asked for and their ETA)"
    )
    timings: dict[str, Any] = Field(description="When each stage began, and seconds per step")
    error: str | None = Field(description="Why it failed or was reversed")
    created_at: str | None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post("/tenants/{tenant_id}/moves", status_code=202, responses={**ACCEPTED, **problems(404, 409, 422)})
def post_move(request: Request, tenant_id: TenantPath, body: MoveIn) -> JSONResponse:
    """Start moving a tenant to another model as a background job (poll ``Location``); ``dry_run``: the plan."""
    found = start_move(_runtime(request), tenant_id, body.to, dry_run=body.dry_run, grace=body.grace)
    if isinstance(found, Plan):
        return JSONResponse(found.to_dict(), status_code=200)
    assert isinstance(found, Job)
    return JSONResponse(found.to_dict(), status_code=202, headers={"Location": f"/jobs/{found.id}"})


@router.get("/tenants/{tenant_id}/moves", responses=problems(404), response_model=list[MoveOut])
def get_moves(request: Request, tenant_id: TenantPath) -> list[dict[str, Any]]:
    """A tenant's moves, newest first: step, state, cursors, timings and error."""
    return [m.to_dict() for m in move_status(_runtime(request), tenant_id)]
