"""`design()`: requirements → analysis → strategies and technologies → schema → monthly cost."""

from __future__ import annotations

from decimal import Decimal

from datastrata.design import rules
from datastrata.design.analysis import analyse
from datastrata.design.cost import budget_tier, estimate
from datastrata.design.prices import PriceTable, default_prices
from datastrata.design.profile import evidence, profile_contexts
from datastrata.design.report import ContextReport, DesignReport, TechnologyReport
from datastrata.design.schemas import context_schema
from datastrata.design.selection import select
from datastrata.design.spec import Spec


def design(spec: Spec, prices: PriceTable | None = None) -> DesignReport:
    """Design a system from its requirements spec; the same inputs always give the same report."""
    table = prices if prices is not None else default_prices()
    tier = budget_tier(spec.budget_usd_per_month)
    availability = spec.availability or "single"
    profiles = profile_contexts(spec)
    selections = select(spec, profiles)
    owners: dict[str, str] = {}
    for context in spec.contexts:
        for entity in context.entities:
            if entity.kind in ("master", "transaction", "event", "measurement", "artifact"):
                owners.setdefault(entity.name, context.name)
    warnings: list[str] = []
    contexts: list[ContextReport] = []
    for selection in selections:
        analysis = analyse(spec, selection)
        warnings.extend(analysis.warnings)
        warnings.extend(selection.warnings)
        technologies = tuple(
            TechnologyReport(tech, estimate(tech, table, tier, availability)) for tech in selection.technologies
        )
        contexts.append(
            ContextReport(
                selection=selection,
                analysis=analysis,
                technologies=technologies,
                schema=context_schema(selection, owners),
                aws_usd_per_month=sum((t.cost.aws.usd_per_month for t in technologies), Decimal(0)),
                self_hosted_usd_per_month=sum((t.cost.self_hosted.usd_per_month for t in technologies), Decimal(0)),
            )
        )
    aws_total = sum((c.aws_usd_per_month for c in contexts), Decimal(0))
    self_total = sum((c.self_hosted_usd_per_month for c in contexts), Decimal(0))
    budget = spec.budget_usd_per_month
    if budget is None:
        warnings.append("no budget_usd_per_month given; configured at the standard tier ($1000-5000/month)")
        budget_reason = rules.BUDGET.because("no budget given → standard configuration")
    else:
        budget_reason = rules.BUDGET.because(
            f"${budget}/month → {tier} configuration",
            [evidence(spec, "budget_usd_per_month", f"${budget}/month")],
        )
        if aws_total > budget:
            warnings.append(
                f"estimated ${aws_total:,}/month on AWS exceeds the budget of ${budget:,}/month; "
                "see the per-context costs for where it goes"
            )
    return DesignReport(
        system=spec.system,
        description=spec.description,
        budget_usd_per_month=budget,
        budget_tier=tier,
        budget_reason=budget_reason,
        availability=availability,
        contexts=tuple(contexts),
        aws_usd_per_month=aws_total,
        self_hosted_usd_per_month=self_total,
        prices_source=table.source,
        prices_date=table.date,
        prices_region=table.region,
        warnings=tuple(warnings),
    )
