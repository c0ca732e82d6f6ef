"""Rebuilds beside the live read model: A/B slots, a pointer row, a switch only on success, resumable after a kill."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from datastrata.core.errors import RebuildFailed
from datastrata.core.events import Event, NewEvent
from datastrata.eventlog import EventLog
from datastrata.eventlog.checkpoints import MIGRATIONS as CHECKPOINTS
from datastrata.projections import ProjectionRunner
from datastrata.projections.slots import REBUILD_SUFFIX, state_in
from datastrata.stores.database import Database, Tx
from datastrata.stores.migrations import Component
from datastrata.stores.open import open_database
from datastrata.systems.portfolio.domain import STOCK_BOUGHT, STOCK_SOLD
from datastrata.systems.portfolio.holders import MIGRATIONS as HOLDERS
from datastrata.systems.portfolio.holders import HoldersProjection

ROOT = Path(__file__).parents[2]
CHILD = Path(__file__).with_name("rebuild_child.py")


class Fragile(HoldersProjection):
    """The holders read model, failing on events marked ``poison`` while `broken` (until the fix is deployed)."""

    broken = True

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        if self.broken and any(e.payload.get("poison") for e in events):
            raise ValueError("cannot fold a poisoned trade")
        super().apply_batch(tx, events)


def trade(log: EventLog, portfolio: str, symbol: str, quantity: int, **extra: object) -> int:
    kind = STOCK_BOUGHT if quantity > 0 else STOCK_SOLD
    payload = {"symbol": symbol, "quantity": str(abs(quantity)), "price": "1", **extra}
    return log.append(f"portfolio-{portfolio}", [NewEvent(kind, payload)]).position


def answers(runner: ProjectionRunner, symbol: str = "ACME") -> list[tuple[str, Decimal]]:
    model = runner.projection
    assert isinstance(model, HoldersProjection)
    with runner.db.read() as tx:
        return model.holders(tx, symbol)


def slots(db: Database, name: str = "portfolio.holders") -> tuple[str, str | None]:
    with db.read() as tx:
        state = state_in(tx, name)
    return state.active, state.building


def rows(db: Database, table: str) -> int:
    with db.read() as tx:
        return int(tx.scalar(f"SELECT count(*) FROM {table}"))


@pytest.fixture
def log(store_url: str) -> EventLog:
    return EventLog(open_database(store_url))


def test_a_poisoned_rebuild_keeps_the_live_view_until_a_fixed_rebuild_succeeds(log: EventLog) -> None:
    projection = Fragile()
    runner = ProjectionRunner(log, projection)
    trade(log, "p1", "ACME", 2)
    trade(log, "p2", "ACME", 1)
    runner.catch_up()
    before = answers(runner)
    assert before == [("p1", Decimal(2)), ("p2", Decimal(1))]
    trade(log, "p3", "ACME", 4, poison=True)
    trade(log, "p1", "ACME", 1)
    with pytest.raises(RebuildFailed, match=r"live read model \(slot a\) is untouched") as failed:
        runner.rebuild()
    assert "poisoned trade" in failed.value.message and "resumes at position" in failed.value.message
    assert answers(runner) == before and slots(log.db) == ("a", "b")  # the live slot answers as before
    projection.broken = False  # the fix is deployed
    runner.rebuild()
    assert slots(log.db) == ("b", None)
    assert answers(runner) == [("p1", Decimal(3)), ("p2", Decimal(1)), ("p3", Decimal(4))]
    assert runner.lag().behind == 0 and runner.sink.mark(runner.name + REBUILD_SUFFIX).position == 0
    trade(log, "p2", "ACME", -1)
    runner.catch_up()  # the live follower now applies to the new slot
    assert answers(runner) == [("p1", Decimal(3)), ("p3", Decimal(4))]


def test_readers_see_the_old_full_view_during_a_rebuild_and_the_new_one_after_the_switch(log: EventLog) -> None:
    runner = ProjectionRunner(log, HoldersProjection())
    runner.rebuild_batch_size = 1
    for n in range(1, 6):
        trade(log, f"p{n}", "ACME", n)
    runner.catch_up()
    full = answers(runner)
    seen: list[list[tuple[str, Decimal]]] = []

    def during(position: int, target: int) -> None:
        seen.append(answers(runner))
        if len(seen) == 3:  # a command and the live follower go on meanwhile, on the live slot
            runner.wait_for(trade(log, "p6", "ACME", 6))

    runner.rebuild(during)
    with_p6 = [*full, ("p6", Decimal(6))]
    assert len(seen) > 5 and all(view in (full, with_p6) for view in seen)  # never a half-built view
    assert seen[0] == full and seen[-1] == with_p6
    runner.catch_up()
    assert answers(runner) == with_p6 and runner.lag().behind == 0


def test_two_rebuilds_in_a_row_alternate_slots(log: EventLog) -> None:
    runner = ProjectionRunner(log, HoldersProjection())
    trade(log, "p1", "ACME", 2)
    trade(log, "p2", "INIT", 3)
    runner.catch_up()
    full = answers(runner)
    assert slots(log.db) == ("a", None)
    runner.rebuild()
    assert slots(log.db) == ("b", None) and answers(runner) == full
    trade(log, "p1", "ACME", 1)
    runner.rebuild()
    assert slots(log.db) == ("a", None) and answers(runner) == [("p1", Decimal(3))]
    assert rows(log.db, "portfolio_holdings") == 2  # slot a was emptied and rebuilt, not added to
    assert rows(log.db, "portfolio_holdings_b") == 2  # the previous build stays until the next rebuild empties it


def test_a_kill_mid_rebuild_leaves_the_live_slot_and_a_second_rebuild_resumes(store_url: str, log: EventLog) -> None:
    runner = ProjectionRunner(log, HoldersProjection())
    for n in range(1, 11):
        trade(log, f"p{n % 4}", "ACME", n)
    trade(log, "p9", "ACME", 5, kill=True)
    for n in range(1, 6):
        trade(log, f"p{n}", "ACME", 1)
    runner.catch_up()
    full = answers(runner)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, str(CHILD), store_url, "3"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -9, child.stderr
    assert answers(runner) == full and slots(log.db) == ("a", "b")  # the live slot, untouched
    resumed_from = runner.sink.mark(runner.name + REBUILD_SUFFIX).position
    assert 0 < resumed_from < log.head()  # three pages committed, the fourth died with its process
    applied = runner.rebuild()
    assert applied == log.count(after=resumed_from)  # it went on from its checkpoint, not from 0
    assert slots(log.db) == ("b", None) and answers(runner) == full


def test_an_existing_store_keeps_slot_a_data_through_the_migration(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")
    released = Component(CHECKPOINTS.name, CHECKPOINTS.migrations[:2])  # as the store was before slots
    db.ensure(released)
    db.ensure(Component(HOLDERS.name, HOLDERS.migrations[:1]))
    log = EventLog(db)
    trade(log, "p1", "ACME", 2)
    with db.transaction() as tx:
        tx.execute("INSERT INTO portfolio_holdings (symbol, portfolio_id, quantity) VALUES ('ACME', 'p1', '2')")
        tx.execute(
            "INSERT INTO projection_checkpoints (name, position, updated_at, log_id) VALUES (?, ?, 'x', ?)",
            ("portfolio.holders", log.head(), log.identity),
        )
    db = open_database(f"sqlite:///{tmp_path / 'old.db'}")  # a process of this release opens the store
    log = EventLog(db)
    runner = ProjectionRunner(log, HoldersProjection())  # applies checkpoints 3 and holders 2 (slot b)
    assert answers(runner) == [("p1", Decimal(2))] and slots(db) == ("a", None)
    assert runner.lag().behind == 0 and rows(db, "portfolio_holdings_b") == 0
    runner.rebuild()
    assert answers(runner) == [("p1", Decimal(2))] and slots(db) == ("b", None)


def test_a_rebuild_adopts_this_log_when_the_live_checkpoint_follows_another(log: EventLog) -> None:
    runner = ProjectionRunner(log, HoldersProjection())
    trade(log, "p1", "ACME", 2)
    with log.db.transaction() as tx:  # a read model made from another store's log, far ahead of this one
        runner.checkpoints.set_in(tx, runner.name, 10**12, None, "another-log")
    runner.rebuild()
    assert answers(runner) == [("p1", Decimal(2))] and runner.sink.mark(runner.name).log_id == log.identity
    assert runner.lag().behind == 0
