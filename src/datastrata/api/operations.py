"""Operations routes: ``/health`` (liveness), ``/ready`` (readiness) and the dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from datastrata.api.bodies import DeadLetterOut, HealthOut, JobOut
from datastrata.api.contract import problems
from datastrata.core.validation import MAX_INT
from datastrata.runtime import Runtime
from datastrata.runtime import deadletters as operations
from datastrata.runtime.health import report
from datastrata.runtime.jobs import jobs_of, rebuild_work

router = APIRouter(tags=["operations"])
LetterId = Annotated[int, Path(ge=1, le=MAX_INT, description="Dead letter id")]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _worker_alive(request: Request) -> bool | None:
    thread = getattr(request.app.state, "worker", None)
    return None if thread is None else bool(thread.is_alive())


@router.get("/health", response_model=HealthOut)
def health(request: Request) -> JSONResponse:
    """Liveness: each follower's position, lag, state and last error; ok / degraded (200) or down (503)."""
    found = report(_runtime(request), worker_alive=_worker_alive(request))
    return JSONResponse(found.to_dict(), status_code=found.http_status)


@router.get("/ready", response_model=HealthOut, responses={503: {"model": HealthOut, "description": "Not ready"}})
def ready(request: Request) -> JSONResponse:
    """Readiness: stores reachable and migrations applied, plus the followers; 503 when not ready."""
    found = report(_runtime(request), ready=True, worker_alive=_worker_alive(request))
    return JSONResponse(found.to_dict(), status_code=found.http_status)


@router.get("/deadletters", response_model=list[DeadLetterOut])
def list_dead_letters(
    request: Request,
    follower: Annotated[str | None, Query(max_length=200, description="Only this follower's or consumer's")] = None,
    status: Annotated[str | None, Query(max_length=20, description="parked, retry, resolved or skipped")] = None,
) -> list[dict[str, Any]]:
    """List dead letters, oldest first."""
    return [x.to_dict() for x in _runtime(request).dead_letters.list(follower, status=status)]


@router.post("/deadletters/{letter_id}/retry", responses=problems(404, 409), response_model=DeadLetterOut)
def retry_dead_letter(letter_id: LetterId, request: Request) -> dict[str, Any]:
    """Try the event again now; on success a halted follower resumes from it."""
    return operations.retry(_runtime(request), letter_id).to_dict()


@router.post("/deadletters/{letter_id}/skip", responses=problems(404, 409), response_model=DeadLetterOut)
def skip_dead_letter(letter_id: LetterId, request: Request) -> dict[str, Any]:
    """Move past the event for good; a halted follower goes on after it."""
    return operations.skip(_runtime(request), letter_id).to_dict()


@router.post("/rebuild/{name}", status_code=202, responses=problems(404, 409), response_model=JobOut)
def post_rebuild(
    request: Request, name: Annotated[str, Path(max_length=200, description="A follower, e.g. match.tv")]
) -> JSONResponse:
    """Start rebuilding one read model beside the live one, as a background job; poll ``Location``."""
    runtime = _runtime(request)
    job = jobs_of(runtime).submit("rebuild", name, rebuild_work(runtime, name))
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000, description="How many, newest first")] = 50
) -> list[dict[str, Any]]:
    """List the latest jobs (rebuilds), newest first."""
    return [j.to_dict() for j in jobs_of(_runtime(request)).list(limit=limit)]


@router.get("/jobs/{job_id}", responses=problems(404), response_model=JobOut)
def get_job(request: Request, job_id: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    """A job's state (queued, running, succeeded, failed), progress (position of target) and error."""
    return jobs_of(_runtime(request)).get(job_id).to_dict()
