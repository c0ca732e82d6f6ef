"""Home stores of the model and move tests: a SQLite file, or a copy of a PostgreSQL home whose bridge template is
migrated already (``home_url``)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.tenancy.bridge import migrate_template
from datastrata.testing.servers import create_database

_names = itertools.count()


@pytest.fixture(scope="module")
def pg_home(pg_server: str, pg_template: str) -> str:
    """A migrated home database whose bridge template schema is migrated too (copied for each test)."""
    url = create_database(pg_server, f"tenancy{os.getpid()}", template=pg_template)
    migrate_template(Settings(store=url), url)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def home_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh home store per backend (PostgreSQL: a copy of `pg_home`, its bridge template ready)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = str(request.getfixturevalue("pg_server"))
    home = str(request.getfixturevalue("pg_home"))
    return create_database(server, f"tenancy{os.getpid()}_{next(_names)}", template=home)


@pytest.fixture
def keyed_home(home_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a migrated home store of each engine (objects beside it), a catalogue key in the environment."""
    import base64

    from datastrata.catalog import migrate as migrate_all
    from datastrata.tenancy.secrets import KEY_VARIABLE

    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(os.urandom(32)).decode())
    settings = Settings(store=home_url, graph=f"ladybug:///{tmp_path}/graph")
    if home_url.startswith("sqlite"):
        migrate_all(settings)
    return settings
