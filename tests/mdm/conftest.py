"""Fixtures: a master-data store on each backend, driven by a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.mdm import MasterDataStore
from datastrata.runtime import Location
from datastrata.stores.database import Database

#: The tests' "now" when they start; valid times are chosen around it.
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock standing at START."""
    return FrozenClock(START)


@pytest.fixture
def store(db: Database, clock: FrozenClock) -> Iterator[MasterDataStore]:
    """A master-data store on each backend."""
    yield MasterDataStore(Location.over(db, clock=clock), clock=clock)


def count(db: Database, table: str) -> int:
    """Return the number of rows in `table`."""
    with db.read() as tx:
        return int(tx.scalar(f"SELECT count(*) FROM {table}"))


def counts(db: Database) -> dict[str, int]:
    """Return the row counts of every table a master-data write touches."""
    return {
        t: count(db, t) for t in ("master_data_versions", "master_data_current", "master_data_audit", "eventlog_events")
    }
