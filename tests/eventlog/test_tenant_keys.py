"""Streams, versions, event ids and snapshots per tenant; a tenant's whole log paged, imported and deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import tenant
from datastrata.eventlog import EventLog, SnapshotStore
from datastrata.eventlog.schema import MIGRATIONS
from datastrata.stores.database import Database
from datastrata.stores.migrations import Component, migrate
from datastrata.stores.open import open_database

T0 = datetime(2025, 9, 12, 10, 0, tzinfo=UTC)


def ev(n: int, event_id: str | None = None) -> NewEvent:
    return NewEvent(type="Happened", payload={"n": n}, event_id=event_id or f"e-{n}", occurred_at=T0)


def test_two_tenants_share_stream_and_event_ids_without_seeing_each_other(db: Database) -> None:
    log = EventLog(db)
    a = log.append("s-1", [ev(1), ev(2)], expected_version=0, tenant="alpha")
    b = log.append("s-1", [ev(1)], expected_version=0, tenant="beta")
    assert not b.duplicate and b.version == 1 and b.events[0].tenant_id == "beta"
    assert [e.payload["n"] for e in log.read("s-1", tenant="alpha")] == [1, 2]
    assert [e.payload["n"] for e in log.read("s-1", tenant="beta")] == [1]
    assert log.read("s-1") == []  # the default tenant has no such stream
    assert (log.version("s-1", tenant="alpha"), log.version("s-1", tenant="beta"), log.version("s-1")) == (2, 1, 0)
    assert log.get("e-1", tenant="beta").position == b.events[0].position
    assert log.get("e-1", tenant="alpha").position == a.events[0].position
    with pytest.raises(NotFound):
        log.get("e-2", tenant="beta")
    with tenant("beta"):  # the context's tenant is the default of every call
        assert log.version("s-1") == 1
        assert log.append("s-1", [ev(1)]).duplicate


def test_a_reused_event_id_names_only_the_callers_own_stream(db: Database) -> None:
    log = EventLog(db)
    log.append("secret-stream", [ev(1)], tenant="alpha")
    log.append("other", [ev(1)], tenant="beta")  # no collision with alpha's e-1
    log.append("mine", [ev(2)], tenant="beta")
    with pytest.raises(ValidationError) as info:
        log.append("other-2", [ev(2)], tenant="beta")
    assert "'mine'" in str(info.value) and "secret-stream" not in str(info.value)


def test_snapshots_are_per_tenant(db: Database) -> None:
    snapshots = SnapshotStore(db)
    snapshots.save("s", 3, {"who": "alpha"}, tenant="alpha")
    snapshots.save("s", 1, {"who": "beta"}, tenant="beta")
    alpha, beta = snapshots.load("s", tenant="alpha"), snapshots.load("s", tenant="beta")
    assert alpha is not None and beta is not None
    assert (alpha.version, alpha.state, beta.version, beta.state) == (3, {"who": "alpha"}, 1, {"who": "beta"})
    assert snapshots.load("s") is None


def test_tenant_page_import_and_delete_move_one_tenants_log(db: Database, tmp_path: Path) -> None:
    log = EventLog(db)
    log.append("s-1", [ev(1), ev(2)], tenant="alpha")
    log.append("s-1", [ev(1)], tenant="beta")
    log.append("s-2", [ev(3)], tenant="alpha")
    pages, after = [], 0
    while True:
        page = log.tenant_page("alpha", after, limit=2)
        pages.append(page.events)
        if not page.events:
            break
        after = page.next_after
    source = [e for p in pages for e in p]
    assert [(e.stream_id, e.version, e.event_id) for e in source] == [
        ("s-1", 1, "e-1"),
        ("s-1", 2, "e-2"),
        ("s-2", 1, "e-3"),
    ]

    target = open_database(f"sqlite:///{tmp_path}/target.db") if db.dialect == "sqlite" else db
    into = EventLog(target)
    if target is db:  # one PostgreSQL database: move alpha out and back in
        with db.transaction() as tx:
            assert into.delete_tenant_in(tx, "alpha") == 3
        assert log.read("s-1", tenant="alpha") == [] and log.version("s-1", tenant="beta") == 1
    into.append("s-9", [ev(9)], tenant="gamma")  # the target's positions are its own
    with target.transaction() as tx:
        assert into.import_in(tx, source) == 3
    with target.transaction() as tx:
        assert into.import_in(tx, source) == 0  # idempotent by (tenant, event id)
    copied = into.read("s-1", tenant="alpha") + into.read("s-2", tenant="alpha")
    strip = [(e.stream_id, e.version, e.event_id, e.type, e.payload, e.occurred_at, e.recorded_at) for e in copied]
    assert strip == [
        (e.stream_id, e.version, e.event_id, e.type, e.payload, e.occurred_at, e.recorded_at) for e in source
    ]
    assert min(e.position for e in copied) > into.read("s-9", tenant="gamma")[0].position
    assert into.append("s-1", [ev(4)], expected_version=2, tenant="alpha").version == 3
    clash = [NewEvent(type="Happened", payload={}, event_id="other-id")]
    foreign = log.append("s-1", clash, tenant="delta").events  # same stream and version, another event id
    with target.transaction() as tx, pytest.raises(ValidationError) as info:
        into.import_in(tx, [msgspec.structs.replace(foreign[0], tenant_id="alpha")])
    assert info.value.field == "version"
    if target is not db:
        target.close()


def test_a_v6_sqlite_log_keeps_its_positions_through_the_rebuild(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path}/v6.db")
    migrate(db, [Component("eventlog", MIGRATIONS.migrations[:6])])
    with db.transaction() as tx:
        for n in range(1, 6):
            tx.execute(
                "INSERT INTO eventlog_events (tenant_id, stream_id, version, event_id, event_type, schema_version, "
                "payload, metadata, occurred_at, recorded_at) VALUES ('default', 's', ?, ?, 'Happened', 1, '{}', "
                "'{}', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00')",
                (n, f"e-{n}"),
            )
        tx.execute("INSERT INTO eventlog_snapshots VALUES ('s', 'default', 3, '{}', '2025-01-01T00:00:00+00:00')")
        tx.execute("DELETE FROM eventlog_events WHERE version > 3")  # as an archived stream's delete leaves it
    db.close()
    db = open_database(f"sqlite:///{tmp_path}/v6.db")
    log = EventLog(db)  # applies eventlog 7
    assert [e.position for e in log.read("s")] == [1, 2, 3]
    assert log.append("t", [ev(9)]).position == 6  # 4 and 5 were handed out before: never again
    assert SnapshotStore(db).load("s") is not None
    assert log.append("s", [ev(1)], tenant="other").version == 1
    db.close()


def test_a_v6_postgresql_log_gets_tenant_keys_and_loses_the_global_ones(bare_pg_url: str) -> None:
    db = open_database(bare_pg_url)
    migrate(db, [Component("eventlog", MIGRATIONS.migrations[:6])])
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO eventlog_events VALUES (7, 'acme', 's', 1, 'e-1', 'Happened', 1, '{}', '{}', now(), now())"
        )
        tx.execute("INSERT INTO eventlog_snapshots VALUES ('s', 'default', 1, '{}', now())")
        tx.execute(  # an archived stream of acme: its record and its event ids
            "INSERT INTO eventlog_archived_streams VALUES ('old', 'acme', 1, 3, 3, 1, 'Happened', 'Happened', now(), "
            "'cold', 'tiering/x/stream=old/v1.parquet', 'c', now())"
        )
        tx.execute("INSERT INTO eventlog_archived_events VALUES ('e-0', 'old', 3)")
    migrate(db, [MIGRATIONS])
    with db.read() as tx:
        assert tx.one("SELECT tenant_id, stream_id FROM eventlog_archived_events") == ("acme", "old")
    assert EventLog(db).version("old", tenant="acme") == 1 and EventLog(db).version("old") == 0
    log = EventLog(db)
    assert log.read("s", tenant="acme")[0].position == 7
    loaded = SnapshotStore(db).load("s", tenant="acme")  # the snapshot took its stream's tenant
    assert loaded is not None and loaded.version == 1
    assert log.append("s", [ev(1)], tenant="other").version == 1  # e-1 and s again, in another tenant
    with db.read() as tx:
        keys = {str(r[0]) for r in tx.query("SELECT indexname FROM pg_indexes WHERE tablename = 'eventlog_events'")}
    assert "eventlog_events_event_id_key" not in keys and "eventlog_events_tenant_event_key" in keys
    db.close()


def test_the_async_log_keeps_the_callers_tenant_across_its_thread(db: Database) -> None:
    import asyncio

    from datastrata.eventlog import AsyncEventLog

    async def both() -> tuple[int, int]:
        alog = AsyncEventLog(EventLog(db))
        with tenant("alpha"):  # the context's tenant is taken before the work moves to a thread
            await alog.append("s", [ev(1)])
        await alog.append("s", [ev(1), ev(2)], tenant="beta")
        with tenant("alpha"):
            alpha = await alog.read("s")
        return len(alpha), len(await alog.read("s", tenant="beta"))

    assert asyncio.run(both()) == (1, 2)
