"""A saga definition: steps in order compensatable → pivot → retriable, each action beside its compensation.

The shape is Temporal's saga style: a step names what it calls and what undoes it, side by side. A step's action
and compensation are plain callables taking a :class:`StepCall` (the saga id, the step's idempotency key, the
saga's input and the results of the steps before it) and returning a JSON-friendly mapping. Raising
:class:`StepDeclined` says the receiving service refused for good (no stock, card declined); any other exception,
or a call that outlasts the step's timeout, leaves the outcome unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from datastrata.core.errors import DatastrataError, ValidationError

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SAGA_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class StepKind(StrEnum):
    """Where a step stands in a saga: undoable before the pivot, the point of no return, or sure to succeed after."""

    COMPENSATABLE = "compensatable"
    PIVOT = "pivot"
    RETRIABLE = "retriable"


_RANK = {StepKind.COMPENSATABLE: 0, StepKind.PIVOT: 1, StepKind.RETRIABLE: 2}


class StepDeclined(DatastrataError):
    """The receiving service refused the step for good (a business answer, not an outage): the saga compensates."""


@dataclass(frozen=True, slots=True)
class StepCall:
    """What one call of a step's action or compensation receives."""

    saga_id: str
    step: str
    #: The idempotency key the receiving service dedups the call by (the same on every retry and after a restart).
    key: str
    #: The attempt number of this call, from 1.
    attempt: int
    input: Mapping[str, Any]
    #: The results of the steps that succeeded before this one, by step name.
    results: Mapping[str, Mapping[str, Any]]
    #: In a compensation, the idempotency key of the action it undoes (which may not have arrived yet, or ever).
    undoes: str | None = None
    #: In a compensation, why the saga compensates (the step that declined or timed out, and its answer).
    reason: str | None = None


#: A step's action or compensation: calls the service that owns the data and returns its answer (JSON-friendly).
Action = Callable[[StepCall], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a step's calls are retried: full-jitter exponential backoff from `initial` doubling up to `maximum`.

    `attempts` bounds a compensatable step's calls that fail without an answer before the step is compensated;
    a pivot is asked again until its outcome is known, and retriable steps and compensations until they succeed.
    """

    initial: float = 0.05
    maximum: float = 5.0
    attempts: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValidationError(
                f"retry.initial must be > 0 and <= retry.maximum ({self.maximum}); got {self.initial}",
                field="retry.initial",
            )
        if self.attempts < 1:
            raise ValidationError(f"retry.attempts must be at least 1; got {self.attempts}", field="retry.attempts")


@dataclass(frozen=True, slots=True)
class Step:
    """One step: its action and, for a compensatable step, the compensation that undoes it."""

    name: str
    action: Action
    compensation: Action | None = None
    kind: StepKind = StepKind.COMPENSATABLE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Seconds one call may take before its outcome counts as unknown.
    timeout: float = 10.0

    @classmethod
    def compensatable(cls, name: str, action: Action, compensation: Action, **options: Any) -> Step:
        """A step that can be undone by `compensation`."""
        return cls(name, action, compensation, StepKind.COMPENSATABLE, **options)

    @classmethod
    def pivot(cls, name: str, action: Action, **options: Any) -> Step:
        """The go/no-go step: once it succeeds the saga only goes forward."""
        return cls(name, action, None, StepKind.PIVOT, **options)

    @classmethod
    def retriable(cls, name: str, action: Action, **options: Any) -> Step:
        """A step after the pivot, retried until it succeeds."""
        return cls(name, action, None, StepKind.RETRIABLE, **options)


@dataclass(frozen=True, slots=True)
class SagaDefinition:
    """A named saga: its steps, validated when built (order compensatable → pivot → retriable, names unique)."""

    name: str
    steps: tuple[Step, ...]

    def __init__(self, name: str, steps: Sequence[Step]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "steps", tuple(steps))
        self._validate()

    def _validate(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValidationError(
                f"saga name must be 1-40 of a-z, 0-9 or '_', starting with a letter; got {self.name!r}", field="name"
            )
        if not self.steps:
            raise ValidationError(f"saga {self.name!r} has no steps; give it at least one", field="steps")
        seen: set[str] = set()
        for i, step in enumerate(self.steps):
            where = f"steps[{i}]"
            if not _NAME_RE.match(step.name):
                raise ValidationError(
                    f"{where}.name must be 1-40 of a-z, 0-9 or '_', starting with a letter; got {step.name!r}",
                    field=f"{where}.name",
                )
            if step.name in seen:
                raise ValidationError(
                    f"{where}: step name {step.name!r} is used twice; name each step once", field=where
                )
            seen.add(step.name)
            if not step.timeout > 0:
                raise ValidationError(
                    f"{where}.timeout must be > 0 seconds; got {step.timeout}", field=f"{where}.timeout"
                )
            if (step.kind is StepKind.COMPENSATABLE) != (step.compensation is not None):
                need = "needs a compensation" if step.kind is StepKind.COMPENSATABLE else "takes no compensation"
                raise ValidationError(
                    f"{where} ({step.name!r}) is {step.kind.value} and {need}; "
                    "give compensatable steps their compensation and the pivot and retriable steps none",
                    field=f"{where}.compensation",
                )
        kinds = [s.kind for s in self.steps]
        if kinds.count(StepKind.PIVOT) > 1:
            raise ValidationError(
                f"saga {self.name!r} has {kinds.count(StepKind.PIVOT)} pivots; a saga has at most one", field="steps"
            )
        for i in range(1, len(kinds)):
            if _RANK[kinds[i]] < _RANK[kinds[i - 1]]:
                raise ValidationError(
                    f"steps[{i}] ({self.steps[i].name!r}, {kinds[i].value}) comes after a {kinds[i - 1].value} step; "
                    "order the steps compensatable → pivot → retriable",
                    field=f"steps[{i}].kind",
                )

    def index(self, name: str) -> int:
        """Return the position of step `name`."""
        for i, step in enumerate(self.steps):
            if step.name == name:
                return i
        raise ValidationError(f"saga {self.name!r} has no step {name!r}", field="step")


def check_saga_id(saga_id: object) -> str:
    """Return `saga_id` if usable: 1-100 of letters, digits, '_', '.', ':' or '-', starting with a letter or digit."""
    if not isinstance(saga_id, str) or not _SAGA_ID_RE.match(saga_id):
        raise ValidationError(
            "saga_id must be 1-100 of letters, digits, '_', '.', ':' or '-', starting with a letter or digit; "
            f"got {saga_id!r}",
            field="saga_id",
        )
    return saga_id


def step_key(saga: str, saga_id: str, step: str, *, compensation: bool = False) -> str:
    """Return the idempotency key of a step's action (or compensation) in one saga: the same on every retry."""
    return f"saga:{saga}:{saga_id}:{step}" + (":undo" if compensation else "")  # at most 192 characters
