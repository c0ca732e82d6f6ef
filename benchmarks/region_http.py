"""A call to a region process's socket: our ``RegionClient`` (HttpTransport, httpx) against two floors, same server.

The server is a trading region's app (``region_app``: FastAPI, problem+json) on uvicorn with one route answering a
small JSON object; the same GET is timed three ways in one run: through ``RegionClient`` (the run file, then
``HttpTransport``), through a bare ``httpx.Client``, and through a bare ``http.client`` connection (the floor of a
keep-alive HTTP/1.1 call from Python). ``client_vs_floor`` is the ratio of the p50s. Client and server share this
process's GIL: read the figures as an upper bound of a call between two processes.

Usage::

    .venv/bin/python benchmarks/region_http.py               # 2000 calls each, a few seconds
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from datastrata.systems.trading.region_app import RegionServer
from datastrata.systems.trading.wire import RegionClient, announce


def _percentiles(call: Callable[[], Any], count: int) -> dict[str, float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": round(samples[len(samples) // 2], 3), "p99_ms": round(samples[int(len(samples) * 0.99)], 3)}


def main() -> None:
    """Time the three clients against one region app; print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    server = RegionServer("singapore", {("GET", "quotes"): lambda _, __: {"AAPL": "190.00"}}, host="127.0.0.1", port=0)
    server.start()
    folder = Path(tempfile.mkdtemp(prefix="region-http-"))
    announce(folder, server.endpoint)
    client = RegionClient(folder, "singapore")
    bare = httpx.Client(base_url=f"http://127.0.0.1:{server.endpoint.port}")
    floor = http.client.HTTPConnection("127.0.0.1", server.endpoint.port)

    def stdlib() -> Any:
        floor.request("GET", "/quotes")
        return json.loads(floor.getresponse().read())

    try:
        for call in (lambda: client.get("/quotes"), lambda: bare.get("/quotes").json(), stdlib):
            _percentiles(call, 100)  # warm the connections
        ours = _percentiles(lambda: client.get("/quotes"), args.calls)
        httpx_only = _percentiles(lambda: bare.get("/quotes").json(), args.calls)
        stdlib_only = _percentiles(stdlib, args.calls)
    finally:
        client.close()
        bare.close()
        floor.close()
        server.stop()
    result = {
        "benchmark": "region_http",
        "host": {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "calls": args.calls,
        "region_client": ours,
        "httpx_client": httpx_only,
        "http_client_floor": stdlib_only,
        "client_vs_floor": round(ours["p50_ms"] / stdlib_only["p50_ms"], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
