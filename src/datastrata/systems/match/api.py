"""HTTP routes of the match system: the referee's commands and the four read models.

Reads without ``after`` answer at once from the read model as it stands (the worker thread of ``serve`` keeps it
fresh) and report how stale they are; with ``after=TOKEN`` they wait until the projection has applied the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from datastrata.api.bodies import AnalyticsOut, CommandOut, MatchLagOut, SimulateOut, TvOut
from datastrata.api.contract import problems
from datastrata.api.idempotency import CommandKey, Keyed, KeyHeader
from datastrata.api.jobs import ACCEPTED, start_job
from datastrata.api.pagination import CursorQuery, LimitQuery, Page, needed, paginate
from datastrata.api.waiting import AfterQuery as After
from datastrata.api.waiting import LogQuery as LogToken
from datastrata.api.waiting import TimeoutQuery as Timeout
from datastrata.api.waiting import await_applied
from datastrata.core.validation import MAX_INT
from datastrata.systems.match import simulate
from datastrata.systems.match.domain import MAX_MINUTE, Card
from datastrata.systems.match.service import MAX_LIMIT, MatchService, check_projection

router = APIRouter(prefix="/match", tags=["match"])


class FreshPage(Page[dict[str, Any]]):
    """A page of a read model, with how fresh the read model was (position, head, stale_by, state)."""

    projection: str
    position: int
    head: int
    stale_by: int
    after: int | None
    state: str
    error: str | None
    log: str | None


ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MatchFilter = Annotated[str | None, Query(alias="match", pattern=ID_PATTERN, description="Only this match")]
MatchPath = Annotated[str, Path(pattern=ID_PATTERN, description="Match id, e.g. M1")]
Id = Annotated[str, Field(pattern=ID_PATTERN, description="An id: 1-64 letters, digits, '_', '.' or '-'")]
Team = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="Three-letter team code, e.g. ARG")]
Player = Annotated[str, Field(pattern=r"^[A-Z]{3}-[0-9]{1,2}$", description="Player id TEAM-NUMBER, e.g. ARG-10")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Minute = Annotated[
    int, Field(strict=True, ge=0, le=MAX_MINUTE, description=f"0-{MAX_MINUTE}, not before the last recorded")
]
Number = Annotated[int, Field(strict=True, ge=1, le=99)]


def _svc(request: Request) -> MatchService:
    return cast(MatchService, request.app.state.runtime.service("match", MatchService))


class TeamIn(Keyed):
    """A team to register."""

    code: Team
    name: Name


class PlayerIn(Keyed):
    """A player to register (id TEAM-NUMBER)."""

    team: Team
    number: Number
    name: Name


class RefereeIn(Keyed):
    """A referee to register."""

    referee_id: Id
    name: Name


class FoulIn(Keyed):
    """A kind of foul to register."""

    foul_id: Id
    description: Name


class StartIn(Keyed):
    """A kick-off."""

    match_id: Id
    home: Team
    away: Team
    referee: Id
    home_lineup: list[Number] = Field(min_length=11, max_length=11, description="Eleven squad numbers")
    away_lineup: list[Number] = Field(min_length=11, max_length=11, description="Eleven squad numbers")


class CardIn(Keyed):
    """A yellow or red card."""

    player: Player
    minute: Minute
    foul: Id
    referee: Id | None = Field(default=None, description="Must be the match's referee when given")


class GoalIn(Keyed):
    """A goal."""

    player: Player
    minute: Minute
    referee: Id | None = None


class SubstitutionIn(Keyed):
    """A substitution."""

    off: Player
    on: Player
    minute: Minute
    referee: Id | None = None


class EndIn(Keyed):
    """The final whistle."""

    minute: Minute
    referee: Id | None = None


class SimulateIn(BaseModel):
    """How many simulated matches to play."""

    matches: int = Field(default=1, strict=True, ge=1, le=simulate.MAX_MATCHES, description="How many matches to play")
    seed: int = Field(default=1, strict=True, ge=0, le=MAX_INT)


class RebuildIn(BaseModel):
    """Which read model to rebuild."""

    projection: Literal["tv", "news", "social", "analytics", "all"] = "all"


@router.post("/teams", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_team(body: TeamIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Register a team."""
    return _svc(request).register_team(body.code, body.name, event_id=key.with_body(body.event_id)).to_dict()


