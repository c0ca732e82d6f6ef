"""The commerce services' rules: search, the semantic lock and idempotency on both stores; the order's life."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.events import Event
from datastrata.core.tenancy import DEFAULT_TENANT, tenant
from datastrata.runtime import Runtime
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.scope import Scope
from datastrata.systems.commerce.domain import (
    CANCELLED,
    CONFIRMED,
    INVENTORY_RESERVED,
    ORDER_CREATED,
    PAYMENT_REFUNDED,
    PENDING,
)
from datastrata.systems.commerce.service import SERVICE, CommerceService
from tests.systems.commerce.conftest import stocked

#: What each store raises when a CHECK constraint refuses a row.
CHECK_FAILED = (sqlite3.IntegrityError, psycopg.errors.CheckViolation)


def _events(svc: CommerceService, service: str) -> list[Event]:
    """The service's own log as the default tenant sees it (row-level security on PostgreSQL)."""
    with tenant(DEFAULT_TENANT):
        return list(svc.runtime.locate(Scope.of(service)).log.read_all())


def _types(svc: CommerceService, service: str) -> list[str]:
    return [e.type for e in _events(svc, service)]


def test_search_finds_every_word_in_names_and_descriptions(commerce: CommerceService) -> None:
    stocked(commerce)
    assert [p.sku for p in commerce.catalogue.search("trail shoes")] == ["shoe"]
    assert [p.sku for p in commerce.catalogue.search("waterproof")] == ["jacket"]
    assert commerce.catalogue.search("umbrella") == []
    assert commerce.catalogue.search('trail"*^') == commerce.catalogue.search("trail")  # words, not operators
    assert commerce.catalogue.search("shoes OR jacket") == []  # OR is a word to match, not an operator
    commerce.catalogue.add("shoe", "Road shoes", "85.00", description="For tarmac")  # re-indexed in its transaction
    assert commerce.catalogue.search("trail") == []
    assert commerce.catalogue.get("shoe").price == Decimal("85.00")
    with pytest.raises(ValidationError) as refused:
        commerce.catalogue.search("  ?! ")
    assert refused.value.field == "query"


def test_a_reservation_holds_every_line_or_none_and_stock_is_never_oversold(commerce: CommerceService) -> None:
    stocked(commerce)
    failed = commerce.inventory.reserve("o-1", ["shoe:2", "jacket:3"])
    assert failed.state == "FAILED" and "jacket: 2 available, 3 wanted" in (failed.reason or "")
    assert commerce.inventory.stock("shoe").reserved == 0  # the shoe line's hold was undone with it
    held = commerce.inventory.reserve("o-2", ["shoe:2", "jacket:2"])
    assert held.state == "RESERVED"
    assert commerce.inventory.stock("jacket").to_dict() == {"sku": "jacket", "on_hand": 2, "reserved": 2,
                                                            "available": 0}  # fmt: skip
    assert commerce.inventory.reserve("o-3", ["jacket:1"]).state == "FAILED"  # held stock is not sellable
    with pytest.raises(RuleViolation) as refused:
        commerce.inventory.set_stock("jacket", 1)  # below what is held
    assert refused.value.field == "on_hand"
    assert commerce.inventory.release("o-2").state == "RELEASED"
    assert commerce.inventory.release("o-2").state == "RELEASED"  # again: nothing changes
    assert commerce.inventory.stock("jacket").available == 2
    with pytest.raises(RuleViolation):
        commerce.inventory.confirm("o-2")  # released stock is never sold
    assert commerce.inventory.release("late").state == "NONE"  # released before its reservation arrived
    assert commerce.inventory.reserve("late", ["shoe:1"]).state == "FAILED"  # so the late one holds nothing
    commerce.inventory.reserve("o-4", ["shoe:5"])
    assert commerce.inventory.confirm("o-4").state == "CONFIRMED"
    assert commerce.inventory.stock("shoe").to_dict() == {"sku": "shoe", "on_hand": 0, "reserved": 0, "available": 0}
    assert _types(commerce, "inventory").count(INVENTORY_RESERVED) == 2


def test_the_store_refuses_negative_stock_whatever_the_statement(commerce: CommerceService) -> None:
    stocked(commerce)
    with pytest.raises(CHECK_FAILED), commerce.runtime.transaction(Scope.of("inventory", "shoe")) as work:
        work.execute("UPDATE commerce_stock SET reserved = on_hand + 1 WHERE sku = 'shoe'")
    with pytest.raises(CHECK_FAILED), commerce.runtime.transaction(Scope.of("inventory", "shoe")) as work:
        work.execute("UPDATE commerce_stock SET on_hand = -1 WHERE sku = 'shoe'")
    assert commerce.inventory.stock("shoe").on_hand == 5


