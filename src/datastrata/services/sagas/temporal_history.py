"""A saga's timeline read from its Temporal workflow's history, in the shape of the built-in log's timeline.

Each activity of the workflow is one call: its schedule names the step and phase (``<saga>.<step>[.undo]``) and
carries the idempotency key; its start gives the attempt Temporal reached (retries within an attempt policy are
not separate events); its completion, failure or timeout gives the outcome. The workflow's own completion gives
the saga's end (state and reason); until then it reads ``running``, or ``compensating`` once a compensation ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent

from datastrata.services.sagas.definition import SagaDefinition
from datastrata.services.sagas.log import (
    ACTION,
    COMPENSATING,
    COMPENSATION,
    DECLINED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
)

#: The error type a declined step's activity raises (see :mod:`datastrata.services.sagas.temporal`).
DECLINED_TYPE = "StepDeclined"


def _when(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _json(payloads: Payloads) -> Any:
    """The first payload as JSON (the SDK's default converter writes ``json/plain``), or None."""
    for payload in payloads.payloads:
        try:
            return json.loads(payload.data)
        except ValueError:
            return None
    return None


def history_timeline(
    events: Iterable[HistoryEvent], definition: SagaDefinition, saga_id: str, *, tenant: str
) -> dict[str, Any]:
    """Return the timeline (``saga show``'s shape) of saga `saga_id` of `definition` from its workflow `events`."""
    kinds = {step.name: step.kind.value for step in definition.steps}
    calls: dict[int, dict[str, Any]] = {}
    shown: dict[str, Any] = {"saga_id": saga_id, "saga": definition.name, "tenant": tenant, "state": RUNNING,
                             "reason": None, "created_at": None, "finished_at": None, "runner": "temporal"}  # fmt: skip
    for event in events:
        kind = event.WhichOneof("attributes")
        if kind == "workflow_execution_started_event_attributes":
            shown["created_at"] = _when(event).isoformat()
        elif kind == "activity_task_scheduled_event_attributes":
            attrs = event.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name.removeprefix(f"{definition.name}.")
            step, undo = name.removesuffix(".undo"), name.endswith(".undo")
            payload = _json(attrs.input) or {}
            calls[event.event_id] = {
                "seq": len(calls) + 1, "step": step, "phase": COMPENSATION if undo else ACTION,
                "kind": kinds.get(step, "unknown"), "idempotency_key": str(payload.get("key", "")), "attempt": 1,
                "outcome": RUNNING, "result": None, "error": None, "started_at": _when(event).isoformat(),
                "finished_at": None, "ms": None,
            }  # fmt: skip
            if undo and shown["state"] == RUNNING:
                shown["state"] = COMPENSATING
        elif kind == "activity_task_started_event_attributes":
            started = event.activity_task_started_event_attributes
            if started.scheduled_event_id in calls:
                calls[started.scheduled_event_id]["attempt"] = started.attempt
        elif kind in ("activity_task_completed_event_attributes", "activity_task_failed_event_attributes",
                      "activity_task_timed_out_event_attributes"):  # fmt: skip
            attrs = getattr(event, kind)
            call = calls.get(attrs.scheduled_event_id)
            if call is None:
                continue
            if kind == "activity_task_completed_event_attributes":
                call["outcome"], call["result"] = SUCCEEDED, _json(attrs.result)
            elif kind == "activity_task_timed_out_event_attributes":
                call["outcome"], call["error"] = TIMED_OUT, attrs.failure.message or "timed out"
            else:
                declined = attrs.failure.application_failure_info.type == DECLINED_TYPE
                call["outcome"], call["error"] = (DECLINED if declined else FAILED), attrs.failure.message
            finished = _when(event)
            call["finished_at"] = finished.isoformat()
            call["ms"] = round((finished - datetime.fromisoformat(call["started_at"])).total_seconds() * 1000, 3)
        elif kind == "workflow_execution_completed_event_attributes":
            end = _json(event.workflow_execution_completed_event_attributes.result) or {}
            shown["state"], shown["reason"] = end.get("state", shown["state"]), end.get("reason")
            shown["finished_at"] = _when(event).isoformat()
    unfinished = [c for c in calls.values() if c["finished_at"] is None]
    for call in unfinished:  # still running: shown with the time so far
        call["finished_at"], call["ms"] = call["started_at"], 0.0
    return {**shown, "timeline": list(calls.values())}
