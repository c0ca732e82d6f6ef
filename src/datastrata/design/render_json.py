"""The JSON form of a design report."""

from __future__ import annotations

from decimal import Decimal

from datastrata.design.modules import docs_for
from datastrata.design.report import ContextReport, DesignReport


def report_to_json(report: DesignReport) -> dict[str, object]:
    """A JSON-ready dict: system, contexts (diamond, strategies, technologies, schema, cost), sagas, total, warnings."""
    return {
        "system": report.system,
        "description": report.description,
        "budget_usd_per_month": _number(report.budget_usd_per_month)
        if report.budget_usd_per_month is not None
        else None,
        "budget_tier": report.budget_tier,
        "budget_because": report.budget_reason.as_dict(),
        "availability": report.availability,
        "contexts": [_context(context) for context in report.contexts],
        "sagas": [
            {
                "initiator": context.name,
                "partners": list(saga.partners),
                "detail": saga.detail,
                "partners_inferred": saga.inferred,
                "because": saga.because.as_dict(),
            }
            for context in report.contexts
            for saga in context.selection.sagas
        ],
        "cost_usd_per_month": {
            "aws": _number(report.aws_usd_per_month),
            "self_hosted": _number(report.self_hosted_usd_per_month),
        },
        "prices": {"source": report.prices_source, "date": report.prices_date, "region": report.prices_region},
        "warnings": list(report.warnings),
    }


def _context(context: ContextReport) -> dict[str, object]:
    selection = context.selection
    return {
        "name": context.name,
        "description": selection.profile.context.description,
        "requirements": context.analysis.steps,
        "diamond": context.analysis.diamond,
        "strategies": [
            {"id": choice.id, "because": [reason.as_dict() for reason in choice.because]}
            for choice in selection.strategies
        ],
        "technologies": [
            {
                "role": tech.choice.role,
                "family": tech.choice.offering.family,
                "aws": tech.choice.offering.aws,
                "open_source": tech.choice.offering.open_source,
                "datastrata": tech.choice.datastrata,
                "docs": list(docs_for(tech.choice.datastrata)),
                "configuration": {
                    "aws": tech.cost.aws.configuration,
                    "self_hosted": tech.cost.self_hosted.configuration,
                },
                "cost_usd_per_month": {
                    "aws": _number(tech.cost.aws.usd_per_month),
                    "self_hosted": _number(tech.cost.self_hosted.usd_per_month),
                },
                "because": [reason.as_dict() for reason in tech.choice.because],
            }
            for tech in context.technologies
        ],
        "schema": context.schema,
        "cost_usd_per_month": {
            "aws": _number(context.aws_usd_per_month),
            "self_hosted": _number(context.self_hosted_usd_per_month),
        },
    }


def _number(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))
