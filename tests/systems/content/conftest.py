"""A content service on each backend, with a frozen clock and its own object folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.content.service import ContentService

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def svc(store_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[ContentService]:
    runtime = Runtime.open(Settings(store=store_url, objects=f"file://{tmp_path / 'objects'}"), clock=clock)
    yield ContentService(runtime)
    runtime.close()


@pytest.fixture
def lite(sqlite_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[ContentService]:
    """The service on SQLite only: for rules decided before the store (the domain's boundaries)."""
    runtime = Runtime.open(Settings(store=sqlite_url, objects=f"file://{tmp_path / 'objects'}"), clock=clock)
    yield ContentService(runtime)
    runtime.close()
