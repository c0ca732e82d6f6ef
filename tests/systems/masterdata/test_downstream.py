"""Downstream copies on SQLite and PostgreSQL: copy and derive, idempotency, activation, verify, dead letters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.mdm import MASTER_DATA_CHANGED
from datastrata.runtime import Runtime
from datastrata.systems.masterdata import downstream
from datastrata.systems.masterdata.service import MasterDataService
from tests.systems.masterdata.conftest import START

DAY = timedelta(days=1)
CUSTOMER = "masterdata.customer-service"


def held(svc: MasterDataService, entity_type: str, key: str) -> dict[str, Any]:
    (found,) = svc.downstream(entity_type, key)
    return found


def test_each_downstream_copies_and_derives(svc: MasterDataService) -> None:
    svc.put(
        "customer",
        "C1",
        {"name": "Alice", "email": "a@example.com", "address": "Tokyo", "credit_tier": "gold"},
        actor="a",
    )
    svc.put("product", "P1", {"sku": "P1", "name": "Kettle", "price": "49.90", "currency": "JPY"}, actor="a")
    svc.put("supplier", "S1", {"name": "Acme", "country": "DE", "payment_terms_days": 60}, actor="a")
    assert held(svc, "customer", "C1")["copy"] is None  # nothing is delivered until the relay runs
    svc.settle()
    customer = held(svc, "customer", "C1")
    assert customer["copy"]["attributes"]["name"] == "Alice"
    assert customer["derived"] == {"credit_limit": "50000", "risk_rating": "low"}
    product = held(svc, "product", "P1")
    assert product["copy"]["attributes"]["price"] == "49.90"
    assert product["derived"] == {"strategy": "reorder-point", "safety_stock_days": 14}
    assert held(svc, "supplier", "S1")["derived"] == {
        "net_days": 60,
        "method": "international-wire",
        "early_discount_percent": "2.0",
    }
    svc.put("customer", "C1", {"name": "Alice"}, actor="a", reason="lost contact details")
    svc.retire("product", "P1", actor="a")
    svc.settle()
    assert held(svc, "customer", "C1")["derived"] == {"credit_limit": "500", "risk_rating": "high"}
    gone = held(svc, "product", "P1")
    assert gone["copy"]["attributes"] is None and gone["derived"] is None


def test_redelivered_and_late_events_change_nothing(svc: MasterDataService, runtime: Runtime) -> None:
    svc.put("customer", "C1", {"name": "Alice"}, actor="a")
    svc.put("customer", "C1", {"name": "Alicia"}, actor="a")
    svc.settle()
    copy = svc.copies[CUSTOMER]
    events = runtime.log.read_all(types=[MASTER_DATA_CHANGED])
    for event in reversed(events):  # a redelivery, oldest last
        copy.handle(event)
    assert held(svc, "customer", "C1")["copy"]["attributes"] == {"name": "Alicia"}
    with runtime.db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM messaging_inbox WHERE consumer = ?", (CUSTOMER,)) == 2


def test_a_future_version_reaches_the_copy_when_activated(svc: MasterDataService, clock: FrozenClock) -> None:
    svc.put("customer", "C1", {"name": "Alice"}, valid_from=START - DAY, actor="a")
    svc.put("customer", "C1", {"name": "Alicia"}, valid_from=START + DAY, actor="a")
    svc.settle()
    assert held(svc, "customer", "C1")["copy"]["attributes"] == {"name": "Alice"}
    assert svc.activation() == 0  # nothing due yet: the job only reads
    clock.set(START + DAY)
    assert svc.activation() == 1  # what the worker runs every round
    svc.settle()
    assert held(svc, "customer", "C1")["copy"]["attributes"] == {"name": "Alicia"}
    assert svc.runtime.jobs["masterdata.activate"] is svc.activation


def test_verify_resyncs_drift_and_raises_alerts(svc: MasterDataService, runtime: Runtime) -> None:
    svc.put("customer", "C1", {"name": "Alice", "credit_tier": "gold"}, actor="a")
    svc.put("customer", "C2", {"name": "Bob"}, actor="a")
    svc.put("supplier", "S1", {"name": "Acme"}, actor="a")
    svc.settle()
    assert svc.verify() == []
    with runtime.db.transaction() as tx:
        tx.execute(
            "UPDATE masterdata_customer_copies SET attributes = '{\"name\":\"Mallory\"}' WHERE entity_key = 'C1'"
        )
        tx.execute("DELETE FROM masterdata_customer_copies WHERE entity_key = 'C2'")
        tx.execute("DELETE FROM masterdata_supplier_copies")
        tx.execute(
            "INSERT INTO masterdata_product_copies VALUES ('default', 'P9', '{\"name\":\"ghost\"}', 'v', NULL, 1, ?)",
            ("2025-01-01T00:00:00.000000Z" if runtime.db.dialect == "sqlite" else START,),
        )
    drifts = svc.verify()
    assert sorted((d.entity_key, d.problem) for d in drifts) == [
        ("C1", "stale"),
        ("C2", "missing"),
        ("P9", "extra"),
        ("S1", "missing"),
    ]
    assert held(svc, "customer", "C1")["copy"]["attributes"] == {"name": "Alice", "credit_tier": "gold"}
    assert held(svc, "customer", "C1")["derived"] == {"credit_limit": "25000", "risk_rating": "high"}
    assert held(svc, "customer", "C2")["copy"]["attributes"] == {"name": "Bob"}
    assert held(svc, "product", "P9")["copy"]["attributes"] is None
    alerts = svc.alert_list(kind="drift")
    assert sorted(a.entity_key or "" for a in alerts) == ["C1", "C2", "P9", "S1"]
    assert "re-synced" in alerts[0].detail
    assert svc.verify() == []
    # An event older than the re-sync that arrives late leaves the re-synced copy alone.
    first = runtime.log.read_all(types=[MASTER_DATA_CHANGED])[0]
    with runtime.db.transaction() as tx:
        tx.execute("DELETE FROM messaging_inbox")
    svc.copies[CUSTOMER].handle(first)
    assert held(svc, "customer", "C1")["copy"]["attributes"] == {"name": "Alice", "credit_tier": "gold"}


def test_a_failing_subscriber_is_dead_lettered_with_an_alert_then_verify_heals_it(
    svc: MasterDataService, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def broken(tx: Any, tenant_id: str, key: str, attributes: Any) -> None:
        calls.append(key)
        raise RuntimeError("credit bureau unreachable")

    monkeypatch.setattr(svc.copies[CUSTOMER], "downstream", _with_derive(svc.copies[CUSTOMER].downstream, broken))
    svc.put("customer", "C1", {"name": "Alice"}, actor="a")
    svc.put("supplier", "S1", {"name": "Acme"}, actor="a")
    svc.settle()
    assert calls == ["C1"] * 3  # every attempt, then the dead letters
    (letter,) = runtime.dead_letters.list(CUSTOMER)
    assert "credit bureau unreachable" in letter.error and letter.attempts == 3
    (alert,) = svc.alert_list(kind="dead_letter")
    assert (alert.consumer, alert.entity_key, alert.event_id) == (CUSTOMER, "C1", letter.event_id)
    assert "dead letters" in alert.detail
    assert held(svc, "customer", "C1")["copy"] is None
    assert held(svc, "supplier", "S1")["copy"] is not None  # the others carry on
    monkeypatch.undo()
    (drift,) = svc.verify()
    assert (drift.consumer, drift.entity_key, drift.problem) == (CUSTOMER, "C1", "missing")
    assert held(svc, "customer", "C1")["copy"]["attributes"] == {"name": "Alice"}
    assert [a.kind for a in svc.alert_list(key="C1")] == ["dead_letter", "drift"]


def _with_derive(spec: Any, derive: Any) -> Any:
    from dataclasses import replace

    return replace(spec, derive=derive)


@pytest.mark.redis
def test_downstream_over_redis_streams_and_the_redis_cache(sqlite_url: str, redis_url: str) -> None:
    settings = Settings(store=sqlite_url, bus=redis_url, cache=redis_url)
    with Runtime.open(settings) as runtime:
        svc: MasterDataService = runtime.service("masterdata", MasterDataService)
        svc.put(
            "customer", "C1", {"name": "Alice", "credit_tier": "silver", "email": "a@b.co", "address": "x"}, actor="a"
        )
        assert svc.settle() > 0
        assert held(svc, "customer", "C1")["derived"] == {"credit_limit": "20000", "risk_rating": "medium"}
        assert svc.get("customer", "C1").attributes["name"] == "Alice"
        assert type(svc.reader.fence).__name__ == "RedisFence"
    with Runtime.open(settings) as runtime:  # another process: the same Redis cache, already filled
        other: MasterDataService = runtime.service("masterdata", MasterDataService)
        assert other.get("customer", "C1").attributes["name"] == "Alice"
        assert other.reader.loads == 0
        other.put("customer", "C1", {"name": "Alicia"}, actor="a")
        other.settle()
        assert held(other, "customer", "C1")["copy"]["attributes"] == {"name": "Alicia"}
        assert downstream.CUSTOMER_SERVICE.spec.name == CUSTOMER
