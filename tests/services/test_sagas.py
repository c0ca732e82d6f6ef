"""The saga engine over real services in stores of their own: outcomes, timeouts, retries, duplicates, leases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ConcurrencyConflict, NotFound, RuleViolation, ValidationError
from datastrata.core.tenancy import current_tenant, tenant
from datastrata.runtime.health import report as health
from datastrata.runtime.location import Location
from datastrata.runtime.runtime import Runtime
from datastrata.services.sagas import (
    COMPENSATED,
    COMPLETED,
    JOB,
    Orchestrator,
    RetryPolicy,
    SagaDefinition,
    Step,
    StepCall,
    render,
    show,
    step_key,
    timeline,
)
from datastrata.testing.sagashop import Shop
from tests.services.conftest import BOTH

ORDER = {"sku": "sku-1", "qty": 3, "account": "alice", "amount": 30}


@pytest.fixture
def orchestrator(saga_log: Location, shop: Shop) -> Iterator[Orchestrator]:
    """An orchestrator of the order saga over the saga log."""
    made = Orchestrator(saga_log, [shop.definition()])
    yield made
    made.close()


def calls(saga_log: Location, saga_id: str) -> list[tuple[str, str, str]]:
    """The saga's recorded calls as (step, phase, outcome)."""
    return [(c["step"], c["phase"], c["outcome"]) for c in timeline(saga_log, saga_id)["timeline"]]


def settled(shop: Shop) -> None:
    """Wait for calls left running past their timeout (slow or lost answers) to finish."""
    time.sleep(shop.faults.delay + 0.1)


@BOTH
def test_a_saga_that_succeeds_reserves_charges_and_confirms_once(
    orchestrator: Orchestrator, shop: Shop, saga_log: Location
) -> None:
    run = orchestrator.execute("order", "o-1", ORDER)
    assert run.state == COMPLETED
    assert shop.inventory.available("sku-1") == 7
    assert shop.payment.charges() == {step_key("order", "o-1", "charge"): 30}
    assert shop.orders.confirmed() == {"o-1": 1}
    assert calls(saga_log, "o-1") == [
        ("reserve", "action", "succeeded"),
        ("charge", "action", "succeeded"),
        ("confirm", "action", "succeeded"),
    ]
    assert run.results["reserve"]["reservation"] == step_key("order", "o-1", "reserve")


def test_an_inventory_failure_compensates_nothing_and_charges_nothing(
    orchestrator: Orchestrator, shop: Shop, saga_log: Location
) -> None:
    run = orchestrator.execute("order", "o-2", {**ORDER, "qty": 11})
    assert run.state == COMPENSATED
    assert "declined: only 10 of sku-1 left" in (run.reason or "")
    assert calls(saga_log, "o-2") == [("reserve", "action", "declined")]
    assert shop.inventory.available("sku-1") == 10
    assert shop.payment.charges() == {}


@BOTH
def test_a_payment_failure_releases_the_stock(orchestrator: Orchestrator, shop: Shop, saga_log: Location) -> None:
    run = orchestrator.execute("order", "o-3", {**ORDER, "account": "bob"})
    assert run.state == COMPENSATED
    assert calls(saga_log, "o-3") == [
        ("reserve", "action", "succeeded"),
        ("charge", "action", "declined"),
        ("reserve", "compensation", "succeeded"),
    ]
    assert shop.inventory.available("sku-1") == 10
    assert shop.inventory.held() == 0
    assert shop.payment.charges() == {}
    assert shop.orders.confirmed() == {}


@BOTH
@pytest.mark.parametrize("fault", ["slow", "lost"])
def test_a_compensatable_step_that_times_out_is_compensated(
    orchestrator: Orchestrator, shop: Shop, saga_log: Location, fault: str
) -> None:
    """`slow`: the reserve arrives after its release (reordered); `lost`: it was applied, its answer lost."""
    shop.faults.plan["reserve"] = [fault]
    run = orchestrator.execute("order", "o-4", ORDER)
    settled(shop)
    assert run.state == COMPENSATED
    assert calls(saga_log, "o-4") == [("reserve", "action", "timed_out"), ("reserve", "compensation", "succeeded")]
    assert shop.inventory.available("sku-1") == 10  # released, or refused when it came after its release
    assert shop.inventory.held() == 0
    assert shop.payment.charges() == {}


