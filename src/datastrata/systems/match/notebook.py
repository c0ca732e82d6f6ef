"""The referee's notebook on SQL: load the facts a rule needs, and write the rows a decided event implies.

The writes are deferred (:meth:`Tx.defer`): on PostgreSQL they leave with the append and the COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datastrata.core.events import NewEvent
from datastrata.core.tenancy import current_tenant
from datastrata.stores.database import Tx
from datastrata.systems.match import domain
from datastrata.systems.match.domain import Appearance, Foul, MatchFacts, Player, Team


def team(tx: Tx, code: str) -> Team | None:
    """Return a registered team."""
    row = tx.one("SELECT code, name FROM match_teams WHERE tenant_id = ? AND code = ?", (current_tenant(), code))
    return None if row is None else Team(row[0], row[1])


def player(tx: Tx, player_id: str) -> Player | None:
    """Return a registered player with their team."""
    row = tx.one(
        "SELECT p.player_id, p.number, p.name, t.code, t.name FROM match_players p "
        "JOIN match_teams t ON t.tenant_id = p.tenant_id AND t.code = p.team "
        "WHERE p.tenant_id = ? AND p.player_id = ?",
        (current_tenant(), player_id),
    )
    return None if row is None else Player(row[0], Team(row[3], row[4]), int(row[1]), row[2])


def squad(tx: Tx, team: Team) -> dict[int, Player]:
    """Return every registered player of `team` by squad number."""
    rows = tx.query(
        "SELECT player_id, number, name FROM match_players WHERE tenant_id = ? AND team = ?",
        (current_tenant(), team.code),
    )
    return {int(r[1]): Player(r[0], team, int(r[1]), r[2]) for r in rows}


def referee_name(tx: Tx, referee_id: str) -> str | None:
    """Return a registered referee's name."""
    value = tx.scalar(
        "SELECT name FROM match_referees WHERE tenant_id = ? AND referee_id = ?", (current_tenant(), referee_id)
    )
    return None if value is None else str(value)


def foul(tx: Tx, foul_id: str) -> Foul | None:
    """Return a registered kind of foul."""
    value = tx.scalar(
        "SELECT description FROM match_fouls WHERE tenant_id = ? AND foul_id = ?", (current_tenant(), foul_id)
    )
    return None if value is None else Foul(foul_id, str(value))


def match_started(tx: Tx, match_id: str) -> bool:
    """Whether a match was started (a plain read: no lock, so it runs in read-only snapshots)."""
    row = tx.one("SELECT 1 FROM match_matches WHERE tenant_id = ? AND match_id = ?", (current_tenant(), match_id))
    return row is not None


_FACTS = (
    "SELECT m.home, h.name, m.away, a.name, m.referee_id, r.name, m.status, m.last_minute, m.home_goals, "
    "m.away_goals, m.home_substitutions, m.away_substitutions, m.version FROM match_matches m "
    "JOIN match_teams h ON h.tenant_id = m.tenant_id AND h.code = m.home "
    "JOIN match_teams a ON a.tenant_id = m.tenant_id AND a.code = m.away "
    "JOIN match_referees r ON r.tenant_id = m.tenant_id AND r.referee_id = m.referee_id "
    "WHERE m.tenant_id = ? AND m.match_id = ?"
)


def _facts_sql(tx: Tx) -> str:
    return f"{_FACTS} FOR UPDATE OF m" if tx.dialect == "postgresql" else _FACTS


def _match_facts(match_id: str, row: tuple[Any, ...] | None) -> MatchFacts | None:
    if row is None:
        return None
    return MatchFacts(
        match_id, Team(row[0], row[1]), Team(row[2], row[3]), row[4], row[5], row[6], *(int(x) for x in row[7:])
    )


def facts(tx: Tx, match_id: str) -> MatchFacts | None:
    """Return a match's current facts, locking its row against concurrent commands (PostgreSQL)."""
    return _match_facts(match_id, tx.one(_facts_sql(tx), (current_tenant(), match_id)))


def facts_and_appearances(
    tx: Tx, match_id: str, players: Sequence[str]
) -> tuple[MatchFacts | None, list[Appearance | None]]:
    """The match's facts (its row locked, first) and the players' parts in it, read in one round trip."""
    tenant = current_tenant()
    answers = tx.queries(
        [
            (_facts_sql(tx), (tenant, match_id)),
            *((f"{_APPEARANCE} AND l.player_id = ?", (tenant, match_id, p)) for p in players),
        ]
    )
    found = [_appearance(rows[0]) if rows else None for rows in answers[1:]]
    return _match_facts(match_id, answers[0][0] if answers[0] else None), found


