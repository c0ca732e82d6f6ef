"""Fixtures for the fab: a runtime on each backend with a frozen platform clock and its own objects folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.fab.service import FabService

START = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    """The platform clock, at the start of a day."""
    return FrozenClock(START)


@pytest.fixture
def runtime(store_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Runtime]:
    """A runtime on each backend driven by the frozen clock."""
    with Runtime.open(Settings(store=store_url, objects=f"file://{tmp_path}/objects"), clock=clock) as opened:
        yield opened


@pytest.fixture
def svc(runtime: Runtime) -> FabService:
    """The fab service with three sensors, one of each kind."""
    service = FabService(runtime)
    service.register_sensors([("temp-1", "temperature"), ("pres-1", "pressure"), ("vib-1", "vibration")])
    return service
