"""What the bridge and silo provisioners share: migrated templates, copies of them, admin connections, clean-up."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from datastrata.core.config import Settings, sqlite_path
from datastrata.core.errors import ConfigurationError, RuleViolation
from datastrata.core.redact import redact_url
from datastrata.runtime.roles import Roles
from datastrata.stores.migrations import Component, migrate
from datastrata.stores.open import open_database

#: PostgreSQL's SQLSTATE for "permission denied" (CREATE ROLE or CREATE DATABASE refused).
INSUFFICIENT_PRIVILEGE = "42501"


def components() -> list[Component]:
    """Every component a tenant location carries: the same as the home's (``datastrata migrate``)."""
    from datastrata.catalog import components as every

    return every()


def roles_of(settings: Settings) -> Roles:
    """The application and platform roles of `settings` (what a tenant role is granted to)."""
    return Roles(settings.app_role or None, settings.platform_role or None)


def owner_url(settings: Settings, store: str) -> str:
    """The URL migrations of `store` connect with: the owner's credentials on `store`'s database."""
    if not settings.owner_store:
        return store
    from datastrata.tenancy.naming import with_database

    return with_database(settings.owner_store, urlsplit(store).path.lstrip("/"))


def provision_url(settings: Settings, store: str) -> str:
    """The URL that may CREATE ROLE and CREATE DATABASE (``DATASTRATA_PROVISION_STORE``, else the owner's)."""
    return settings.provision_store or owner_url(settings, store)


def user_of(url: str) -> str | None:
    """The role a PostgreSQL URL logs in as (None: the driver's default)."""
    return urlsplit(url).username


@contextlib.contextmanager
def admin(url: str, *, what: str) -> Iterator[Any]:
    """An autocommit psycopg connection for statements that cannot run in a transaction (CREATE DATABASE, roles)."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    except psycopg.Error as exc:
        if getattr(exc, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            raise ConfigurationError(
                f"{what} was refused on {redact_url(url)} ({str(exc).splitlines()[0]}); set DATASTRATA_PROVISION_STORE "
                "to the URL of a role that may CREATE ROLE and CREATE DATABASE",
                field="provision_store",
            ) from exc
        raise


def migrated_file(url: str) -> None:
    """Create or upgrade the SQLite template at `url` (every component's migrations)."""
    db = open_database(url)
    try:
        migrate(db, components())
    finally:
        db.close()


def copy_file(template_url: str, target_url: str) -> None:
    """Copy the migrated SQLite template into `target_url` with the backup API, giving the copy a new log identity.

    The copy is written beside the target and renamed into place, so a failure leaves no half-made file.
    """
    target = sqlite_path(target_url)
    if target.exists():
        raise RuleViolation(f"{target} exists already: the tenant has a file; destroy it first", field="tenant_id")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    source = sqlite3.connect(sqlite_path(template_url))
    copy = sqlite3.connect(partial, isolation_level=None)
    try:
        source.backup(copy)
        copy.execute("UPDATE eventlog_identity SET log_id = lower(hex(randomblob(16)))")
    finally:
        copy.close()
        source.close()
    partial.replace(target)


def remove_file(url: str) -> None:
    """Remove a SQLite store's file and its WAL files."""
    path = sqlite_path(url)
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def remove_graph(url: str) -> None:
    """Remove an embedded graph's files (a LadybugDB path and what it keeps beside it)."""
    if not url:
        return
    path = Path(urlsplit(url).path)
    for found in (path, *path.parent.glob(f"{path.name}.*")) if path.parent.exists() else ():
        if found.is_dir():
            shutil.rmtree(found, ignore_errors=True)
        else:
            found.unlink(missing_ok=True)


def remove_objects(url: str) -> int:
    """Delete every object under an objects URL (a tenant's own prefix or root); return how many."""
    if not url:
        return 0
    from datastrata.tiering.objects import ObjectStore

    store = ObjectStore(url)
    found = store.list()
    for info in found:
        store.delete(info.key)
    return len(found)
