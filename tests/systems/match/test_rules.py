"""Every command rule, accepted and refused; a refused command names its rule and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from datastrata.core.errors import DatastrataError, NotFound, RuleViolation, ValidationError
from datastrata.systems.match.service import MatchService
from tests.systems.match.conftest import LINEUP, MATCH

TABLES = (
    "match_teams",
    "match_players",
    "match_referees",
    "match_fouls",
    "match_matches",
    "match_lineups",
    "match_bookings",
    "match_goals",
    "match_substitutions",
    "match_player_match_stats",
)


def footprint(svc: MatchService) -> tuple[Any, ...]:
    """Everything a command could write: the log head, every write-model row."""
    with svc.runtime.db.read() as tx:
        rows = tuple(tuple(sorted(map(str, tx.query(f"SELECT * FROM {t}")))) for t in TABLES)
    return svc.runtime.log.head(), rows


def refused(svc: MatchService, command: Callable[[], object], error: type[DatastrataError], words: str) -> None:
    before = footprint(svc)
    with pytest.raises(error, match=words):
        command()
    assert footprint(svc) == before


def stats(svc: MatchService, player: str) -> tuple[int, int, int, int]:
    with svc.runtime.db.read() as tx:
        row = tx.one(
            "SELECT goals, yellow_cards, red_cards, minutes_played FROM match_player_match_stats "
            "WHERE match_id = ? AND player_id = ?",
            (MATCH, player),
        )
    assert row is not None
    return tuple(int(x) for x in row)  # type: ignore[return-value]


def test_reference_data_rules(svc: MatchService) -> None:
    result = svc.register_team("BRA", "Brazil")
    assert [e.type for e in result.events] == ["TeamRegistered"] and result.token == svc.runtime.log.head()
    assert svc.register_player("BRA", 10, "Neymar").events[0].payload["player_id"] == "BRA-10"
    refused(svc, lambda: svc.register_team("BRA", "Brasil"), RuleViolation, "rule 'unique team'")
    refused(svc, lambda: svc.register_team("br", "Brazil"), ValidationError, "three-letter team code")
    refused(svc, lambda: svc.register_team("GER", " "), ValidationError, "name must be 1-100")
    refused(svc, lambda: svc.register_player("BRA", 10, "Vinícius"), RuleViolation, "unique squad number")
    refused(svc, lambda: svc.register_player("GER", 10, "Müller"), NotFound, "team GER is not registered")
    refused(svc, lambda: svc.register_player("BRA", 0, "Nobody"), ValidationError, "squad number from 1 to 99")
    refused(svc, lambda: svc.register_referee("MARCINIAK", "Again"), RuleViolation, "unique referee")
    refused(svc, lambda: svc.register_referee("bad id!", "X"), ValidationError, "referee_id")
    refused(svc, lambda: svc.register_foul("UNSPORTING", "Again"), RuleViolation, "unique foul")


def test_start_rules(svc: MatchService) -> None:
    eleven = LINEUP
    refused(svc, lambda: svc.start(MATCH, "ARG", "FRA", "MARCINIAK", eleven[:10], eleven), ValidationError, "11")
    refused(svc, lambda: svc.start(MATCH, "ARG", "FRA", "MARCINIAK", [1] * 11, eleven), ValidationError, "distinct")
    refused(
        svc,
        lambda: svc.start(MATCH, "ARG", "FRA", "MARCINIAK", eleven, [*eleven[:10], 40]),
        RuleViolation,
        "FRA has no registered player numbered 40",
    )
    refused(svc, lambda: svc.start(MATCH, "ARG", "ARG", "MARCINIAK", eleven, eleven), RuleViolation, "two teams")
    refused(svc, lambda: svc.start(MATCH, "ARG", "GER", "MARCINIAK", eleven, eleven), NotFound, "team GER")
    refused(svc, lambda: svc.start(MATCH, "ARG", "FRA", "NOBODY", eleven, eleven), NotFound, "referee NOBODY")
    started = svc.start(MATCH, "ARG", "FRA", "MARCINIAK", eleven, eleven)
    assert [e.type for e in started.events] == ["MatchStarted"]
    payload = started.events[0].payload
    assert payload["lineups"]["home"][9] == {"player_id": "ARG-10", "number": 10, "name": "Messi"}
    assert payload["home"] == {"code": "ARG", "name": "Argentina"}
    refused(svc, lambda: svc.start(MATCH, "ARG", "FRA", "MARCINIAK", eleven, eleven), RuleViolation, "new match")


def test_match_must_exist_and_be_in_progress(live: MatchService) -> None:
    svc = live
    refused(svc, lambda: svc.goal("NOPE", "ARG-10", minute=5), NotFound, "match NOPE does not exist")
    ended = svc.end(MATCH, minute=94)
    assert [e.type for e in ended.events] == ["MatchEnded"]
    for command in (
        lambda: svc.goal(MATCH, "ARG-10", minute=95),
        lambda: svc.yellow(MATCH, "ARG-10", minute=95, foul="UNSPORTING"),
        lambda: svc.substitute(MATCH, off="ARG-9", on="ARG-12", minute=95),
        lambda: svc.end(MATCH, minute=95),
    ):
        refused(svc, command, RuleViolation, "rule 'match in progress'")
    assert stats(svc, "ARG-10") == (0, 0, 0, 94)


def test_player_must_be_on_the_pitch(live: MatchService) -> None:
    svc = live
    refused(svc, lambda: svc.goal(MATCH, "ARG-12", minute=5), RuleViolation, "rule 'player on the pitch'")
    refused(svc, lambda: svc.yellow(MATCH, "ARG-15", minute=5, foul="RECKLESS"), RuleViolation, "player on the pitch")
    refused(svc, lambda: svc.goal(MATCH, "BRA-10", minute=5), RuleViolation, "player on the pitch")
    refused(svc, lambda: svc.goal(MATCH, "ARG10", minute=5), ValidationError, "TEAM-NUMBER")
    assert [e.type for e in svc.goal(MATCH, "ARG-10", minute=5).events] == ["GoalScored"]


def test_minutes_are_0_to_130_and_never_go_back(live: MatchService) -> None:
    svc = live
    refused(svc, lambda: svc.goal(MATCH, "ARG-10", minute=131), ValidationError, "from 0 to 130")
    refused(svc, lambda: svc.goal(MATCH, "ARG-10", minute=-1), ValidationError, "from 0 to 130")
    svc.goal(MATCH, "ARG-10", minute=30)
    refused(svc, lambda: svc.goal(MATCH, "FRA-10", minute=29), RuleViolation, "rule 'minutes only move forward'")
    refused(svc, lambda: svc.end(MATCH, minute=12), RuleViolation, "minutes only move forward")
    svc.goal(MATCH, "FRA-10", minute=30)  # the same minute is fine
    svc.goal(MATCH, "FRA-10", minute=130)


def test_second_yellow_is_a_red_and_sends_the_player_off(live: MatchService) -> None:
    svc = live
    first = svc.yellow(MATCH, "ARG-10", minute=20, foul="UNSPORTING")
    assert [e.type for e in first.events] == ["PlayerBooked"]
    assert first.events[0].payload["foul"] == {"foul_id": "UNSPORTING", "description": "Unsporting behaviour"}
    second = svc.yellow(MATCH, "ARG-10", minute=50, foul="RECKLESS")
    assert [e.type for e in second.events] == ["PlayerBooked", "PlayerSentOff"]
    assert second.events[0].payload["second_yellow"] is True
    assert second.events[1].payload["reason"] == "second yellow card"
    assert second.token == second.events[1].position
    assert stats(svc, "ARG-10") == (0, 2, 1, 50)
    for command in (
        lambda: svc.goal(MATCH, "ARG-10", minute=60),
        lambda: svc.yellow(MATCH, "ARG-10", minute=60, foul="UNSPORTING"),
        lambda: svc.substitute(MATCH, off="ARG-10", on="ARG-12", minute=60),
        lambda: svc.substitute(MATCH, off="ARG-9", on="ARG-10", minute=60),
    ):
        refused(svc, command, RuleViolation, "sent off|has already played")


def test_straight_red(live: MatchService) -> None:
    svc = live
    result = svc.red(MATCH, "FRA-4", minute=33, foul="VIOLENT", referee="MARCINIAK")
    assert [(e.type, e.payload.get("card")) for e in result.events] == [
        ("PlayerBooked", "red"),
        ("PlayerSentOff", None),
    ]
    assert stats(svc, "FRA-4") == (0, 0, 1, 33)
    refused(svc, lambda: svc.goal(MATCH, "FRA-4", minute=40), RuleViolation, "sent-off players take no further part")
    refused(svc, lambda: svc.red(MATCH, "FRA-5", minute=40, foul="NOPE"), NotFound, "foul NOPE is not registered")
    refused(svc, lambda: svc.book(MATCH, "FRA-5", "green", minute=40, foul="VIOLENT"), ValidationError, "card")  # type: ignore[arg-type]


def test_substitution_rules(live: MatchService) -> None:
    svc = live
    made = svc.substitute(MATCH, off="ARG-11", on="ARG-12", minute=60)
    assert made.events[0].payload["off_minutes_played"] == 60 and made.events[0].payload["substitutions_used"] == 1
    refused(
        svc,
        lambda: svc.goal(MATCH, "ARG-11", minute=61),
        RuleViolation,
        "rule 'substituted players take no further part'",
    )
    refused(svc, lambda: svc.substitute(MATCH, off="ARG-9", on="ARG-11", minute=61), RuleViolation, "has not played")
    refused(svc, lambda: svc.substitute(MATCH, off="ARG-9", on="ARG-8", minute=61), RuleViolation, "has not played")
    refused(
        svc,
        lambda: svc.substitute(MATCH, off="ARG-9", on="FRA-12", minute=61),
        RuleViolation,
        "rule 'substitute from the squad'",
    )
    refused(
        svc, lambda: svc.substitute(MATCH, off="ARG-9", on="ARG-99", minute=61), NotFound, "ARG-99 is not registered"
    )
    refused(svc, lambda: svc.substitute(MATCH, off="ARG-12", on="ARG-12", minute=61), RuleViolation, "has not played")
    assert [e.type for e in svc.goal(MATCH, "ARG-12", minute=62).events] == ["GoalScored"]
    for off, on in ((2, 13), (3, 14), (4, 15), (5, 16)):
        svc.substitute(MATCH, off=f"ARG-{off}", on=f"ARG-{on}", minute=70)
    refused(
        svc,
        lambda: svc.substitute(MATCH, off="ARG-6", on="ARG-17", minute=75),
        RuleViolation,
        "at most 5 substitutions",
    )
    svc.substitute(MATCH, off="FRA-6", on="FRA-17", minute=75)  # the other team still has all five
    svc.end(MATCH, minute=90)
    assert stats(svc, "ARG-12") == (1, 0, 0, 30)
    assert stats(svc, "ARG-11") == (0, 0, 0, 60)


def test_commands_must_come_from_the_match_referee(live: MatchService) -> None:
    svc = live
    for command in (
        lambda: svc.goal(MATCH, "ARG-10", minute=5, referee="TAYLOR"),
        lambda: svc.yellow(MATCH, "ARG-10", minute=5, foul="UNSPORTING", referee="TAYLOR"),
        lambda: svc.substitute(MATCH, off="ARG-9", on="ARG-12", minute=5, referee="TAYLOR"),
        lambda: svc.end(MATCH, minute=90, referee="TAYLOR"),
    ):
        refused(svc, command, RuleViolation, "rule 'match referee': match WC-FINAL is refereed by MARCINIAK")
    assert svc.goal(MATCH, "ARG-10", minute=5, referee="MARCINIAK").events[0].type == "GoalScored"
