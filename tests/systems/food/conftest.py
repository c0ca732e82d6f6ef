"""Fixtures: the food service on a runtime per backend, with its graph in a real LadybugDB file under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.food.service import FoodService, install

NOW = datetime(2025, 10, 1, 12, tzinfo=UTC)


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    """Settings naming the order store (SQLite or PostgreSQL) and a fresh graph."""
    return Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime whose clock stands at NOW."""
    opened = Runtime.open(settings, clock=FrozenClock(NOW))
    yield opened
    opened.close()


@pytest.fixture
def svc(runtime: Runtime) -> Iterator[FoodService]:
    """The food service, built the way the catalog installs it."""
    service = install(runtime)
    yield service
    service.close()
