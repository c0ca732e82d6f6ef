"""Open the relational store named by a URL."""

from __future__ import annotations

from datastrata.core.config import url_scheme
from datastrata.core.errors import ConfigurationError
from datastrata.stores.database import Database


def open_database(url: str, *, max_size: int | None = None) -> Database:
    """Return a :class:`Database` for ``sqlite:///…`` or ``postgresql://…`` (at most `max_size` connections)."""
    scheme = url_scheme(url, role="store")
    if scheme == "sqlite":
        from datastrata.stores.sqlite import SqliteDatabase

        return SqliteDatabase(url)
    if scheme in {"postgresql", "postgres"}:
        from datastrata.stores.postgres import PostgresDatabase

        return PostgresDatabase(url) if max_size is None else PostgresDatabase(url, max_size=max_size)
    raise ConfigurationError(
        f"store URL scheme {scheme!r} is not supported; use sqlite:///path.db or postgresql://user@host/db",
        field="store",
    )
