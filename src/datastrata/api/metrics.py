"""``/metrics`` in Prometheus text format: followers (position, lag, state), dead letters, HTTP rates and latencies.

Follower series are read from the runtime at scrape time (lags as the supervisor last measured them); HTTP series
come from a middleware that labels each request by its route template (``/holders/{symbol}``, never the raw path,
so the label set stays bounded) and by kind: a GET is a query, anything else a command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datastrata.runtime.runtime import Runtime
from datastrata.runtime.supervisor import STATES


class RuntimeCollector(Collector):
    """Reads follower and dead-letter series from the app's runtime when Prometheus scrapes."""

    def __init__(self, runtime: Callable[[], Runtime | None]) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        """Yield the follower and dead-letter gauges (nothing before the runtime opened)."""
        runtime = self.runtime()
        if runtime is None:
            return
        labels = ["follower", "kind"]
        position = GaugeMetricFamily(
            "datastrata_follower_position", "Log position the follower applied up to.", labels=labels
        )
        lag = GaugeMetricFamily(
            "datastrata_follower_lag_events", "Events the follower has not applied yet.", labels=labels
        )
        state = GaugeMetricFamily(
            "datastrata_follower_state", "1 for the follower's current state.", labels=[*labels, "state"]
        )
        failures = GaugeMetricFamily(
            "datastrata_follower_failures", "Failures in a row (0 when running).", labels=labels
        )
        for s in runtime.statuses():
            if s.position is not None:
                position.add_metric([s.name, s.kind], s.position)
                lag.add_metric([s.name, s.kind], s.behind or 0)
            for each in STATES:
                state.add_metric([s.name, s.kind, each], 1.0 if s.state == each else 0.0)
            failures.add_metric([s.name, s.kind], s.failures)
        dead = GaugeMetricFamily(
            "datastrata_dead_letters", "Dead letters by follower and status.", labels=["follower", "status"]
        )
        for (consumer, status), count in sorted(runtime.dead_letters.counts().items()):
            dead.add_metric([consumer, status], count)
        yield from (position, lag, state, failures, dead)  # fmt: skip


class HttpMetrics:
    """Pure ASGI middleware: times each HTTP request and hands method, route, status and seconds to `observe`.

    (Not Starlette's ``BaseHTTPMiddleware``: that runs every request through a task group and memory streams, a
    large share of a small request's CPU under load; see docs/benchmarks.md, "The server under load".)
    """

    def __init__(self, app: ASGIApp, observe: Callable[[str, Any, int, float], None]) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.observe(scope["method"], scope.get("route"), status, time.perf_counter() - started)


def install_metrics(app: FastAPI) -> None:
    """Add the HTTP middleware and the ``/metrics`` route; the registry is the app's own."""
    registry = CollectorRegistry()
    registry.register(RuntimeCollector(lambda: getattr(app.state, "runtime", None)))
    requests = Counter(
        "datastrata_http_requests", "HTTP requests by route template, kind and status.",
        ["method", "route", "kind", "status"], registry=registry,
    )  # fmt: skip
    errors = Counter(
        "datastrata_http_errors", "HTTP answers of 4xx (refused) and 5xx (failed) by route template.",
        ["method", "route", "kind", "status"], registry=registry,
    )  # fmt: skip
    latency = Histogram(
        "datastrata_http_request_duration_seconds", "HTTP request latency by route template and kind.",
        ["method", "route", "kind"], registry=registry,
    )  # fmt: skip

    def observe(method: str, route: Any, status: int, seconds: float) -> None:
        template = str(getattr(route, "path", "unmatched"))
        kind = "query" if method in ("GET", "HEAD") else "command"
        requests.labels(method, template, kind, str(status)).inc()
        latency.labels(method, template, kind).observe(seconds)
        if status >= 400:
            errors.labels(method, template, kind, str(status)).inc()

    app.add_middleware(HttpMetrics, observe=observe)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        """Prometheus text format: followers, dead letters, HTTP rates, latencies and errors."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
