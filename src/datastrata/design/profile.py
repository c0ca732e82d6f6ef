"""Facts derived from one context's requirements, each traceable to the spec fields it came from."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from datastrata.design.naming import singular, snake
from datastrata.design.reasons import Evidence
from datastrata.design.spec import Constraint, Context, Entity, Operation, Spec
from datastrata.design.spec_types import ConsistencyLevel, ConstraintType, Frequency, Pattern, Structure
from datastrata.design.units import (
    FREQUENCY_RANK,
    NOMINAL_RATE_PER_S,
    format_percent,
    format_volume,
    frequency_of_rate,
)

#: Years ahead the system-scale facet looks when it projects volume.
HORIZON_YEARS = 3
#: Projected volume (GB) from which one node no longer suffices: "TB level" ends at 10 TB.
HORIZONTAL_FROM_GB = Decimal(10_000)
#: Volume (GB) from which the article's "beyond PB" row applies.
DISTRIBUTED_FROM_GB = Decimal(1_000_000)

#: Frequency bands that count as heavy load.
HEAVY: tuple[Frequency, ...] = ("very-high", "high")
#: Read patterns served by a technology beside the primary store; they never decide the primary.
SERVED_BESIDE_PRIMARY: tuple[Pattern, ...] = ("stream", "full-text")

_ENTITY_DEFAULT_KINDS = ("transaction", "event", "measurement")


@dataclass(frozen=True, slots=True)
class OperationFacts:
    """An operation with its resolved entity, rate and frequency band."""

    path: str
    operation: Operation
    entity: Entity
    rate_per_s: Decimal
    frequency: Frequency
    evidence: Evidence

    @property
    def is_read(self) -> bool:
        """True for reads, False for writes and updates."""
        return self.operation.type == "read"


@dataclass(frozen=True, slots=True)
class ConstraintFacts:
    """A constraint with its path and evidence."""

    path: str
    constraint: Constraint
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class ContextProfile:
    """Everything the rules need to know about one bounded context."""

    index: int
    path: str
    context: Context
    operations: tuple[OperationFacts, ...]
    constraints: tuple[ConstraintFacts, ...]
    consistency: ConsistencyLevel
    consistency_evidence: Evidence | None
    structure: Structure
    structure_evidence: tuple[Evidence, ...]
    volume_gb: Decimal
    projected_gb: Decimal
    volume_evidence: Evidence
    entity_evidence: tuple[Evidence, ...]

    @property
    def name(self) -> str:
        """The context's name."""
        return self.context.name

    @property
    def reads(self) -> tuple[OperationFacts, ...]:
        """Read operations, in spec order."""
        return tuple(op for op in self.operations if op.is_read)

    @property
    def writes(self) -> tuple[OperationFacts, ...]:
        """Write and update operations, in spec order."""
        return tuple(op for op in self.operations if not op.is_read)

    @property
    def heavy_reads(self) -> tuple[OperationFacts, ...]:
        """Reads at a high or very high frequency."""
        return tuple(op for op in self.reads if op.frequency in HEAVY)

    @property
    def heavy_writes(self) -> tuple[OperationFacts, ...]:
        """Writes and updates at a high or very high frequency."""
        return tuple(op for op in self.writes if op.frequency in HEAVY)

    @property
    def read_rate(self) -> Decimal:
        """Reads per second, summed over read operations."""
        return sum((op.rate_per_s for op in self.reads), Decimal(0))

    @property
    def write_rate(self) -> Decimal:
        """Writes and updates per second, summed."""
        return sum((op.rate_per_s for op in self.writes), Decimal(0))

    @property
    def write_frequency(self) -> Frequency | None:
        """The highest frequency band among writes and updates."""
        return _highest(self.writes)

    @property
    def read_frequency(self) -> Frequency | None:
        """The highest frequency band among reads."""
        return _highest(self.reads)

    @property
    def dominant(self) -> OperationFacts | None:
        """The operation with the highest rate (first declared on ties): the context's main load."""
        best: OperationFacts | None = None
        for op in self.operations:
            if best is None or op.rate_per_s > best.rate_per_s:
                best = op
        return best

    @property
    def dominant_query(self) -> Pattern | None:
        """The read pattern with the most reads per second (first declared on ties), among those a primary serves.

        Streams and full-text search are served beside the primary (a stream, a search index), so they do not
        decide it.
        """
        totals: dict[Pattern, Decimal] = {}
        for op in self.reads:
            if op.operation.pattern not in SERVED_BESIDE_PRIMARY:
                totals[op.operation.pattern] = totals.get(op.operation.pattern, Decimal(0)) + op.rate_per_s
        best: Pattern | None = None
        for pattern, total in totals.items():
            if best is None or total > totals[best]:
                best = pattern
        return best

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        """Access patterns in first-declared order, without repeats."""
        return tuple(dict.fromkeys(op.operation.pattern for op in self.operations))

    def with_pattern(self, *patterns: Pattern) -> tuple[OperationFacts, ...]:
        """Operations using any of the given patterns."""
        return tuple(op for op in self.operations if op.operation.pattern in patterns)

    def of_type(self, *types: ConstraintType) -> tuple[ConstraintFacts, ...]:
        """Constraints of the given types, in spec order."""
        return tuple(item for item in self.constraints if item.constraint.type in types)

    @property
    def cross_context_atomicity(self) -> tuple[ConstraintFacts, ...]:
        """Atomicity constraints that name other contexts."""
        return tuple(item for item in self.of_type("atomicity") if item.constraint.contexts)

    @property
    def local_atomicity(self) -> tuple[ConstraintFacts, ...]:
        """Atomicity constraints inside this context."""
        return tuple(item for item in self.of_type("atomicity") if not item.constraint.contexts)

    @property
    def retention_years(self) -> Decimal | None:
        """The longest retention asked for, if any."""
        years = [item.constraint.years for item in self.of_type("retention") if item.constraint.years is not None]
        return max(years) if years else None

    @property
    def tightest_latency_ms(self) -> int | None:
        """The smallest latency budget in operations or latency constraints."""
        budgets = [op.operation.latency_ms for op in self.operations if op.operation.latency_ms is not None]
        budgets += [item.constraint.ms for item in self.of_type("latency") if item.constraint.ms is not None]
        return min(budgets) if budgets else None

    @property
    def horizontal(self) -> bool:
        """True when one node will not do: projected volume past the TB level or very high writes."""
        return self.projected_gb >= HORIZONTAL_FROM_GB or self.write_frequency == "very-high"

    def scale_evidence(self) -> tuple[Evidence, ...]:
        """The spec fields behind the vertical/horizontal decision."""
        found = [self.volume_evidence]
        found += [op.evidence for op in self.writes if op.frequency == "very-high"]
        return tuple(found)

    @property
    def has_artifacts(self) -> bool:
        """True when an entity is an artifact or unstructured: files kept in object storage."""
        return any(e.kind == "artifact" or e.structure == "unstructured" for e in self.context.entities)

    def kinds(self) -> tuple[str, ...]:
        """Entity kinds present, in declaration order."""
        return tuple(dict.fromkeys(entity.kind for entity in self.context.entities))


