"""kill -9 of the commerce services at a reaction or a saga step: after a restart every order ends, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datastrata.systems.commerce.domain import CANCELLED, CHOREOGRAPHED, CONFIRMED, ORCHESTRATED
from tests.systems.commerce.commerce_child import shop

CHILD = Path(__file__).with_name("commerce_child.py")
ROOT = Path(__file__).parents[3]
ORDERS = 6
#: How many events the choreography reacts to for the child's 6 orders (confirmed, declined, short of stock).
REACTIONS = 21
#: Where the child kills itself: (the n-th reaction, before it acts or after); the full run takes every point.
POINTS = (
    [(n, when) for n in range(1, REACTIONS + 1) for when in ("before", "after")]
    if os.environ.get("DATASTRATA_FULL")
    else [(2, "after"), (7, "before"), (11, "after")]
)


#: How many service calls the order saga's steps make for the same orders.
CALLS = 14
#: The orchestrated saga's kill points: (the n-th call of a step, before or after).
SAGA_POINTS = (
    [(n, when) for n in range(1, CALLS + 1) for when in ("before", "after")]
    if os.environ.get("DATASTRATA_FULL")
    else [(3, "after"), (6, "before")]
)


@pytest.mark.parametrize(("crash_at", "when"), POINTS)
def test_a_kill_at_any_reaction_leaves_every_order_finished_once_after_a_restart(
    tmp_path: Path, crash_at: int, when: str
) -> None:
    _crash_and_restart(tmp_path, crash_at, when, CHOREOGRAPHED)


@pytest.mark.parametrize(("crash_at", "when"), SAGA_POINTS)
def test_a_kill_at_any_step_of_the_order_saga_leaves_every_order_finished_once_after_a_restart(
    tmp_path: Path, crash_at: int, when: str
) -> None:
    _crash_and_restart(tmp_path, crash_at, when, ORCHESTRATED)


def _crash_and_restart(tmp_path: Path, crash_at: int, when: str, style: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path), str(ORDERS), str(crash_at), when, style],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    runtime, svc = shop(tmp_path)  # the restart: relays resume from their checkpoints, sagas from their log
    with runtime:
        for _ in range(200):
            if not svc.settle() and all(svc.orders.get(f"k-{n}").status != "PENDING" for n in range(ORDERS)):
                break
            time.sleep(0.02)
        sold = 0
        for n in range(ORDERS):
            order = svc.orders.get(f"k-{n}")
            held, paid = svc.inventory.reservation(order.order_id), svc.payment.payment(order.order_id)
            if order.status == CONFIRMED:
                assert paid is not None and paid.state == "CHARGED" and held.state == "CONFIRMED", order
                sold += sum(line.quantity for line in held.lines)
            else:
                assert order.status == CANCELLED, order
                assert paid is None or paid.state != "CHARGED", order
                assert held.state in ("NONE", "RELEASED"), order
            assert len(svc.notification.sent(order.order_id)) == 1, order  # written once, not again
        stock = svc.inventory.stock("shoe")
        assert stock.reserved == 0 and stock.on_hand == ORDERS - sold >= 0
