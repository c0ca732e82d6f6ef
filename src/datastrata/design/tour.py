"""The design advisor's step in `datastrata tour`: design the Uber Eats example and summarise it."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from datastrata.design.advisor import design
from datastrata.design.loading import load_spec

EXAMPLE = "uber-eats.yaml"


def tour_step(say: Callable[[str], None]) -> None:
    """Design the packaged Uber Eats spec and print one line per context plus the total."""
    text = resources.files("datastrata.design.examples").joinpath(EXAMPLE).read_text(encoding="utf-8")
    report = design(load_spec(text))
    say(f"Design advisor: {report.system} — {len(report.contexts)} bounded contexts, {report.budget_tier} tier")
    for context in report.contexts:
        primary = context.technologies[0].choice.offering
        strategies = ", ".join(s.id for s in context.selection.strategies) or "none"
        cost = f"~${context.aws_usd_per_month:,.0f}/month"
        say(f"  {context.name}: {primary.family} ({primary.aws}); strategies: {strategies}; {cost}")
    say(
        f"  total ≈ ${report.aws_usd_per_month:,.0f}/month on AWS, "
        f"${report.self_hosted_usd_per_month:,.0f} self-hosted; every choice names its rule and spec line "
        "(datastrata design uber-eats)"
    )