def profile_contexts(spec: Spec) -> tuple[ContextProfile, ...]:
    """Derive the profile of every context of a spec."""
    return tuple(_profile(spec, index, context) for index, context in enumerate(spec.contexts))


def evidence(spec: Spec, path: str, text: str) -> Evidence:
    """Evidence for one spec path, with its source line when known."""
    return Evidence(path, text, spec.line_of(path))


def _profile(spec: Spec, index: int, context: Context) -> ContextProfile:
    path = f"contexts[{index}]"
    operations = tuple(
        _operation(spec, f"{path}.operations[{i}]", op, context) for i, op in enumerate(context.operations)
    )
    constraints = tuple(
        ConstraintFacts(
            f"{path}.constraints[{i}]", c, evidence(spec, f"{path}.constraints[{i}]", _describe_constraint(c))
        )
        for i, c in enumerate(context.constraints)
    )
    consistency: ConsistencyLevel = "strong"
    consistency_evidence: Evidence | None = None
    for item in constraints:
        if item.constraint.type == "consistency" and item.constraint.level is not None:
            consistency = item.constraint.level
            consistency_evidence = item.evidence
    structure, structure_evidence = _structure(spec, path, context)
    data = context.data
    projected = data.volume * (1 + data.growth_per_year) ** HORIZON_YEARS
    volume_text = f"volume {format_volume(data.volume)}, growth {format_percent(data.growth_per_year)} a year"
    if data.value_decays_with_age:
        volume_text += ", value decays with age"
    return ContextProfile(
        index=index,
        path=path,
        context=context,
        operations=operations,
        constraints=constraints,
        consistency=consistency,
        consistency_evidence=consistency_evidence,
        structure=structure,
        structure_evidence=structure_evidence,
        volume_gb=data.volume,
        projected_gb=projected.quantize(Decimal("0.001")),
        volume_evidence=evidence(spec, f"{path}.data", volume_text),
        entity_evidence=tuple(
            evidence(spec, f"{path}.entities[{i}]", f"{e.name} — {e.kind}, {e.structure}")
            for i, e in enumerate(context.entities)
        ),
    )