def test_concurrent_reservations_take_exactly_the_stock_there_is(commerce: CommerceService) -> None:
    stocked(commerce)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def reserve(n: int) -> None:
        try:
            outcomes.append(commerce.inventory.reserve(f"race-{n}", ["shoe:1"]).state)
        except BaseException as exc:  # collected: a thread's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == ["FAILED"] * 7 + ["RESERVED"] * 5
    assert commerce.inventory.stock("shoe").to_dict() == {"sku": "shoe", "on_hand": 5, "reserved": 5, "available": 0}


def test_each_command_is_idempotent_by_its_key(embedded: CommerceService) -> None:
    stocked(embedded)
    first = embedded.inventory.reserve("o-1", ["shoe:1"], key="step-1")
    assert embedded.inventory.reserve("o-1", ["shoe:1"], key="step-1") == first
    with pytest.raises(RuleViolation) as refused:
        embedded.inventory.reserve("o-1", ["shoe:2"], key="step-1")  # other content under the key
    assert refused.value.field == "key"
    assert embedded.inventory.reserve("o-1", ["shoe:1"], key="step-1b") == first  # by order too
    assert embedded.inventory.stock("shoe").reserved == 1
    charge = embedded.payment.charge("o-1", "mei", "80.00", key="pay-1")
    assert charge.state == "CHARGED"
    assert embedded.payment.charge("o-1", "mei", "80.00", key="pay-1") == charge
    assert embedded.payment.charge("o-1", "mei", "80.00", key="pay-2") == charge  # one charge per order
    refund = embedded.payment.refund("o-1", key="r-1")
    assert refund is not None and refund.state == "REFUNDED"
    assert embedded.payment.refund("o-1", key="r-2") == refund
    assert embedded.payment.refund("late") is None  # refunded before its charge arrived
    late = embedded.payment.charge("late", "mei", "80.00")
    assert late.state == "VOID" and late.amount == 0  # so the late charge charges nothing
    assert _types(embedded, "payment").count(PAYMENT_REFUNDED) == 1


def test_the_decline_rule_declines_and_records_it(embedded: CommerceService) -> None:
    stocked(embedded)
    over = embedded.payment.charge("o-1", "mei", "500.01")
    assert over.state == "DECLINED" and "card limit of 500.00" in (over.reason or "")
    assert embedded.payment.charge("o-2", "bad", "1.00").state == "DECLINED"
    assert embedded.payment.charge("o-1", "mei", "500.01") == over  # asked again: the same answer
    assert embedded.payment.refund("o-1") is None  # nothing was charged
    assert _types(embedded, "payment") == ["PaymentFailed", "PaymentFailed"]
    with pytest.raises(ValidationError) as refused:
        embedded.payment.charge("o-3", "mei", "1.001")
    assert refused.value.field == "amount"


def test_an_order_is_a_document_priced_by_the_catalogue_and_moves_once(embedded: CommerceService) -> None:
    stocked(embedded)
    order = embedded.orders.place("mei", ["shoe:2", "jacket:1"], order_id="o-1")
    assert (order.status, order.total, order.version) == (PENDING, Decimal("310.00"), 1)
    assert embedded.orders.place("mei", ["shoe:2", "jacket:1"], order_id="o-1") == order  # the same order again
    with pytest.raises(RuleViolation):
        embedded.orders.place("mei", ["shoe:1"], order_id="o-1")
    assert _types(embedded, "orders") == [ORDER_CREATED]
    assert embedded.runtime.home.log.head() == 0  # nothing of an order's lives at home
    confirmed = embedded.orders.confirm("o-1")
    assert (confirmed.status, confirmed.version) == (CONFIRMED, 2)
    assert embedded.orders.confirm("o-1") == confirmed
    with pytest.raises(RuleViolation):
        embedded.orders.cancel("o-1", reason="too late")
    other = embedded.orders.place("mei", ["jacket:1"])
    assert embedded.orders.cancel(other.order_id, reason="payment declined").status == CANCELLED
    with pytest.raises(RuleViolation):
        embedded.orders.confirm(other.order_id)
    assert embedded.orders.get(other.order_id).reason == "payment declined"


def test_bad_orders_are_refused_naming_the_field_and_write_nothing(embedded: CommerceService) -> None:
    stocked(embedded)
    cases = [
        (("ghost", ["shoe:1"]), NotFound, "customer"),
        (("mei", ["nothing:1"]), NotFound, "lines"),
        (("mei", ["shoe:0"]), ValidationError, "quantity"),
        (("mei", ["shoe:1", "shoe:2"]), ValidationError, "lines"),
        (("mei", []), ValidationError, "lines"),
        (("mei", ["shoe"]), ValidationError, "lines"),
    ]
    for args, error, field in cases:
        with pytest.raises(error) as refused:
            embedded.orders.place(*args)
        assert refused.value.field == field, args
    assert _types(embedded, "orders") == []


