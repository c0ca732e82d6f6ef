"""What a context's selection holds: strategies, technologies and their loads, and the draft rules fill."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from datastrata.design.catalog import Offering
from datastrata.design.lifecycle import TieringPolicy
from datastrata.design.profile import ContextProfile
from datastrata.design.reasons import Reason
from datastrata.design.tenancy_model import TenancyModel

#: Strategy ids in the order reports list them.
STRATEGY_ORDER = (
    "master-data",
    "event-sourcing",
    "cqrs",
    "multi-tenancy",
    "sharding",
    "tiering",
    "database-per-service",
    "graph",
    "crud-cache",
    "read-replicas",
)
#: Families that scale reads by adding replica instances.
INSTANCE_FAMILIES = ("relational", "document", "graph")


@dataclass(frozen=True, slots=True)
class Load:
    """What a technology must hold and serve, for the cost model."""

    storage_gb: Decimal = Decimal(0)
    reads_per_s: Decimal = Decimal(0)
    writes_per_s: Decimal = Decimal(0)
    queries_per_day: Decimal = Decimal(0)
    read_replicas: int = 0
    shards: bool = False
    shares_primary: bool = False
    strong_reads: bool = False


@dataclass(frozen=True, slots=True)
class TechnologyChoice:
    """A technology chosen for a role in a context."""

    role: str
    offering: Offering
    datastrata: str | None
    because: tuple[Reason, ...]
    load: Load


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    """A strategy chosen for a context, with every rule that asked for it."""

    id: str
    because: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class PrimaryChoice:
    """The system-of-record technology for a context, its role name and why."""

    offering: Offering
    role: str
    because: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class SagaLink:
    """A saga a context starts: the partner contexts, what must hold across them, and the rule's reason."""

    partners: tuple[str, ...]
    detail: str | None
    inferred: bool
    because: Reason


@dataclass(frozen=True, slots=True)
class ContextSelection:
    """Everything selected for one context."""

    profile: ContextProfile
    primary: Offering
    strategies: tuple[StrategyChoice, ...]
    technologies: tuple[TechnologyChoice, ...]
    tenancy: TenancyModel | None
    policy: TieringPolicy | None
    shard_key: str | None
    sagas: tuple[SagaLink, ...]
    warnings: tuple[str, ...]

    @property
    def saga_partners(self) -> tuple[str, ...]:
        """Every context this one's sagas reach, in first-named order."""
        found: list[str] = []
        for saga in self.sagas:
            found.extend(name for name in saga.partners if name not in found)
        return tuple(found)

    def has(self, strategy: str) -> bool:
        """True when the strategy was selected."""
        return any(choice.id == strategy for choice in self.strategies)


@dataclass
class Draft:
    """The strategies chosen so far for one context, each with its reasons, and the warnings raised."""

    strategies: dict[str, list[Reason]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, strategy: str, reason: Reason) -> None:
        """Record that a rule asks for a strategy."""
        self.strategies.setdefault(strategy, []).append(reason)

    def ordered(self) -> tuple[StrategyChoice, ...]:
        """The chosen strategies in report order."""
        return tuple(
            StrategyChoice(sid, tuple(self.strategies[sid])) for sid in STRATEGY_ORDER if sid in self.strategies
        )
