"""`datastrata design SPEC`: design a system from its requirements spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from datastrata.core.errors import ValidationError
from datastrata.design.advisor import design
from datastrata.design.loading import load_spec, spec_source
from datastrata.design.prices import load_prices
from datastrata.design.render_json import report_to_json
from datastrata.design.render_md import render_markdown

FORMATS = ("md", "json")


def design_command(
    spec: Annotated[
        str,
        typer.Argument(
            help="Requirements spec: a YAML or JSON file, or a built-in example by name (uber-eats, netflix, …).",
            show_default=False,
        ),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="Output format: md or json.")] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the report to this file instead of stdout.")
    ] = None,
    prices: Annotated[
        Path | None, typer.Option("--prices", help="JSON price table merged over the shipped one.")
    ] = None,
) -> None:
    """Design a system: strategy and technology per context, schemas and a monthly cost, each with its reasons."""
    if format not in FORMATS:
        raise ValidationError(f"--format: {format!r} is not one of md, json", field="format")
    report = design(load_spec(spec_source(spec)), prices=load_prices(prices))
    if format == "json":
        text = json.dumps(report_to_json(report), ensure_ascii=False, indent=2) + "\n"
    else:
        text = render_markdown(report)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"--out: cannot write {str(out)!r}: {exc.strerror}", field="out") from None
    typer.echo(f"wrote {out}", err=True)