@BOTH
def test_a_pivot_that_times_out_is_asked_again_with_its_key_until_known(
    orchestrator: Orchestrator, shop: Shop, saga_log: Location
) -> None:
    shop.faults.plan["charge"] = ["lost", "down", "crash"]  # applied, refused, applied again (deduplicated)
    run = orchestrator.execute("order", "o-5", ORDER)
    assert run.state == COMPLETED
    assert calls(saga_log, "o-5") == [
        ("reserve", "action", "succeeded"),
        ("charge", "action", "timed_out"),
        ("charge", "action", "failed"),
        ("charge", "action", "failed"),
        ("charge", "action", "succeeded"),
        ("confirm", "action", "succeeded"),
    ]
    keys = {c["idempotency_key"] for c in timeline(saga_log, "o-5")["timeline"] if c["step"] == "charge"}
    assert keys == {step_key("order", "o-5", "charge")}
    assert shop.payment.charges() == {step_key("order", "o-5", "charge"): 30}  # exactly one charge
    assert shop.orders.confirmed() == {"o-5": 1}


def test_a_pivot_whose_outcome_becomes_a_decline_compensates(
    orchestrator: Orchestrator, shop: Shop, saga_log: Location
) -> None:
    shop.faults.plan["charge"] = ["down", "down", "down", "down"]  # more than retry.attempts: a pivot is not given up
    run = orchestrator.execute("order", "o-6", {**ORDER, "account": "bob"})
    assert run.state == COMPENSATED
    assert [o for s, _, o in calls(saga_log, "o-6") if s == "charge"] == ["failed"] * 4 + ["declined"]
    assert shop.inventory.available("sku-1") == 10
    assert shop.payment.charges() == {}


def test_retriable_steps_and_compensations_are_retried_until_they_succeed(
    orchestrator: Orchestrator, shop: Shop, saga_log: Location
) -> None:
    shop.faults.plan["confirm"] = ["down", "crash", "lost", "down"]
    assert orchestrator.execute("order", "o-7", ORDER).state == COMPLETED
    assert shop.orders.confirmed() == {"o-7": 1}  # the crashed and lost calls applied it; their retries did not
    shop.faults.plan["reserve.undo"] = ["down", "crash", "down", "down", "down"]
    assert orchestrator.execute("order", "o-8", {**ORDER, "account": "bob"}).state == COMPENSATED
    assert [o for s, p, o in calls(saga_log, "o-8") if p == "compensation"] == ["failed"] * 5 + ["succeeded"]
    settled(shop)
    assert shop.inventory.available("sku-1") == 7  # o-7's three; o-8's released exactly once


def test_a_compensatable_step_failing_past_its_attempts_is_compensated(
    orchestrator: Orchestrator, shop: Shop, saga_log: Location
) -> None:
    shop.faults.plan["reserve"] = ["crash", "crash", "crash"]  # applied each time (once, by its key), answers lost
    run = orchestrator.execute("order", "o-9", ORDER)
    assert run.state == COMPENSATED
    assert "failed 3 times" in (run.reason or "")
    assert shop.inventory.available("sku-1") == 10


def test_duplicated_deliveries_apply_once(orchestrator: Orchestrator, shop: Shop) -> None:
    first = orchestrator.execute("order", "o-10", ORDER)
    again = orchestrator.execute("order", "o-10", ORDER)  # the same saga started twice
    assert again.duplicate and again.state == COMPLETED and again.results == first.results
    key = step_key("order", "o-10", "reserve")
    assert shop.inventory.reserve(key, "sku-1", 3) == first.results["reserve"]  # a late duplicate of a step
    assert shop.inventory.available("sku-1") == 7
    assert len(shop.payment.charges()) == 1


