"""The SQLite tenant guard turns itself on once the store holds several tenants (``tenant_guard=auto``, the default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import TenantIsolationError
from datastrata.core.events import NewEvent
from datastrata.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.sqlite import SqliteDatabase
from datastrata.tenancy.catalogue import catalogue_of

UNFILTERED = "SELECT count(*) FROM eventlog_events"  # a read that forgot its tenant


def _open(tmp_path: Path, query: str = "") -> Runtime:
    return Runtime.open(Settings(store=f"sqlite:///{tmp_path / 'home.db'}{query}"))


def test_a_tenants_unfiltered_read_is_refused_once_a_second_tenant_exists(tmp_path: Path) -> None:
    with _open(tmp_path) as runtime:
        runtime.append(Scope("portfolio", "p-1"), [NewEvent("Opened", {})])
        with runtime.read(Scope("portfolio", "p-1")) as work:
            assert work.tx.scalar(UNFILTERED) == 1  # one tenant: the store is not guarded
        assert isinstance(runtime.db, SqliteDatabase) and runtime.db.guard is None

        catalogue_of(runtime).add("acme", "indie")
        runtime.tenants.invalidate()
        acme = Scope("portfolio", "p-1", "acme")
        runtime.append(acme, [NewEvent("Opened", {})])
        with runtime.read(acme) as work, pytest.raises(TenantIsolationError, match="reads eventlog_events"):
            work.tx.scalar(UNFILTERED)
        with runtime.read(acme) as work:  # filtered on its own tenant, the same read passes
            assert work.tx.scalar(f"{UNFILTERED} WHERE tenant_id = ?", ("acme",)) == 1
        with pytest.raises(TenantIsolationError, match="another tenant"), runtime.transaction(acme) as work:
            work.tx.execute(
                "INSERT INTO eventlog_snapshots (tenant_id, stream_id, name, version, state, recorded_at) "
                "VALUES ('globex', 'p-1', 'x', 1, '{}', '2026-01-01')"
            )
        with runtime.db.read() as tx:  # outside every scope (an operator's inspection, a move): not a tenant's work
            assert tx.scalar(UNFILTERED) == 2


def test_tenant_guard_off_keeps_a_multi_tenant_store_unguarded(tmp_path: Path) -> None:
    with _open(tmp_path, "?tenant_guard=off") as runtime:
        catalogue_of(runtime).add("acme", "indie")
        acme = Scope("portfolio", "p-1", "acme")
        runtime.append(acme, [NewEvent("Opened", {})])
        with runtime.read(acme) as work:
            assert work.tx.scalar(UNFILTERED) == 1
        assert isinstance(runtime.db, SqliteDatabase) and runtime.db.guard is None
