"""Calling one step: the action runs in a worker thread with the step's timeout; its outcome, never an exception."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from datastrata.core.redact import describe_error
from datastrata.services.sagas.definition import Action, StepCall, StepDeclined
from datastrata.services.sagas.log import DECLINED, FAILED, SUCCEEDED, TIMED_OUT

#: Worker threads per orchestrator: a call that outlives its timeout keeps one busy until it returns.
WORKERS = 16


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call came to: ``succeeded`` (with the answer), ``declined``, ``timed_out`` or ``failed`` (unknown)."""

    outcome: str
    result: Mapping[str, Any] | None = None
    error: str | None = None


class Caller:
    """Makes step calls with a timeout each; a call past its timeout is left to finish (its key makes that safe)."""

    def __init__(self, *, workers: int = WORKERS) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="saga-call")

    def call(self, action: Action, call: StepCall, timeout: float) -> Outcome:
        """Call `action` with `call` in the caller's context (its tenant); wait at most `timeout` seconds."""
        context = contextvars.copy_context()
        future = self.pool.submit(context.run, action, call)
        try:
            answer = future.result(timeout=timeout)
        except FutureTimeout:
            return Outcome(TIMED_OUT, error=f"no answer within {timeout:g}s; the outcome is unknown")
        except StepDeclined as exc:
            return Outcome(DECLINED, error=exc.message)
        except Exception as exc:  # the step's failure boundary: an outage, a bug, a lost connection
            return Outcome(FAILED, error=describe_error(exc))
        return _answer(answer, call)

    def close(self) -> None:
        """Stop taking calls (running ones finish in the background)."""
        self.pool.shutdown(wait=False, cancel_futures=True)


def _answer(answer: object, call: StepCall) -> Outcome:
    """The outcome of a returned answer: a JSON-friendly mapping succeeds, anything else fails naming the step."""
    if not isinstance(answer, Mapping):
        return Outcome(FAILED, error=f"step {call.step!r} returned {type(answer).__name__}; return a mapping (JSON)")
    try:
        return Outcome(SUCCEEDED, json.loads(json.dumps(dict(answer), default=str)))
    except (TypeError, ValueError) as exc:
        return Outcome(FAILED, error=f"step {call.step!r} returned an answer that is not JSON: {exc}")
