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


def assert_reasons_traceable(report: DesignReport) -> None:
    """Every strategy and technology names its rule, its article section and the spec lines it used."""
    for ctx in report.contexts:
        reasons = [r for s in ctx.selection.strategies for r in s.because]
        reasons += [r for t in ctx.technologies for r in t.choice.because]
        assert all(t.choice.because for t in ctx.technologies), ctx.name
        for reason in reasons:
            assert reason.rule and reason.article and reason.says
            assert reason.evidence, (ctx.name, reason)
            assert all(item.path.startswith(("contexts[", "budget")) for item in reason.evidence)
            assert all(item.line is not None for item in reason.evidence), reason
