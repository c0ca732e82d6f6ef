"""PostgreSQL: concurrent writers, and a follower that never misses an event committed later at a lower position."""

from __future__ import annotations

import pytest

from datastrata.core.errors import ConcurrencyConflict, ValidationError
from datastrata.core.events import NewEvent
from datastrata.eventlog import EventLog, postgres_engine
from datastrata.eventlog.schema import POSITION_BITS
from datastrata.stores.open import open_database


def test_a_late_commit_at_a_lower_position_is_not_skipped(pg_url: str) -> None:
    db = open_database(pg_url)
    log = EventLog(db)
    follower_after = log.read_page(after=0).next_after
    slow = db.transaction()
    slow_tx = slow.__enter__()
    slow_result = log.append_in(slow_tx, "slow", [NewEvent(type="Slow")])  # gets the lower position, commits later
    fast = log.append("fast", [NewEvent(type="Fast")])
    assert slow_result.position < fast.position
    page = log.read_page(after=follower_after)
    assert page.events == []  # the fast event is committed but must wait behind the open, lower one
    assert page.next_after < slow_result.position
    slow.__exit__(None, None, None)
    page = log.read_page(after=page.next_after)
    assert [e.type for e in page.events] == ["Slow", "Fast"]
    db.close()


def test_a_transaction_older_than_the_streams_last_writer_must_retry(pg_url: str) -> None:
    db = open_database(pg_url)
    log = EventLog(db)
    log.append("s", [NewEvent(type="First")], expected_version=0)
    with pytest.raises(ConcurrencyConflict, match="started after this one"), db.transaction() as old_tx:
        old_tx.execute("SELECT pg_current_xact_id()")  # this transaction's id is now older than the next writer's
        log.append("s", [NewEvent(type="Second")], expected_version=1)
        log.append_in(old_tx, "s", [NewEvent(type="Third")], expected_version=2)
    log.append("s", [NewEvent(type="Third")], expected_version=2)
    events = log.read_all()
    assert [e.type for e in events] == ["First", "Second", "Third"]
    assert [e.version for e in events] == [1, 2, 3]
    db.close()


def test_several_appends_in_one_transaction_keep_their_order(pg_url: str) -> None:
    db = open_database(pg_url)
    log = EventLog(db)
    with db.transaction() as tx:
        log.append_in(tx, "a", [NewEvent(type="A1"), NewEvent(type="A2")])
        log.append_in(tx, "b", [NewEvent(type="B1")])
        log.append_in(tx, "a", [NewEvent(type="A3")])
    assert [e.type for e in log.read_all()] == ["A1", "A2", "B1", "A3"]
    big = log.append("big", [NewEvent(type="Bulk", payload={"n": i}) for i in range(1200)])
    assert [e.payload["n"] for e in log.read("big")] == list(range(1200))
    assert big.version == 1200
    db.close()


def test_a_retried_append_inside_a_transaction_leaves_it_usable(pg_url: str) -> None:
    db = open_database(pg_url)
    log = EventLog(db)
    stored = log.append("s", [NewEvent(type="A", event_id="e-1")])
    with db.transaction() as tx:
        again = log.append_in(tx, "s", [NewEvent(type="A", event_id="e-1")], expected_version=0)
        after = log.append_in(tx, "s", [NewEvent(type="B"), NewEvent(type="C")], expected_version=1)
        last = log.append_in(tx, "t", [NewEvent(type="D")])
    assert again.duplicate and again.position == stored.position
    positions = [e.position for e in (*after.events, *last.events)]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert [e.type for e in log.read_all()] == ["A", "B", "C", "D"]
    db.close()


def test_one_transaction_holds_at_most_2_pow_20_events_and_says_so(pg_url: str) -> None:
    db = open_database(pg_url)
    log = EventLog(db)
    with pytest.raises(ValidationError, match="at most") as info, db.transaction() as tx:
        log.append_in(tx, "s", [NewEvent(type="A")])
        postgres_engine._used[tx] = (1 << POSITION_BITS) - 2  # as if this transaction had appended that many
        log.append_in(tx, "s", [NewEvent(type="B"), NewEvent(type="C")])
    assert info.value.field == "events"
    assert log.read("s") == []
    db.close()
