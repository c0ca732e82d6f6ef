"""Analytics: goals, cards and minutes per player and goals and bookings per team, per match and across matches."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.projections.readmodels import SqlReadModel, adding, insert_rows, slotted
from datastrata.projections.slots import Tables
from datastrata.stores.database import Dialect, Tx
from datastrata.systems.match import domain
from datastrata.systems.match.schema import without_rowid

PLAYER_COUNTERS = ("goals", "yellow_cards", "red_cards", "minutes_played")
TEAM_COUNTERS = ("goals", "bookings")


PLAYER_KEYS = ("tenant_id", "match_id", "player_id")
TEAM_KEYS = ("tenant_id", "match_id", "team")
#: The analytics rows' columns and PostgreSQL types, in the order the page's rows carry them.
PLAYER_COLUMNS = (*((k, "text") for k in (*PLAYER_KEYS, "name", "team")), *((c, "int") for c in PLAYER_COUNTERS))
TEAM_COLUMNS = (*((k, "text") for k in (*TEAM_KEYS, "name")), *((c, "int") for c in TEAM_COUNTERS))


@cache
def _statements(slot: str) -> tuple[str, str, str, str, str]:
    """Return the player table, its upsert clause, the player update, the team table and its upsert clause."""
    t = Tables(slot)
    players, teams = t["match_analytics_players"], t["match_analytics_teams"]
    add_to_player = (
        f"UPDATE {players} SET "
        + ", ".join(f"{c} = {c} + ?" for c in PLAYER_COUNTERS)
        + " WHERE tenant_id = ? AND match_id = ? AND player_id = ?"
    )
    return (
        players,
        adding(players, PLAYER_KEYS, PLAYER_COUNTERS),
        add_to_player,
        teams,
        adding(teams, TEAM_KEYS, TEAM_COUNTERS),
    )


def _ddl(dialect: Dialect) -> str:
    return without_rowid(
        """
CREATE TABLE IF NOT EXISTS match_analytics_players (
    tenant_id      TEXT    NOT NULL,
    match_id       TEXT    NOT NULL,
    player_id      TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    team           TEXT    NOT NULL,
    goals          INTEGER NOT NULL,
    yellow_cards   INTEGER NOT NULL,
    red_cards      INTEGER NOT NULL,
    minutes_played INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, match_id, player_id)
);
CREATE TABLE IF NOT EXISTS match_analytics_teams (
    tenant_id TEXT    NOT NULL,
    match_id  TEXT    NOT NULL,
    team      TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    goals     INTEGER NOT NULL,
    bookings  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, match_id, team)
);
""",
        dialect,
    )


class _Deltas:
    """Counter changes of one page, summed per row so each row is written once."""

    def __init__(self) -> None:
        self.players: dict[tuple[str, str, str], list[Any]] = {}
        self.teams: dict[tuple[str, str, str], list[Any]] = {}

    def player(
        self,
        key: tuple[str, str, str],
        name: str | None,
        team: str | None,
        goals: int = 0,
        yellow_cards: int = 0,
        red_cards: int = 0,
        minutes_played: int = 0,
    ) -> None:
        """Add to a player's counters; `name` and `team` are None when the event does not repeat them."""
        row = self.players.get(key)
        if row is None:
            self.players[key] = [name, team, goals, yellow_cards, red_cards, minutes_played]
            return
        if row[0] is None and name is not None:
            row[0], row[1] = name, team
        row[2] += goals
        row[3] += yellow_cards
        row[4] += red_cards
        row[5] += minutes_played

    def team(self, tenant: str, match_id: str, code: str, name: str, goals: int = 0, bookings: int = 0) -> None:
        """Add to a team's counters."""
        key = (tenant, match_id, code)
        row = self.teams.get(key)
        if row is None:
            self.teams[key] = [name, goals, bookings]
        else:
            row[1] += goals
            row[2] += bookings


