"""kill -9 of the orchestrator at every step boundary, and two orchestrator processes on one saga log."""

from __future__ import annotations

import json
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


def child(urls: dict[str, str], folder: Path, mode: str, **options: object) -> subprocess.Popen[str]:
    """Start the saga child on `urls` in `mode`."""
    named = folder / "urls.json"
    named.write_text(json.dumps(urls))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.services.saga_child", str(named), mode],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,  # type: ignore[call-overload]
    )


def crash_and_recover(urls: dict[str, str], tmp_path: Path, at: str) -> None:
    """Kill the batch at `at`, restart, and check that every saga ended with each effect applied once."""
    killed = child(urls, tmp_path, at)
    _, err = killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL, err
    shop, log = open_all(urls)
    orchestrator = Orchestrator(log, [shop.definition(timeout=5.0)])
    try:
        orchestrator.resume()  # the restart: every unfinished saga of the dead orchestrator, from its log
        with log.db.read() as tx:
            assert tx.scalar("SELECT COUNT(*) FROM saga_runs WHERE state IN ('running', 'compensating')") == 0
        # the client retries its orders: sagas the child never started run now; finished ones are only read
        states = {saga_id: orchestrator.execute("order", saga_id, order).state for saga_id, order in ORDERS.items()}
    finally:
        orchestrator.close()
        log.db.close()
    assert states == {"o-0": COMPLETED, "o-1": COMPENSATED, "o-2": COMPENSATED}
    assert shop.inventory.available("sku-1") == 7 and shop.inventory.held() == 3  # o-0's held once, o-1's released
    assert shop.payment.charges() == {step_key("order", "o-0", "charge"): 30}  # one charge, for the confirmed order
    assert shop.orders.confirmed() == {"o-0": 1}


@pytest.mark.parametrize("at", MATRIX if FULL else SAMPLE)
def test_every_saga_finishes_after_a_kill_at_a_step_boundary(urls: dict[str, str], tmp_path: Path, at: str) -> None:
    crash_and_recover(urls, tmp_path, at)


@pytest.mark.parametrize("urls", ["postgresql"], indirect=True)
@pytest.mark.parametrize("at", MATRIX if FULL else ["2:after"])
def test_every_saga_finishes_after_a_kill_on_postgresql(urls: dict[str, str], tmp_path: Path, at: str) -> None:
    crash_and_recover(urls, tmp_path, at)


def test_the_child_runs_the_batch_when_nothing_kills_it(urls: dict[str, str], tmp_path: Path) -> None:
    """The matrix's baseline: the boundaries counted are the calls the batch makes."""
    done = child(urls, tmp_path, "never")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert out.split() == ["o-0", "completed", "o-1", "compensated", "o-2", "compensated"]
    _, log = open_all(urls)
    with log.db.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM saga_steps") == CALLS
    log.db.close()


@pytest.mark.parametrize("urls", ["sqlite", "postgresql"] if FULL else ["sqlite"], indirect=True)
def test_two_orchestrator_processes_never_drive_the_same_saga(urls: dict[str, str], tmp_path: Path) -> None:
    shop, log = open_all(urls)
    starter = Orchestrator(log, [shop.definition()])
    ids = [f"p-{n}" for n in range(30)]
    for saga_id in ids:
        starter.start("order", saga_id, {"sku": "sku-1", "qty": 0, "account": "alice", "amount": 1})
    starter.close()  # recorded, leased to nobody
    resumers = [child(urls, tmp_path, "resume") for _ in range(2)]
    for resumer in resumers:
        assert resumer.stdout is not None and resumer.stdout.readline().strip() == "ready"
    for resumer in resumers:
        assert resumer.stdin is not None
        resumer.stdin.write("go\n")
        resumer.stdin.flush()
    drove = []
    for resumer in resumers:
        out, err = resumer.communicate(timeout=120)
        assert resumer.returncode == 0, err
        drove.append(set(out.split()))
    assert drove[0].isdisjoint(drove[1])  # no saga had calls from both
    assert drove[0] | drove[1] == set(ids)
    assert drove[0] and drove[1]  # both took part
    with log.db.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM saga_runs WHERE state = 'completed'") == len(ids)
    log.db.close()
