"""The design advisor: requirements → strategy and technology per context → schema → monthly cost."""

from __future__ import annotations

from datastrata.design.advisor import design
from datastrata.design.loading import load_spec, parse_spec
from datastrata.design.prices import PriceTable, default_prices, load_prices
from datastrata.design.render_json import report_to_json
from datastrata.design.render_md import render_markdown
from datastrata.design.report import DesignReport
from datastrata.design.spec import Spec

__all__ = [
    "DesignReport",
    "PriceTable",
    "Spec",
    "default_prices",
    "design",
    "load_prices",
    "load_spec",
    "parse_spec",
    "render_markdown",
    "report_to_json",
]
