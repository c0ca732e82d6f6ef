"""One transaction per command, refused input writes nothing, and the database itself refuses overlaps."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import ValidationError
from datastrata.core.events import NewEvent
from datastrata.eventlog.log import EventLog
from datastrata.mdm import MasterDataStore
from datastrata.stores.database import Database, time_to_db
from tests.mdm.conftest import START, counts

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("entity_type", "attributes", "extra", "field"),
    [
        ("customer", {"name": "Alice", "nickname": "Al"}, {}, "nickname"),
        ("customer", {"email": "a@example.com"}, {}, "name"),
        ("customer", {"name": "Alice", "email": "not-an-email"}, {}, "email"),
        ("product", {"sku": "P1", "name": "Tea", "price": 19.9, "currency": "EUR"}, {}, "price"),
        ("product", {"sku": "P1", "name": "Tea", "price": "19.90", "currency": "euro"}, {}, "currency"),
        ("supplier", {"name": "Kyoto Tea", "payment_terms_days": "30"}, {}, "payment_terms_days"),
        ("customer", {"name": "Alice"}, {"valid_from": START, "valid_to": START - DAY}, "valid_to"),
        ("customer", {"name": "Alice"}, {"valid_from": datetime(2025, 1, 1)}, "valid_from"),
        ("customer", {"name": "Alice"}, {"actor": ""}, "actor"),
        ("vendor", {"name": "Alice"}, {}, "entity_type"),
    ],
)
def test_refused_input_names_the_field_and_writes_nothing(
    store: MasterDataStore,
    db: Database,
    entity_type: str,
    attributes: dict[str, Any],
    extra: dict[str, Any],
    field: str,
) -> None:
    store.put("customer", "C0", {"name": "Someone"}, actor="ops")
    before = counts(db)
    kwargs: dict[str, Any] = {"actor": "ops", **extra}
    with pytest.raises(ValidationError) as refused:
        store.put(entity_type, "K1", attributes, **kwargs)
    assert refused.value.field == field
    assert field.replace("_", " ") in str(refused.value) or field in str(refused.value)
    assert counts(db) == before


def test_a_failure_after_the_version_insert_leaves_nothing_behind(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="alice")
    history = store.history("customer", "C1")
    # an event id already taken by another stream makes the append fail after versions and current were written
    EventLog(db, clock=clock).append("elsewhere", [NewEvent("Other", {}, event_id="taken")])
    before = counts(db)
    seen: list[str] = []
    store.on_change(lambda t, k, n: seen.append(k))
    clock.advance(DAY)
    with pytest.raises(ValidationError, match="already stored"):
        store.put("customer", "C1", {"name": "Alicia"}, valid_from=START - DAY, actor="bob", change_id="taken")
    assert counts(db) == before
    assert store.history("customer", "C1") == history
    assert store.get("customer", "C1").attributes["name"] == "Alice"  # type: ignore[union-attr]
    assert store.audit(actor="bob") == []
    assert seen == []


def _raw_insert(db: Database, version_id: str, valid_from: datetime, recorded_from: datetime, recorded_to: Any) -> None:
    """Insert a version by hand, bypassing the store."""
    with db.transaction() as tx:
        cast = "?::jsonb" if tx.dialect == "postgresql" else "?"
        tx.execute(
            "INSERT INTO master_data_versions (version_id, tenant_id, entity_type, entity_key, attributes, retired, "
            "valid_from, valid_to, recorded_from, recorded_to, actor, reason, change_id) "
            f"VALUES (?, 'default', 'customer', 'C1', {cast}, ?, ?, NULL, ?, ?, 'hand', '', 'hand')",
            (
                version_id,
                '{"name": "Mallory"}',
                False,
                time_to_db(tx.dialect, valid_from),
                time_to_db(tx.dialect, recorded_from),
                None if recorded_to is None else time_to_db(tx.dialect, recorded_to),
            ),
        )


def test_the_database_refuses_a_hand_written_overlapping_version(store: MasterDataStore, db: Database) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="alice")
    with pytest.raises(Exception, match="master_data_versions_no_overlap"):
        _raw_insert(db, "v-overlap", START + DAY, START + DAY, None)
    # knowledge that ended before the stored version was recorded does not overlap it
    _raw_insert(db, "v-earlier", START + DAY, START - 2 * DAY, START - DAY)
    assert len(store.history("customer", "C1")) == 2


def test_the_database_refuses_widening_a_closed_version(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    store.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="alice")
    clock.advance(DAY)
    store.put("customer", "C1", {"name": "Alicia"}, valid_from=START - DAY, actor="alice")
    with pytest.raises(Exception, match="master_data_versions_no_overlap"), db.transaction() as tx:
        tx.execute("UPDATE master_data_versions SET recorded_to = NULL")
