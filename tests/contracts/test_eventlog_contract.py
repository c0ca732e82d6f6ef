"""The event log's contract, run against every backend (SQLite file and a real PostgreSQL server)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from datastrata.core.errors import ConcurrencyConflict, ValidationError
from datastrata.core.events import NewEvent
from datastrata.eventlog import EventLog, SnapshotStore, Upcasters
from datastrata.stores.database import Database
from datastrata.stores.open import open_database

T0 = datetime(2025, 9, 12, 10, 0, tzinfo=UTC)


def ev(kind: str = "Happened", n: int = 0, **kw: object) -> NewEvent:
    return NewEvent(type=kind, payload={"n": n}, **kw)  # type: ignore[arg-type]


def test_append_assigns_versions_and_increasing_positions(db: Database) -> None:
    log = EventLog(db)
    first = log.append("s-1", [ev(n=1), ev(n=2)], expected_version=0)
    second = log.append("s-2", [ev(n=3)], expected_version=0)
    third = log.append("s-1", [ev(n=4)], expected_version=2)
    assert [e.version for e in first.events] == [1, 2]
    assert third.version == 3
    positions = [e.position for r in (first, second, third) for e in r.events]
    assert positions == sorted(positions) and len(set(positions)) == 4
    stored = log.read("s-1")
    assert [e.payload["n"] for e in stored] == [1, 2, 4]
    assert [e.version for e in stored] == [1, 2, 3]
    assert stored[0].event_id == first.events[0].event_id
    assert stored[0].recorded_at.tzinfo is not None


def test_wrong_expected_version_is_a_typed_conflict_and_writes_nothing(db: Database) -> None:
    log = EventLog(db)
    log.append("acct", [ev()], expected_version=0)
    with pytest.raises(ConcurrencyConflict) as info:
        log.append("acct", [ev(), ev()], expected_version=0)
    assert (info.value.stream_id, info.value.expected, info.value.actual) == ("acct", 0, 1)
    assert "acct" in str(info.value) and "version 1" in str(info.value)
    assert log.version("acct") == 1


def test_same_event_id_twice_stores_one_event(db: Database) -> None:
    log = EventLog(db)
    batch = [ev(n=1, event_id="e-1"), ev(n=2, event_id="e-2")]
    first = log.append("s", batch, expected_version=0)
    again = log.append("s", batch, expected_version=0)
    assert again.duplicate and not first.duplicate
    assert [e.position for e in again.events] == [e.position for e in first.events]
    assert len(log.read("s")) == 2
    assert log.append("s", batch).duplicate  # also without a version check


def test_batch_partly_stored_already_is_refused_and_writes_nothing(db: Database) -> None:
    log = EventLog(db)
    log.append("s", [ev(n=1, event_id="e-1")])
    with pytest.raises(ValidationError) as info:
        log.append("s", [ev(n=1, event_id="e-1"), ev(n=2, event_id="e-2")])
    assert info.value.field == "event_id"
    assert [e.event_id for e in log.read("s")] == ["e-1"]
    with pytest.raises(ValidationError):  # also when the stored event is not the first of the batch
        log.append("s", [ev(n=0, event_id="e-0"), ev(n=1, event_id="e-1")], expected_version=1)
    assert [e.event_id for e in log.read("s")] == ["e-1"]


def test_batches_of_many_events_keep_order_versions_and_payloads(db: Database) -> None:
    log = EventLog(db)
    first = log.append("big", [ev(n=i, occurred_at=T0 + timedelta(seconds=i)) for i in range(250)], expected_version=0)
    log.append("big", [ev(n=i) for i in range(250, 260)], expected_version=250)
    stored = log.read("big")
    assert [e.payload["n"] for e in stored] == list(range(260))
    assert [e.version for e in stored] == list(range(1, 261))
    assert [e.position for e in stored[:250]] == [e.position for e in first.events]
    assert [e.occurred_at for e in stored[:250]] == [T0 + timedelta(seconds=i) for i in range(250)]
    assert stored[250].occurred_at == stored[250].recorded_at


def test_reads_return_each_events_own_two_times(db: Database) -> None:
    """A read decodes the business time and the recording time apart, whether they are equal or not."""
    log = EventLog(db)
    plain = log.append("t", [ev(n=0)]).events[0]
    dated = log.append("t", [ev(n=1, occurred_at=plain.recorded_at), ev(n=2, occurred_at=T0)]).events
    assert dated[0].recorded_at > plain.recorded_at
    want = [
        (plain.recorded_at, plain.recorded_at),
        (plain.recorded_at, dated[0].recorded_at),
        (T0, dated[1].recorded_at),
    ]
    for events in (log.read("t"), log.read_all()):
        assert [(e.occurred_at, e.recorded_at) for e in events] == want


def test_event_id_of_another_stream_is_refused(db: Database) -> None:
    log = EventLog(db)
    log.append("a", [ev(event_id="x-1")])
    with pytest.raises(ValidationError, match="already stored in stream 'a'"):
        log.append("b", [ev(event_id="x-1")])
    assert log.read("b") == []


def test_bad_appends_are_refused_before_writing(db: Database) -> None:
    log = EventLog(db)
    with pytest.raises(ValidationError, match="at least one event"):
        log.append("s", [])
    with pytest.raises(ValidationError, match="stream_id"):
        log.append("", [ev()])
    with pytest.raises(ValidationError, match="twice"):
        log.append("s", [ev(event_id="d"), ev(event_id="d")])
    assert log.head() == 0


def test_append_rolls_back_with_the_callers_transaction(db: Database) -> None:
    log = EventLog(db)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        log.append_in(tx, "s", [ev()], expected_version=0)
        raise RuntimeError("command failed after appending")
    assert log.read("s") == [] and log.head() == 0


def test_read_stream_by_version_and_business_time(db: Database) -> None:
    log = EventLog(db)
    events = [ev(n=i, occurred_at=T0 + timedelta(hours=i)) for i in range(1, 6)]
    log.append("s", events, expected_version=0)
    assert [e.version for e in log.read("s", from_version=2, to_version=4)] == [2, 3, 4]
    assert [e.payload["n"] for e in log.read("s", until=T0 + timedelta(hours=3))] == [1, 2, 3]
    assert log.read("s", until=T0) == []
    assert [e.version for e in log.read("s", limit=2)] == [1, 2]
    assert log.read("s")[2].occurred_at == T0 + timedelta(hours=3)


def test_read_all_in_global_order_with_pages_and_type_filter(db: Database) -> None:
    log = EventLog(db)
    for i in range(10):
        log.append(f"s-{i % 3}", [ev("Even" if i % 2 == 0 else "Odd", n=i)])
    everything = log.read_all()
    assert [e.payload["n"] for e in everything] == list(range(10))
    page = log.read_page(after=everything[3].position, limit=3)
    assert [e.payload["n"] for e in page.events] == [4, 5, 6]
    assert page.next_after == everything[6].position
    odd = log.read_page(after=0, limit=100, types={"Odd"})
    assert [e.payload["n"] for e in odd.events] == [1, 3, 5, 7, 9]
    assert odd.next_after >= log.head()
    assert log.read_all(after=odd.next_after) == []
    assert log.read_all(after=log.head()) == []


def test_concurrent_appends_at_the_same_expected_version_one_wins(store_url: str) -> None:
    setup = open_database(store_url)
    log = EventLog(setup)
    log.append("race", [ev()], expected_version=0)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []
    lock = threading.Lock()

    def contender(i: int) -> None:
        db = open_database(store_url)
        try:
            mine = EventLog(db)
            barrier.wait()
            try:
                mine.append("race", [ev(n=i)], expected_version=1)
                result = "ok"
            except ConcurrencyConflict:
                result = "conflict"
            with lock:
                outcomes.append(result)
        finally:
            db.close()

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    assert log.version("race") == 2
    setup.close()


def test_follower_sees_every_event_in_order_while_writers_commit(store_url: str) -> None:
    writers, per_writer = 4, 40
    setup = open_database(store_url)
    log = EventLog(setup)
    done = threading.Event()

    def write(w: int) -> None:
        db = open_database(store_url)
        try:
            mine = EventLog(db)
            for i in range(per_writer):
                mine.append(f"w-{w}", [ev(n=i)], expected_version=i)
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    seen: list[int] = []
    after = 0
    reader_db = open_database(store_url)
    follower = EventLog(reader_db)
    while len(seen) < writers * per_writer:
        page = follower.read_page(after=after, limit=7)
        seen += [e.position for e in page.events]
        after = page.next_after
        if all(not t.is_alive() for t in threads) and not page.events and after >= follower.head():
            break
    for t in threads:
        t.join()
    done.set()
    assert seen == sorted(seen)
    assert seen == [e.position for e in log.read_all(limit=10_000)]
    assert len(seen) == writers * per_writer
    reader_db.close()
    setup.close()


def test_snapshots_keep_the_newest(db: Database) -> None:
    snapshots = SnapshotStore(db)
    snapshots.save("s", 100, {"cash": "1"})
    snapshots.save("s", 50, {"cash": "old"})
    loaded = snapshots.load("s")
    assert loaded is not None and (loaded.version, loaded.state) == (100, {"cash": "1"})
    assert snapshots.load("s", max_version=99) is None
    assert snapshots.load("other") is None


def test_upcasters_evolve_old_events_on_read(db: Database) -> None:
    EventLog(db).append("s", [NewEvent(type="Renamed", payload={"name": "Ada Lovelace"})])
    upcasters = Upcasters()

    @upcasters.register("Renamed", 1)
    def split_name(payload: dict[str, object]) -> dict[str, object]:
        first, last = str(payload["name"]).split(" ", 1)
        return {"first": first, "last": last}

    event = EventLog(db, upcasters=upcasters).read("s")[0]
    assert event.schema_version == 2 and event.payload == {"first": "Ada", "last": "Lovelace"}
    assert upcasters.latest("Renamed") == 2


def test_ancient_business_times_round_trip(db: Database) -> None:
    log = EventLog(db)
    ancient = datetime(999, 1, 1, tzinfo=UTC)
    log.append("old", [ev(occurred_at=ancient)])
    assert log.read("old")[0].occurred_at == ancient
    assert log.read("old", until=datetime(1000, 1, 1, tzinfo=UTC))[0].occurred_at == ancient


def test_a_failing_after_commit_callback_leaves_the_commit_alone(db: Database) -> None:
    log = EventLog(db)
    with db.transaction() as tx:
        log.append_in(tx, "s", [ev()])
        tx.on_commit(lambda: 1 / 0)
    assert log.version("s") == 1
