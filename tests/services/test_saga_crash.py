"""kill -9 of the orchestrator at every step boundary: on restart every saga finishes, no effect applied twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from datastrata.services.sagas import COMPENSATED, COMPLETED, Orchestrator, step_key
from tests.services.saga_child import CALLS, ORDERS, open_all

FULL = os.environ.get("DATASTRATA_FULL") == "1"
#: Every boundary: before each call, and after each call's effect but before its record.
MATRIX = [f"{n}:{when}" for n in range(1, CALLS + 1) for when in ("before", "after")]
#: The sample run by default: around the pivot, in a compensation, and at a decline.
SAMPLE = ["2:after", "5:before", "6:after", "7:after"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("at", MATRIX if FULL else SAMPLE)
def test_every_saga_finishes_after_a_kill_at_a_step_boundary(tmp_path: Path, at: str) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "tests.services.saga_child", str(tmp_path), at],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    shop, log = open_all(tmp_path)
    orchestrator = Orchestrator(log, [shop.definition(timeout=5.0)])
    try:
        orchestrator.resume()  # the restart: every unfinished saga of the dead orchestrator, from its log
        with log.db.read() as tx:
            assert tx.scalar("SELECT COUNT(*) FROM saga_runs WHERE state IN ('running', 'compensating')") == 0
        # the client retries its orders: sagas the child never started run now; finished ones are only read
        states = {saga_id: orchestrator.execute("order", saga_id, order).state for saga_id, order in ORDERS.items()}
    finally:
        orchestrator.close()
    assert states == {"o-0": COMPLETED, "o-1": COMPENSATED, "o-2": COMPENSATED}
    assert shop.inventory.available("sku-1") == 7 and shop.inventory.held() == 3  # o-0's held once, o-1's released
    assert shop.payment.charges() == {step_key("order", "o-0", "charge"): 30}  # one charge, for the confirmed order
    assert shop.orders.confirmed() == {"o-0": 1}


def test_the_child_runs_the_batch_when_nothing_kills_it(tmp_path: Path) -> None:
    """The matrix's baseline: the boundaries counted are the calls the batch makes."""
    child = subprocess.run(
        [sys.executable, "-m", "tests.services.saga_child", str(tmp_path), "never"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["o-0", "completed", "o-1", "compensated", "o-2", "compensated"]
    _, log = open_all(tmp_path)
    with log.db.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM saga_steps") == CALLS
