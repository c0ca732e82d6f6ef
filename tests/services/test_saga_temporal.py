"""The same order saga on a Temporal dev server: a workflow per saga, an activity per step, the same keys."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

if os.environ.get("DATASTRATA_REQUIRE_SERVERS") != "1":  # required: a missing SDK fails the import below
    pytest.importorskip("temporalio", reason="the Temporal runner needs: pip install 'datastrata[temporal]'")

from datastrata.services.sagas import COMPENSATED, COMPLETED, step_key
from datastrata.services.sagas.temporal import TemporalSagas
from datastrata.testing.sagashop import Shop

ORDER = {"sku": "sku-1", "qty": 3, "account": "alice", "amount": 30}


def run_sagas(target: str, shop: Shop, orders: dict[str, dict[str, Any]], queue: str) -> dict[str, dict[str, Any]]:
    """Run `orders` as sagas on Temporal (a worker in this process); each saga's end by id."""

    async def main() -> dict[str, dict[str, Any]]:
        sagas = await TemporalSagas.connect(target, [shop.definition(timeout=0.5)], task_queue=queue)
        async with sagas.worker():
            ends = await asyncio.gather(*(sagas.execute("order", i, order) for i, order in orders.items()))
            again = await sagas.execute("order", next(iter(orders)), next(iter(orders.values())))
        assert again == ends[0]  # the same saga id: its recorded end, nothing run again
        return dict(zip(orders, ends, strict=True))

    return asyncio.run(main())


def test_the_order_saga_runs_on_temporal_with_the_same_outcomes(temporal_server: str, shop: Shop) -> None:
    shop.faults.plan["charge"] = ["lost"]  # the pivot's first answer is lost: asked again with its key
    shop.faults.delay = 1.5  # past the 0.5 s timeout as the dev server measures it
    ends = run_sagas(
        temporal_server,
        shop,
        {"t-1": ORDER, "t-2": {**ORDER, "account": "bob"}, "t-3": {**ORDER, "qty": 11}},
        "test-outcomes",
    )
    assert {i: e["state"] for i, e in ends.items()} == {"t-1": COMPLETED, "t-2": COMPENSATED, "t-3": COMPENSATED}
    assert [c["outcome"] for c in ends["t-1"]["calls"]] == ["succeeded"] * 3
    assert [(c["step"], c["phase"], c["outcome"]) for c in ends["t-2"]["calls"]] == [
        ("reserve", "action", "succeeded"),
        ("charge", "action", "declined"),
        ("reserve", "compensation", "succeeded"),
    ]
    assert "step 'reserve' declined: only" in ends["t-3"]["reason"]  # the others hold some of it
    assert shop.payment.charges() == {step_key("order", "t-1", "charge"): 30}  # one charge despite the lost answer
    assert shop.orders.confirmed() == {"t-1": 1}
    assert shop.inventory.available("sku-1") == 7 and shop.inventory.held() == 3


def test_a_compensatable_step_that_keeps_timing_out_is_compensated_on_temporal(
    temporal_server: str, shop: Shop
) -> None:
    shop.faults.plan["reserve"] = ["lost", "lost", "lost"]  # applied once (by its key), every answer too late
    shop.faults.delay = 1.5  # past the 0.5 s timeout as the dev server measures it
    ends = run_sagas(temporal_server, shop, {"t-4": ORDER}, "test-timeouts")
    assert ends["t-4"]["state"] == COMPENSATED
    assert [(c["step"], c["phase"], c["outcome"]) for c in ends["t-4"]["calls"]] == [
        ("reserve", "action", "timed_out"),
        ("reserve", "compensation", "succeeded"),
    ]
    assert shop.inventory.available("sku-1") == 10
