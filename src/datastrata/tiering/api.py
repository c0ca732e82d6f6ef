"""HTTP routes of tiering (``/tiering``): the plan, the move audit, restores as jobs, one query over all tiers.

The policies are the ones ``serve --tiering POLICY`` runs (``app.state.tiering``: name → Mover); a route takes
``policy`` when more than one is served. Viewers read; editors request restores (202, ``Location: /jobs/{id}``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from datastrata.api.bodies import Body
from datastrata.api.contract import problems
from datastrata.api.idempotency import EventIdField, KeyHeader
from datastrata.api.jobs import JobOut
from datastrata.api.pagination import (
    DEFAULT_PAGE,
    CursorQuery,
    LimitQuery,
    Page,
    cursor_time,
    keyset_after,
    keyset_page,
)
from datastrata.core.clock import ensure_utc
from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.tenancy import current_tenant
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import jobs_of
from datastrata.tiering.moves import Mover
from datastrata.tiering.query import Aggregation, RangeQuery, run_query
from datastrata.tiering.restores import DEFAULT_DAYS, MAX_DAYS, MAX_ITEMS, Restores, get_restore, list_restores
from datastrata.tiering.tiers import parse_age
from datastrata.writes.idempotency import Claim

router = APIRouter(prefix="/tiering", tags=["tiering"])

#: The longest range of raw rows and of aggregates one HTTP query reads, and the most rows it answers.
MAX_RAW_RANGE = timedelta(days=31)
MAX_AGGREGATE_RANGE = timedelta(days=400)
MAX_ROWS = 10_000
DEFAULT_ROWS = 1000

PolicyQuery = Annotated[
    str | None, Query(max_length=63, pattern=r"^[a-z][a-z0-9_-]*$", description="Policy name (when serve runs several)")
]
DatasetName = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z][a-z0-9_-]*$")]
Day = Annotated[str, Field(min_length=1, max_length=900, description="A day YYYY-MM-DD or an object key")]


class MoveOut(Body):
    """One planned move: what, from which tier to which, by which rule and why."""

    dataset: str
    key: str
    tier: str
    to: str
    rule: str
    reason: str


class HeldOut(Body):
    """An item a rule would move that is held back, and why."""

    dataset: str
    key: str
    to: str
    reason: str


class PlanOut(Body):
    """What a run of the policy would move now, hold back, or leave."""

    policy: str
    at: str
    moves: list[MoveOut]
    held: list[HeldOut]
    unchanged: int


class MoveRecordOut(Body):
    """One audited move: what, from, to, rows/bytes, checksum, rule, time."""

    id: str
    dataset: str
    item: str
    from_tier: str
    to_tier: str
    location: str
    rows: int
    bytes: int
    checksum: str
    rule: str
    moved_at: str


class RestoreIn(BaseModel):
    """A restore request: name the frozen days (or object keys), or give a time range."""

    policy: str | None = Field(default=None, max_length=63, description="Policy name (when serve runs several)")
    dataset: DatasetName
    items: list[Day] = Field(default_factory=list, max_length=MAX_ITEMS, description="Days YYYY-MM-DD or keys")
    from_: datetime | None = Field(default=None, alias="from", description="Every frozen item from (ISO-8601)")
    to: datetime | None = Field(default=None, description="… up to (exclusive)")
    tier: str = Field(default="standard", pattern="^(expedited|standard|bulk)$", description="Restore tier")
    days: int = Field(default=DEFAULT_DAYS, ge=1, le=MAX_DAYS, description="Days the restored copy stays readable")
    event_id: EventIdField = Field(default=None, description="Idempotency key (or send the Idempotency-Key header)")


class RestoreOut(Body):
    """A restore request: its job, what it restores, its state (restoring, ready, expired), ETA and expiry."""

    job: str
    location: str = Field(description="Where to poll its job: /jobs/{id}")
    policy: str
    dataset: str
    items: list[str]
    tier: str
    days: int
    state: str
    completed: bool = Field(description="True once RestoreCompleted was appended")
    ready_at: str
    expires_at: str


class QueryOut(Body):
    """Rows (or per-bucket aggregates) of a time range over every tier; `truncated` when more were there."""

    rows: list[dict[str, Any]]
    truncated: bool


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _mover(request: Request, name: str | None) -> Mover:
    movers: dict[str, Mover] = getattr(request.app.state, "tiering", {})
    if not movers:
        raise NotFound("no tiering policy is served; start serve with --tiering POLICY", field="policy")
    if name is None:
        if len(movers) > 1:
            raise ValidationError(f"several policies are served; pass policy (one of {sorted(movers)})", field="policy")
        return next(iter(movers.values()))
    if name not in movers:
        raise NotFound(f"policy {name!r} is not served; served: {sorted(movers)}", field="policy")
    return movers[name]


@router.get("/plan", response_model=PlanOut, responses=problems(404, 422))
def get_plan(request: Request, policy: PolicyQuery = None) -> dict[str, object]:
    """What a run would move now, hold back (and why) or leave; changes nothing."""
    mover = _mover(request, policy)
    return mover.plan(mover.clock()).to_dict()


@router.get("/moves", response_model=Page[MoveRecordOut], responses=problems(404, 422))
def get_moves(
    request: Request,
    policy: PolicyQuery = None,
    dataset: Annotated[str | None, Query(max_length=63, description="Only this dataset's moves")] = None,
    limit: LimitQuery = DEFAULT_PAGE,
    cursor: CursorQuery = None,
) -> Page[dict[str, object]]:
    """The move audit, oldest first, a page at a time (a keyset cursor: stable while moves are added)."""
    mover = _mover(request, policy)
    after = keyset_after(cursor, "tiering.moves", (str, str))
    found = mover.records(dataset, after=None if after is None else (cursor_time(after[0]), after[1]), limit=limit + 1)
    rows = [r.to_dict() for r in found]
    return keyset_page(rows, kind="tiering.moves", limit=limit, key=lambda r: (str(r["moved_at"]), str(r["id"])))


@router.post("/restores", status_code=202, response_model=JobOut, responses=problems(404, 409, 422))
def post_restore(body: RestoreIn, request: Request, key: KeyHeader) -> JSONResponse:
    """Ask for a readable copy of frozen data: 202 with the restore's job (``Location``); RestoreCompleted follows."""
    runtime = _runtime(request)
    mover = _mover(request, body.policy)
    command = key.with_body(body.event_id)
    content = body.model_dump(mode="json", by_alias=True, exclude={"event_id"})
    claim = None if command is None else Claim.of(current_tenant(), "tiering.restore", command, content)
    restores = Restores(mover, jobs=jobs_of(runtime), log=runtime.log)
    found = restores.request(
        body.dataset, body.items, start=body.from_, end=body.to, tier=body.tier, days=body.days, claim=claim
    )
    job = jobs_of(runtime).get(found.job)
    return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/jobs/{job.id}"})


