"""``POST /tenants/{id}/offboard``: delete a tenant everywhere as a job (202 + ``Location``), after an export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from datastrata.api.contract import problems
from datastrata.api.jobs import ACCEPTED, start_job
from datastrata.runtime import Runtime
from datastrata.security.auth import principal_of
from datastrata.tenancy.offboard import check_offboarding, offboard_tenant

router = APIRouter(tags=["tenants"])
TenantPath = Annotated[str, Path(max_length=63, description="The tenant's id")]
#: The job kind of an offboarding (one per tenant at a time).
JOB_KIND = "tenant.offboard"


@router.post("/tenants/{tenant_id}/offboard", status_code=202, responses={**ACCEPTED, **problems(404, 409, 422)})
def post_offboard(request: Request, tenant_id: TenantPath) -> JSONResponse:
    """Offboard a tenant (its rows, events, objects, keys and own location) as a job; refused without an export."""
    runtime: Runtime = request.app.state.runtime
    check_offboarding(runtime, tenant_id)  # refusals answer at once: 404, 409 (moving, no or stale export)
    actor = principal_of(request).actor

    def work(progress: Any) -> dict[str, Any]:
        return offboard_tenant(runtime, tenant_id, actor=actor).to_dict()

    return start_job(runtime, JOB_KIND, tenant_id, work)
