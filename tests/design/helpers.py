"""Small lookups over a design report."""

from __future__ import annotations

from datastrata.design.report import ContextReport, DesignReport


def context(report: DesignReport, name: str) -> ContextReport:
    """The named context's report."""
    return next(c for c in report.contexts if c.name == name)


def families(report: DesignReport, name: str) -> list[str]:
    """Technology families chosen for a context, primary first."""
    return [t.choice.offering.family for t in context(report, name).technologies]


def roles(report: DesignReport, name: str) -> dict[str, str]:
    """Role → family for a context."""
    return {t.choice.role: t.choice.offering.family for t in context(report, name).technologies}


def strategies(report: DesignReport, name: str) -> list[str]:
    """Strategy ids chosen for a context."""
    return [s.id for s in context(report, name).selection.strategies]
