"""Match domain: identifiers, the facts a command is checked against, the rules, and the events. No I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.events import NewEvent

TEAM_REGISTERED = "TeamRegistered"
PLAYER_REGISTERED = "PlayerRegistered"
REFEREE_REGISTERED = "RefereeRegistered"
FOUL_TYPE_REGISTERED = "FoulTypeRegistered"
MATCH_STARTED = "MatchStarted"
PLAYER_BOOKED = "PlayerBooked"
PLAYER_SENT_OFF = "PlayerSentOff"
GOAL_SCORED = "GoalScored"
SUBSTITUTION_MADE = "SubstitutionMade"
MATCH_ENDED = "MatchEnded"
#: The events of a match, which every read model reads.
MATCH_EVENTS = frozenset({MATCH_STARTED, PLAYER_BOOKED, PLAYER_SENT_OFF, GOAL_SCORED, SUBSTITUTION_MADE, MATCH_ENDED})

LINEUP_SIZE = 11
MAX_SUBSTITUTIONS = 5
MAX_MINUTE = 130
IN_PROGRESS = "in_progress"
ENDED = "ended"
ON_PITCH = "on_pitch"
SENT_OFF = "sent_off"
SUBSTITUTED = "substituted"

Card = Literal["yellow", "red"]
Side = Literal["home", "away"]

_TEAM = re.compile(r"^[A-Z]{3}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PLAYER = re.compile(r"^([A-Z]{3})-([0-9]{1,2})$")


# ---- identifiers and input -----------------------------------------------------------------------------------


def check_team(code: str, *, field: str = "team") -> str:
    """Refuse a team code that is not three capital letters (FIFA style, e.g. ARG)."""
    if not isinstance(code, str) or not _TEAM.match(code):
        raise ValidationError(f"{field} must be a three-letter team code such as ARG; got {code!r}", field=field)
    return code


def check_id(value: str, *, field: str) -> str:
    """Refuse an id that is not 1-64 of letters, digits, '.', '_' or '-' (starting with a letter or digit)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValidationError(
            f"{field} must be 1-64 of letters, digits, '.', '_' or '-', e.g. WC2022-FINAL; got {value!r}", field=field
        )
    return value


def check_name(value: str, *, field: str) -> str:
    """Refuse an empty or overlong display name; return it trimmed."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 100:
        raise ValidationError(f"{field} must be 1-100 characters; got {value!r}", field=field)
    return text


def check_number(number: int, *, field: str = "number") -> int:
    """Refuse a squad number outside 1-99."""
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 99:
        raise ValidationError(f"{field} must be a squad number from 1 to 99; got {number!r}", field=field)
    return number


def player_id(team: str, number: int) -> str:
    """Return a player's id: team code and squad number, e.g. ARG-10."""
    return f"{check_team(team)}-{check_number(number)}"


def check_player(value: str, *, field: str = "player") -> str:
    """Refuse a player id that is not TEAM-NUMBER (e.g. ARG-10)."""
    found = _PLAYER.match(value) if isinstance(value, str) else None
    if found is None or not 1 <= int(found.group(2)) <= 99:
        raise ValidationError(f"{field} must be a player id TEAM-NUMBER such as ARG-10; got {value!r}", field=field)
    return value


def team_of(player: str) -> str:
    """Return the team code in a player id."""
    return player.split("-", 1)[0]


def check_minute(minute: int) -> int:
    """Refuse a minute outside 0-130."""
    if isinstance(minute, bool) or not isinstance(minute, int) or not 0 <= minute <= MAX_MINUTE:
        raise ValidationError(f"minute must be a whole number from 0 to {MAX_MINUTE}; got {minute!r}", field="minute")
    return minute


def check_lineup(numbers: Sequence[int], *, field: str) -> list[int]:
    """Refuse a lineup that is not 11 distinct squad numbers."""
    lineup = [check_number(n, field=field) for n in numbers]
    if len(lineup) != LINEUP_SIZE or len(set(lineup)) != LINEUP_SIZE:
        raise ValidationError(
            f"{field} must be {LINEUP_SIZE} distinct squad numbers, e.g. 1,2,3,4,5,6,7,8,9,10,11; got {list(numbers)}",
            field=field,
        )
    return lineup


def parse_lineup(text: str, *, field: str) -> list[int]:
    """Parse a comma-separated lineup such as ``1,2,3,…`` into squad numbers."""
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValidationError(
            f"{field} must be comma-separated squad numbers such as 1,2,3,4,5,6,7,8,9,10,11; got {text!r}", field=field
        ) from None
    return check_lineup(numbers, field=field)


# ---- the facts a command is checked against -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Team:
    """A registered team."""

    code: str
    name: str

    def to_dict(self) -> dict[str, str]:
        """Return the event form."""
        return {"code": self.code, "name": self.name}


