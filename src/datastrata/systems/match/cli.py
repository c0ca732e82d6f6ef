"""``datastrata match …``: the referee's commands, the four read models, rebuild, lag and simulate."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.shell import (
    BusOption,
    CacheOption,
    EventIdOption,
    JsonOption,
    LogOption,
    StoreOption,
    ascii_int,
    emit,
    remember_stores,
    service,
)
from datastrata.systems.match import domain, simulate
from datastrata.systems.match.service import PROJECTIONS, MatchService, check_projection
from datastrata.writes.commands import CommandResult

app = typer.Typer(
    help="CQRS: a football match recorded once by the referee, read four ways (TV, news, social, analytics).",
    no_args_is_help=True,
)
team_app = typer.Typer(help="Teams (three-letter codes such as ARG).", no_args_is_help=True)
player_app = typer.Typer(
    help="Players: squad numbers within a team; ids are TEAM-NUMBER (ARG-10).", no_args_is_help=True
)
referee_app = typer.Typer(help="Referees.", no_args_is_help=True)
foul_app = typer.Typer(help="Kinds of foul the referee books players for.", no_args_is_help=True)
app.add_typer(team_app, name="team")
app.add_typer(player_app, name="player")
app.add_typer(referee_app, name="referee")
app.add_typer(foul_app, name="foul")

MatchArg = Annotated[str, typer.Argument(help="Match id, e.g. WC2022-FINAL.")]
PlayerArg = Annotated[str, typer.Argument(help="Player id TEAM-NUMBER, e.g. ARG-10.")]
MinuteOption = Annotated[
    int, typer.Option("--minute", parser=ascii_int, help="Match minute, 0-130, not before the last recorded one.")
]
FoulOption = Annotated[str, typer.Option("--foul", help="Registered foul id, e.g. UNSPORTING.")]
RefereeOption = Annotated[
    str | None, typer.Option("--referee", help="Referee recording the command; must be the match's referee.")
]
AfterOption = Annotated[
    int | None,
    typer.Option(
        "--after", parser=ascii_int, help="Consistency token from a command: wait until this read model has applied it."
    ),
]
TimeoutOption = Annotated[float, typer.Option("--timeout", help="Seconds to wait for --after before giving up.")]


@app.callback()
def _options(ctx: typer.Context, store: StoreOption = None, bus: BusOption = None, cache: CacheOption = None) -> None:
    """CQRS: a football match recorded once by the referee, read four ways."""
    remember_stores(ctx, store, bus, cache)


def _svc(ctx: typer.Context) -> MatchService:
    return service(ctx, "match", MatchService)


def _recorded(result: CommandResult, as_json: bool) -> None:
    def text(data: dict[str, Any]) -> str:
        types = ", ".join(e["type"] for e in data["events"])
        again = " (already recorded with this --event-id; nothing new stored)" if data["duplicate"] else ""
        return (
            f"{data['command']}: recorded {types}; token {data['token']} "
            f"(pass --after {data['token']} --log {data['log']} to a query){again}"
        )

    emit(result.to_dict(), as_json=as_json, text=text)


# ---- reference data ------------------------------------------------------------------------------------------


@team_app.command("add")
def team_add(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Three-letter code, e.g. ARG.")],
    name: Annotated[str, typer.Argument(help="Team name, e.g. Argentina.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a team."""
    _recorded(_svc(ctx).register_team(code, name, event_id=event_id), as_json)


