"""Sagas across services: a definition of steps with their compensations, a durable log, and its orchestrator.

Build a :class:`SagaDefinition` from :class:`Step`\\ s (compensatable → pivot → retriable), give it to an
:class:`Orchestrator` over the runtime (the saga log lives in the ``sagas`` context's location), and ``execute``
sagas; :func:`timeline` shows one saga's calls. :mod:`datastrata.services.sagas.temporal` runs the same
definitions on Temporal.
"""

from datastrata.services.sagas.definition import (
    Action,
    RetryPolicy,
    SagaDefinition,
    Step,
    StepCall,
    StepDeclined,
    StepKind,
    step_key,
)
from datastrata.services.sagas.log import (
    COMPENSATED,
    COMPLETED,
    MIGRATIONS,
    SagaLog,
    SagaRun,
    StepRecord,
)
from datastrata.services.sagas.orchestrator import JOB, Orchestrator
from datastrata.services.sagas.timeline import present, render, show, timeline

__all__ = [
    "COMPENSATED",
    "COMPLETED",
    "JOB",
    "MIGRATIONS",
    "Action",
    "Orchestrator",
    "RetryPolicy",
    "SagaDefinition",
    "SagaLog",
    "SagaRun",
    "Step",
    "StepCall",
    "StepDeclined",
    "StepKind",
    "StepRecord",
    "present",
    "render",
    "show",
    "step_key",
    "timeline",
]
