"""Where a saga goes after one call: the rules of compensatable, pivot and retriable steps (pure, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from datastrata.core.retry import backoff
from datastrata.services.sagas.calls import Outcome
from datastrata.services.sagas.definition import SagaDefinition, StepKind
from datastrata.services.sagas.log import (
    COMPENSATED,
    COMPENSATING,
    COMPLETED,
    DECLINED,
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    SagaRun,
)


def after(definition: SagaDefinition, run: SagaRun, got: Outcome, now: datetime) -> SagaRun:
    """Return `run` moved on by the outcome `got` of the call at its position (made as attempt ``run.attempt + 1``).

    Forward: a success goes to the next step; a declined compensatable step or pivot compensates the steps before
    it; a compensatable step that timed out, or failed `retry.attempts` times, is compensated itself too (it may
    have been applied); a pivot is asked again until its outcome is known; retriable steps are retried until they
    succeed. Backward: each compensation is retried until it succeeds (declined: nothing was left to undo).
    """
    step = definition.steps[run.position]
    attempt = run.attempt + 1
    if run.state == COMPENSATING:
        if got.outcome in (SUCCEEDED, DECLINED):
            return _next(run, COMPENSATING, run.position - 1, run.reason)
        return _retry(run, attempt, now, step.retry.initial, step.retry.maximum)
    if got.outcome == SUCCEEDED:
        results = {**run.results, step.name: got.result or {}}
        if run.position + 1 == len(definition.steps):
            return replace(
                run, state=COMPLETED, position=len(definition.steps), attempt=0, results=results, wake_at=None
            )
        return replace(run, position=run.position + 1, attempt=0, results=results, wake_at=None)
    if step.kind is StepKind.RETRIABLE or (step.kind is StepKind.PIVOT and got.outcome != DECLINED):
        return _retry(run, attempt, now, step.retry.initial, step.retry.maximum)
    if got.outcome == DECLINED:
        return _next(run, COMPENSATING, run.position - 1, f"step {step.name!r} declined: {got.error}")
    if got.outcome == FAILED and attempt < step.retry.attempts:
        return _retry(run, attempt, now, step.retry.initial, step.retry.maximum)
    why = "timed out" if got.outcome == TIMED_OUT else f"failed {attempt} times"
    return _next(run, COMPENSATING, run.position, f"step {step.name!r} {why}: {got.error}")


def _next(run: SagaRun, state: str, position: int, reason: str | None) -> SagaRun:
    if state == COMPENSATING and position < 0:
        return replace(run, state=COMPENSATED, position=-1, attempt=0, reason=reason, wake_at=None)
    return replace(run, state=state, position=position, attempt=0, reason=reason, wake_at=None)


def _retry(run: SagaRun, attempt: int, now: datetime, initial: float, maximum: float) -> SagaRun:
    wait = backoff(attempt - 1, base=initial, cap=maximum)
    return replace(run, attempt=attempt, wake_at=now + timedelta(seconds=wait))
