"""Run a benchmark made of parts (each a ``run(quick)`` of its own script) and print one JSON document."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

Part = Callable[[bool], Mapping[str, Any]]


def run_parts(benchmark: str, description: str, parts: Mapping[str, Part]) -> None:
    """Parse ``--quick``/``--only``, run the chosen parts in turn and print their figures keyed by part."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small samples in every part")
    parser.add_argument("--only", choices=sorted(parts), action="append", help="run only this part (repeatable)")
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": benchmark, "quick": args.quick}
    for name in args.only or list(parts):
        began = time.perf_counter()
        print(f"== {name}", file=sys.stderr, flush=True)
        result[name] = {**parts[name](args.quick), "part_seconds": round(time.perf_counter() - began, 1)}
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
