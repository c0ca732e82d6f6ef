"""Fixtures of the saga tests: the saga log and three services, each in a store of its own (SQLite or PostgreSQL)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from datastrata.runtime.location import Location
from datastrata.services.sagas import MIGRATIONS as SAGAS
from datastrata.stores.database import Database
from datastrata.stores.migrations import migrate
from datastrata.stores.open import open_database
from datastrata.testing.sagashop import Shop, open_shop
from datastrata.testing.servers import create_database

ROLES = ("log", "inventory", "payment", "orders")
#: Parametrize a test with this to run it on PostgreSQL too (each run makes four databases: kept to the core ones).
BOTH = pytest.mark.parametrize("urls", ["sqlite", "postgresql"], indirect=True)
_names = itertools.count()


@pytest.fixture
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """A store URL per role (the saga log and each service): SQLite files, or (``BOTH``) PostgreSQL databases too."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return {role: f"sqlite:///{tmp_path / role}.db" for role in ROLES}
    server, template = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_template")
    made = {role: create_database(server, f"s{os.getpid()}_{next(_names)}", template=template) for role in ROLES}
    with open_database(made["log"]) as db:
        migrate(db, [SAGAS])  # as `datastrata migrate` does once a system using sagas lists the component
    return made


@pytest.fixture
def opened() -> Iterator[list[Database]]:
    """Databases opened by a test, closed after it."""
    dbs: list[Database] = []
    yield dbs
    for db in dbs:
        db.close()


@pytest.fixture
def saga_log(urls: dict[str, str], opened: list[Database]) -> Location:
    """The saga log's own location."""
    db = open_database(urls["log"])
    opened.append(db)
    return Location.over(db, name="sagas")


@pytest.fixture
def shop(urls: dict[str, str], opened: list[Database]) -> Shop:
    """The inventory, payment and orders services, stocked and funded."""

    def open_db(url: str) -> Database:
        db = open_database(url)
        opened.append(db)
        return db

    made = open_shop(urls, open_db)
    made.inventory.stock("sku-1", 10)
    made.payment.fund("alice", 1000)
    made.payment.fund("bob", 5)
    return made
