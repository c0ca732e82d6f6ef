"""Fixtures of the commerce tests: the six services on their own stores, embedded and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.commerce.domain import DeclineRule
from datastrata.systems.commerce.service import SERVICE, CommerceService

#: The tests' card limit: a charge above it is declined.
LIMIT = Decimal("500.00")
#: The tests' decline rule: over the limit, or the customer ``bad``.
RULE = DeclineRule(limit=LIMIT, customers=frozenset({"bad"}))


@pytest.fixture
def commerce(store_url: str) -> Iterator[CommerceService]:
    """The commerce services beside a fresh home store, once on SQLite and once on PostgreSQL."""
    with Runtime.open(Settings(store=store_url)) as runtime:
        service: CommerceService = runtime.service(SERVICE, lambda r: CommerceService(r, decline=RULE))
        yield service


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[CommerceService]:
    """The commerce services on SQLite files only."""
    with Runtime.open(Settings.embedded(tmp_path)) as runtime:
        yield runtime.service(SERVICE, lambda r: CommerceService(r, decline=RULE))


def stocked(svc: CommerceService) -> None:
    """Two products, a customer, and stock of both."""
    svc.catalogue.add("shoe", "Trail running shoes", "80.00", description="Light shoes for muddy trails")
    svc.catalogue.add("jacket", "Rain jacket", "150.00", description="Waterproof shell, packs small")
    svc.users.register("mei", "Mei")
    svc.users.register("bad", "Declined customer")
    svc.inventory.set_stock("shoe", 5)
    svc.inventory.set_stock("jacket", 2)
