"""Match streams in an event log, some ended long ago, for the segments kind of tiering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from datastrata.core.clock import FrozenClock
from datastrata.core.events import NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.eventlog.snapshots import register_snapshotter

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
POLICY: dict[str, Any] = {
    "name": "matches",
    "datasets": {
        "matches": {
            "kind": "segments",
            "streams": "match-",
            "ended_by": ["MatchEnded"],
            "snapshot": "test-score",
            "rules": [
                {"after": "7d", "to": "cold", "stage": "ended"},
                {"after": "60d", "to": "cold"},
                {"after": "90d", "to": "frozen"},
            ],
        },
    },
}


def score(stream_id: str, events: object) -> dict[str, object]:
    """The test aggregate's fold: goals per team."""
    goals: dict[str, int] = {}
    for e in events:  # type: ignore[attr-defined]
        if e.type == "Goal":
            goals[e.payload["team"]] = goals.get(e.payload["team"], 0) + 1
    return {"goals": goals}


register_snapshotter("test-score", score)


def create_matches(log: EventLog, clock: FrozenClock) -> dict[str, int]:
    """Append match streams at times before NOW; return each stream's version.

    match-a and match-b ended 20 and 10 days ago; match-c ended 2 days ago; match-d never ended (last event 70 days
    ago); match-e is live; team-x is not a match.
    """
    plan = {
        "match-a": (20, True),
        "match-b": (10, True),
        "match-c": (2, True),
        "match-d": (70, False),
        "match-e": (0, False),
        "team-x": (40, False),
    }
    versions = {}
    for stream, (days_ago, ended) in plan.items():
        clock.set(NOW - timedelta(days=days_ago, hours=3))
        events = [NewEvent("MatchStarted", {"home": "red", "away": "blue"}, metadata={"by": "ref"})]
        events += [NewEvent("Goal", {"team": t, "minute": m}) for t, m in (("red", 12), ("blue", 40), ("red", 88))]
        log.append(stream, events, expected_version=0)
        clock.advance(timedelta(hours=2))
        last = [NewEvent("MatchEnded", {"score": "2-1"}, occurred_at=clock() - timedelta(minutes=5))] if ended else []
        result = log.append(stream, last or [NewEvent("Note", {"text": "still on"})])
        versions[stream] = result.version
    clock.set(NOW)
    return versions
