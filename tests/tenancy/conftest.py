"""Fixtures of the tenancy tests."""

from __future__ import annotations

import itertools
import os

import pytest

from datastrata.testing.servers import create_database

_silos = itertools.count()
#: The password in the silo store's URL: it must never be printed or stored unsealed.
SILO_PASSWORD = "s3cret-pw"


@pytest.fixture
def silo_store(pg_server: str, pg_template: str) -> str:
    """A reachable, migrated silo store whose URL carries a password (the test server trusts loopback logins)."""
    url = create_database(pg_server, f"silo{os.getpid()}_{next(_silos)}", template=pg_template)
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SILO_PASSWORD}@{host}"