def _operation(spec: Spec, path: str, op: Operation, context: Context) -> OperationFacts:
    entity = resolve_entity(op, context)
    if op.rate_per_s is not None:
        rate = op.rate_per_s
        frequency = op.frequency or frequency_of_rate(rate)
    else:
        frequency = op.frequency or "low"
        rate = NOMINAL_RATE_PER_S[frequency]
    how_often = f"{op.rate_per_s}/s" if op.rate_per_s is not None else frequency
    text = f"{op.name} — {op.type}, {how_often}, {op.pattern} on {entity.name}"
    if op.latency_ms is not None:
        text += f", ≤ {op.latency_ms} ms"
    return OperationFacts(path, op, entity, rate, frequency, evidence(spec, path, text))


def resolve_entity(op: Operation, context: Context) -> Entity:
    """The entity an operation touches: declared, named in the operation, or the context's main entity."""
    by_name = {entity.name: entity for entity in context.entities}
    if op.entity is not None and op.entity in by_name:
        return by_name[op.entity]
    if len(context.entities) == 1:
        return context.entities[0]
    words = {singular(word) for word in snake(op.name).split("_")}
    best: Entity | None = None
    best_score = 0
    for entity in context.entities:
        score = sum(1 for word in snake(entity.name).split("_") if singular(word) in words)
        if score > best_score:
            best, best_score = entity, score
    if best is not None:
        return best
    for entity in context.entities:
        if entity.kind in _ENTITY_DEFAULT_KINDS:
            return entity
    return context.entities[0]


def _structure(spec: Spec, path: str, context: Context) -> tuple[Structure, tuple[Evidence, ...]]:
    """Semi-structured if any non-artifact entity is; otherwise structured (artifacts go to object storage)."""
    found: list[Evidence] = []
    structure: Structure = "structured"
    for i, entity in enumerate(context.entities):
        if entity.kind == "artifact" or entity.structure == "unstructured":
            continue
        if entity.structure == "semi-structured":
            structure = "semi-structured"
            found.append(evidence(spec, f"{path}.entities[{i}]", f"{entity.name} is semi-structured"))
    if not found:
        first = context.entities[0]
        found.append(evidence(spec, f"{path}.entities[0]", f"{first.name} is {first.structure}"))
    return structure, tuple(found)


def _highest(ops: tuple[OperationFacts, ...]) -> Frequency | None:
    best: Frequency | None = None
    for op in ops:
        if best is None or FREQUENCY_RANK[op.frequency] > FREQUENCY_RANK[best]:
            best = op.frequency
    return best


def _describe_constraint(constraint: Constraint) -> str:
    parts: list[str] = [constraint.type]
    if constraint.level:
        parts.append(constraint.level)
    if constraint.years is not None:
        parts.append(f"{constraint.years} years")
    if constraint.ms is not None:
        parts.append(f"{constraint.ms} ms")
    if constraint.contexts:
        parts.append("with " + ", ".join(constraint.contexts))
    text = " ".join(parts)
    return f"{text} — {constraint.detail}" if constraint.detail else text
