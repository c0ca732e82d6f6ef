"""Fixtures: the master-data service on a runtime per backend, driven by a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.masterdata.service import MasterDataService

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock standing at START."""
    return FrozenClock(START)


@pytest.fixture
def runtime(store_url: str, clock: FrozenClock) -> Iterator[Runtime]:
    """A runtime on each backend (in-process bus and cache)."""
    opened = Runtime.open(Settings(store=store_url), clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def svc(runtime: Runtime) -> MasterDataService:
    """The master-data service, built the way the catalog installs it."""
    service: MasterDataService = runtime.service("masterdata", MasterDataService)
    return service