def test_the_notification_service_sends_once_per_order_event(embedded: CommerceService) -> None:
    stocked(embedded)
    embedded.orders.place("mei", ["shoe:1"], order_id="o-1")
    embedded.orders.confirm("o-1")
    embedded.orders.place("mei", ["shoe:1"], order_id="o-2")
    embedded.orders.cancel("o-2", reason="out of stock")
    assert embedded.notification.sent("o-1") == []  # not before the relay hands the events over
    embedded.settle()
    [confirmed] = embedded.notification.sent("o-1")
    assert confirmed.kind == "OrderConfirmed" and "is confirmed" in confirmed.message
    assert "out of stock" in embedded.notification.sent("o-2")[0].message
    event = next(e for e in _events(embedded, "orders") if e.type == "OrderConfirmed")
    embedded.notification.handle(event)  # delivered again (a relay crash, a Redis claim): its inbox drops it
    assert len(embedded.notification.sent("o-1")) == 1


def test_with_redis_the_available_count_is_a_cached_counter_invalidated_on_commit(
    tmp_path: Path, redis_url: str
) -> None:
    with Runtime.open(Settings(store=f"sqlite:///{tmp_path / 'home.db'}", cache=redis_url)) as runtime:
        svc: CommerceService = runtime.service(SERVICE, CommerceService)
        stocked(svc)
        assert svc.inventory.cache is not None
        assert svc.inventory.available("shoe") == 5
        key = svc.inventory._key("shoe")
        assert svc.inventory.cache.get(key) == "5"  # filled by the read
        svc.inventory.reserve("o-1", ["shoe:2"])
        assert svc.inventory.cache.get(key) is None  # the commit invalidated it
        assert svc.inventory.available("shoe") == 3
        svc.inventory.cache.set(key, "99")  # a stale counter never decides a reservation
        assert svc.inventory.reserve("o-2", ["shoe:4"]).state == "FAILED"


def test_each_tenants_commerce_data_is_its_own(commerce: CommerceService) -> None:
    from datastrata.tenancy.catalogue import Catalogue

    Catalogue(commerce.runtime).add("acme", "indie")  # a second tenant: the stores now hold two (guard, RLS)
    for who in ("default", "acme"):
        with tenant(who):
            stocked(commerce)
    with tenant("acme"):
        commerce.orders.place("mei", ["shoe:2"], order_id="o-1", saga="choreographed")
        commerce.settle()
        assert commerce.orders.get("o-1").status == "CONFIRMED"
        assert commerce.inventory.stock("shoe").on_hand == 3
        commerce.catalogue.add("brolly", "Umbrella", "15.00", description="Folding umbrella")
        assert [p.sku for p in commerce.catalogue.search("umbrella")] == ["brolly"]
    with tenant("default"):
        assert commerce.catalogue.search("umbrella") == []  # the full-text index answers for its tenant only
        with pytest.raises(NotFound):
            commerce.orders.get("o-1")  # another tenant's order: not found, not forbidden
        assert commerce.inventory.stock("shoe").on_hand == 5
        assert commerce.payment.payment("o-1") is None
        assert commerce.notification.sent("o-1") == []


def test_concurrent_charges_of_one_order_under_different_keys_charge_it_once(commerce: CommerceService) -> None:
    stocked(commerce)
    answers: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def charge(n: int) -> None:
        try:
            start.wait()
            answers.append(commerce.payment.charge("o-1", "mei", "80.00", key=f"key-{n}").payment_id)
        except BaseException as exc:  # collected: a thread's failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=charge, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(answers)) == 1  # every caller got the one charge
    assert _types(commerce, "payment") == ["PaymentCompleted"]


def _saga_tables(svc: CommerceService, spec: LocationSpec) -> int:
    """How many of the saga log's tables the store of `spec` holds (its own schema on PostgreSQL)."""
    location = svc.runtime.location(spec)
    with location.db.read() as tx:
        if tx.dialect == "sqlite":
            return int(tx.scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('saga_runs', 'saga_steps')"
            ))  # fmt: skip
        return int(tx.scalar(
            "SELECT count(*) FROM pg_tables WHERE schemaname = coalesce(nullif(?, ''), 'public') "
            "AND tablename IN ('saga_runs', 'saga_steps')",
            (spec.namespace or "",),
        ))  # fmt: skip


def test_the_saga_log_is_in_the_orchestrators_store_only(commerce: CommerceService) -> None:
    stocked(commerce)
    commerce.orders.place("mei", ["shoe:1"], order_id="o-log", saga="orchestrated")
    commerce.settle()
    assert commerce.sagas.get("o-log").state == "completed"  # the log at home holds the saga
    assert _saga_tables(commerce, commerce.placement.home) == 2
    assert {name: _saga_tables(commerce, spec) for name, spec in commerce.placement.services.items()} == dict.fromkeys(
        commerce.placement.services, 0
    )
