"""A saga's timeline (``saga show ID [--json]``): its state and every call it made, from the saga log."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from datastrata.runtime.scope import Scope
from datastrata.runtime.units import Units
from datastrata.services.sagas.definition import check_saga_id
from datastrata.services.sagas.log import CONTEXT, SagaLog


def timeline(units: Units, saga_id: str) -> dict[str, Any]:
    """Return saga `saga_id` of the current tenant with its calls in order (NotFound when it was never started)."""
    log = SagaLog(units)
    scope = Scope.of(CONTEXT, check_saga_id(saga_id))
    run = log.get(scope)
    return {**run.to_dict(), "timeline": [record.to_dict() for record in log.steps(scope)]}


def render(shown: Mapping[str, Any]) -> str:
    """Return a timeline as text: a heading, then one line per call (time since the start, step, outcome)."""
    heading = f"saga {shown['saga_id']} ({shown['saga']}): {shown['state']}"
    if shown.get("reason"):
        heading += f", because {shown['reason']}"
    lines = [heading]
    start = shown["created_at"]
    from datetime import datetime

    t0 = datetime.fromisoformat(start)
    for call in shown["timeline"]:
        at = (datetime.fromisoformat(call["started_at"]) - t0).total_seconds() * 1000
        what = "undo " + call["step"] if call["phase"] == "compensation" else call["step"]
        line = f"  +{at:9.1f} ms  {what:<24} {call['kind']:<13} #{call['attempt']:<3} {call['outcome']:<9}"
        line += f" {call['ms']:8.1f} ms"
        if call["error"]:
            line += f"  {call['error']}"
        lines.append(line)
    return "\n".join(lines)


def present(shown: Mapping[str, Any], *, as_json: bool = False) -> str:
    """Return a timeline as ``saga show`` prints it: text, or JSON with `as_json`."""
    return json.dumps(shown, indent=2, default=str) if as_json else render(shown)


def show(units: Units, saga_id: str, *, as_json: bool = False) -> str:
    """Return what ``saga show ID`` prints: the timeline as text, or as JSON with `as_json`."""
    return present(timeline(units, saga_id), as_json=as_json)