@router.post("/players", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_player(body: PlayerIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Register a player."""
    return (
        _svc(request)
        .register_player(body.team, body.number, body.name, event_id=key.with_body(body.event_id))
        .to_dict()
    )


@router.post("/referees", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_referee(body: RefereeIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Register a referee."""
    return _svc(request).register_referee(body.referee_id, body.name, event_id=key.with_body(body.event_id)).to_dict()


@router.post("/fouls", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_foul(body: FoulIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Register a kind of foul."""
    return _svc(request).register_foul(body.foul_id, body.description, event_id=key.with_body(body.event_id)).to_dict()


@router.post("/matches", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_match(body: StartIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Kick off a match."""
    svc = _svc(request)
    event_id = key.with_body(body.event_id)
    lineups = body.home_lineup, body.away_lineup
    return svc.start(body.match_id, body.home, body.away, body.referee, *lineups, event_id=event_id).to_dict()


@router.post(
    "/matches/{match_id}/yellow-cards", status_code=201, responses=problems(404, 409), response_model=CommandOut
)
def post_yellow(match_id: MatchPath, body: CardIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Show a yellow card (a second one sends the player off)."""
    return _book(request, match_id, "yellow", body, key)


@router.post("/matches/{match_id}/red-cards", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_red(match_id: MatchPath, body: CardIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Show a red card."""
    return _book(request, match_id, "red", body, key)


def _book(request: Request, match_id: str, card: Card, body: CardIn, key: CommandKey) -> dict[str, Any]:
    return (
        _svc(request)
        .book(
            match_id,
            body.player,
            card,
            minute=body.minute,
            foul=body.foul,
            referee=body.referee,
            event_id=key.with_body(body.event_id),
        )
        .to_dict()
    )


@router.post("/matches/{match_id}/goals", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_goal(match_id: MatchPath, body: GoalIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Record a goal."""
    return (
        _svc(request)
        .goal(match_id, body.player, minute=body.minute, referee=body.referee, event_id=key.with_body(body.event_id))
        .to_dict()
    )


@router.post(
    "/matches/{match_id}/substitutions", status_code=201, responses=problems(404, 409), response_model=CommandOut
)
def post_substitution(match_id: MatchPath, body: SubstitutionIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Make a substitution."""
    svc = _svc(request)
    event_id = key.with_body(body.event_id)
    return svc.substitute(
        match_id, off=body.off, on=body.on, minute=body.minute, referee=body.referee, event_id=event_id
    ).to_dict()


@router.post("/matches/{match_id}/end", status_code=201, responses=problems(404, 409), response_model=CommandOut)
def post_end(match_id: MatchPath, body: EndIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Blow the final whistle."""
    return (
        _svc(request)
        .end(match_id, minute=body.minute, referee=body.referee, event_id=key.with_body(body.event_id))
        .to_dict()
    )


@router.get("/matches/{match_id}/tv", responses=problems(404, 409, 504), response_model=TvOut)
async def get_tv(
    match_id: MatchPath, request: Request, after: After = None, log: LogToken = None, timeout: Timeout = 5.0
) -> dict[str, Any]:
    """The last ten TV live events, latest first, from the cache."""
    svc = _svc(request)
    await await_applied(await run_in_threadpool(svc.runner, "tv"), after, timeout, log=log)
    return await run_in_threadpool(lambda: svc.tv(match_id, after=after, timeout=timeout))


@router.get("/news", responses=problems(409, 504))
async def get_news(
    request: Request,
    threshold: Annotated[int, Query(ge=0, le=100, description="Only alerts with urgency_score >= threshold")] = 0,
    match_id: MatchFilter = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    after: After = None,
    log: LogToken = None,
    timeout: Timeout = 5.0,
) -> FreshPage:
    """News alerts, most urgent first, a page at a time."""
    svc = _svc(request)
    wanted = min(needed(cursor, "news", limit), MAX_LIMIT)
    await await_applied(await run_in_threadpool(svc.runner, "news"), after, timeout, log=log)
    found = await run_in_threadpool(
        lambda: svc.news(threshold=threshold, match_id=match_id, limit=wanted, after=after, timeout=timeout)
    )
    page = paginate(found.pop("alerts"), kind="news", limit=limit, cursor=cursor, offset=0)
    return FreshPage(**page.model_dump(), **found)


@router.get("/social", responses=problems(409, 504))
async def get_social(
    request: Request,
    trending: Annotated[bool, Query(description="Highest engagement first")] = False,
    match_id: MatchFilter = None,
    limit: LimitQuery = 20,
    cursor: CursorQuery = None,
    after: After = None,
    log: LogToken = None,
    timeout: Timeout = 5.0,
) -> FreshPage:
    """The social feed, latest first or trending, a page at a time."""
    svc = _svc(request)
    wanted = min(needed(cursor, "social", limit), MAX_LIMIT)
    await await_applied(await run_in_threadpool(svc.runner, "social"), after, timeout, log=log)
    found = await run_in_threadpool(
        lambda: svc.social(trending=trending, match_id=match_id, limit=wanted, after=after, timeout=timeout)
    )
    page = paginate(found.pop("posts"), kind="social", limit=limit, cursor=cursor, offset=0)
    found.pop("trending", None)
    return FreshPage(**page.model_dump(), **found)


@router.get("/analytics", responses=problems(404, 409, 504), response_model=AnalyticsOut)
async def get_analytics(
    request: Request, match_id: MatchFilter = None, after: After = None, log: LogToken = None, timeout: Timeout = 5.0
) -> dict[str, Any]:
    """Per-player and per-team figures for one match or across all matches."""
    svc = _svc(request)
    await await_applied(await run_in_threadpool(svc.runner, "analytics"), after, timeout, log=log)
    return await run_in_threadpool(lambda: svc.analytics(match_id, after=after, timeout=timeout))


@router.get("/lag", response_model=list[MatchLagOut])
def get_lag(request: Request) -> list[dict[str, Any]]:
    """Each read model's position and how far behind the log it is."""
    return _svc(request).lags()


@router.post("/simulate", status_code=201, responses=problems(404, 409), response_model=SimulateOut)
def post_simulate(body: SimulateIn, request: Request, key: KeyHeader) -> dict[str, Any]:
    """Play simulated matches through the command side."""
    return simulate.play(_svc(request), matches=body.matches, seed=body.seed)


@router.post("/rebuild", status_code=202, responses={**ACCEPTED, **problems(409)})
def post_rebuild(body: RebuildIn, request: Request, key: KeyHeader) -> JSONResponse:
    """Start rebuilding one read model or all four beside the live ones (switched on success), as a background job.

    Answers 202 with the job; poll ``Location`` (``GET /jobs/{id}``): its result is the events applied and the lags.
    """
    svc = _svc(request)
    which = check_projection(body.projection)

    def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
        return {"applied": svc.rebuild(which, progress), "lags": svc.lags()}

    return start_job(request.app.state.runtime, "rebuild", f"match.{which}", work)
