"""Closed event-log streams as a tiering kind: planned, moved to Parquet, and still read through the log."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.eventlog.archive import LazyObjects
from datastrata.eventlog.log import EventLog
from datastrata.eventlog.snapshots import SnapshotStore
from datastrata.projections.runner import ProjectionRunner
from datastrata.stores.database import Database, Tx
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import Reader
from datastrata.tiering.policy import parse_policy
from datastrata.tiering.restores import Restores
from datastrata.tiering.tiers import Tier
from tests.tiering.segmentdata import NOW, POLICY, create_matches

MOVED = ["match-a", "match-b", "match-d"]  # ended 20 and 10 days ago; silent for 70 days


def setup(db: Database, tmp_path: Path, policy: dict[str, Any] = POLICY) -> tuple[EventLog, Mover, FrozenClock]:
    clock = FrozenClock(NOW)
    log = EventLog(db, clock=clock)
    create_matches(log, clock)
    url = f"file://{tmp_path}/objects"
    log.objects = LazyObjects(url, clock=clock)
    return log, Mover(db, ObjectStore(url, clock=clock), parse_policy(policy), clock=clock), clock


def snapshot_of(log: EventLog, streams: list[str]) -> dict[str, Any]:
    """What the log answers for each stream: its events, version, each event by id, and a bounded read."""
    return {
        s: (
            log.read(s),
            log.version(s),
            [log.get(e.event_id) for e in log.read(s)],
            log.read(s, from_version=2, to_version=3),
            log.read(s, until=log.read(s)[1].occurred_at),
            log.read(s, limit=2),
        )
        for s in streams
    }


def test_plan_moves_ended_and_silent_streams_and_says_why(db: Database, tmp_path: Path) -> None:
    _, mover, _ = setup(db, tmp_path)
    planned = mover.plan(NOW)
    moves = {m.item.key: m for m in planned.moves}
    assert sorted(moves) == MOVED  # match-c ended 2 days ago, match-e is live, team-x is not a match
    assert moves["match-a"].to is Tier.COLD and moves["match-a"].reason == "no event for 20d ≥ 1w and stage ended"
    assert "rules[0]" in moves["match-b"].rule.describe()
    assert moves["match-d"].reason == "no event for 70d ≥ 60d" and "rules[1]" in moves["match-d"].rule.describe()
    assert moves["match-a"].item.rows == 5 and moves["match-a"].item.last_position > 0
    assert moves["match-a"].item.types == frozenset({"MatchStarted", "Goal", "MatchEnded"})


def test_archived_streams_read_exactly_as_before(db: Database, tmp_path: Path) -> None:
    log, mover, _ = setup(db, tmp_path)
    streams = ["match-a", "match-b", "match-c", "match-d", "match-e", "team-x"]
    before = snapshot_of(log, streams)
    whole_log = log.read_all(limit=100)
    records = mover.run(mover.plan(NOW))
    assert sorted(r.item for r in records) == MOVED and all(r.to_tier == "cold" for r in records)
    assert snapshot_of(log, streams) == before  # read, version and get answer as before the move
    with db.read() as tx:
        online = {r[0] for r in tx.query("SELECT DISTINCT stream_id FROM eventlog_events")}
    assert online == {"match-c", "match-e", "team-x"}  # the events left the online log
    assert [e for e in whole_log if e.stream_id not in MOVED] == log.read_all(limit=100)
    first = records[0]
    assert first.location.endswith(".parquet") and first.rows == 5 and len(first.checksum) == 64
    assert mover.objects.info(first.location).storage_class == "GLACIER_IR"
    assert not mover.plan(NOW).moves  # a second run has nothing to do
    archived = log.archived()
    assert [s.stream_id for s in archived] == sorted(MOVED, key=lambda s: before[s][0][-1].position)
    assert archived[0].last_position == before[archived[0].stream_id][0][-1].position


def test_a_snapshot_is_taken_before_the_events_leave(db: Database, tmp_path: Path) -> None:
    log, mover, _ = setup(db, tmp_path)
    mover.run(mover.plan(NOW))
    snapshot = SnapshotStore(db).load("match-a")
    assert snapshot is not None and snapshot.version == log.version("match-a") == 5
    assert snapshot.state == {"goals": {"red": 2, "blue": 1}}
    assert SnapshotStore(db).load("match-c") is None  # not moved, not snapshotted


def test_appending_to_an_archived_stream_is_refused(db: Database, tmp_path: Path) -> None:
    log, mover, _ = setup(db, tmp_path)
    old = log.read("match-a")
    mover.run(mover.plan(NOW))
    for expected in (None, 0, 5):
        with pytest.raises(RuleViolation, match="stream 'match-a' is closed: its events were archived to cold"):
            log.append("match-a", [NewEvent("Goal", {"team": "red"})], expected_version=expected)
    with pytest.raises(RuleViolation, match="closed"):  # a retried batch of the closed stream is refused as closed
        log.append("match-a", [NewEvent(e.type, dict(e.payload), event_id=e.event_id) for e in old[-1:]])
    with pytest.raises(RuleViolation, match="closed"), db.transaction() as tx:  # in a caller's transaction too
        log.append_in(tx, "match-a", [NewEvent("Goal", {"team": "blue"})])
    assert log.read("match-a") == old
    log.append("match-e", [NewEvent("Goal", {"team": "blue"})])  # open streams take events as before


def test_a_frozen_stream_is_refused_until_its_segment_is_restored(db: Database, tmp_path: Path) -> None:
    log, mover, clock = setup(db, tmp_path)
    before = log.read("match-a")
    mover.run(mover.plan(NOW))
    clock.advance(timedelta(days=75))  # match-a is 95 days old now
    frozen = [r for r in mover.run(mover.plan(clock())) if r.item == "match-a"]
    assert frozen and frozen[0].from_tier == "cold" and frozen[0].to_tier == "frozen"
    assert mover.objects.info(frozen[0].location).storage_class == "GLACIER"
    with pytest.raises(
        RuleViolation, match=r"stream 'match-a' is frozen: its segment .*tiering restore POLICY DATASET match-a"
    ):
        log.read("match-a")
    assert log.version("match-a") == 5  # the version needs no restore
    assert log.read("match-a", from_version=6) == []  # nor does a load from the snapshot
    restores = Restores(mover, log=log)
    job = restores.request("matches", ["match-a"], tier="expedited", days=1)  # a restore job, by stream id
    assert list(job.locations) == [frozen[0].location]
    clock.advance(timedelta(minutes=6))
    assert [j.job for j in restores.complete_ready()] == [job.job]  # RestoreCompleted: the stream is readable
    assert log.read("match-a") == before
    with pytest.raises(ValidationError, match="match-c is in GLACIER_IR and readable"):
        restores.request("matches", ["match-c"])


def test_expiry_forgets_the_events_but_keeps_the_stream_closed(db: Database, tmp_path: Path) -> None:
    policy = copy.deepcopy(POLICY)
    policy["datasets"]["matches"]["rules"].append({"after": "120d", "to": "expired"})
    log, mover, clock = setup(db, tmp_path, policy)
    mover.run(mover.plan(NOW))
    location = next(s.location for s in log.archived() if s.stream_id == "match-a")
    clock.advance(timedelta(days=101))  # match-a is 121 days old
    expired = [r for r in mover.run(mover.plan(clock())) if r.to_tier == "expired"]
    assert {r.item for r in expired} == {"match-a", "match-d"}  # match-b is 111 days old
    assert not mover.objects.exists(location)
    with pytest.raises(RuleViolation, match="stream 'match-a' expired under its tiering policy"):
        log.read("match-a")
    assert log.version("match-a") == 5
    with pytest.raises(RuleViolation, match="closed"):
        log.append("match-a", [NewEvent("Goal", {"team": "red"})])


def test_a_follower_behind_a_stream_holds_its_move(db: Database, tmp_path: Path) -> None:
    log, mover, _ = setup(db, tmp_path)
    last_a = log.read("match-a")[-1].position
    readers = [Reader("goals", last_a, frozenset({"Goal"})), Reader("weather", 0, frozenset({"Rain"}))]
    mover.readers = lambda: readers
    planned = mover.plan(NOW)
    assert [m.item.key for m in planned.moves] == ["match-a"]  # goals has passed match-a; weather reads no match
    held = {h.item.key: h.reason for h in planned.held}
    assert sorted(held) == ["match-b", "match-d"]
    assert "follower 'goals' is at position" in held["match-b"]
    assert "before the stream's last position" in held["match-b"]
    mover.run(planned)
    assert [s.stream_id for s in log.archived()] == ["match-a"]


def test_a_policy_expiring_what_a_full_log_projection_needs_is_refused(db: Database, tmp_path: Path) -> None:
    policy = copy.deepcopy(POLICY)
    policy["datasets"]["matches"]["rules"].append({"after": "1y", "to": "expired"})
    policy["datasets"]["matches"]["event_types"] = ["MatchStarted", "Goal", "MatchEnded"]
    _, mover, _ = setup(db, tmp_path, policy)
    mover.readers = lambda: [Reader("league-table", 10**18, frozenset({"Goal"}), full_log=True)]
    with pytest.raises(ValidationError, match=r"datasets.matches.rules\[3\]: expires streams .*'league-table'"):
        mover.plan(NOW)
    mover.readers = lambda: [Reader("weather", 10**18, frozenset({"Rain"}), full_log=True)]
    assert mover.plan(NOW).moves  # a full-log reader of other types does not stand in the way


class Goals:
    """A read model of goals per stream (for the rebuild test)."""

    name = "goals"
    event_types = frozenset({"Goal"})

    def setup(self, db: Database) -> None:
        with db.transaction() as tx:
            tx.run_script("CREATE TABLE IF NOT EXISTS test_goals (stream_id TEXT PRIMARY KEY, n INTEGER NOT NULL)")

    def apply(self, tx: Tx, event: Event) -> None:
        tx.execute(
            "INSERT INTO test_goals (stream_id, n) VALUES (?, 1) "
            "ON CONFLICT (stream_id) DO UPDATE SET n = test_goals.n + 1",
            (event.stream_id,),
        )

    def clear(self, tx: Tx) -> None:
        tx.execute("DELETE FROM test_goals")


def test_a_rebuild_reads_online_streams_and_names_the_archived_ones_it_skipped(db: Database, tmp_path: Path) -> None:
    log, mover, _ = setup(db, tmp_path)
    runner = ProjectionRunner(log, Goals())
    runner.catch_up()
    mover.readers = lambda: [Reader(runner.name, runner.position(), runner.event_types)]
    mover.run(mover.plan(NOW))
    runner.rebuild()
    with db.read() as tx:
        assert {str(r[0]) for r in tx.query("SELECT stream_id FROM test_goals")} == {"match-c", "match-e", "team-x"}
    skipped = runner.skipped_segments()
    assert sorted(str(s["stream_id"]) for s in skipped) == MOVED
    assert all(s["tier"] == "cold" and int(str(s["first_position"])) <= int(str(s["last_position"])) for s in skipped)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"streams": ""}, "datasets.matches.streams"),
        ({"rules": [{"after": "7d", "to": "warm"}]}, "datasets.matches.rules[0].to"),
        ({"rules": [{"after": "7d", "to": "cold", "stage": "done"}]}, "datasets.matches.rules[0].stage"),
        ({"ended_by": []}, "datasets.matches.ended_by"),
        ({"snapshot": "Bad Name"}, "datasets.matches.snapshot"),
        ({"table": "events"}, "datasets.matches.table"),
    ],
)
def test_a_bad_segments_dataset_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    policy = copy.deepcopy(POLICY)
    policy["datasets"]["matches"].update(change)
    with pytest.raises(ValidationError) as refused:
        parse_policy(policy)
    assert refused.value.field == field


def test_an_unknown_snapshotter_is_refused_before_anything_moves(db: Database, tmp_path: Path) -> None:
    policy = copy.deepcopy(POLICY)
    policy["datasets"]["matches"]["snapshot"] = "nobody"
    log, mover, _ = setup(db, tmp_path, policy)
    with pytest.raises(ValidationError, match="no snapshotter named 'nobody'"):
        mover.plan(NOW)
    assert not log.archived()


def test_the_runtime_reads_archived_streams_and_its_rebuild_job_names_the_skipped_ones(
    store_url: str, tmp_path: Path
) -> None:
    from datastrata.core.config import Settings
    from datastrata.runtime.health import report
    from datastrata.runtime.jobs import rebuild_work
    from datastrata.runtime.runtime import Runtime
    from datastrata.tiering.segments import readers_of

    clock = FrozenClock(NOW)
    settings = Settings(store=store_url, objects=f"file://{tmp_path}/objects")
    with Runtime.open(settings, clock=clock) as runtime:
        create_matches(runtime.log, clock)
        before = runtime.log.read("match-a")
        runner = runtime.register(Goals())
        objects = ObjectStore(settings.objects, clock=clock)
        mover = Mover(runtime.db, objects, parse_policy(POLICY), clock=clock, readers=lambda: readers_of(runtime))
        assert not mover.plan(NOW).moves  # goals and the relay have not read the matches yet
        runtime.run_once()
        mover.run(mover.plan(NOW))
        assert runtime.log.read("match-a") == before  # the location's log reads the segment from the settings' store
        result = rebuild_work(runtime, runner.name)(lambda done, total: None)
        assert sorted(s["stream_id"] for s in result["skipped_segments"]) == MOVED
        assert result["applied"] == 9  # the 3 goals each of match-c, match-e and team-x: the online log only
        checks = report(runtime).checks
        assert checks["archived_streams"].startswith("3 closed stream(s) of 15 events")


def test_online_streams_are_priced_as_the_relational_store_and_archived_ones_by_class(
    db: Database, tmp_path: Path
) -> None:
    from datastrata.tiering.cost import CostModel
    from datastrata.tiering.prices import load_prices

    _, mover, _ = setup(db, tmp_path)
    model = CostModel(mover.policy, load_prices(None))
    online = [i for i in mover.inventory() if i.tier is Tier.HOT]
    assert online and all(model.storage_class(i) is None for i in online)
    mover.run(mover.plan(NOW))
    cold = [i for i in mover.inventory() if i.tier is Tier.COLD]
    assert sorted(i.key for i in cold) == MOVED and {model.storage_class(i) for i in cold} == {"GLACIER_IR"}
    assert all(i.bytes > 0 and i.placed_at is not None for i in cold)


def test_two_tenants_streams_of_one_id_are_archived_apart(db: Database, tmp_path: Path) -> None:
    log, mover, clock = setup(db, tmp_path)
    clock.set(NOW - timedelta(days=30))
    ids = [e.event_id for e in log.read("match-a")]  # acme reuses the default tenant's stream and event ids
    log.append("match-a", [NewEvent("Goal", {"team": "acme"}, event_id=ids[0])], tenant="acme")
    log.append("match-a", [NewEvent("MatchEnded", {"score": "1-0"}, event_id=ids[-1])], tenant="acme")
    clock.set(NOW)
    before = (log.read("match-a"), log.read("match-a", tenant="acme"))
    keys = sorted(m.item.key for m in mover.plan(NOW).moves)
    assert keys == [*MOVED, "tenant=acme/stream=match-a"]
    records = {r.item: r for r in mover.run(mover.plan(NOW))}
    assert "/tenant=acme/stream=match-a/" in records["tenant=acme/stream=match-a"].location
    assert (log.read("match-a"), log.read("match-a", tenant="acme")) == before  # each read back from its segment
    assert log.get(ids[0], tenant="acme").payload == {"team": "acme"}
    assert log.version("match-a", tenant="acme") == 2 and log.version("match-a") == 5
    with db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM eventlog_events WHERE stream_id = 'match-a'") == 0
    with pytest.raises(RuleViolation, match="closed"):
        log.append("match-a", [NewEvent("Goal", {"team": "late"})], tenant="acme")
