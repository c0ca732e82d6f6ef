"""``datastrata jobs``: the recorded jobs (rebuilds, verifies) with their state — ``interrupted`` when killed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.core.tenancy import current_tenant, tenant_is_set
from datastrata.runtime.jobs import jobs_of
from datastrata.shell import JsonOption, emit, session

app = typer.Typer(no_args_is_help=True, help="Recorded jobs (rebuilds, verifies): list them, show one.")


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List the latest jobs, newest first (a job whose process is gone reads `interrupted`)."""
    found = [j.to_dict() for j in jobs_of(session(ctx).open()).list(limit=limit, tenant=_tenant())]
    emit(found, as_json=as_json, text=_table)


@app.command()
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="A job id (from `jobs list` or a 202's Location).")],
    as_json: JsonOption = False,
) -> None:
    """Show one job: state, progress, owner, error and result."""
    emit([jobs_of(session(ctx).open()).get(job_id, tenant=_tenant()).to_dict()], as_json=as_json, text=_table)


def _tenant() -> str | None:
    """The tenant `--tenant` names (its jobs only), or None: a local operator sees every tenant's."""
    return current_tenant() if tenant_is_set() else None


def _table(jobs: list[dict[str, Any]]) -> str:
    if not jobs:
        return "no jobs"
    lines = []
    for job in jobs:
        progress = f"{job['progress']['position']}/{job['progress']['target']}"
        line = f"{job['id']}  {job['kind']:<8} {job['target']:<20} {job['state']:<12} {progress:>15}  {job['owner']}"
        lines.append(line + (f"\n    {job['error']}" if job["error"] else ""))
    return "\n".join(lines)
