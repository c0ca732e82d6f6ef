"""The article's fintech and IoT decompositions: database per service, a store per service, the sagas between them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.design import render_markdown, report_to_json
from datastrata.design.report import DesignReport

from .helpers import assert_reasons_traceable, context, roles, strategies

REPO = Path(__file__).resolve().parents[2]

#: The article's stores (section 7, シナリオ2 and 3) as the advisor's families: service → family of its primary store.
FINTECH_STORES = {
    "accounts": "relational",  # PostgreSQL, strong consistency
    "transactions": "relational",  # PostgreSQL (+ Redis), an event-sourced ledger
    "risk": "graph",  # Neo4j (+ ClickHouse)
    "reporting": "columnar",  # ClickHouse
}
IOT_STORES = {
    "devices": "document",  # MongoDB, flexible schema
    "ingestion": "time-series",  # InfluxDB
    "analytics": "columnar",  # ClickHouse (+ S3 tiering)
    "notifications": "key-value",  # Redis + the message queue
}
#: The sagas the specs declare: initiator → partners, one tuple per saga.
FINTECH_SAGAS = [("transactions", ("accounts", "risk"))]
IOT_SAGAS = [("devices", ("ingestion",)), ("devices", ("notifications",))]

CASES = [("fintech", FINTECH_STORES, FINTECH_SAGAS), ("iot", IOT_STORES, IOT_SAGAS)]


@pytest.mark.parametrize(("example", "stores", "sagas"), CASES, ids=[c[0] for c in CASES])
def test_every_service_gets_its_own_store_with_a_reason(
    example: str, stores: dict[str, str], sagas: list[tuple[str, tuple[str, ...]]], request: pytest.FixtureRequest
) -> None:
    report: DesignReport = request.getfixturevalue(example)
    assert [c.name for c in report.contexts] == list(stores)
    for name, family in stores.items():
        ctx = context(report, name)
        assert ctx.technologies[0].choice.offering.family == family, name
        assert ctx.technologies[0].choice.because, name
        chosen = next(s for s in ctx.selection.strategies if s.id == "database-per-service")
        owns = [r for r in chosen.because if r.rule == "database-per-service"]
        assert len(owns) == 1 and f"{family} storage" in owns[0].says, name
        assert "docs/services.md" in owns[0].says
    assert_reasons_traceable(report)
    assert not report.warnings  # complete specs within their budgets


@pytest.mark.parametrize(("example", "stores", "sagas"), CASES, ids=[c[0] for c in CASES])
def test_the_sagas_link_the_services_the_article_links(
    example: str, stores: dict[str, str], sagas: list[tuple[str, tuple[str, ...]]], request: pytest.FixtureRequest
) -> None:
    report: DesignReport = request.getfixturevalue(example)
    found = [(c.name, saga.partners) for c in report.contexts for saga in c.selection.sagas]
    assert found == sagas
    initiators = {initiator for initiator, _ in sagas}
    partners = {p for _, names in sagas for p in names}
    for ctx in report.contexts:
        queue = [t for t in ctx.technologies if t.choice.role == "saga steps"]
        assert bool(queue) == (ctx.name in initiators), ctx.name
        if queue:
            assert queue[0].choice.datastrata == "datastrata.services.sagas"
        joins = [r for s in ctx.selection.strategies for r in s.because if r.says.startswith("takes part in")]
        assert bool(joins) == (ctx.name in partners), ctx.name
    unlinked = set(stores) - initiators - partners
    assert all(not context(report, name).selection.saga_partners for name in unlinked)


@pytest.mark.parametrize(("example", "stores", "sagas"), CASES, ids=[c[0] for c in CASES])
def test_json_report_names_services_stores_and_sagas(
    example: str, stores: dict[str, str], sagas: list[tuple[str, tuple[str, ...]]], request: pytest.FixtureRequest
) -> None:
    data = json.loads(json.dumps(report_to_json(request.getfixturevalue(example))))
    for ctx in data["contexts"]:
        assert "database-per-service" in [s["id"] for s in ctx["strategies"]]
        primary = ctx["technologies"][0]
        assert primary["family"] == stores[ctx["name"]]
        assert primary["because"] and all(r["spec"] for r in primary["because"])
    assert [(s["initiator"], tuple(s["partners"])) for s in data["sagas"]] == sagas
    for saga in data["sagas"]:
        assert saga["because"]["rule"] == "saga" and saga["detail"] and saga["because"]["spec"]
        assert "docs/sagas.md" in saga["because"]["says"]
    steps = [t for c in data["contexts"] for t in c["technologies"] if t["role"] == "saga steps"]
    assert steps and all(t["docs"] == ["docs/sagas.md", "docs/commerce.md"] for t in steps)


@pytest.mark.parametrize(("example", "stores", "sagas"), CASES, ids=[c[0] for c in CASES])
def test_markdown_report_names_services_stores_and_sagas(
    example: str, stores: dict[str, str], sagas: list[tuple[str, tuple[str, ...]]], request: pytest.FixtureRequest
) -> None:
    report: DesignReport = request.getfixturevalue(example)
    text = render_markdown(report)
    summary, _, rest = text.partition("## Sagas")
    for name, family in stores.items():
        row = next(line for line in summary.splitlines() if line.startswith(f"| {name} |"))
        assert "database-per-service" in row and f"| {family}: " in row, row
    table = rest.split("\n## ", 1)[0]
    for initiator, partners in sagas:
        assert f"| {initiator} | {', '.join(partners)} |" in table
    assert "Engine: datastrata.services.sagas (docs/sagas.md, docs/commerce.md)." in table
    assert text.count("`database-per-service`: ") == len(stores)


def test_fintech_follows_the_article_beyond_the_primary(fintech: DesignReport) -> None:
    ledger = roles(fintech, "transactions")
    assert "event-sourcing" in strategies(fintech, "transactions")  # the immutable ledger
    assert ledger["read cache"] == "in-memory"  # PostgreSQL + Redis
    schema = context(fintech, "transactions").schema["postgresql"]
    assert isinstance(schema, str) and "idempotency_key" in schema and "UNIQUE" in schema.upper()
    assert roles(fintech, "risk")["analytics (read model)"] == "columnar"  # Neo4j + ClickHouse
    assert "graph" in strategies(fintech, "risk")


def test_iot_analytics_tier_hot_and_cold(iot: DesignReport) -> None:
    analytics = roles(iot, "analytics")
    assert "tiering" in strategies(iot, "analytics")
    assert analytics["cold tier (days 90-365)"] == "object-storage"  # ClickHouse + S3
    assert roles(iot, "notifications")["event stream"] == "stream"  # integrated with the message queue


def test_cli_designs_the_fintech_example() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["design", str(REPO / "examples" / "fintech.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Design: FinTech platform")
    assert "| transactions | accounts, risk |" in result.stdout
    packaged = runner.invoke(app, ["design", "iot", "--format", "json"])
    assert packaged.exit_code == 0, packaged.output
    assert json.loads(packaged.stdout)["system"] == "IoT platform"


def test_design_advisor_docs_list_the_examples() -> None:
    text = (REPO / "docs" / "design-advisor.md").read_text(encoding="utf-8")
    for name in ("examples/fintech.yaml", "examples/iot.yaml"):
        assert name in text
    assert "planned: issue 17" not in text
