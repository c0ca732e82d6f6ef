"""The CLI function, the HTTP router and the tour step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from datastrata.core.errors import DatastrataError, ValidationError
from datastrata.design.api import router
from datastrata.design.cli import design_command
from datastrata.design.tour import tour_step


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("design")(design_command)

    @app.command("noop")
    def noop() -> None:
        """Keep typer in multi-command mode."""

    return app


def test_cli_prints_markdown(examples_dir: Path) -> None:
    result = CliRunner().invoke(_app(), ["design", str(examples_dir / "uber-eats.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Design: Uber Eats")
    assert "```mermaid" in result.stdout
    assert "| **total** |" in result.stdout


def test_cli_writes_json_to_a_file(examples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        _app(), ["design", str(examples_dir / "tsmc-fab.yaml"), "--format", "json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["system"] == "TSMC wafer fab IoT"
    context = data["contexts"][0]
    assert set(context) >= {"name", "diamond", "strategies", "technologies", "schema", "cost_usd_per_month"}
    assert "tensions" in context["diamond"]
    technology = context["technologies"][0]
    assert set(technology) >= {"role", "family", "aws", "open_source", "datastrata", "because"}
    assert set(data) >= {"system", "contexts", "cost_usd_per_month", "warnings"}


def test_cli_prices_override_changes_the_cost(examples_dir: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"aws": {"key-value": {"storage_usd_per_gb_month": 10}}}))
    spec = str(examples_dir / "uber-eats.yaml")
    base = json.loads(CliRunner().invoke(_app(), ["design", spec, "--format", "json"]).stdout)
    dear = json.loads(CliRunner().invoke(_app(), ["design", spec, "--format", "json", "--prices", str(prices)]).stdout)
    assert dear["cost_usd_per_month"]["aws"] > base["cost_usd_per_month"]["aws"]
    assert dear["cost_usd_per_month"]["self_hosted"] == base["cost_usd_per_month"]["self_hosted"]


def test_cli_raises_datastrata_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("system: x\ncontexts:\n  - {name: a, entities: [{name: A, kind: blob}]}\n")
    result = CliRunner().invoke(_app(), ["design", str(bad)])
    assert isinstance(result.exception, ValidationError)
    assert result.exception.field == "contexts[0].entities[0].kind"
    result = CliRunner().invoke(_app(), ["design", str(bad), "--format", "pdf"])
    assert isinstance(result.exception, ValidationError)


def _client() -> TestClient:
    app = FastAPI()
    app.include_router(router)

    @app.exception_handler(DatastrataError)
    def problem(request: Request, exc: DatastrataError) -> JSONResponse:
        return JSONResponse(
            {"title": exc.title, "detail": exc.message, "field": exc.field},
            status_code=exc.status,
            media_type="application/problem+json",
        )

    return TestClient(app)


SPEC = {
    "system": "Shop",
    "contexts": [
        {
            "name": "orders",
            "entities": [{"name": "Order", "kind": "transaction", "attributes": ["order_id", "total"]}],
            "operations": [{"name": "submit", "type": "write", "frequency": "high", "pattern": "key-lookup"}],
            "constraints": [{"type": "consistency", "level": "strong"}],
        }
    ],
}


def test_api_returns_json_report() -> None:
    response = _client().post("/design", json=SPEC)
    assert response.status_code == 200
    body = response.json()
    assert body["system"] == "Shop"
    assert body["contexts"][0]["technologies"][0]["family"] == "relational"


def test_api_returns_markdown() -> None:
    response = _client().post("/design?format=md", json=SPEC)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert response.text.startswith("# Design: Shop")


def test_api_bad_spec_is_a_validation_error() -> None:
    bad = json.loads(json.dumps(SPEC))
    bad["contexts"][0]["operations"][0]["pattern"] = "teleport"
    response = _client().post("/design", json=bad)
    assert response.status_code == 422
    assert response.json()["field"] == "contexts[0].operations[0].pattern"


def test_tour_step_summarises_one_example() -> None:
    lines: list[str] = []
    tour_step(lines.append)
    assert lines[0].startswith("Design advisor: Uber Eats")
    assert any(line.strip().startswith("orders: key-value") for line in lines)
    assert "total" in lines[-1]


@pytest.mark.parametrize("name", ["netflix.yaml", "uber-eats.yaml", "tsmc-fab.yaml"])
def test_packaged_examples_match_the_repository(examples_dir: Path, name: str) -> None:
    from importlib import resources

    packaged = resources.files("datastrata.design.examples").joinpath(name).read_text(encoding="utf-8")
    assert packaged == (examples_dir / name).read_text(encoding="utf-8")
