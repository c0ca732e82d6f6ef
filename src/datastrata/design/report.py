"""The design report: what `design()` returns and the renderers read."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from datastrata.design.analysis import Analysis
from datastrata.design.choices import ContextSelection, TechnologyChoice
from datastrata.design.cost import TechnologyCost
from datastrata.design.reasons import Reason


@dataclass(frozen=True, slots=True)
class TechnologyReport:
    """A chosen technology with its estimated cost."""

    choice: TechnologyChoice
    cost: TechnologyCost


@dataclass(frozen=True, slots=True)
class ContextReport:
    """One bounded context's design: analysis, strategies, technologies, schema and cost."""

    selection: ContextSelection
    analysis: Analysis
    technologies: tuple[TechnologyReport, ...]
    schema: dict[str, object]
    aws_usd_per_month: Decimal
    self_hosted_usd_per_month: Decimal

    @property
    def name(self) -> str:
        """The context's name."""
        return self.selection.profile.name


@dataclass(frozen=True, slots=True)
class DesignReport:
    """A whole system's design, deterministic for a given spec and price table."""

    system: str
    description: str | None
    budget_usd_per_month: Decimal | None
    budget_tier: str
    budget_reason: Reason
    availability: str
    contexts: tuple[ContextReport, ...]
    aws_usd_per_month: Decimal
    self_hosted_usd_per_month: Decimal
    prices_source: str
    prices_date: str
    prices_region: str
    warnings: tuple[str, ...]
