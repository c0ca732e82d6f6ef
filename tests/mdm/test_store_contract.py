"""Contract of MasterDataStore on SQLite and PostgreSQL: put, retire, get on both time axes, history, audit, events."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.tenancy import tenant
from datastrata.mdm import MASTER_DATA_CHANGED, MasterDataStore, stream_id
from datastrata.runtime.location import Location
from datastrata.stores.database import Database
from tests.mdm.conftest import START, counts

DAY = timedelta(days=1)
ALICE = {"name": "Alice", "email": "alice@example.com"}


def test_put_then_get_now_and_as_of(store: MasterDataStore, clock: FrozenClock) -> None:
    change = store.put("customer", "C1", ALICE, valid_from=START - DAY, actor="alice", reason="onboarding")
    assert change.in_effect and change.action == "put" and change.recorded_at == START and not change.duplicate

    record = store.get("customer", "C1")
    assert record is not None
    assert record.attributes == ALICE
    assert (record.valid_from, record.valid_to, record.recorded_from, record.recorded_to) == (
        START - DAY,
        None,
        START,
        None,
    )
    assert (record.actor, record.reason, record.change_id) == ("alice", "onboarding", change.change_id)
    assert store.get("customer", "C1", as_of=START - 2 * DAY) is None
    assert store.get("customer", "C1", as_known_at=START - timedelta(seconds=1)) is None
    assert store.get("customer", "nobody") is None


def test_put_defaults_to_from_now_open_ended(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, actor="alice")
    record = store.get("customer", "C1")
    assert record is not None and record.valid_from == START and record.valid_to is None


def test_a_retroactive_correction_keeps_what_was_known_before(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, valid_from=START - 10 * DAY, actor="alice", reason="onboarding")
    first_known = clock()
    clock.advance(DAY)
    moved = {**ALICE, "address": "2 New Street"}
    store.put("customer", "C1", moved, valid_from=START - 5 * DAY, actor="bob", reason="she told us late")

    assert store.get("customer", "C1", as_of=START - 3 * DAY).attributes == moved  # type: ignore[union-attr]
    assert store.get("customer", "C1", as_of=START - 7 * DAY).attributes == ALICE  # type: ignore[union-attr]
    # what we believed before the correction about the same day
    believed = store.get("customer", "C1", as_of=START - 3 * DAY, as_known_at=first_known)
    assert believed is not None and believed.attributes == ALICE


def test_a_bounded_put_overrides_only_its_period(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, valid_from=START - 10 * DAY, actor="alice")
    clock.advance(DAY)
    promo = {**ALICE, "credit_tier": "gold"}
    store.put("customer", "C1", promo, valid_from=START - 4 * DAY, valid_to=START - 2 * DAY, actor="bob")

    timeline = store.timeline("customer", "C1")
    assert [(r.valid_from, r.valid_to, r.attributes.get("credit_tier")) for r in timeline] == [
        (START - 10 * DAY, START - 4 * DAY, None),
        (START - 4 * DAY, START - 2 * DAY, "gold"),
        (START - 2 * DAY, None, None),
    ]
    # remainders keep who asserted their attributes and point at the version they were cut from
    assert timeline[0].actor == "alice" and timeline[0].derived_from is not None
    assert timeline[2].derived_from == timeline[0].derived_from
    assert len(store.timeline("customer", "C1", as_known_at=START)) == 1


def test_retire_makes_the_record_absent_from_then_on(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, valid_from=START - 10 * DAY, actor="alice")
    clock.advance(DAY)
    change = store.retire("customer", "C1", valid_from=START, actor="bob", reason="account closed")
    assert change.action == "retire" and change.in_effect

    assert store.get("customer", "C1") is None
    assert store.get("customer", "C1", as_of=START - DAY) is not None
    assert store.get("customer", "C1", as_known_at=START) is not None  # before the retirement was recorded
    with pytest.raises(NotFound, match="no version valid"):
        store.retire("customer", "C1", valid_from=START + DAY, actor="bob")
    with pytest.raises(NotFound):
        store.retire("customer", "nobody", actor="bob")


def test_history_shows_every_version_on_both_axes(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, valid_from=START - 10 * DAY, actor="alice")
    clock.advance(DAY)
    store.put("customer", "C1", {**ALICE, "phone": "555"}, valid_from=START - 5 * DAY, actor="bob")
    clock.advance(DAY)
    store.retire("customer", "C1", valid_from=START + 5 * DAY, actor="carol")

    history = store.history("customer", "C1")
    shape = [(r.valid_from, r.valid_to, r.recorded_from, r.recorded_to, r.retired) for r in history]
    assert shape == [
        (START - 10 * DAY, None, START, START + DAY, False),
        (START - 10 * DAY, START - 5 * DAY, START + DAY, None, False),
        (START - 5 * DAY, None, START + DAY, START + 2 * DAY, False),
        (START - 5 * DAY, START + 5 * DAY, START + 2 * DAY, None, False),
        (START + 5 * DAY, None, START + 2 * DAY, None, True),
    ]
    assert history[-1].attributes == {} and history[-1].actor == "carol"


def test_every_write_appends_a_change_event_with_before_and_after(
    store: MasterDataStore, db: Database, clock: FrozenClock
) -> None:
    first = store.put("customer", "C1", ALICE, valid_from=START - DAY, actor="alice", reason="onboarding")
    clock.advance(DAY)
    second = store.put("customer", "C1", {**ALICE, "name": "Alicia"}, valid_from=START + 3 * DAY, actor="bob")

    events = Location.over(db).log.read(stream_id("customer", "C1"))  # a location's log opens sealed fields
    assert [e.type for e in events] == [MASTER_DATA_CHANGED, MASTER_DATA_CHANGED]
    assert [e.event_id for e in events] == [first.change_id, second.change_id]
    assert events[1].position == second.position
    payload = events[1].payload
    assert payload["entity_type"] == "customer" and payload["entity_key"] == "C1"
    assert payload["before"] == ALICE and payload["after"] == {**ALICE, "name": "Alicia"}
    assert payload["valid_from"] == (START + 3 * DAY).isoformat() and payload["valid_to"] is None
    assert payload["in_effect"] is False and payload["actor"] == "bob"
    assert events[0].payload["before"] is None


def test_audit_filters_by_key_actor_and_time(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, actor="alice", reason="onboarding")
    clock.advance(DAY)
    store.put("customer", "C2", {"name": "Bob"}, actor="bob", reason="onboarding")
    clock.advance(DAY)
    store.retire("customer", "C1", actor="bob", reason="closed")

    assert [(a.entity_key, a.action) for a in store.audit()] == [("C1", "put"), ("C2", "put"), ("C1", "retire")]
    assert [a.action for a in store.audit(key="C1")] == ["put", "retire"]
    assert [a.entity_key for a in store.audit(actor="bob")] == ["C2", "C1"]
    assert [a.entity_key for a in store.audit(since=START + DAY + timedelta(hours=1))] == ["C1"]
    assert store.audit(entity_type="product") == []
    retired = store.audit(key="C1", actor="bob")[0]
    assert retired.before == ALICE and retired.after is None and retired.reason == "closed"
    assert retired.recorded_at == START + 2 * DAY and retired.valid_from == START + 2 * DAY
    assert retired.replaced[0]["attributes"] == ALICE


def test_change_listeners_run_after_commit_with_the_next_change(store: MasterDataStore, clock: FrozenClock) -> None:
    seen: list[tuple[str, str, datetime | None]] = []
    undo = store.on_change(lambda t, k, n: seen.append((t, k, n)))
    store.put("customer", "C1", ALICE, valid_from=START - DAY, valid_to=START + 3 * DAY, actor="alice")
    store.put("customer", "C1", {"name": "Al"}, valid_from=START + 3 * DAY, actor="alice")
    with pytest.raises(ValidationError):
        store.put("customer", "C1", {"nickname": "Al"}, actor="alice")
    undo()
    store.put("customer", "C2", ALICE, actor="alice")
    assert seen == [("customer", "C1", START + 3 * DAY), ("customer", "C1", START + 3 * DAY)]


def test_a_failing_listener_does_not_undo_the_write(store: MasterDataStore) -> None:
    def broken(entity_type: str, key: str, next_change_at: datetime | None) -> None:
        raise RuntimeError("cache is down")

    store.on_change(broken)
    store.put("customer", "C1", ALICE, actor="alice")
    assert store.get("customer", "C1") is not None


def test_next_change_is_the_next_boundary_in_valid_time(store: MasterDataStore, clock: FrozenClock) -> None:
    assert store.next_change("customer", "C1") is None
    store.put("customer", "C1", ALICE, valid_from=START - DAY, actor="alice")
    assert store.next_change("customer", "C1") is None
    store.put("customer", "C1", {"name": "Al"}, valid_from=START + 2 * DAY, valid_to=START + 4 * DAY, actor="a")
    assert store.next_change("customer", "C1") == START + 2 * DAY
    assert store.next_change("customer", "C1", after=START + 2 * DAY) == START + 4 * DAY
    assert store.next_change("customer", "C1", after=START + 4 * DAY) is None


def test_a_retried_change_id_is_stored_once(store: MasterDataStore, db: Database) -> None:
    first = store.put("customer", "C1", ALICE, actor="alice", change_id="req-1")
    before = counts(db)
    again = store.put("customer", "C1", ALICE, actor="alice", change_id="req-1")
    assert again.duplicate and again.version_id == first.version_id and again.position == first.position
    assert counts(db) == before
    # The stored result, not today's state: a later change of C1 does not alter what the retry answers.
    store.put("customer", "C1", {**ALICE, "name": "Alicia"}, actor="alice")
    assert store.put("customer", "C1", ALICE, actor="alice", change_id="req-1").version_id == first.version_id
    # The same key with other content (another record, other attributes, a retire) is refused, naming the key.
    after = counts(db)
    for other in (
        lambda: store.put("customer", "C2", ALICE, actor="alice", change_id="req-1"),
        lambda: store.put("customer", "C1", {**ALICE, "name": "Al"}, actor="alice", change_id="req-1"),
        lambda: store.retire("customer", "C1", actor="alice", change_id="req-1"),
    ):
        with pytest.raises(RuleViolation, match="'req-1' was already used") as refused:
            other()
        assert refused.value.field == "change_id"
    assert counts(db) == after


def test_product_prices_round_trip_as_decimals(store: MasterDataStore) -> None:
    store.put("product", "P1", {"sku": "P1", "name": "Tea", "price": "19.90", "currency": "EUR"}, actor="ops")
    record = store.get("product", "P1")
    assert record is not None and record.attributes["price"] == Decimal("19.90")
    assert isinstance(record.attributes["price"], Decimal)
    assert record.to_dict()["attributes"]["price"] == "19.90"


def test_user_registered_types(store: MasterDataStore) -> None:
    store.register_type("warehouse", {"name": str, "capacity": int, "opened": datetime}, required=["name"])
    store.put("warehouse", "W1", {"name": "North", "capacity": 500, "opened": "2020-01-01T00:00:00Z"}, actor="ops")
    record = store.get("warehouse", "W1")
    assert record is not None
    assert record.attributes == {"name": "North", "capacity": 500, "opened": datetime(2020, 1, 1, tzinfo=UTC)}
    with pytest.raises(ValidationError, match="capacity"):
        store.put("warehouse", "W1", {"name": "North", "capacity": "lots"}, actor="ops")
    with pytest.raises(ValidationError, match="already registered"):
        store.register_type("warehouse", {"name": str})


def test_tenants_do_not_see_each_others_records(store: MasterDataStore) -> None:
    store.put("customer", "C1", ALICE, actor="alice")
    with tenant("acme"):
        assert store.get("customer", "C1") is None
        assert store.audit() == []
        store.put("customer", "C1", {"name": "Acme's Alice"}, actor="acme-admin")
        assert store.get("customer", "C1").attributes["name"] == "Acme's Alice"  # type: ignore[union-attr]
    assert store.get("customer", "C1").attributes["name"] == "Alice"  # type: ignore[union-attr]


def test_open_by_url_with_a_clock(tmp_path: Path) -> None:
    clock = FrozenClock(START)
    with MasterDataStore.open(f"sqlite:///{tmp_path / 'md.db'}", clock=clock) as store:
        store.put("supplier", "S1", {"name": "Kyoto Tea", "country": "JP", "payment_terms_days": 30}, actor="ops")
        assert store.get("supplier", "S1").recorded_from == START  # type: ignore[union-attr]


def test_a_clock_that_goes_back_never_rewrites_the_past(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, valid_from=START - DAY, actor="alice")
    clock.set(START - timedelta(hours=1))  # e.g. another host whose clock lags
    change = store.put("customer", "C1", {"name": "Al"}, valid_from=START - DAY, actor="bob")
    assert change.recorded_at == START
    assert store.get("customer", "C1").attributes == {"name": "Al"}  # type: ignore[union-attr]


def test_concurrent_writers_of_one_key_keep_a_consistent_timeline(store: MasterDataStore, clock: FrozenClock) -> None:
    store.put("customer", "C1", ALICE, valid_from=START - 10 * DAY, actor="alice")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(i: int) -> None:
        try:
            barrier.wait()
            for j in range(5):
                store.put(
                    "customer",
                    "C1",
                    {"name": f"W{i}-{j}"},
                    valid_from=START - (i + j) * DAY,
                    valid_to=START + (i + 1) * DAY,
                    actor=f"writer{i}",
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    timeline = store.timeline("customer", "C1")
    for left, right in itertools.pairwise(timeline):
        assert left.valid_to is not None and left.valid_to <= right.valid_from
    assert len(store.audit(key="C1")) == 21


def test_a_key_too_long_for_its_stream_is_refused_before_anything_is_written(
    store: MasterDataStore, db: Database
) -> None:
    before = counts(db)
    with pytest.raises(ValidationError, match="too long for its event stream") as refused:
        store.put("customer", "K" * 190, ALICE, actor="alice")
    assert refused.value.field == "entity_key" and counts(db) == before
    assert store.get("customer", "K" * 190) is None  # a read of such a key just finds nothing
    store.put("customer", "K" * 170, ALICE, actor="alice")  # "customer-" + 170 fits the stream