def _fold(d: _Deltas, e: Event) -> None:
    """Add one event's counter changes to `d` (most frequent events first: this loop bounds a rebuild)."""
    p, kind = e.payload, e.type
    t, m = e.tenant_id, p["match_id"]
    add = d.player
    if kind == domain.SUBSTITUTION_MADE:
        off, on = p["off"], p["on"]
        add((t, m, off["player_id"]), off["name"], off["team"], 0, 0, 0, p["off_minutes_played"])
        add((t, m, on["player_id"]), on["name"], on["team"])
    elif kind == domain.PLAYER_BOOKED:
        who = p["player"]
        d.team(t, m, who["team"], who["team_name"], 0, 1)
        if p["card"] == "yellow":
            add((t, m, who["player_id"]), who["name"], who["team"], 0, 1)
    elif kind == domain.GOAL_SCORED:
        who = p["player"]
        add((t, m, who["player_id"]), who["name"], who["team"], 1)
        d.team(t, m, who["team"], who["team_name"], 1)
    elif kind == domain.MATCH_STARTED:
        players = d.players
        for side in ("home", "away"):
            code = p[side]["code"]
            d.team(t, m, code, p[side]["name"])
            for who in p["lineups"][side]:
                key = (t, m, who["player_id"])
                if key not in players:
                    players[key] = [who["name"], code, 0, 0, 0, 0]
    elif kind == domain.MATCH_ENDED:
        players = d.players
        for who in p["minutes_played"]:  # everyone on the pitch already has a row: from kick-off or coming on
            key = (t, m, who["player_id"])
            row = players.get(key)
            if row is None:
                players[key] = [None, None, 0, 0, 0, who["minutes"]]
            else:
                row[5] += who["minutes"]
    elif kind == domain.PLAYER_SENT_OFF:
        who = p["player"]
        add((t, m, who["player_id"]), who["name"], who["team"], 0, 0, 1, p["minutes_played"])


class AnalyticsProjection(SqlReadModel):
    """Per-match counters for players and teams; totals across matches are sums at query time."""

    name = "match.analytics"
    tables = ("match_analytics_players", "match_analytics_teams")
    migrations = slotted("match.analytics", _ddl, tables)
    event_types = domain.MATCH_EVENTS

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        """Sum the page's changes per row in memory, then upsert each touched row once (one batched write a table)."""
        self.write(tx, self.prepare(events))

    def prepare(self, events: Sequence[Event]) -> _Deltas:
        """Return the page's counter changes summed per player and team row (no store access)."""
        deltas = _Deltas()
        for e in events:
            _fold(deltas, e)
        return deltas

    def write(self, tx: Tx, prepared: _Deltas) -> None:
        """Upsert each touched row once: new rows inserted, existing ones' counters added to."""
        players, add_player, add_to_player, teams, add_team = _statements(self.slot(tx).slot)
        named = [(*k, *v) for k, v in prepared.players.items() if v[0] is not None]
        insert_rows(tx, players, PLAYER_COLUMNS, named, conflict=add_player)
        known = [(*v[2:], *k) for k, v in prepared.players.items() if v[0] is None]
        if known:
            tx.executemany(add_to_player, known)
        insert_rows(tx, teams, TEAM_COLUMNS, [(*k, *v) for k, v in prepared.teams.items()], conflict=add_team)

    def report(self, tx: Tx, match_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Return player and team figures for one match, or summed across every match."""
        t = self.slot(tx)
        where, params = "WHERE tenant_id = ?", [current_tenant()]
        if match_id is not None:
            where += " AND match_id = ?"
            params.append(match_id)
        players = tx.query(
            "SELECT player_id, max(name), max(team), sum(goals), sum(yellow_cards), sum(red_cards), "
            f"sum(minutes_played), count(*) FROM {t['match_analytics_players']} {where} "
            "GROUP BY player_id ORDER BY sum(goals) DESC, player_id",
            params,
        )
        teams = tx.query(
            f"SELECT team, max(name), sum(goals), sum(bookings), count(*) FROM {t['match_analytics_teams']} {where} "
            "GROUP BY team ORDER BY sum(goals) DESC, team",
            params,
        )
        player_keys = ("player_id", "name", "team", *PLAYER_COUNTERS, "matches")
        team_keys = ("team", "name", *TEAM_COUNTERS, "matches")
        return {
            "players": [dict(zip(player_keys, _ints(r), strict=True)) for r in players],
            "teams": [dict(zip(team_keys, _ints(r), strict=True)) for r in teams],
        }


def _ints(row: tuple[Any, ...]) -> list[Any]:
    """Return a row with PostgreSQL's numeric sums turned back into ints."""
    return [v if isinstance(v, str) else int(v) for v in row]
