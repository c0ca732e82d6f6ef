"""Operations routes: ``/health`` (liveness), ``/ready`` (readiness) and the dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from datastrata.api.bodies import DeadLetterOut, HealthOut
from datastrata.api.contract import problems
from datastrata.api.jobs import ACCEPTED, JobOut, start_job
from datastrata.api.pagination import (
    DEFAULT_PAGE,
    CursorQuery,
    LimitQuery,
    Page,
    cursor_time,
    keyset_after,
    keyset_page,
)
from datastrata.core.validation import MAX_INT
from datastrata.runtime import Runtime
from datastrata.runtime import deadletters as operations
from datastrata.runtime.health import report
from datastrata.runtime.jobs import jobs_of, rebuild_work
from datastrata.security.auth import principal_of, tenant_filter

router = APIRouter(tags=["operations"])
LetterId = Annotated[int, Path(ge=1, le=MAX_INT, description="Dead letter id")]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _worker_alive(request: Request) -> bool | None:
    thread = getattr(request.app.state, "worker", None)
    return None if thread is None else bool(thread.is_alive())


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut, "description": "Down"}})
def health(request: Request) -> JSONResponse:
    """Liveness: each follower's position, lag, state and last error; ok / degraded (200) or down (503)."""
    found = report(_runtime(request), worker_alive=_worker_alive(request))
    return JSONResponse(found.to_dict(), status_code=found.http_status)


@router.get("/ready", response_model=HealthOut, responses={503: {"model": HealthOut, "description": "Not ready"}})
def ready(request: Request) -> JSONResponse:
    """Readiness: stores reachable and migrations applied, plus the followers; 503 when not ready."""
    found = report(_runtime(request), ready=True, worker_alive=_worker_alive(request))
    return JSONResponse(found.to_dict(), status_code=found.http_status)


@router.get("/deadletters", responses=problems(422), response_model=Page[DeadLetterOut])
def list_dead_letters(
    request: Request,
    follower: Annotated[str | None, Query(max_length=200, description="Only this follower's or consumer's")] = None,
    status: Annotated[str | None, Query(max_length=20, description="parked, retry, resolved or skipped")] = None,
    limit: LimitQuery = DEFAULT_PAGE,
    cursor: CursorQuery = None,
) -> Page[dict[str, Any]]:
    """List dead letters, oldest first, a page at a time (a keyset cursor: stable while letters are added)."""
    after = keyset_after(cursor, "deadletters", (int,))
    found = _runtime(request).dead_letters.list(
        follower, status=status, after=None if after is None else after[0], limit=limit + 1
    )
    return keyset_page([x.to_dict() for x in found], kind="deadletters", limit=limit, key=lambda x: (x["id"],))


@router.post("/deadletters/{letter_id}/retry", responses=problems(404, 409), response_model=DeadLetterOut)
def retry_dead_letter(letter_id: LetterId, request: Request) -> dict[str, Any]:
    """Try the event again now; on success a halted follower resumes from it."""
    return operations.retry(_runtime(request), letter_id).to_dict()


@router.post("/deadletters/{letter_id}/skip", responses=problems(404, 409), response_model=DeadLetterOut)
def skip_dead_letter(letter_id: LetterId, request: Request) -> dict[str, Any]:
    """Move past the event for good; a halted follower goes on after it."""
    return operations.skip(_runtime(request), letter_id).to_dict()


@router.post("/rebuild/{name}", status_code=202, responses={**ACCEPTED, **problems(404, 409)})
def post_rebuild(
    request: Request, name: Annotated[str, Path(max_length=200, description="A follower, e.g. match.tv")]
) -> JSONResponse:
    """Start rebuilding one read model beside the live one, as a background job; poll ``Location``."""
    runtime = _runtime(request)
    return start_job(runtime, "rebuild", name, rebuild_work(runtime, name))


@router.get("/jobs", responses=problems(422))
def list_jobs(request: Request, limit: LimitQuery = DEFAULT_PAGE, cursor: CursorQuery = None) -> Page[JobOut]:
    """List jobs (rebuilds, verifies), newest first, a page at a time; a tenant's admin sees its own only."""
    after = keyset_after(cursor, "jobs", (str, str))
    before = None if after is None else (cursor_time(after[0]), after[1])
    who = tenant_filter(principal_of(request))  # a tenant's admin sees its own jobs only
    found = jobs_of(_runtime(request)).list(limit=limit + 1, before=before, tenant=who)
    jobs = [JobOut(**j.to_dict()) for j in found]
    return keyset_page(jobs, kind="jobs", limit=limit, key=lambda j: (j.created_at, j.id))


@router.get("/jobs/{job_id}", responses=problems(404), response_model=JobOut)
def get_job(request: Request, job_id: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    """A job's state (queued, running, succeeded, failed, interrupted), progress (position of target) and error."""
    return jobs_of(_runtime(request)).get(job_id, tenant=tenant_filter(principal_of(request))).to_dict()
