"""Operations routes: ``/health`` (liveness), ``/ready`` (readiness) and the dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from datastrata.runtime import Runtime
from datastrata.runtime import deadletters as operations
from datastrata.runtime.health import report

router = APIRouter(tags=["operations"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _worker_alive(request: Request) -> bool | None:
    thread = getattr(request.app.state, "worker", None)
    return None if thread is None else bool(thread.is_alive())


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Liveness: each follower's position, lag, state and last error; ok / degraded (200) or down (503)."""
    found = report(_runtime(request), worker_alive=_worker_alive(request))
    return JSONResponse(found.to_dict(), status_code=found.http_status)


@router.get("/ready")
def ready(request: Request) -> JSONResponse:
    """Readiness: stores reachable and migrations applied, plus the followers; 503 when not ready."""
    found = report(_runtime(request), ready=True, worker_alive=_worker_alive(request))
    return JSONResponse(found.to_dict(), status_code=found.http_status)


@router.get("/deadletters")
def list_dead_letters(
    request: Request,
    follower: Annotated[str | None, Query(max_length=200, description="Only this follower's or consumer's")] = None,
    status: Annotated[str | None, Query(max_length=20, description="parked, retry, resolved or skipped")] = None,
) -> list[dict[str, Any]]:
    """List dead letters, oldest first."""
    return [x.to_dict() for x in _runtime(request).dead_letters.list(follower, status=status)]


@router.post("/deadletters/{letter_id}/retry")
def retry_dead_letter(letter_id: int, request: Request) -> dict[str, Any]:
    """Try the event again now; on success a halted follower resumes from it."""
    return operations.retry(_runtime(request), letter_id).to_dict()


@router.post("/deadletters/{letter_id}/skip")
def skip_dead_letter(letter_id: int, request: Request) -> dict[str, Any]:
    """Move past the event for good; a halted follower goes on after it."""
    return operations.skip(_runtime(request), letter_id).to_dict()
