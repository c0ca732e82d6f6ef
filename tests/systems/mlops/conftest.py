"""A pipeline service on each backend, with a frozen clock and its own object folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.mlops.service import MlopsService

NOW = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return Settings(store=store_url, objects=f"file://{tmp_path / 'objects'}")


@pytest.fixture
def svc(settings: Settings, clock: FrozenClock) -> Iterator[MlopsService]:
    runtime = Runtime.open(settings, clock=clock)
    yield MlopsService(runtime)
    runtime.close()


@pytest.fixture
def lite(sqlite_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[MlopsService]:
    """The service on SQLite only: for refusals that happen before any store is touched."""
    runtime = Runtime.open(Settings(store=sqlite_url, objects=f"file://{tmp_path / 'objects'}"), clock=clock)
    yield MlopsService(runtime)
    runtime.close()


@pytest.fixture
def lite_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    """Settings of an SQLite store (the shell tests: the service tests cover both backends)."""
    return Settings(store=sqlite_url, objects=f"file://{tmp_path / 'objects'}")