@router.get("/restores", response_model=Page[RestoreOut], responses=problems(422))
def get_restores(
    request: Request, limit: LimitQuery = DEFAULT_PAGE, cursor: CursorQuery = None
) -> Page[dict[str, Any]]:
    """Restore requests, newest first, with their state (restoring, ready, expired), a page at a time."""
    runtime = _runtime(request)
    after = keyset_after(cursor, "tiering.restores", (str, str))
    before = None if after is None else (cursor_time(after[0]), after[1])
    now = runtime.clock()
    found = [r.to_dict(now) for r in list_restores(runtime.db, limit=limit + 1, before=before)]
    return keyset_page(found, kind="tiering.restores", limit=limit, key=lambda r: (r["created_at"], r["job"]))


@router.get("/restores/{job}", response_model=RestoreOut, responses=problems(404))
def get_one_restore(request: Request, job: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
    """One restore request and its state (viewers read it here; ``/jobs/{id}`` is for operators)."""
    runtime = _runtime(request)
    return get_restore(runtime.db, job).to_dict(runtime.clock())


@router.get("/query", response_model=QueryOut, responses=problems(404, 409, 422))
def get_query(
    request: Request,
    dataset: Annotated[str, Query(max_length=63, description="A rows dataset of the policy")],
    start: Annotated[datetime, Query(alias="from", description="From (ISO-8601 with offset), inclusive")],
    end: Annotated[datetime, Query(alias="to", description="To, exclusive")],
    policy: PolicyQuery = None,
    where: Annotated[list[str] | None, Query(description="Series filters COLUMN=VALUE, e.g. sensor=s1")] = None,
    agg: Annotated[str | None, Query(max_length=10, description="Aggregate per bucket of this age: 1m, 1h, 1d")] = None,
    value: Annotated[str, Query(max_length=63, description="The aggregated column")] = "value",
    by: Annotated[list[str] | None, Query(description="Aggregate per this column too (repeatable)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description=f"At most this many rows, 1-{MAX_ROWS}")] = DEFAULT_ROWS,
) -> dict[str, Any]:
    """One query over every tier (table, Parquet, restored copies), as if all rows were hot; frozen days: 409."""
    mover = _mover(request, policy)
    start, end = ensure_utc(start, field="from"), ensure_utc(end, field="to")
    widest = MAX_AGGREGATE_RANGE if agg else MAX_RAW_RANGE
    if end - start > widest:
        raise ValidationError(
            f"the range from {start.isoformat()} to {end.isoformat()} is longer than {widest.days} days "
            f"({'aggregated' if agg else 'raw rows'}); split it, or aggregate (agg=1m) for up to "
            f"{MAX_AGGREGATE_RANGE.days} days",
            field="to",
        )
    series: dict[str, str] = {}
    for clause in where or []:
        column, sep, text = clause.partition("=")
        if not sep or not column:
            raise ValidationError(f"where {clause!r} must be COLUMN=VALUE, e.g. sensor=s1", field="where")
        series[column] = text
    aggregate = Aggregation(parse_age(agg, field="agg"), value, tuple(by or ())) if agg else None
    q = RangeQuery(dataset, start, end, series, aggregate, limit + 1)
    table = run_query(mover, q)
    rows = table.slice(0, limit).to_pylist()
    return {"rows": rows, "truncated": table.num_rows > limit}
