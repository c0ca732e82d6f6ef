"""Random faults on every call of random orders: whatever happens, the saga's invariants hold when it ends."""

from __future__ import annotations

import itertools
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datastrata.runtime.location import Location
from datastrata.services.sagas import COMPENSATED, COMPLETED, Orchestrator, step_key
from datastrata.testing.sagashop import Faults, Shop

FULL = os.environ.get("DATASTRATA_FULL") == "1"
FAULTS = st.lists(st.sampled_from(["ok", "ok", "slow", "lost", "down", "crash"]), max_size=4)
STEPS = ("reserve", "reserve.undo", "charge", "confirm")
_ids = itertools.count()


@settings(
    max_examples=300 if FULL else 20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plan=st.fixed_dictionaries({step: FAULTS for step in STEPS}),
    qty=st.integers(1, 12),
    account=st.sampled_from(["alice", "bob"]),
)
def test_a_saga_under_random_faults_ends_with_its_invariants(
    saga_log: Location, shop: Shop, plan: dict[str, list[str]], qty: int, account: str
) -> None:
    """Timeouts here are short (a call slow by chance is one more fault): the invariants hold whatever the timing."""
    saga_id = f"h-{next(_ids)}"
    if shop.inventory.available("sku-1") < 50:
        shop.inventory.stock("sku-1", 1000)  # enough for most orders to go through (bob still cannot pay)
    shop.payment.fund("alice", 10**6)
    before = shop.inventory.available("sku-1") + shop.inventory.held()
    shop.faults = Faults(plan, delay=0.06)
    orchestrator = Orchestrator(saga_log, [shop.definition(timeout=0.04)])
    try:
        run = orchestrator.execute("order", saga_id, {"sku": "sku-1", "qty": qty, "account": account, "amount": 10})
    finally:
        orchestrator.close()
    time.sleep(0.1)  # calls left running past their timeouts end (each is a no-op by now: see below)
    charged = step_key("order", saga_id, "charge") in shop.payment.charges()
    confirmed = shop.orders.confirmed().get(saga_id, 0)
    held = shop.inventory.read(
        "SELECT qty FROM inv_reservations WHERE key = ? AND state = 'held'", (step_key("order", saga_id, "reserve"),)
    )
    assert run.state in (COMPLETED, COMPENSATED)
    if run.state == COMPLETED:  # exactly one charge, the order confirmed once, its stock held
        assert charged and confirmed == 1 and held == [(qty,)]
    else:  # no charge, no confirmation, nothing held
        assert not charged and confirmed == 0 and held == []
    assert shop.inventory.available("sku-1") + shop.inventory.held() == before  # stock never made or lost
    assert shop.inventory.available("sku-1") >= 0
