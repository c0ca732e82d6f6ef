"""HTTP routes of the match system: the referee's commands and the four read models.

Reads without ``after`` answer at once from the read model as it stands (the worker thread of ``serve`` keeps it
fresh) and report how stale they are; with ``after=TOKEN`` they wait until the projection has applied the token.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from datastrata.systems.match import simulate
from datastrata.systems.match.service import MatchService, check_projection

router = APIRouter(prefix="/match", tags=["match"])

After = Annotated[int | None, Query(description="Consistency token from a command: wait until it is applied")]
Timeout = Annotated[float, Query(ge=0, le=60, description="Seconds to wait for `after`")]
MatchFilter = Annotated[str | None, Query(alias="match", description="Only this match")]


def _svc(request: Request) -> MatchService:
    return cast(MatchService, request.app.state.runtime.service("match", MatchService))


class TeamIn(BaseModel):
    """A team to register."""

    code: str = Field(description="Three-letter code, e.g. ARG")
    name: str = Field(description="Team name, e.g. Argentina")


class PlayerIn(BaseModel):
    """A player to register (id TEAM-NUMBER)."""

    team: str = Field(description="Team code")
    number: int = Field(description="Squad number, 1-99")
    name: str = Field(description="Name as broadcast")


class RefereeIn(BaseModel):
    """A referee to register."""

    referee_id: str
    name: str


class FoulIn(BaseModel):
    """A kind of foul to register."""

    foul_id: str
    description: str = Field(description="What broadcasters show, e.g. Unsporting behaviour")


class StartIn(BaseModel):
    """A kick-off."""

    match_id: str
    home: str
    away: str
    referee: str
    home_lineup: list[int] = Field(description="Eleven squad numbers")
    away_lineup: list[int] = Field(description="Eleven squad numbers")


class CardIn(BaseModel):
    """A yellow or red card."""

    player: str = Field(description="Player id, e.g. ARG-10")
    minute: int = Field(description="0-130, not before the last recorded minute")
    foul: str = Field(description="Registered foul id")
    referee: str | None = Field(default=None, description="Must be the match's referee when given")


class GoalIn(BaseModel):
    """A goal."""

    player: str
    minute: int
    referee: str | None = None


class SubstitutionIn(BaseModel):
    """A substitution."""

    off: str = Field(description="Player leaving the pitch")
    on: str = Field(description="Squad player coming on who has not played")
    minute: int
    referee: str | None = None


class EndIn(BaseModel):
    """The final whistle."""

    minute: int
    referee: str | None = None


class SimulateIn(BaseModel):
    """How many simulated matches to play."""

    matches: int = Field(default=1, description="1-100000")
    seed: int = 1


class RebuildIn(BaseModel):
    """Which read model to rebuild."""

    projection: str = Field(default="all", description="tv, news, social, analytics or all")


@router.post("/teams", status_code=201)
def post_team(body: TeamIn, request: Request) -> dict[str, Any]:
    """Register a team."""
    return _svc(request).register_team(body.code, body.name).to_dict()


@router.post("/players", status_code=201)
def post_player(body: PlayerIn, request: Request) -> dict[str, Any]:
    """Register a player."""
    return _svc(request).register_player(body.team, body.number, body.name).to_dict()


@router.post("/referees", status_code=201)
def post_referee(body: RefereeIn, request: Request) -> dict[str, Any]:
    """Register a referee."""
    return _svc(request).register_referee(body.referee_id, body.name).to_dict()


@router.post("/fouls", status_code=201)
def post_foul(body: FoulIn, request: Request) -> dict[str, Any]:
    """Register a kind of foul."""
    return _svc(request).register_foul(body.foul_id, body.description).to_dict()


@router.post("/matches", status_code=201)
def post_match(body: StartIn, request: Request) -> dict[str, Any]:
    """Kick off a match."""
    svc = _svc(request)
    return svc.start(body.match_id, body.home, body.away, body.referee, body.home_lineup, body.away_lineup).to_dict()


@router.post("/matches/{match_id}/yellow-cards", status_code=201)
def post_yellow(match_id: str, body: CardIn, request: Request) -> dict[str, Any]:
    """Show a yellow card (a second one sends the player off)."""
    svc = _svc(request)
    return svc.yellow(match_id, body.player, minute=body.minute, foul=body.foul, referee=body.referee).to_dict()


@router.post("/matches/{match_id}/red-cards", status_code=201)
def post_red(match_id: str, body: CardIn, request: Request) -> dict[str, Any]:
    """Show a red card."""
    svc = _svc(request)
    return svc.red(match_id, body.player, minute=body.minute, foul=body.foul, referee=body.referee).to_dict()


@router.post("/matches/{match_id}/goals", status_code=201)
def post_goal(match_id: str, body: GoalIn, request: Request) -> dict[str, Any]:
    """Record a goal."""
    return _svc(request).goal(match_id, body.player, minute=body.minute, referee=body.referee).to_dict()


@router.post("/matches/{match_id}/substitutions", status_code=201)
def post_substitution(match_id: str, body: SubstitutionIn, request: Request) -> dict[str, Any]:
    """Make a substitution."""
    svc = _svc(request)
    return svc.substitute(match_id, off=body.off, on=body.on, minute=body.minute, referee=body.referee).to_dict()


@router.post("/matches/{match_id}/end", status_code=201)
def post_end(match_id: str, body: EndIn, request: Request) -> dict[str, Any]:
    """Blow the final whistle."""
    return _svc(request).end(match_id, minute=body.minute, referee=body.referee).to_dict()


@router.get("/matches/{match_id}/tv")
def get_tv(match_id: str, request: Request, after: After = None, timeout: Timeout = 5.0) -> dict[str, Any]:
    """The last ten TV live events, latest first, from the cache."""
    return _svc(request).tv(match_id, after=after, timeout=timeout)


@router.get("/news")
def get_news(
    request: Request,
    threshold: Annotated[int, Query(description="Only alerts with urgency_score >= threshold")] = 0,
    match_id: MatchFilter = None,
    limit: Annotated[int, Query(description="At most this many alerts (1-1000)")] = 50,
    after: After = None,
    timeout: Timeout = 5.0,
) -> dict[str, Any]:
    """News alerts, most urgent first."""
    return _svc(request).news(threshold=threshold, match_id=match_id, limit=limit, after=after, timeout=timeout)


@router.get("/social")
def get_social(
    request: Request,
    trending: Annotated[bool, Query(description="Highest engagement first")] = False,
    match_id: MatchFilter = None,
    limit: Annotated[int, Query(description="At most this many posts (1-1000)")] = 20,
    after: After = None,
    timeout: Timeout = 5.0,
) -> dict[str, Any]:
    """The social feed, latest first or trending."""
    return _svc(request).social(trending=trending, match_id=match_id, limit=limit, after=after, timeout=timeout)


@router.get("/analytics")
def get_analytics(
    request: Request, match_id: MatchFilter = None, after: After = None, timeout: Timeout = 5.0
) -> dict[str, Any]:
    """Per-player and per-team figures for one match or across all matches."""
    return _svc(request).analytics(match_id, after=after, timeout=timeout)


@router.get("/lag")
def get_lag(request: Request) -> list[dict[str, Any]]:
    """Each read model's position and how far behind the log it is."""
    return _svc(request).lags()


@router.post("/simulate", status_code=201)
def post_simulate(body: SimulateIn, request: Request) -> dict[str, Any]:
    """Play simulated matches through the command side."""
    return simulate.play(_svc(request), matches=body.matches, seed=body.seed)


@router.post("/rebuild")
def post_rebuild(body: RebuildIn, request: Request) -> dict[str, Any]:
    """Rebuild one read model or all four beside the live ones and switch on success (synchronous)."""
    svc = _svc(request)
    return {"applied": svc.rebuild(check_projection(body.projection)), "lags": svc.lags()}