def test_a_release_delivered_before_its_reserve_wins(shop: Shop) -> None:
    """Reordered delivery: the compensation arrives first; the reserve, arriving late, holds nothing."""
    key = step_key("order", "o-11", "reserve")
    assert shop.inventory.release(key + ":undo", key) == {"released": 0}
    assert shop.inventory.reserve(key, "sku-1", 3)["ok"] is False
    assert shop.inventory.release(key + ":undo", key) == {"released": 0}
    assert shop.inventory.available("sku-1") == 10


def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    orchestrator: Orchestrator, saga_log: Location
) -> None:
    with pytest.raises(NotFound) as unknown:
        orchestrator.start("refund", "o-1", ORDER)
    assert unknown.value.field == "saga" and "known: ['order']" in unknown.value.message
    with pytest.raises(ValidationError) as bad_id:
        orchestrator.start("order", "o 1/../x", ORDER)
    assert bad_id.value.field == "saga_id"
    with pytest.raises(ValidationError) as bad_input:
        orchestrator.start("order", "o-1", {"when": object()})
    assert bad_input.value.field == "input"
    with pytest.raises(ValidationError, match="at most 65536") as too_big:
        orchestrator.start("order", "o-1", {"note": "x" * 70_000})
    assert too_big.value.field == "input"
    with saga_log.db.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM saga_runs") == 0
    orchestrator.start("order", "o-1", ORDER)
    with pytest.raises(RuleViolation) as reused:
        orchestrator.start("order", "o-1", {**ORDER, "qty": 4})
    assert reused.value.field == "saga_id"


