"""Future-dated versions: right on time without a job, then announced exactly once by activate()."""

from __future__ import annotations

import threading
from datetime import timedelta

from datastrata.core.clock import FrozenClock
from datastrata.eventlog.log import EventLog
from datastrata.mdm import MASTER_DATA_ACTIVATED, MasterDataStore, stream_id
from datastrata.runtime.location import Location
from datastrata.stores.database import Database
from tests.mdm.conftest import START

DAY = timedelta(days=1)
MICRO = timedelta(microseconds=1)


def activated_events(db: Database) -> list[str]:
    """Return the version ids of every MasterDataActivated event, in log order."""
    return [str(e.payload["version_id"]) for e in EventLog(db).read_all(types=[MASTER_DATA_ACTIVATED])]


def current_version(db: Database, key: str) -> str | None:
    """Return the version id in master_data_current for a customer key."""
    with db.read() as tx:
        value = tx.scalar(
            "SELECT version_id FROM master_data_current WHERE entity_type = 'customer' AND entity_key = ?", (key,)
        )
    return None if value is None else str(value)


def test_a_future_version_is_current_the_moment_it_takes_effect(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    old = store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="alice")
    new = store.put("customer", "C1", {"name": "Alicia"}, valid_from=START + DAY, actor="alice")
    assert not new.in_effect

    clock.set(START + DAY - MICRO)
    assert store.get("customer", "C1").attributes["name"] == "Alice"  # type: ignore[union-attr]
    clock.set(START + DAY)
    assert store.get("customer", "C1").attributes["name"] == "Alicia"  # type: ignore[union-attr]
    # no job has run: master_data_current still holds the old version, yet get() was right
    assert current_version(db, "C1") not in (None, new.version_id)
    assert old.version_id != new.version_id

    activated = store.activate()
    assert [r.version_id for r in activated] == [new.version_id]
    assert current_version(db, "C1") == new.version_id
    assert activated_events(db) == [new.version_id]
    assert store.activate() == []
    assert activated_events(db) == [new.version_id]


def test_activation_skips_superseded_and_not_yet_due_versions(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START + DAY, actor="alice")
    clock.advance(timedelta(hours=1))
    replacement = store.put("customer", "C1", {"name": "Alicia"}, valid_from=START + DAY, actor="alice")
    store.put("customer", "C2", {"name": "Bob"}, valid_from=START + 5 * DAY, actor="bob")
    clock.set(START + 2 * DAY)
    assert [r.version_id for r in store.activate()] == [replacement.version_id]
    clock.set(START + 5 * DAY)
    assert [r.entity_key for r in store.activate()] == ["C2"]


def test_a_future_retirement_and_a_lapsing_period_clear_current(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="alice")
    retirement = store.retire("customer", "C1", valid_from=START + DAY, actor="alice")
    store.put("customer", "C2", {"name": "Bob"}, valid_from=START - DAY, valid_to=START + DAY, actor="bob")
    assert current_version(db, "C1") is not None and current_version(db, "C2") is not None

    clock.set(START + DAY)
    assert store.get("customer", "C1") is None and store.get("customer", "C2") is None
    activated = store.activate()
    assert [(r.version_id, r.retired) for r in activated] == [(retirement.version_id, True)]
    assert current_version(db, "C1") is None and current_version(db, "C2") is None
    payload = Location.over(db).log.read(stream_id("customer", "C1"))[-1].payload  # opens sealed fields
    assert payload["retired"] is True and payload["attributes"] is None


def test_the_future_remainder_of_a_trimmed_version_is_announced_when_it_returns(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="alice")
    store.put("customer", "C1", {"name": "Promo"}, valid_from=START + DAY, valid_to=START + 2 * DAY, actor="mkt")
    clock.set(START + 3 * DAY)
    activated = store.activate()
    assert [r.attributes["name"] for r in activated] == ["Promo", "Alice"]
    assert store.get("customer", "C1").attributes["name"] == "Alice"  # type: ignore[union-attr]


def test_concurrent_activation_announces_each_version_once(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    due = [
        store.put("customer", f"C{i}", {"name": f"N{i}"}, valid_from=START + DAY, actor="ops").version_id
        for i in range(20)
    ]
    clock.set(START + 2 * DAY)
    barrier = threading.Barrier(4)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append([r.version_id for r in store.activate()])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(v for r in results for v in r) == sorted(due)
    assert sorted(activated_events(db)) == sorted(due)


def test_activation_works_in_batches(store: MasterDataStore, db: Database, clock: FrozenClock) -> None:
    for i in range(3):
        store.put("customer", f"C{i}", {"name": f"N{i}"}, valid_from=START + (i + 1) * MICRO, actor="ops")
    clock.set(START + DAY)
    assert [r.entity_key for r in store.activate(limit=2)] == ["C0", "C1"]
    assert [r.entity_key for r in store.activate(limit=2)] == ["C2"]
    assert store.activate(limit=2) == []
    assert [current_version(db, f"C{i}") is not None for i in range(3)] == [True, True, True]