@dataclass(frozen=True, slots=True)
class Player:
    """A registered player of a team."""

    player_id: str
    team: Team
    number: int
    name: str

    def to_dict(self) -> dict[str, Any]:
        """Return the event form: everything a reader shows about the player."""
        return {
            "player_id": self.player_id,
            "number": self.number,
            "name": self.name,
            "team": self.team.code,
            "team_name": self.team.name,
        }


@dataclass(frozen=True, slots=True)
class Foul:
    """A kind of foul the referee records."""

    foul_id: str
    description: str


@dataclass(frozen=True, slots=True)
class MatchFacts:
    """What the referee's notebook says about a match now."""

    match_id: str
    home: Team
    away: Team
    referee_id: str
    referee_name: str
    status: str
    last_minute: int
    home_goals: int
    away_goals: int
    home_substitutions: int
    away_substitutions: int
    version: int

    def side(self, team: str) -> Side:
        """Return whether `team` plays at home or away."""
        return "home" if team == self.home.code else "away"

    def fixture(self) -> dict[str, Any]:
        """Return the match block every event carries."""
        return {"match_id": self.match_id, "home": self.home.to_dict(), "away": self.away.to_dict()}


@dataclass(frozen=True, slots=True)
class Appearance:
    """A player's part in one match: on the pitch, sent off or substituted, and their cards so far."""

    player: Player
    status: str
    entered_minute: int
    yellow_cards: int


# ---- rules ---------------------------------------------------------------------------------------------------


def check_playable(match: MatchFacts, minute: int, referee: str | None) -> int:
    """Refuse a command on a match that is over, from another referee, or at a minute before the last one."""
    if match.status != IN_PROGRESS:
        raise RuleViolation(
            f"rule 'match in progress': match {match.match_id} has ended; nothing more can be recorded for it"
        )
    if referee is not None and referee != match.referee_id:
        raise RuleViolation(
            f"rule 'match referee': match {match.match_id} is refereed by {match.referee_id}, not {referee}; "
            f"record it as {match.referee_id}"
        )
    check_minute(minute)
    if minute < match.last_minute:
        raise RuleViolation(
            f"rule 'minutes only move forward': minute {minute} is before minute {match.last_minute}, the last "
            f"recorded in match {match.match_id}; use minute {match.last_minute} or later"
        )
    return minute


def check_on_pitch(match: MatchFacts, player: str, appearance: Appearance | None) -> Appearance:
    """Refuse a player who is not on the pitch, naming why (never played, sent off or substituted)."""
    if appearance is None:
        raise RuleViolation(
            f"rule 'player on the pitch': {player} is not on the pitch in match {match.match_id}; "
            "only players in the lineup or brought on may take part"
        )
    if appearance.status == SENT_OFF:
        raise RuleViolation(
            f"rule 'sent-off players take no further part': {player} was sent off in match {match.match_id}"
        )
    if appearance.status == SUBSTITUTED:
        raise RuleViolation(
            f"rule 'substituted players take no further part': {player} was substituted in match {match.match_id}"
        )
    return appearance


# ---- decisions: each returns the events to record ------------------------------------------------------------


def register_team(team: Team) -> NewEvent:
    """Record a new team."""
    return NewEvent(type=TEAM_REGISTERED, payload=team.to_dict())


def register_player(player: Player) -> NewEvent:
    """Record a new player."""
    return NewEvent(type=PLAYER_REGISTERED, payload=player.to_dict())


def register_referee(referee_id: str, name: str) -> NewEvent:
    """Record a new referee."""
    return NewEvent(type=REFEREE_REGISTERED, payload={"referee_id": referee_id, "name": name})


def register_foul(foul: Foul) -> NewEvent:
    """Record a new kind of foul."""
    return NewEvent(type=FOUL_TYPE_REGISTERED, payload={"foul_id": foul.foul_id, "description": foul.description})


def start(
    match_id: str,
    home: Team,
    away: Team,
    referee_id: str,
    referee_name: str,
    home_lineup: Sequence[Player],
    away_lineup: Sequence[Player],
) -> NewEvent:
    """Decide a kick-off: two different teams, eleven of each team's own players."""
    if home.code == away.code:
        raise RuleViolation(f"rule 'two teams': home and away are both {home.code}; choose two different teams")
    for team, lineup in ((home, home_lineup), (away, away_lineup)):
        foreign = [p.player_id for p in lineup if p.team.code != team.code]
        if foreign or len(lineup) != LINEUP_SIZE:
            raise RuleViolation(f"rule 'lineup': {team.code} must field {LINEUP_SIZE} of its own players")
    return NewEvent(
        type=MATCH_STARTED,
        payload={
            "match_id": match_id,
            "home": home.to_dict(),
            "away": away.to_dict(),
            "referee": {"referee_id": referee_id, "name": referee_name},
            "minute": 0,
            "lineups": {
                "home": [_lineup_entry(p) for p in home_lineup],
                "away": [_lineup_entry(p) for p in away_lineup],
            },
        },
    )