def _noop(call: StepCall) -> dict[str, Any]:
    return {}


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([], "steps"),
        ([Step.pivot("pay", _noop), Step.compensatable("hold", _noop, _noop)], "steps[1].kind"),
        ([Step.retriable("mail", _noop), Step.pivot("pay", _noop)], "steps[1].kind"),
        ([Step.pivot("pay", _noop), Step.pivot("pay_again", _noop)], "steps"),
        ([Step("hold", _noop)], "steps[0].compensation"),
        ([Step("pay", _noop, _noop, kind=Step.pivot("x", _noop).kind)], "steps[0].compensation"),
        ([Step.pivot("pay", _noop), Step.retriable("pay", _noop)], "steps[1]"),
        ([Step.pivot("Pay!", _noop)], "steps[0].name"),
        ([Step.pivot("pay", _noop, timeout=0)], "steps[0].timeout"),
    ],
)
def test_a_definition_out_of_order_is_refused_when_built(steps: list[Step], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SagaDefinition("order", steps)
    assert refused.value.field == field


@BOTH
def test_two_orchestrators_never_drive_the_same_saga(saga_log: Location, shop: Shop) -> None:
    first = Orchestrator(saga_log, [shop.definition()])
    second = Orchestrator(saga_log, [shop.definition()])
    try:
        first.start("order", "o-12", ORDER)  # leased to the first, which lives
        with pytest.raises(ConcurrencyConflict):
            second.run("o-12")
        assert second.resume() == 0
        assert first.get("o-12").position == 0
        first.close()  # gives its leases up
        assert second.resume() == 3
        assert second.get("o-12").state == COMPLETED
    finally:
        second.close()


def test_resume_keeps_each_saga_in_its_own_room(saga_log: Location, shop: Shop) -> None:
    """A saga whose definition this orchestrator lacks is left alone; the others finish."""
    other = SagaDefinition("refund", [Step.pivot("pay", _noop)])
    starter = Orchestrator(saga_log, [shop.definition(), other])
    starter.start("refund", "r-1", {})
    starter.start("order", "o-13", ORDER)
    starter.close()
    worker = Orchestrator(saga_log, [shop.definition()])
    try:
        assert worker.resume() == 3
        assert worker.get("o-13").state == COMPLETED
        assert worker.get("r-1").state == "running"
    finally:
        worker.close()


def test_the_timeline_shows_every_call(orchestrator: Orchestrator, shop: Shop, saga_log: Location) -> None:
    shop.faults.plan["charge"] = ["down"]
    orchestrator.execute("order", "o-14", {**ORDER, "account": "bob"})
    text = show(saga_log, "o-14")
    assert text.splitlines()[0].startswith("saga o-14 (order): compensated, because step 'charge' declined")
    assert [line.split("ms", 1)[1].split()[:2] for line in text.splitlines()[1:]] == [
        ["reserve", "compensatable"],
        ["charge", "pivot"],
        ["charge", "pivot"],
        ["undo", "reserve"],
    ]
    shown = json.loads(show(saga_log, "o-14", as_json=True))
    assert [c["attempt"] for c in shown["timeline"]] == [1, 1, 2, 1]
    assert shown["timeline"][1]["error"] == "ConnectionError: charge is down"
    assert render(shown) == text
    with pytest.raises(NotFound):
        show(saga_log, "o-404")


def test_the_runtime_worker_resumes_sagas_in_its_job(shop: Shop, tmp_path: Path) -> None:
    """Over the runtime, the saga log lives in the ``sagas`` context's location; the worker round resumes sagas."""
    with Runtime.open(Settings(store=f"sqlite:///{tmp_path / 'home.db'}")) as runtime:
        starter = Orchestrator(runtime, [shop.definition()])
        starter.start("order", "o-15", ORDER)
        starter.close()  # a process that recorded the saga and went away
        other = SagaDefinition("refund", [Step.pivot("pay", _noop)])
        stray = Orchestrator(runtime, [other])
        stray.start("refund", "r-2", {})  # a saga whose definition the worker lacks
        stray.close()
        worker = Orchestrator(runtime, [shop.definition()])
        worker.attach(runtime)
        runtime.run_once()
        assert worker.get("o-15").state == COMPLETED
        assert [s.state for s in runtime.statuses() if s.name == JOB] == ["running"]
        assert timeline(runtime, "o-15")["state"] == COMPLETED
        report = health(runtime)
        assert report.status == "degraded"
        assert report.checks[JOB] == (
            "1 saga(s) cannot be resumed; saga r-2 (tenant default): no saga named 'refund'; known: ['order']"
        )
    assert shop.orders.confirmed() == {"o-15": 1}


@BOTH
def test_a_saga_started_twice_at_once_is_recorded_once(orchestrator: Orchestrator, saga_log: Location) -> None:
    barrier = threading.Barrier(4)
    started: list[bool] = []

    def start() -> None:
        barrier.wait()
        started.append(orchestrator.start("order", "o-16", ORDER).duplicate)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(started) == [False, True, True, True]
    with saga_log.db.read() as tx:
        assert tx.scalar("SELECT COUNT(*) FROM saga_runs") == 1


def test_a_step_slower_than_the_lease_allows_is_refused(saga_log: Location) -> None:
    slow = SagaDefinition("slow", [Step.pivot("pay", _noop, timeout=20.0, retry=RetryPolicy(maximum=5.0))])
    with pytest.raises(ValidationError) as refused:
        Orchestrator(saga_log, [slow], lease=40.0)
    assert refused.value.field == "steps[0].timeout" and "half the lease (20s)" in refused.value.message
    Orchestrator(saga_log, [slow], lease=60.0).close()


def test_each_tenant_has_its_own_sagas_and_steps_act_for_it(saga_log: Location) -> None:
    seen: list[tuple[str, str]] = []

    def note(call: StepCall) -> dict[str, Any]:
        seen.append((call.saga_id, current_tenant()))
        return {"tenant": current_tenant()}

    noting = SagaDefinition("note", [Step.pivot("note", note)])
    first = Orchestrator(saga_log, [noting])
    with tenant("acme"):
        first.start("note", "n-1", {"n": 1})
    with tenant("globex"):
        with pytest.raises(NotFound):
            first.get("n-1")  # another tenant's saga is not there
        first.start("note", "n-1", {"n": 2})  # the same id, its own saga
    first.close()
    worker = Orchestrator(saga_log, [noting])
    try:
        assert worker.resume() == 2
        with tenant("acme"):
            assert timeline(saga_log, "n-1")["results"] == {"note": {"tenant": "acme"}}
        with tenant("globex"):
            assert worker.get("n-1").input == {"n": 2}
    finally:
        worker.close()
    assert sorted(seen) == [("n-1", "acme"), ("n-1", "globex")]
