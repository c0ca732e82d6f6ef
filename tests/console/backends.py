"""The console served on each store backend (SQLite, PostgreSQL), for the pages' tests that read the systems' data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.security.auth import AuthConfig
from tests.console.conftest import ConsoleServer, serve_app


@pytest.fixture(name="stored_console")
def stored_console_fixture(store_url: str, tmp_path: Path) -> Iterator[ConsoleServer]:
    """The app as ``serve --insecure-local`` runs it, with its worker, on a fresh store of each backend."""
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}", objects=f"file://{tmp_path / 'obj'}")
    app = create_app(settings, auth=AuthConfig(insecure_local=True))
    for url in serve_app(app):
        yield ConsoleServer(url, app)
