"""Time to design a ten-context system (load, analyse, select, generate schemas, cost, render); JSON to stdout.

Run: .venv/bin/python benchmarks/design.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from datastrata.design import design, load_spec, render_markdown, report_to_json

SPEC = Path(__file__).resolve().parents[1] / "examples" / "ten-contexts.yaml"


def _once(text: str) -> float:
    started = time.perf_counter()
    report = design(load_spec(text))
    render_markdown(report)
    json.dumps(report_to_json(report))
    return (time.perf_counter() - started) * 1000


def main() -> None:
    """Print the median of several runs after a warm-up."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 runs instead of --runs")
    args = parser.parse_args()
    text = SPEC.read_text(encoding="utf-8")
    _once(text)
    if args.quick:
        args.runs = 10
    samples = [_once(text) for _ in range(args.runs)]
    figure = {
        "name": "design_10_contexts",
        "unit": "ms",
        "datastrata": round(statistics.median(samples), 2),
        "p95": round(sorted(samples)[int(0.95 * (len(samples) - 1))], 2),
        "runs": args.runs,
        "spec": "examples/ten-contexts.yaml",
        "includes": "YAML parse + validation + analysis + selection + schemas + cost + Markdown and JSON rendering",
    }
    print(json.dumps({"figures": [figure]}))


if __name__ == "__main__":
    main()
