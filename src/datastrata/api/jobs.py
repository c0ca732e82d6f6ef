"""Long HTTP work as a background job: ``202 Accepted`` with the job resource and ``Location: /jobs/{id}``."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from datastrata.runtime import Runtime
from datastrata.runtime.jobs import Work, jobs_of


class ProgressOut(BaseModel):
    """How far a job has got: `position` of `target` (log positions for a rebuild)."""

    position: int
    target: int


class JobOut(BaseModel):
    """A job as ``GET /jobs/{id}`` shows it."""

    id: str
    kind: str = Field(description="What it does: rebuild, verify")
    target: str = Field(description="What it works on: a read model, a system")
    state: str = Field(description="queued, running, succeeded, failed or interrupted (its process is gone)")
    progress: ProgressOut
    error: str | None
    result: Any = Field(description="The work's result once succeeded")
    created_at: str
    started_at: str | None
    finished_at: str | None
    owner: str | None = Field(description="host:pid of the process running it")
    tenant: str = Field(description="The tenant the job works for")


#: The OpenAPI entry of a route that answers 202 with a job.
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"model": JobOut, "description": "Started as a background job; poll the `Location` header (GET /jobs/{id})"}
}


def start_job(runtime: Runtime, kind: str, target: str, work: Work) -> JSONResponse:
    """Submit `work` as a background job of `runtime` and answer 202 with the job and where to poll it."""
    job = jobs_of(runtime).submit(kind, target, work)
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/jobs/{job.id}"})