_APPEARANCE = (
    "SELECT l.player_id, l.status, l.entered_minute, s.yellow_cards, p.number, p.name, t.code, t.name "
    "FROM match_lineups l "
    "JOIN match_player_match_stats s ON s.tenant_id = l.tenant_id AND s.match_id = l.match_id "
    "AND s.player_id = l.player_id "
    "JOIN match_players p ON p.tenant_id = l.tenant_id AND p.player_id = l.player_id "
    "JOIN match_teams t ON t.tenant_id = p.tenant_id AND t.code = p.team "
    "WHERE l.tenant_id = ? AND l.match_id = ?"
)


def _appearance(row: tuple[Any, ...]) -> Appearance:
    player = Player(row[0], Team(row[6], row[7]), int(row[4]), row[5])
    return Appearance(player, row[1], int(row[2]), int(row[3]))


def appearance(tx: Tx, match_id: str, player_id: str) -> Appearance | None:
    """Return a player's part in a match, or None when they have not played in it."""
    row = tx.one(f"{_APPEARANCE} AND l.player_id = ?", (current_tenant(), match_id, player_id))
    return None if row is None else _appearance(row)


def on_pitch(tx: Tx, match_id: str) -> list[Appearance]:
    """Return everyone on the pitch in a match."""
    rows = tx.query(f"{_APPEARANCE} AND l.status = ?", (current_tenant(), match_id, domain.ON_PITCH))
    return [_appearance(r) for r in rows]


def exists(tx: Tx, table: str, key: str, value: str) -> bool:
    """True when reference table `table` already holds `value` in column `key`."""
    return tx.scalar(f"SELECT 1 FROM {table} WHERE tenant_id = ? AND {key} = ?", (current_tenant(), value)) is not None


# ---- writing -------------------------------------------------------------------------------------------------


def record_reference(tx: Tx, event: NewEvent) -> None:
    """Write the row a registration event implies."""
    p, tenant = event.payload, current_tenant()
    if event.type == domain.TEAM_REGISTERED:
        tx.defer("INSERT INTO match_teams (tenant_id, code, name) VALUES (?, ?, ?)", (tenant, p["code"], p["name"]))
    elif event.type == domain.PLAYER_REGISTERED:
        tx.defer(
            "INSERT INTO match_players (tenant_id, player_id, team, number, name) VALUES (?, ?, ?, ?, ?)",
            (tenant, p["player_id"], p["team"], p["number"], p["name"]),
        )
    elif event.type == domain.REFEREE_REGISTERED:
        tx.defer(
            "INSERT INTO match_referees (tenant_id, referee_id, name) VALUES (?, ?, ?)",
            (tenant, p["referee_id"], p["name"]),
        )
    elif event.type == domain.FOUL_TYPE_REGISTERED:
        tx.defer(
            "INSERT INTO match_fouls (tenant_id, foul_id, description) VALUES (?, ?, ?)",
            (tenant, p["foul_id"], p["description"]),
        )
    else:
        raise ValueError(f"not a registration event: {event.type}")


def record_match(tx: Tx, match_id: str, before: MatchFacts | None, events: Sequence[NewEvent]) -> None:
    """Write the rows the events of one command imply; `before` is the match as the command found it."""
    tenant = current_tenant()
    version = before.version if before else 0
    for offset, event in enumerate(events, start=1):
        _WRITERS[event.type](tx, tenant, match_id, version + offset, event.payload)
    if before is None:
        return  # a kick-off inserted the match row whole
    goals = [before.home_goals, before.away_goals]
    substitutions = [before.home_substitutions, before.away_substitutions]
    status, ended, minute = before.status, None, before.last_minute
    for event in events:
        p = event.payload
        minute = int(p["minute"])
        if event.type == domain.GOAL_SCORED:
            goals = [int(p["score"]["home"]), int(p["score"]["away"])]
        elif event.type == domain.SUBSTITUTION_MADE:
            substitutions[0 if before.side(p["team"]["code"]) == "home" else 1] += 1
        elif event.type == domain.MATCH_ENDED:
            status, ended = domain.ENDED, minute
    tx.defer(
        "UPDATE match_matches SET last_minute = ?, version = ?, home_goals = ?, away_goals = ?, "
        "home_substitutions = ?, away_substitutions = ?, status = ?, ended_minute = ? "
        "WHERE tenant_id = ? AND match_id = ?",
        (minute, version + len(events), *goals, *substitutions, status, ended, tenant, match_id),
    )


