"""The Markdown form of a design report: summary table, then per context analysis, choices, diagram, schema, cost."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from datastrata.design.modules import SAGAS, docs_for, module_ref
from datastrata.design.reasons import Reason
from datastrata.design.report import ContextReport, DesignReport

_SHAPES = {
    "stream": ('[["', '"]]'),
    "queue": ('[["', '"]]'),
    "in-memory": ('{{"', '"}}'),
    "object-storage": ('[/"', '"/]'),
}


def render_markdown(report: DesignReport) -> str:
    """The whole report as Markdown with one mermaid diagram per context."""
    out: list[str] = [f"# Design: {report.system}", ""]
    if report.description:
        out += [report.description, ""]
    budget = f"${_money(report.budget_usd_per_month)}/month" if report.budget_usd_per_month is not None else "not given"
    out += [
        f"Budget: {budget} → **{report.budget_tier}** configuration. Availability: **{report.availability}**.",
        f"Prices: {report.prices_region}, {report.prices_date} — {report.prices_source}",
        "",
        "## Summary",
        "",
        "| context | strategies | primary store | other technologies | AWS $/month | self-hosted $/month |",
        "|---|---|---|---|---:|---:|",
    ]
    for context in report.contexts:
        selection = context.selection
        primary, *others = context.technologies
        out.append(
            f"| {context.name} | {', '.join(s.id for s in selection.strategies) or '—'} "
            f"| {primary.choice.offering.family}: {primary.choice.offering.aws} "
            f"| {'; '.join(f'{t.choice.role}: {t.choice.offering.family}' for t in others) or '—'} "
            f"| {_money(context.aws_usd_per_month)} | {_money(context.self_hosted_usd_per_month)} |"
        )
    totals = f"**{_money(report.aws_usd_per_month)}** | **{_money(report.self_hosted_usd_per_month)}**"
    out += [
        f"| **total** | | | | {totals} |",
        "",
    ]
    out += _sagas(report)
    if report.warnings:
        out += ["## Warnings", ""] + [f"- {warning}" for warning in report.warnings] + [""]
    for context in report.contexts:
        out += _context(context)
    return "\n".join(out).rstrip() + "\n"


def _sagas(report: DesignReport) -> list[str]:
    rows = [(context.name, saga) for context in report.contexts for saga in context.selection.sagas]
    if not rows:
        return []
    out = [
        "## Sagas",
        "",
        "Each saga is a sequence of local transactions, one per service, with a compensation for each step that",
        "can be taken back — never a distributed transaction (7. マイクロサービスデータベースパターン).",
        "",
        "| started by | steps in | what must hold | from |",
        "|---|---|---|---|",
    ]
    for name, saga in rows:
        partners = ", ".join(saga.partners) + (" (inferred)" if saga.inferred else "")
        spec = "; ".join(item.where() for item in saga.because.evidence)
        out.append(f"| {name} | {partners} | {_cell(saga.detail or '—')} | {spec} |")
    return [*out, "", f"Engine: {_module(module_ref(SAGAS))}.", ""]


def _context(context: ContextReport) -> list[str]:
    selection = context.selection
    analysis = context.analysis
    out = [f"## Context: {context.name}", ""]
    if selection.profile.context.description:
        out += [selection.profile.context.description, ""]
    steps = analysis.steps
    out += [
        "### Requirements (four steps)",
        "",
        f"Entities {steps['entities']}, relationships {steps['relationships']}, operations {steps['operations']}, "
        f"constraints {steps['constraints']} — {'complete' if steps['complete'] else 'incomplete (see warnings)'}.",
        "",
        "### Diamond model",
        "",
        "| facet | findings |",
        "|---|---|",
    ]
    for facet in ("business_logic", "data_characteristics", "application_pattern", "system_scale"):
        values = analysis.diamond[facet]
        assert isinstance(values, dict)
        shown = "; ".join(f"{k.replace('_', ' ')}: {_plain(v)}" for k, v in values.items() if k != "question")
        out.append(f"| {facet.replace('_', ' ')} | {_cell(shown)} |")
    out.append("")
    if analysis.tensions:
        out += ["Tensions:", ""] + [f"- {tension}" for tension in analysis.tensions] + [""]
    out += ["### Strategies", ""]
    for strategy in selection.strategies:
        out.append(f"- **{strategy.id}**")
        out += [f"  - {_reason(reason)}" for reason in strategy.because]
    if not selection.strategies:
        out.append("- none beyond the primary store")
    out += [
        "",
        "### Technologies",
        "",
        "| role | family | AWS | open source | datastrata | AWS configuration | AWS $/month | self-hosted $/month |",
        "|---|---|---|---|---|---|---:|---:|",
    ]
    for tech in context.technologies:
        choice = tech.choice
        out.append(
            f"| {choice.role} | {choice.offering.family} | {choice.offering.aws} | {choice.offering.open_source} "
            f"| {_module(choice.datastrata)} | {_cell(tech.cost.aws.configuration)} "
            f"| {_money(tech.cost.aws.usd_per_month)} | {_money(tech.cost.self_hosted.usd_per_month)} |"
        )
    out += ["", "Why:", ""]
    for tech in context.technologies:
        out.append(f"- **{tech.choice.role}** ({tech.choice.offering.family})")
        out += [f"  - {_reason(reason)}" for reason in tech.choice.because]
    out += ["", "### Diagram", "", "```mermaid", *_diagram(context), "```", "", "### Schema", ""]
    schema = dict(context.schema)
    ddl = schema.pop("postgresql", None)
    namespace = schema.pop("namespace", None)
    if namespace is not None:
        out += [f"Namespace (PostgreSQL schema): `{namespace}`", ""]
    if isinstance(ddl, str):
        out += ["PostgreSQL DDL:", "", "```sql", ddl.rstrip(), "```", ""]
    for key, value in schema.items():
        out += [
            f"{key.replace('_', ' ').capitalize()}:",
            "",
            "```json",
            json.dumps(value, ensure_ascii=False, indent=2),
            "```",
            "",
        ]
    out += [
        "### Cost",
        "",
        f"About **${_money(context.aws_usd_per_month)}/month on AWS** and "
        f"**${_money(context.self_hosted_usd_per_month)}/month self-hosted** (compute and storage, no labour).",
        "",
    ]
    return out


def _diagram(context: ContextReport) -> list[str]:
    prefix = re.sub(r"[^a-z0-9]", "_", context.name.lower())
    techs = context.technologies
    ids = {id(t): f"{prefix}_{i}" for i, t in enumerate(techs)}
    lines = ["flowchart LR", f'  {prefix}_cmd(["commands"])', f'  {prefix}_qry(["queries"])']
    for tech in techs:
        open_, close = _SHAPES.get(tech.choice.offering.family, ('[("', '")]'))
        label = f"{tech.choice.role}<br/>{tech.choice.offering.aws}".replace('"', "'")
        lines.append(f"  {ids[id(tech)]}{open_}{label}{close}")
    primary = techs[0]
    by_role = {tech.choice.role: tech for tech in techs}
    stream = next((t for t in techs if t.choice.offering.family == "stream"), None)
    store = next((t for t in techs if t.choice.role.startswith("event store")), None)
    lines.append(f"  {prefix}_cmd -->|write| {ids[id(primary)]}")
    if store is not None:
        lines.append(f"  {prefix}_cmd -->|append event| {ids[id(store)]}")
    if stream is not None:
        lines.append(f"  {ids[id(store or primary)]} -->|events| {ids[id(stream)]}")
    feeder = stream or primary
    chain = [t for t in techs if t.choice.role.startswith(("warm tier", "cold tier (", "frozen tier"))]
    previous = primary
    for tier in chain:
        lines.append(f"  {ids[id(previous)]} -->|lifecycle| {ids[id(tier)]}")
        previous = tier
    for tech in techs:
        role = tech.choice.role
        if tech is primary or tech is stream or tech is store or tech in chain:
            continue
        if role == "read cache":
            lines.append(f"  {prefix}_qry --> {ids[id(tech)]}")
            lines.append(f"  {ids[id(tech)]} -.->|miss| {ids[id(primary)]}")
        elif role.startswith("cold-tier query"):
            cold = next((t for t in chain if t.choice.role.startswith("cold tier")), primary)
            lines.append(f"  {prefix}_qry -->|SQL| {ids[id(tech)]}")
            lines.append(f"  {ids[id(tech)]} -.->|scan| {ids[id(cold)]}")
        elif role == "saga steps":
            partners = ", ".join(context.selection.saga_partners)
            lines.append(f"  {ids[id(primary)]} -->|saga command| {ids[id(tech)]}")
            lines.append(f'  {prefix}_partners(["{partners}"])')
            lines.append(f"  {ids[id(tech)]} <-->|step / compensate| {prefix}_partners")
        elif role == "artifact store":
            lines.append(f"  {prefix}_cmd -->|upload| {ids[id(tech)]}")
        else:
            lines.append(f"  {ids[id(feeder)]} -->|project| {ids[id(tech)]}")
            lines.append(f"  {prefix}_qry --> {ids[id(tech)]}")
    if "read cache" not in by_role:
        lines.append(f"  {prefix}_qry --> {ids[id(primary)]}")
    return lines


def _reason(reason: Reason) -> str:
    spec = "; ".join(item.render() for item in reason.evidence)
    used = f" — from {spec}" if spec else ""
    return f"`{reason.rule}`: {reason.says}{used} _(article: {reason.article})_"


def _module(ref: str | None) -> str:
    if ref is None:
        return "—"
    pages = docs_for(ref)
    return f"{ref} ({', '.join(pages)})" if pages else ref


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if value is None:
        return "—"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _money(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value.quantize(Decimal('0.01')):,}"