@player_app.command("add")
def player_add(
    ctx: typer.Context,
    team: Annotated[str, typer.Argument(help="Team code, e.g. ARG.")],
    number: Annotated[int, typer.Argument(help="Squad number, 1-99.")],
    name: Annotated[str, typer.Argument(help="Name as broadcast, e.g. Messi.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a player in a team's squad (id TEAM-NUMBER)."""
    _recorded(_svc(ctx).register_player(team, number, name, event_id=event_id), as_json)


@referee_app.command("add")
def referee_add(
    ctx: typer.Context,
    referee_id: Annotated[str, typer.Argument(metavar="ID", help="Referee id, e.g. MARCINIAK.")],
    name: Annotated[str, typer.Argument(help="Full name.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a referee."""
    _recorded(_svc(ctx).register_referee(referee_id, name, event_id=event_id), as_json)


@foul_app.command("add")
def foul_add(
    ctx: typer.Context,
    foul_id: Annotated[str, typer.Argument(metavar="ID", help="Foul id, e.g. UNSPORTING.")],
    description: Annotated[str, typer.Argument(help="What broadcasters show, e.g. 'Unsporting behaviour'.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a kind of foul."""
    _recorded(_svc(ctx).register_foul(foul_id, description, event_id=event_id), as_json)


# ---- the match -----------------------------------------------------------------------------------------------


@app.command()
def start(
    ctx: typer.Context,
    match_id: MatchArg,
    home: Annotated[str, typer.Option("--home", help="Home team code.")],
    away: Annotated[str, typer.Option("--away", help="Away team code.")],
    referee: Annotated[str, typer.Option("--referee", help="Referee id.")],
    home_lineup: Annotated[str, typer.Option("--home-lineup", help="Eleven squad numbers, e.g. 1,2,…,11.")],
    away_lineup: Annotated[str, typer.Option("--away-lineup", help="Eleven squad numbers.")],
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Kick off a match."""
    result = _svc(ctx).start(
        match_id,
        home,
        away,
        referee,
        domain.parse_lineup(home_lineup, field="home_lineup"),
        domain.parse_lineup(away_lineup, field="away_lineup"),
        event_id=event_id,
    )
    _recorded(result, as_json)


@app.command()
def yellow(
    ctx: typer.Context,
    match_id: MatchArg,
    player: PlayerArg,
    minute: MinuteOption,
    foul: FoulOption,
    referee: RefereeOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a yellow card (a second one sends the player off)."""
    _recorded(_svc(ctx).yellow(match_id, player, minute=minute, foul=foul, referee=referee, event_id=event_id), as_json)


@app.command()
def red(
    ctx: typer.Context,
    match_id: MatchArg,
    player: PlayerArg,
    minute: MinuteOption,
    foul: FoulOption,
    referee: RefereeOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a red card: the player is sent off."""
    _recorded(_svc(ctx).red(match_id, player, minute=minute, foul=foul, referee=referee, event_id=event_id), as_json)


@app.command()
def goal(
    ctx: typer.Context,
    match_id: MatchArg,
    player: PlayerArg,
    minute: MinuteOption,
    referee: RefereeOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a goal for the scorer's team."""
    _recorded(_svc(ctx).goal(match_id, player, minute=minute, referee=referee, event_id=event_id), as_json)


@app.command()
def sub(
    ctx: typer.Context,
    match_id: MatchArg,
    off: Annotated[str, typer.Option("--off", help="Player leaving the pitch, e.g. ARG-11.")],
    on: Annotated[str, typer.Option("--on", help="Squad player coming on who has not played, e.g. ARG-21.")],
    minute: MinuteOption,
    referee: RefereeOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a substitution (at most five per team)."""
    _recorded(
        _svc(ctx).substitute(match_id, off=off, on=on, minute=minute, referee=referee, event_id=event_id), as_json
    )


@app.command()
def end(
    ctx: typer.Context,
    match_id: MatchArg,
    minute: MinuteOption,
    referee: RefereeOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Blow the final whistle."""
    _recorded(_svc(ctx).end(match_id, minute=minute, referee=referee, event_id=event_id), as_json)


# ---- the four read models ------------------------------------------------------------------------------------


def _stale(data: dict[str, Any]) -> str:
    return f"[{data['projection']} at position {data['position']} of {data['head']}; stale by {data['stale_by']}]"


@app.command()
def tv(
    ctx: typer.Context,
    match_id: MatchArg,
    after: AfterOption = None,
    log: LogOption = None,
    timeout: TimeoutOption = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Show the last ten TV live events of a match, latest first (served from the cache)."""
    data = _svc(ctx).tv(match_id, after=after, log=log, catch_up=after is None, timeout=timeout)

    def text(d: dict[str, Any]) -> str:
        lines = [f"{e['minute']:>4}'  {e['text']}" for e in d["events"]] or [f"no events for match {match_id}"]
        return "\n".join([*lines, _stale(d)])

    emit(data, as_json=as_json, text=text)


@app.command()
def news(
    ctx: typer.Context,
    threshold: Annotated[
        int, typer.Option("--threshold", parser=ascii_int, help="Only alerts with urgency_score >= N (0-100).")
    ] = 0,
    match_id: Annotated[str | None, typer.Option("--match", help="Only this match.")] = None,
    limit: Annotated[int, typer.Option("--limit", parser=ascii_int, help="At most this many alerts.")] = 50,
    after: AfterOption = None,
    log: LogOption = None,
    timeout: TimeoutOption = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Show breaking-news alerts, most urgent first."""
    data = _svc(ctx).news(
        threshold=threshold,
        match_id=match_id,
        limit=limit,
        after=after,
        log=log,
        catch_up=after is None,
        timeout=timeout,
    )

    def text(d: dict[str, Any]) -> str:
        lines = [f"[{a['urgency_score']:>3}] {a['headline']} — {a['sub_headline']}" for a in d["alerts"]]
        return "\n".join([*(lines or ["no alerts"]), _stale(d)])

    emit(data, as_json=as_json, text=text)


@app.command()
def social(
    ctx: typer.Context,
    trending: Annotated[bool, typer.Option("--trending", help="Highest engagement first.")] = False,
    match_id: Annotated[str | None, typer.Option("--match", help="Only this match.")] = None,
    limit: Annotated[int, typer.Option("--limit", parser=ascii_int, help="At most this many posts.")] = 20,
    after: AfterOption = None,
    log: LogOption = None,
    timeout: TimeoutOption = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Show the social media feed, latest first (or trending)."""
    data = _svc(ctx).social(
        trending=trending, match_id=match_id, limit=limit, after=after, log=log, catch_up=after is None, timeout=timeout
    )

    def text(d: dict[str, Any]) -> str:
        lines = [f"{p['text']}  {' '.join(p['hashtags'])}  ♥{p['engagement_score']}" for p in d["posts"]]
        return "\n".join([*(lines or ["no posts"]), _stale(d)])

    emit(data, as_json=as_json, text=text)


@app.command()
def analytics(
    ctx: typer.Context,
    match_id: Annotated[str | None, typer.Argument(help="Match id; omit for totals across all matches.")] = None,
    after: AfterOption = None,
    log: LogOption = None,
    timeout: TimeoutOption = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Show goals, cards and minutes per player and goals and bookings per team."""
    data = _svc(ctx).analytics(match_id, after=after, log=log, catch_up=after is None, timeout=timeout)

    def text(d: dict[str, Any]) -> str:
        lines = ["player      name                     team  goals  yellow  red  minutes"]
        lines += [
            f"{p['player_id']:<11} {p['name'][:24]:<24} {p['team']:<5} {p['goals']:>5} {p['yellow_cards']:>7} "
            f"{p['red_cards']:>4} {p['minutes_played']:>8}"
            for p in d["players"]
        ]
        lines += ["", "team  name                 goals  bookings"]
        lines += [f"{t['team']:<5} {t['name'][:20]:<20} {t['goals']:>5} {t['bookings']:>9}" for t in d["teams"]]
        return "\n".join([*lines, _stale(d)])

    emit(data, as_json=as_json, text=text)


# ---- operating it --------------------------------------------------------------------------------------------


@app.command()
def rebuild(
    ctx: typer.Context,
    projection: Annotated[
        str, typer.Option("--projection", help=f"Which read model: {', '.join(PROJECTIONS)} or all.")
    ] = "all",
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            max=2,
            help="For all four: 1 process, or 2 (a partner process replays two of them); default: 2 when a core is "
            "free and the log holds 200,000 events or more.",
        ),
    ] = None,
) -> None:
    """Rebuild read models from the event log beside the live ones, switching on success, with a progress bar."""
    from rich.progress import Progress

    which = check_projection(projection)
    svc = _svc(ctx)
    with Progress(transient=False) as bar:
        task = bar.add_task(f"rebuilding {projection}", total=max(svc.head(), 1))

        def progress(position: int, target: int) -> None:
            bar.update(task, completed=position, total=max(target, 1))

        applied = svc.rebuild(which, progress, processes=processes)
    for name, count in applied.items():
        typer.echo(f"{name}: applied {count} events")
    for row in svc.lags():
        typer.echo(f"{row['name']:<16} now at position {row['position']}")


@app.command()
def lag(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show each read model's position in the log and how far behind it is."""
    rows = _svc(ctx).lags()
    emit(
        rows,
        as_json=as_json,
        text=lambda rs: "\n".join(
            f"{r['name']:<16} position {r['position']:>9}  head {r['head']:>9}  behind {r['behind']:>9}" for r in rs
        ),
    )


@app.command("simulate")
def simulate_command(
    ctx: typer.Context,
    matches: Annotated[int, typer.Option("--matches", parser=ascii_int, help="How many matches to play.")] = 1,
    seed: Annotated[
        int, typer.Option("--seed", parser=ascii_int, help="Random seed: the same seed plays the same matches.")
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Play realistic matches through the command side (registering the teams, referees and fouls they need)."""
    result = simulate.play(_svc(ctx), matches=matches, seed=seed)
    emit(
        result,
        as_json=as_json,
        text=lambda r: (
            f"played {len(r['matches'])} matches (first {r['matches'][0]}, last {r['matches'][-1]}); "
            f"commands {r['commands']}; registered {r['registered']} reference records; token {r['token']}"
        ),
    )
