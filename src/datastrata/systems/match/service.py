"""Match commands (validated, one transaction with their events) and queries (four read models, tokens honoured)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, cast

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.tenancy import current_tenant
from datastrata.core.validation import bounded_int, bounded_wait
from datastrata.projections.batching import BatchProjection, BatchRunner, replay_together
from datastrata.projections.consistency import DEFAULT_TIMEOUT, Freshness, ensure_fresh
from datastrata.projections.partner import partner_share, rebuild_with_partner
from datastrata.projections.runner import Progress
from datastrata.runtime import Runtime, Scope, Work
from datastrata.systems.match import domain, notebook, schema
from datastrata.systems.match.analytics import AnalyticsProjection
from datastrata.systems.match.domain import Card, Foul, MatchFacts, Player, Team
from datastrata.systems.match.news import NewsProjection
from datastrata.systems.match.social import SocialProjection
from datastrata.systems.match.tv import LATEST, TvProjection
from datastrata.writes.commands import CommandHandler, CommandResult, Decision

PROJECTIONS = ("tv", "news", "social", "analytics")
Which = Literal["tv", "news", "social", "analytics", "all"]

#: Most alerts or posts per answer.
MAX_LIMIT = 1000


#: The bounded context of the match system: a match's stream is ``match-<match id>``; reference data lives in
#: ``match.team``, ``match.player``, ``match.referee`` and ``match.foul``.
CONTEXT = "match"


def register_batched(runtime: Runtime, projection: BatchProjection) -> BatchRunner:
    """Register `projection` on `runtime` with a batching runner (once per name) and return the runner."""
    return runtime.follow(projection.name, lambda log: BatchRunner(log, projection))


#: A rebuild of all four shares the work with a second process from this many events in the log (below it the
#: second process's start-up, about a second, costs more than it saves).
PARTNER_FROM_EVENTS = 200_000


@contextmanager
def open_runners(settings: Settings, names: Sequence[str]) -> Iterator[list[BatchRunner]]:
    """Open the match read models' runners named `names` on a runtime of `settings` (a rebuild partner's side)."""
    with Runtime.open(settings) as runtime:
        svc = MatchService(runtime)
        yield [r for r in svc.runners.values() if r.name in names]


def check_projection(value: str) -> Which:
    """Return `value` as a projection choice, refusing anything but tv, news, social, analytics or all."""
    if value not in (*PROJECTIONS, "all"):
        raise ValidationError(
            f"projection must be one of {', '.join(PROJECTIONS)} or all; got {value!r}", field="projection"
        )
    return cast(Which, value)


def match_scope(match_id: str) -> Scope:
    """Return the scope of one match (its stream ``match-<match id>``), for the current tenant."""
    return Scope.of(CONTEXT, match_id)


class MatchService:
    """The referee's commands and the four audiences' queries."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        runtime.ensure(schema.MIGRATIONS)
        self.commands = CommandHandler(runtime)
        self.runners: dict[str, BatchRunner] = {
            "tv": register_batched(runtime, TvProjection(runtime.cache)),
            "news": register_batched(runtime, NewsProjection()),
            "social": register_batched(runtime, SocialProjection()),
            "analytics": register_batched(runtime, AnalyticsProjection()),
        }
        # Query through the instances the runners apply with (another service on this runtime may own them).
        self.tv_view = cast(TvProjection, self.runners["tv"].projection)
        self.news_view = cast(NewsProjection, self.runners["news"].projection)
        self.social_view = cast(SocialProjection, self.runners["social"].projection)
        self.analytics_view = cast(AnalyticsProjection, self.runners["analytics"].projection)

    # ---- reference data ------------------------------------------------------------------------------------

    def register_team(self, code: str, name: str, *, event_id: str | None = None) -> CommandResult:
        """Register a team by its three-letter code."""
        team = Team(domain.check_team(code, field="code"), domain.check_name(name, field="name"))

        scope = Scope.of("match.team", team.code)

        def handle(tx: Work) -> Decision:
            existing = notebook.team(tx, team.code)
            if existing is not None:
                raise RuleViolation(f"rule 'unique team': team {team.code} is already registered ({existing.name})")
            event = domain.register_team(team)
            notebook.record_reference(tx, event)
            return Decision(scope, [event])

        return self.commands.execute("team add", scope, handle, key=event_id, content={"code": code, "name": name})

    def register_player(self, team: str, number: int, name: str, *, event_id: str | None = None) -> CommandResult:
        """Register a player in a team's squad; their id is TEAM-NUMBER."""
        code = domain.check_team(team)
        number = domain.check_number(number)
        name = domain.check_name(name, field="name")
        scope = Scope.of("match.player", domain.player_id(code, number))

        def handle(tx: Work) -> Decision:
            found = self._team(tx, code)
            existing = notebook.player(tx, domain.player_id(code, number))
            if existing is not None:
                raise RuleViolation(
                    f"rule 'unique squad number': {code} number {number} is already {existing.name}; choose another"
                )
            event = domain.register_player(Player(domain.player_id(code, number), found, number, name))
            notebook.record_reference(tx, event)
            return Decision(scope, [event])

        content = {"team": code, "number": number, "name": name}
        return self.commands.execute("player add", scope, handle, key=event_id, content=content)

    def register_referee(self, referee_id: str, name: str, *, event_id: str | None = None) -> CommandResult:
        """Register a referee."""
        referee_id = domain.check_id(referee_id, field="referee_id")
        name = domain.check_name(name, field="name")
        scope = Scope.of("match.referee", referee_id)

        def handle(tx: Work) -> Decision:
            existing = notebook.referee_name(tx, referee_id)
            if existing is not None:
                raise RuleViolation(f"rule 'unique referee': referee {referee_id} is already registered ({existing})")
            event = domain.register_referee(referee_id, name)
            notebook.record_reference(tx, event)
            return Decision(scope, [event])

        content = {"referee_id": referee_id, "name": name}
        return self.commands.execute("referee add", scope, handle, key=event_id, content=content)

    def register_foul(self, foul_id: str, description: str, *, event_id: str | None = None) -> CommandResult:
        """Register a kind of foul the referee can book players for."""
        foul = Foul(domain.check_id(foul_id, field="foul_id"), domain.check_name(description, field="description"))
        scope = Scope.of("match.foul", foul.foul_id)

        def handle(tx: Work) -> Decision:
            existing = notebook.foul(tx, foul.foul_id)
            if existing is not None:
                raise RuleViolation(
                    f"rule 'unique foul': foul {foul.foul_id} is already registered ({existing.description})"
                )
            event = domain.register_foul(foul)
            notebook.record_reference(tx, event)
            return Decision(scope, [event])

        content = {"foul_id": foul_id, "description": description}
        return self.commands.execute("foul add", scope, handle, key=event_id, content=content)

    # ---- the match -----------------------------------------------------------------------------------------

    def start(
        self,
        match_id: str,
        home: str,
        away: str,
        referee: str,
        home_lineup: Sequence[int],
        away_lineup: Sequence[int],
        *,
        event_id: str | None = None,
    ) -> CommandResult:
        """Kick off a match between two registered teams with eleven players each."""
        domain.check_id(match_id, field="match_id")
        domain.check_team(home, field="home")
        domain.check_team(away, field="away")
        domain.check_id(referee, field="referee")
        home_numbers = domain.check_lineup(home_lineup, field="home_lineup")
        away_numbers = domain.check_lineup(away_lineup, field="away_lineup")

        def handle(tx: Work) -> Decision:
            if notebook.facts(tx, match_id) is not None:
                raise RuleViolation(f"rule 'new match': match {match_id} already exists; choose another match id")
            home_team, away_team = self._team(tx, home), self._team(tx, away)
            referee_name = notebook.referee_name(tx, referee)
            if referee_name is None:
                raise NotFound(
                    f"referee {referee} is not registered; add them with: datastrata match referee add {referee} NAME",
                    field="referee",
                )
            lineups = [
                self._lineup(tx, home_team, home_numbers, "home_lineup"),
                self._lineup(tx, away_team, away_numbers, "away_lineup"),
            ]
            event = domain.start(match_id, home_team, away_team, referee, referee_name, *lineups)
            notebook.record_match(tx, match_id, None, [event])
            return Decision(match_scope(match_id), [event], expected_version=0)

        content = {
            "home": home,
            "away": away,
            "referee": referee,
            "home_lineup": list(home_numbers),
            "away_lineup": list(away_numbers),
        }
        return self.commands.execute("start", match_scope(match_id), handle, key=event_id, content=content)

    def book(
        self,
        match_id: str,
        player: str,
        card: Card,
        *,
        minute: int,
        foul: str,
        referee: str | None = None,
        event_id: str | None = None,
    ) -> CommandResult:
        """Show a yellow or red card; a second yellow sends the player off."""
        if card not in ("yellow", "red"):
            raise ValidationError(f"card must be 'yellow' or 'red'; got {card!r}", field="card")
        self._check(match_id, minute, referee)
        domain.check_player(player)
        domain.check_id(foul, field="foul")

        def handle(tx: Work) -> Decision:
            found, (appearance,) = notebook.facts_and_appearances(tx, match_id, [player])
            facts = self._found(match_id, found)
            kind = notebook.foul(tx, foul)
            if kind is None:
                raise NotFound(
                    f"foul {foul} is not registered; add it with: datastrata match foul add {foul} DESCRIPTION",
                    field="foul",
                )
            return self._record(tx, facts, domain.book(facts, appearance, player, card, kind, minute, referee))

        content = {"player": player, "minute": minute, "foul": foul, "referee": referee}
        return self.commands.execute(card, match_scope(match_id), handle, key=event_id, content=content)

    def yellow(
        self,
        match_id: str,
        player: str,
        *,
        minute: int,
        foul: str,
        referee: str | None = None,
        event_id: str | None = None,
    ) -> CommandResult:
        """Show a yellow card."""
        return self.book(match_id, player, "yellow", minute=minute, foul=foul, referee=referee, event_id=event_id)

    def red(
        self,
        match_id: str,
        player: str,
        *,
        minute: int,
        foul: str,
        referee: str | None = None,
        event_id: str | None = None,
    ) -> CommandResult:
        """Show a red card (the player is sent off)."""
        return self.book(match_id, player, "red", minute=minute, foul=foul, referee=referee, event_id=event_id)

    def goal(
        self, match_id: str, player: str, *, minute: int, referee: str | None = None, event_id: str | None = None
    ) -> CommandResult:
        """Record a goal for the scorer's team."""
        self._check(match_id, minute, referee)
        domain.check_player(player)

        def handle(tx: Work) -> Decision:
            found, (appearance,) = notebook.facts_and_appearances(tx, match_id, [player])
            facts = self._found(match_id, found)
            return self._record(tx, facts, [domain.score_goal(facts, appearance, player, minute, referee)])

        content = {"player": player, "minute": minute, "referee": referee}
        return self.commands.execute("goal", match_scope(match_id), handle, key=event_id, content=content)

    def substitute(
        self,
        match_id: str,
        *,
        off: str,
        on: str,
        minute: int,
        referee: str | None = None,
        event_id: str | None = None,
    ) -> CommandResult:
        """Replace a player on the pitch with a squad player who has not played yet."""
        self._check(match_id, minute, referee)
        domain.check_player(off, field="off")
        domain.check_player(on, field="on")

        def handle(tx: Work) -> Decision:
            found, (leaving, coming_appearance) = notebook.facts_and_appearances(tx, match_id, [off, on])
            facts = self._found(match_id, found)
            coming = notebook.player(tx, on)
            if coming is None:
                raise NotFound(
                    f"player {on} is not registered; add them with: datastrata match player add "
                    f"{domain.team_of(on)} {on.split('-')[1]} NAME",
                    field="on",
                )
            event = domain.substitute(facts, leaving, off, coming, coming_appearance, minute, referee)
            return self._record(tx, facts, [event])

        content = {"off": off, "on": on, "minute": minute, "referee": referee}
        return self.commands.execute("sub", match_scope(match_id), handle, key=event_id, content=content)

    def end(
        self, match_id: str, *, minute: int, referee: str | None = None, event_id: str | None = None
    ) -> CommandResult:
        """Blow the final whistle."""
        self._check(match_id, minute, referee)

        def handle(tx: Work) -> Decision:
            facts = self._facts(tx, match_id)
            event = domain.end(facts, notebook.on_pitch(tx, match_id), minute, referee)
            return self._record(tx, facts, [event])

        content = {"minute": minute, "referee": referee}
        return self.commands.execute("end", match_scope(match_id), handle, key=event_id, content=content)

    # ---- queries -------------------------------------------------------------------------------------------

    def tv(
        self,
        match_id: str,
        *,
        after: int | None = None,
        log: str | None = None,
        catch_up: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        cached: bool = True,
    ) -> dict[str, Any]:
        """Return the last ten display lines of a match, latest first (from the cache unless `cached` is False)."""
        domain.check_id(match_id, field="match_id")
        fresh = self._fresh("tv", after, catch_up, timeout, log)
        view = self.tv_view
        runner = self.runner("tv")

        def load() -> dict[str, Any]:
            with self.runtime.read(match_scope(match_id)) as tx:
                position = runner.checkpoints.get_in(tx, runner.name)
                return {"position": position, "events": view.latest(tx, match_id, limit=LATEST)}

        if cached:
            # An unshared (in-process) cache cannot hear another process's invalidations: a cached view is served
            # only at or past the checkpoint this read saw; a shared cache hears every writer's invalidation.
            floor = max(after or 0, 0 if view.views.cache.shared else fresh.position)
            accept: Callable[[Any], bool] = lambda v: int(v["position"]) >= floor  # noqa: E731
            value, hit = view.views.get(view.cache_name(match_id), load, accept=accept)
        else:
            value, hit = load(), False
        if not value["events"]:
            self._require_match(match_id)
        return {"match_id": match_id, "events": value["events"], "cached": hit, **fresh.to_dict()}

    def news(
        self,
        *,
        threshold: int = 0,
        match_id: str | None = None,
        limit: int = 50,
        after: int | None = None,
        log: str | None = None,
        catch_up: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """Return news alerts with urgency >= `threshold`, most urgent first."""
        if isinstance(threshold, bool) or not 0 <= threshold <= 100:
            raise ValidationError(
                f"threshold must be an urgency score from 0 to 100; got {threshold}", field="threshold"
            )
        self._check_query(match_id, limit)
        fresh = self._fresh("news", after, catch_up, timeout, log)
        with self.runtime.read(Scope.of(CONTEXT)) as tx:
            alerts = self.news_view.alerts(tx, threshold=threshold, match_id=match_id, limit=limit)
        return {"alerts": alerts, **fresh.to_dict()}

    def social(
        self,
        *,
        trending: bool = False,
        match_id: str | None = None,
        limit: int = 20,
        after: int | None = None,
        log: str | None = None,
        catch_up: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """Return social posts, latest first or (trending) by engagement."""
        self._check_query(match_id, limit)
        fresh = self._fresh("social", after, catch_up, timeout, log)
        with self.runtime.read(Scope.of(CONTEXT)) as tx:
            posts = self.social_view.feed(tx, trending=trending, match_id=match_id, limit=limit)
        return {"posts": posts, "trending": trending, **fresh.to_dict()}

    def analytics(
        self,
        match_id: str | None = None,
        *,
        after: int | None = None,
        log: str | None = None,
        catch_up: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        """Return per-player and per-team figures for one match, or across all matches."""
        self._check_query(match_id, 1)
        fresh = self._fresh("analytics", after, catch_up, timeout, log)
        with self.runtime.read(Scope.of(CONTEXT)) as tx:
            report = self.analytics_view.report(tx, match_id)
        if match_id is not None and not report["players"] and not report["teams"]:
            self._require_match(match_id)
        return {"match_id": match_id, **report, **fresh.to_dict()}

    # ---- operations ----------------------------------------------------------------------------------------

    def head(self) -> int:
        """Return the head of the match context's log (what a rebuild replays up to)."""
        return self.runtime.head(Scope.of(CONTEXT))

    def lags(self) -> list[dict[str, Any]]:
        """Return each projection's checkpoint, the log's head and how far behind it is."""
        rows = []
        for key, runner in self.runners.items():
            lag = runner.lag()
            rows.append(
                {
                    "projection": key,
                    "name": runner.name,
                    "position": lag.position,
                    "head": lag.head,
                    "behind": lag.behind,
                }
            )
        return rows

    def rebuild(
        self,
        which: Which = "all",
        progress: Progress | None = None,
        *,
        timings: dict[str, float] | None = None,
        processes: int | None = None,
    ) -> dict[str, int]:
        """Rebuild one read model, or all four in one pass over the log, beside the live slots; return events applied.

        All four share the work with a second process (`processes` 2) when a second core is free (load average at
        most cores - 1), the store is a file or a server and the log holds at least :data:`PARTNER_FROM_EVENTS`
        events (`processes` None); the switch waits for both. With `timings`, each projection's seconds spent folding
        events are added.
        """
        if processes is not None and processes not in (1, 2):
            raise ValidationError(f"processes must be 1 or 2; got {processes}", field="processes")
        if check_projection(which) != "all":
            runner = self.runners[which]
            return {
                which: replay_together(
                    [runner], progress=progress, batch_size=runner.rebuild_batch_size, timings=timings
                )
            }
        runners = list(self.runners.values())
        if (processes or self._processes()) == 1:
            return {"all": replay_together(runners, progress=progress, timings=timings)}
        theirs = partner_share(runners, {"match.analytics": 1.5})
        applied = rebuild_with_partner(
            runners,
            partner=theirs,
            settings=self.runtime.settings,
            opener=f"{__name__}:open_runners",
            progress=progress,
            timings=timings,
        )
        return {"all": applied}

    def _processes(self) -> int:
        """Return how many processes an automatic rebuild of all four uses (2 only where it pays)."""
        store, cores = self.runtime.settings.store, os.cpu_count() or 1
        if cores < 2 or ":memory:" in store or os.getloadavg()[0] > cores - 1:
            return 1  # no second core free now: a partner would only add its own decoding
        return 2 if self.head() >= PARTNER_FROM_EVENTS else 1

    def reference_ids(self) -> dict[str, set[str]]:
        """Return the ids of every registered team, player, referee and foul."""
        tenant = current_tenant()
        with self.runtime.read(Scope.of(CONTEXT)) as tx:
            return {
                name: {str(r[0]) for r in tx.query(f"SELECT {key} FROM {table} WHERE tenant_id = ?", (tenant,))}
                for name, table, key in (
                    ("teams", "match_teams", "code"),
                    ("players", "match_players", "player_id"),
                    ("referees", "match_referees", "referee_id"),
                    ("fouls", "match_fouls", "foul_id"),
                )
            }

    def match_ids(self, *, prefix: str = "") -> set[str]:
        """Return the ids of matches starting with `prefix`."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.runtime.read(Scope.of(CONTEXT)) as tx:
            rows = tx.query(
                "SELECT match_id FROM match_matches WHERE tenant_id = ? AND match_id LIKE ? ESCAPE '\\'",
                (current_tenant(), pattern),
            )
        return {str(r[0]) for r in rows}

    # ---- helpers -------------------------------------------------------------------------------------------

    def runner(self, key: str) -> BatchRunner:
        """The follower of projection `key` (tv, news, social, analytics) of the log the current tenant lives in."""
        return cast(BatchRunner, self.runtime.runner_for(self.runners[key].name, Scope.of(CONTEXT)))

    def _fresh(self, key: str, after: int | None, catch_up: bool, timeout: float, log: str | None) -> Freshness:
        runner = self.runner(key)
        return ensure_fresh(runner, after=after, catch_up=catch_up, timeout=bounded_wait(timeout), log=log)

    @staticmethod
    def _check(match_id: str, minute: int, referee: str | None) -> None:
        domain.check_id(match_id, field="match_id")
        domain.check_minute(minute)
        if referee is not None:
            domain.check_id(referee, field="referee")

    def _require_match(self, match_id: str) -> None:
        """Refuse an unknown match id (404 / exit 2) rather than answer an empty view."""
        with self.runtime.read(match_scope(match_id)) as tx:
            if not notebook.match_started(tx, match_id):
                raise NotFound(
                    f"match {match_id} does not exist; start it with: datastrata match start {match_id} --home … "
                    "--away … (or list what was played: datastrata match analytics)",
                    field="match_id",
                )

    @staticmethod
    def _check_query(match_id: str | None, limit: int) -> None:
        if match_id is not None:
            domain.check_id(match_id, field="match_id")
        bounded_int(limit, field="limit", minimum=1, maximum=MAX_LIMIT)

    @staticmethod
    def _facts(tx: Work, match_id: str) -> MatchFacts:
        return MatchService._found(match_id, notebook.facts(tx, match_id))

    @staticmethod
    def _found(match_id: str, facts: MatchFacts | None) -> MatchFacts:
        """The match's facts, or NotFound when no such match was started."""
        if facts is None:
            raise NotFound(
                f"match {match_id} does not exist; start it with: datastrata match start {match_id} --home … --away …",
                field="match_id",
            )
        return facts

    @staticmethod
    def _team(tx: Work, code: str) -> Team:
        found = notebook.team(tx, code)
        if found is None:
            raise NotFound(
                f"team {code} is not registered; add it with: datastrata match team add {code} NAME", field="team"
            )
        return found

    @staticmethod
    def _lineup(tx: Work, team: Team, numbers: Sequence[int], field: str) -> list[Player]:
        squad = notebook.squad(tx, team)
        missing = [n for n in numbers if n not in squad]
        if missing:
            raise RuleViolation(
                f"rule 'lineup from the squad': {team.code} has no registered player numbered "
                f"{', '.join(map(str, missing))}; register them with: datastrata match player add {team.code} "
                "NUMBER NAME",
                field=field,
            )
        return [squad[n] for n in numbers]

    @staticmethod
    def _record(tx: Work, facts: MatchFacts, events: list[Any]) -> Decision:
        notebook.record_match(tx, facts.match_id, facts, events)
        return Decision(tx.scope, events, expected_version=facts.version)
