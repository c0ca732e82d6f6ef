"""Expand then contract: a worker keeps appending and projecting while an expand migration applies."""

from __future__ import annotations

import threading

from datastrata.core.events import Event, NewEvent
from datastrata.eventlog import EventLog
from datastrata.projections import ProjectionRunner
from datastrata.stores.database import Database, Tx
from datastrata.stores.migrations import Component, Migration, migrate

TOTAL = 400
BASELINE = Migration.both(1, "tally", "CREATE TABLE tally (stream_id TEXT PRIMARY KEY, n INTEGER NOT NULL);")
#: Expand: a nullable column the old code does not know, backfilled for the rows already there.
EXPAND = Migration.both(
    2, "tally_note", "ALTER TABLE tally ADD COLUMN note TEXT; UPDATE tally SET note = 'backfilled';"
)
OLD = Component("test.tally", (BASELINE,))
NEW = Component("test.tally", (BASELINE, EXPAND))


class Tally:
    """The code that runs before the migration: it knows only the baseline columns."""

    name = "test.tally"
    event_types: frozenset[str] | None = frozenset({"Counted"})

    def setup(self, db: Database) -> None:
        db.ensure(OLD)

    def apply(self, tx: Tx, event: Event) -> None:
        tx.execute(
            "INSERT INTO tally (stream_id, n) VALUES (?, 1) ON CONFLICT (stream_id) DO UPDATE SET n = tally.n + 1",
            (event.stream_id,),
        )

    def clear(self, tx: Tx) -> None:
        tx.execute("DELETE FROM tally")


def test_a_worker_keeps_appending_and_projecting_while_an_expand_migration_applies(db: Database) -> None:
    migrate(db, [OLD])
    log = EventLog(db)
    runner = ProjectionRunner(log, Tally(), batch_size=20)
    started, migrated = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    appended = 0

    def work() -> None:
        nonlocal appended
        try:
            while appended < TOTAL or not migrated.is_set():
                if appended < TOTAL:
                    log.append(f"s-{appended % 7}", [NewEvent(type="Counted", payload={"i": appended})])
                    appended += 1
                runner.run_once()
                if appended >= 50:
                    started.set()
        except BaseException as exc:  # the test fails below on any error the worker met
            errors.append(exc)
            started.set()

    worker = threading.Thread(target=work)
    worker.start()
    started.wait(60)
    try:
        assert [p.label for p in migrate(db, [NEW])] == ["test.tally 0002 tally_note"]
    finally:
        migrated.set()
        worker.join(120)
    assert not worker.is_alive() and errors == []
    runner.catch_up()
    with db.read() as tx:
        assert tx.scalar("SELECT sum(n) FROM tally") == TOTAL  # nothing lost, nothing applied twice
        assert tx.scalar("SELECT count(*) FROM tally WHERE note = 'backfilled'") > 0
        assert tx.scalar("SELECT count(*) FROM eventlog_events WHERE event_type = 'Counted'") == TOTAL
