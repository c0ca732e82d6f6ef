"""Fixtures that hand a fresh store URL to eventsourcing's unittest-style contract test cases."""

from __future__ import annotations

import pytest


@pytest.fixture
def sqlite_store(request: pytest.FixtureRequest, sqlite_url: str) -> None:
    """Give the test case instance a fresh SQLite store URL."""
    request.instance.store_url = sqlite_url


@pytest.fixture
def pg_store(request: pytest.FixtureRequest, pg_url: str) -> None:
    """Give the test case instance a fresh PostgreSQL database URL (fails, not skips, under REQUIRE_SERVERS)."""
    request.instance.store_url = pg_url
