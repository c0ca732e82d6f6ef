"""Fixtures of the trading tests: both regions in one process over embedded stores, with a short link latency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.trading.service import TradingService
from datastrata.systems.trading.topology import topology

#: The one-way latency of the tests' link (a Singapore command pays twice this).
LATENCY_MS = 5.0


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime over a fresh embedded home."""
    with Runtime.open(Settings.embedded(tmp_path)) as opened:
        yield opened


@pytest.fixture
def trading(runtime: Runtime) -> TradingService:
    """The trading service on `runtime`: New York on 2 SQLite shards, Singapore's SQLite file, a 5 ms link."""
    where = topology(runtime.settings, shards=2)  # the default 4 run in the CLI, HTTP and tour tests
    service: TradingService = runtime.service(
        "trading", lambda r: TradingService(r, where=where, latency_ms=LATENCY_MS)
    )
    return service
