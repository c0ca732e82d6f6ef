"""The projection runner on both backends: checkpoint and read model in one transaction, rebuild, lag."""

from __future__ import annotations

import pytest

from datastrata.core.errors import EventFailed
from datastrata.core.events import Event, NewEvent
from datastrata.eventlog import EventLog
from datastrata.projections import ProjectionRunner
from datastrata.stores.database import Database, Dialect, Tx


class Tally:
    """Counts events per stream and remembers each applied event id (a second apply would break the key)."""

    name = "test.tally"
    event_types: frozenset[str] | None = frozenset({"Counted"})

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on

    def setup(self, db: Database) -> None:
        def ddl(dialect: Dialect) -> str:
            return (
                "CREATE TABLE IF NOT EXISTS tally (stream_id TEXT PRIMARY KEY, n INTEGER NOT NULL);"
                "CREATE TABLE IF NOT EXISTS tally_applied (event_id TEXT PRIMARY KEY);"
            )

        db.ensure_schema(self.name, ddl)

    def apply(self, tx: Tx, event: Event) -> None:
        if self.fail_on is not None and event.payload.get("n") == self.fail_on:
            raise RuntimeError("projection crashed mid-batch")
        tx.execute("INSERT INTO tally_applied (event_id) VALUES (?)", (event.event_id,))
        tx.execute(
            "INSERT INTO tally (stream_id, n) VALUES (?, 1) ON CONFLICT (stream_id) DO UPDATE SET n = tally.n + 1",
            (event.stream_id,),
        )

    def clear(self, tx: Tx) -> None:
        tx.execute("DELETE FROM tally")
        tx.execute("DELETE FROM tally_applied")


def counts(db: Database) -> dict[str, int]:
    with db.read() as tx:
        return {str(s): int(n) for s, n in tx.query("SELECT stream_id, n FROM tally ORDER BY stream_id")}


def seed(log: EventLog, n: int = 12) -> None:
    for i in range(n):
        log.append(f"s-{i % 3}", [NewEvent(type="Counted", payload={"n": i}), NewEvent(type="Ignored")])


def test_runner_applies_each_event_once_and_tracks_lag(db: Database) -> None:
    log = EventLog(db)
    seed(log)
    runner = ProjectionRunner(log, Tally(), batch_size=5)
    assert runner.lag().behind == 24  # events, not positions: positions are sparse on PostgreSQL
    assert runner.catch_up() == 12
    assert counts(db) == {"s-0": 4, "s-1": 4, "s-2": 4}
    assert runner.lag().behind == 0 and runner.run_once() == 0
    log.append("s-0", [NewEvent(type="Counted", payload={"n": 99})])
    runner.catch_up()
    assert counts(db)["s-0"] == 5


def test_a_failure_mid_batch_keeps_the_good_events_names_the_bad_one_and_resumes_once(db: Database) -> None:
    log = EventLog(db)
    seed(log)
    crashing = ProjectionRunner(log, Tally(fail_on=7), batch_size=100)
    with pytest.raises(EventFailed) as failed:
        crashing.run_once()
    bad = next(e for e in log.read_all() if e.payload.get("n") == 7)
    assert (failed.value.event_id, failed.value.position) == (bad.event_id, bad.position)
    assert sum(counts(db).values()) == 7 and crashing.position() < bad.position  # n = 0..6 applied, once
    healthy = ProjectionRunner(log, Tally(), batch_size=100)
    healthy.catch_up()
    assert sum(counts(db).values()) == 12


def test_rebuild_gives_the_same_read_model(db: Database) -> None:
    log = EventLog(db)
    seed(log, 30)
    runner = ProjectionRunner(log, Tally(), batch_size=7)
    runner.catch_up()
    before = counts(db)
    seen: list[tuple[int, int]] = []
    assert runner.rebuild(lambda pos, head: seen.append((pos, head))) == 30
    assert counts(db) == before
    assert seen[-1] == (log.head(), log.head())


def test_wait_for_a_consistency_token(db: Database) -> None:
    log = EventLog(db)
    runner = ProjectionRunner(log, Tally())
    token = log.append("s", [NewEvent(type="Counted", payload={"n": 1})]).position
    runner.wait_for(token, timeout=2)
    assert runner.position() >= token and counts(db) == {"s": 1}


def test_a_rebuild_between_a_runners_read_and_its_write_is_not_skipped(db: Database) -> None:
    log = EventLog(db)
    seed(log, 10)
    runner = ProjectionRunner(log, Tally(), batch_size=100)
    runner.catch_up()
    seed(log, 5)
    rebuilder = ProjectionRunner(log, Tally(), batch_size=100)
    real_read_page = log.read_page
    calls = [0]

    def read_then_rebuild(**kwargs: object) -> object:
        page = real_read_page(**kwargs)  # type: ignore[arg-type]
        calls[0] += 1
        if calls[0] == 1:  # after the runner has read its page, someone resets and starts a rebuild
            with db.transaction() as tx:
                rebuilder.checkpoints.get_in(tx, rebuilder.name, for_update=True)
                rebuilder.projection.clear(tx)
                rebuilder.checkpoints.set_in(tx, rebuilder.name, 0, None)
        return page

    log.read_page = read_then_rebuild  # type: ignore[method-assign]
    assert runner.run_once() == 0  # its page no longer follows the checkpoint: it must not apply it
    log.read_page = real_read_page  # type: ignore[method-assign]
    runner.catch_up()
    assert sum(counts(db).values()) == 15