def _lineup_entry(player: Player) -> dict[str, Any]:
    """A player in a kick-off's lineup: the side block already names the team."""
    return {"player_id": player.player_id, "number": player.number, "name": player.name}


def book(
    match: MatchFacts,
    appearance: Appearance | None,
    player: str,
    card: Card,
    foul: Foul,
    minute: int,
    referee: str | None,
) -> list[NewEvent]:
    """Decide a booking; a second yellow (or a red) also sends the player off."""
    check_playable(match, minute, referee)
    on = check_on_pitch(match, player, appearance)
    second_yellow = card == "yellow" and on.yellow_cards >= 1
    base = {
        **match.fixture(),
        "player": on.player.to_dict(),
        "minute": minute,
        "foul": {"foul_id": foul.foul_id, "description": foul.description},
        "referee_id": match.referee_id,
    }
    events = [NewEvent(type=PLAYER_BOOKED, payload={**base, "card": card, "second_yellow": second_yellow})]
    if card == "red" or second_yellow:
        reason = "second yellow card" if second_yellow else "straight red card"
        events.append(
            NewEvent(
                type=PLAYER_SENT_OFF,
                payload={**base, "reason": reason, "minutes_played": minute - on.entered_minute},
            )
        )
    return events


def score_goal(
    match: MatchFacts, appearance: Appearance | None, player: str, minute: int, referee: str | None
) -> NewEvent:
    """Decide a goal for the scorer's team."""
    check_playable(match, minute, referee)
    on = check_on_pitch(match, player, appearance)
    home, away = match.home_goals, match.away_goals
    if match.side(on.player.team.code) == "home":
        home += 1
    else:
        away += 1
    return NewEvent(
        type=GOAL_SCORED,
        payload={
            **match.fixture(),
            "player": on.player.to_dict(),
            "minute": minute,
            "score": {"home": home, "away": away},
        },
    )


def substitute(
    match: MatchFacts,
    off: Appearance | None,
    off_id: str,
    on: Player,
    on_appearance: Appearance | None,
    minute: int,
    referee: str | None,
) -> NewEvent:
    """Decide a substitution: the player going off is on the pitch, the one coming on is a teammate yet to play."""
    check_playable(match, minute, referee)
    leaving = check_on_pitch(match, off_id, off)
    team = leaving.player.team
    if on.team.code != team.code:
        raise RuleViolation(
            f"rule 'substitute from the squad': {on.player_id} is not in {team.code}'s squad; "
            f"bring on a {team.code} player"
        )
    if on_appearance is not None:
        raise RuleViolation(
            f"rule 'substitute has not played': {on.player_id} has already played in match {match.match_id} "
            f"({on_appearance.status.replace('_', ' ')}); bring on a player who has not"
        )
    used = match.home_substitutions if match.side(team.code) == "home" else match.away_substitutions
    if used >= MAX_SUBSTITUTIONS:
        raise RuleViolation(
            f"rule 'at most {MAX_SUBSTITUTIONS} substitutions': {team.code} has made {used} in match {match.match_id}"
        )
    return NewEvent(
        type=SUBSTITUTION_MADE,
        payload={
            **match.fixture(),
            "team": team.to_dict(),
            "off": leaving.player.to_dict(),
            "on": on.to_dict(),
            "minute": minute,
            "off_minutes_played": minute - leaving.entered_minute,
            "substitutions_used": used + 1,
        },
    )


def end(match: MatchFacts, on_pitch: Sequence[Appearance], minute: int, referee: str | None) -> NewEvent:
    """Decide the final whistle, crediting the minutes of everyone still on the pitch."""
    check_playable(match, minute, referee)
    return NewEvent(
        type=MATCH_ENDED,
        payload={
            **match.fixture(),
            "minute": minute,
            "score": {"home": match.home_goals, "away": match.away_goals},
            "minutes_played": [
                {"player_id": a.player.player_id, "minutes": minute - a.entered_minute}
                for a in sorted(on_pitch, key=lambda a: a.player.player_id)
            ],
        },
    )


def scoreline(payload: Mapping[str, Any]) -> str:
    """Return 'Argentina 2-1 France' from an event carrying a fixture and a score."""
    score = payload["score"]
    return f"{payload['home']['name']} {score['home']}-{score['away']} {payload['away']['name']}"


def fixture_name(payload: Mapping[str, Any]) -> str:
    """Return 'Argentina v France' from an event carrying a fixture."""
    return f"{payload['home']['name']} v {payload['away']['name']}"