def _started(tx: Tx, tenant: str, match_id: str, seq: int, p: Any) -> None:
    tx.defer(
        "INSERT INTO match_matches (tenant_id, match_id, home, away, referee_id, status, last_minute, version) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
        (tenant, match_id, p["home"]["code"], p["away"]["code"], p["referee"]["referee_id"], domain.IN_PROGRESS, seq),
    )
    players = [(pl["player_id"], p[side]["code"]) for side in ("home", "away") for pl in p["lineups"][side]]
    tx.defer_many(
        "INSERT INTO match_lineups (tenant_id, match_id, player_id, team, status, entered_minute) "
        "VALUES (?, ?, ?, ?, ?, 0)",
        [(tenant, match_id, player, team, domain.ON_PITCH) for player, team in players],
    )
    tx.defer_many(
        "INSERT INTO match_player_match_stats (tenant_id, match_id, player_id, team) VALUES (?, ?, ?, ?)",
        [(tenant, match_id, player, team) for player, team in players],
    )


def _booked(tx: Tx, tenant: str, match_id: str, seq: int, p: Any) -> None:
    player_id = p["player"]["player_id"]
    tx.defer(
        "INSERT INTO match_bookings (tenant_id, match_id, seq, player_id, card, foul_id, minute) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (tenant, match_id, seq, player_id, p["card"], p["foul"]["foul_id"], p["minute"]),
    )
    if p["card"] == "yellow":
        _add_stats(tx, tenant, match_id, player_id, yellow_cards=1)


def _sent_off(tx: Tx, tenant: str, match_id: str, seq: int, p: Any) -> None:
    player_id = p["player"]["player_id"]
    _leave(tx, tenant, match_id, player_id, domain.SENT_OFF, p["minute"])
    _add_stats(tx, tenant, match_id, player_id, red_cards=1, minutes_played=p["minutes_played"])


def _goal(tx: Tx, tenant: str, match_id: str, seq: int, p: Any) -> None:
    scorer = p["player"]
    tx.defer(
        "INSERT INTO match_goals (tenant_id, match_id, seq, player_id, team, minute) VALUES (?, ?, ?, ?, ?, ?)",
        (tenant, match_id, seq, scorer["player_id"], scorer["team"], p["minute"]),
    )
    _add_stats(tx, tenant, match_id, scorer["player_id"], goals=1)


def _substitution(tx: Tx, tenant: str, match_id: str, seq: int, p: Any) -> None:
    off, on, team = p["off"]["player_id"], p["on"]["player_id"], p["team"]["code"]
    _leave(tx, tenant, match_id, off, domain.SUBSTITUTED, p["minute"])
    _add_stats(tx, tenant, match_id, off, minutes_played=p["off_minutes_played"])
    tx.defer(
        "INSERT INTO match_lineups (tenant_id, match_id, player_id, team, status, entered_minute) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (tenant, match_id, on, team, domain.ON_PITCH, p["minute"]),
    )
    tx.defer(
        "INSERT INTO match_player_match_stats (tenant_id, match_id, player_id, team) VALUES (?, ?, ?, ?)",
        (tenant, match_id, on, team),
    )
    tx.defer(
        "INSERT INTO match_substitutions (tenant_id, match_id, seq, team, player_off, player_on, minute) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (tenant, match_id, seq, team, off, on, p["minute"]),
    )


def _ended(tx: Tx, tenant: str, match_id: str, seq: int, p: Any) -> None:
    tx.defer(
        "UPDATE match_lineups SET left_minute = ? WHERE tenant_id = ? AND match_id = ? AND status = ?",
        (p["minute"], tenant, match_id, domain.ON_PITCH),
    )
    tx.defer_many(
        "UPDATE match_player_match_stats SET minutes_played = minutes_played + ? "
        "WHERE tenant_id = ? AND match_id = ? AND player_id = ?",
        [(m["minutes"], tenant, match_id, m["player_id"]) for m in p["minutes_played"]],
    )


def _leave(tx: Tx, tenant: str, match_id: str, player_id: str, status: str, minute: int) -> None:
    tx.defer(
        "UPDATE match_lineups SET status = ?, left_minute = ? WHERE tenant_id = ? AND match_id = ? AND player_id = ?",
        (status, minute, tenant, match_id, player_id),
    )


def _add_stats(
    tx: Tx,
    tenant: str,
    match_id: str,
    player_id: str,
    *,
    goals: int = 0,
    yellow_cards: int = 0,
    red_cards: int = 0,
    minutes_played: int = 0,
) -> None:
    tx.defer(
        "UPDATE match_player_match_stats SET goals = goals + ?, yellow_cards = yellow_cards + ?, "
        "red_cards = red_cards + ?, minutes_played = minutes_played + ? "
        "WHERE tenant_id = ? AND match_id = ? AND player_id = ?",
        (goals, yellow_cards, red_cards, minutes_played, tenant, match_id, player_id),
    )


_WRITERS = {
    domain.MATCH_STARTED: _started,
    domain.PLAYER_BOOKED: _booked,
    domain.PLAYER_SENT_OFF: _sent_off,
    domain.GOAL_SCORED: _goal,
    domain.SUBSTITUTION_MADE: _substitution,
    domain.MATCH_ENDED: _ended,
}
