"""Scatter-gather over real shard stores: fail and partial with a shard down, timeouts that cancel the query."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.runtime.location import Location
from datastrata.runtime.placement import Single
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.sharding import JumpRouter
from datastrata.sharding.adhoc import check_read_sql, scatter_sql
from datastrata.sharding.catalog import ShardCatalog, provision_all
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import route_key
from datastrata.sharding.scatter import (
    Gathered,
    ScatterFailed,
    Target,
    merge_count,
    merge_rows,
    merge_sum,
    rows,
    scalar,
    scatter,
)
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Database
from datastrata.stores.open import open_database
from datastrata.testing.servers import create_database

SHARDS = ["s0", "s1", "s2"]
KEYS = [f"acct-{i}" for i in range(60)]
#: A count that never finishes within a test's timeout unless the engine stops it.
FOREVER = 10**12
SLOW_COUNT = (
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < (SELECT n FROM knob)) "
    "SELECT COUNT(*) FROM c"
)


def _ledger(db: Database, keys: list[str]) -> None:
    with db.transaction() as tx:
        tx.run_script(
            "CREATE TABLE IF NOT EXISTS ledger (tenant_id TEXT NOT NULL, shard_key TEXT NOT NULL, "
            "shard_slot INTEGER NOT NULL, amount BIGINT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS knob (n BIGINT NOT NULL);"
        )
        tx.executemany(
            "INSERT INTO ledger (tenant_id, shard_key, shard_slot, amount) VALUES ('default', ?, ?, ?)",
            [(key, slot_of(key), int(key.split("-")[1])) for key in keys],
        )
        tx.execute("INSERT INTO knob (n) VALUES (10)")


@pytest.fixture(scope="module")
def sharded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Database]]:
    """Three provisioned shards of map ``accounts``, each holding its keys' ledger rows; the home store open.

    One set per module and backend (provisioning PostgreSQL databases is slow): a test that breaks a shard mends it.
    """
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path_factory.mktemp('scatter')}/datastrata.db"
    else:
        store = create_database(
            request.getfixturevalue("pg_server"),
            f"scatter{os.getpid()}",
            template=request.getfixturevalue("pg_template"),
        )
    settings = Settings(store=store)
    db = open_database(store)
    catalog = ShardCatalog(db)
    provision_all(settings, catalog, "accounts", SHARDS)
    shard_map = ShardMaps(db).create("accounts", JumpRouter(SHARDS))
    for name, spec in catalog.specs("accounts").items():
        shard_db = open_database(spec.store)
        try:
            _ledger(shard_db, [k for k in KEYS if route_key(shard_map, k).shard == name])
        finally:
            shard_db.close()
    try:
        yield settings, db
    finally:
        db.close()


def _locations(db: Database) -> list[Location]:
    return [Location.open(spec, max_size=2) for spec in ShardCatalog(db).specs("accounts").values()]


def _sum(tx: object) -> object:
    return scalar(tx, "SELECT SUM(amount) FROM ledger")  # type: ignore[arg-type]


TOTAL = sum(range(60))
BOTH = pytest.mark.parametrize("sharded", ["sqlite", "postgresql"], indirect=True)


@BOTH
def test_sum_count_and_rows_merge_over_every_shard(sharded: tuple[Settings, Database]) -> None:
    _, db = sharded
    locations = _locations(db)
    try:
        sums = scatter(locations, _sum, timeout=30)
        assert set(sums.answers) == set(SHARDS) and sums.complete
        assert merge_sum(sums) == TOTAL
        counts = scatter(locations, lambda tx: scalar(tx, "SELECT COUNT(*) FROM ledger"), timeout=30)
        assert merge_count(counts) == len(KEYS)
        everything = scatter(
            locations, lambda tx: rows(tx, "SELECT shard_key, amount FROM ledger ORDER BY amount DESC"), timeout=30
        )
        top = merge_rows(everything, key=lambda row: row[1], reverse=True, limit=5)
        assert [row[1] for row in top] == [59, 58, 57, 56, 55]
    finally:
        for location in locations:
            location.close()


@BOTH
def test_a_write_in_a_scatter_is_refused_by_the_engine_and_writes_nothing(sharded: tuple[Settings, Database]) -> None:
    _, db = sharded
    locations = _locations(db)
    try:
        with pytest.raises(ScatterFailed, match=r"s0 .*s1 .*s2 "):
            scatter(locations, lambda tx: tx.execute("DELETE FROM ledger"), timeout=30)
        assert merge_sum(scatter(locations, _sum, timeout=30)) == TOTAL
    finally:
        for location in locations:
            location.close()


@BOTH
def test_a_slow_shard_is_cancelled_and_the_others_answer_in_partial_mode(sharded: tuple[Settings, Database]) -> None:
    settings, db = sharded
    slow_spec = ShardCatalog(db).specs("accounts")["s1"]
    slow = open_database(slow_spec.store)
    try:
        with slow.transaction() as tx:
            tx.execute("UPDATE knob SET n = ?", (FOREVER,))
    finally:
        slow.close()
    sql = (
        SLOW_COUNT
        if settings.store.startswith("sqlite")
        else "SELECT COUNT(*) FROM knob, LATERAL (SELECT pg_sleep(n / 1000.0)) AS s"
    )
    locations = _locations(db)
    try:
        got = scatter(locations, lambda tx: scalar(tx, sql), timeout=1.5, policy="partial")
        assert set(got.answers) == {"s0", "s2"}, got.missing
        assert [m.shard for m in got.missing] == ["s1"]
        assert "timed out after 1.5s (its query was cancelled)" in got.missing[0].reason
        with pytest.raises(ScatterFailed, match=r"1 of 3 shards gave no answer: s1 \(timed out"):
            scatter(locations, lambda tx: scalar(tx, sql), timeout=1.5)
    finally:
        for location in locations:
            location.close()
        mend = open_database(slow_spec.store)
        with mend, mend.transaction() as tx:
            tx.execute("UPDATE knob SET n = 10")
    if not settings.store.startswith("sqlite"):  # the server stopped the sleep: nothing of it is left running
        with psycopg.connect(slow_spec.store, autocommit=True) as conn:
            left = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(n / 1000.0)%' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
        assert left == (0,)


@pytest.mark.parametrize("sharded", ["sqlite"], indirect=True)
def test_an_unreadable_sqlite_shard_is_missing_not_a_hang(sharded: tuple[Settings, Database]) -> None:
    _, db = sharded
    broken = ShardCatalog(db).specs("accounts")["s2"]
    path = Path(broken.store.split("///", 1)[1])
    aside = {f"{path}{extra}": path.with_name(f"aside{extra}") for extra in ("", "-wal", "-shm")}
    for name, moved in aside.items():
        if Path(name).exists():
            Path(name).rename(moved)
    path.write_bytes(b"this is not a database" * 100)
    specs = ShardCatalog(db).specs("accounts")
    targets = [Target(name, partial(Location.open, spec, max_size=1)) for name, spec in specs.items()]
    try:
        with pytest.raises(ScatterFailed, match=r"s2 \(BackendUnavailable.*not a database"):
            scatter(targets, _sum, timeout=10)
        got = scatter(targets, _sum, timeout=10, policy="partial")
        assert set(got.answers) == {"s0", "s1"} and [m.shard for m in got.missing] == ["s2"]
    finally:
        path.unlink()
        for name, moved in aside.items():
            if moved.exists():
                moved.rename(name)


@pytest.mark.parametrize("sharded", ["postgresql"], indirect=True)
def test_a_postgres_shard_refusing_connections_is_missing(sharded: tuple[Settings, Database]) -> None:
    settings, db = sharded
    refusing = ShardCatalog(db).specs("accounts")["s0"].store
    name = refusing.rsplit("/", 1)[1]
    with psycopg.connect(settings.store, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'.encode())
    try:
        with pytest.raises(ScatterFailed, match=r"1 of 3 shards gave no answer: s0 \("):
            scatter_sql(ShardCatalog(db), ShardMaps(db), "accounts", "SELECT SUM(amount) FROM ledger", merge="sum")
        answer = scatter_sql(
            ShardCatalog(db),
            ShardMaps(db),
            "accounts",
            "SELECT SUM(amount) FROM ledger",
            merge="sum",
            policy="partial",
        )
        assert [m.shard for m in answer.gathered.missing] == ["s0"]
        assert "not currently accepting connections" in answer.gathered.missing[0].reason
        assert answer.merged == sum(
            int(k.split("-")[1]) for k in KEYS if route_key(ShardMaps(db).current("accounts"), k).shard != "s0"
        )
    finally:
        with psycopg.connect(settings.store, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'.encode())


@pytest.mark.parametrize("sharded", ["sqlite"], indirect=True)
def test_a_runtime_scatters_over_the_locations_of_a_keyless_scope(sharded: tuple[Settings, Database]) -> None:
    settings, db = sharded
    placement = ShardCatalog(db).placement("accounts", Single.from_settings(settings).spec, ["ledger"])
    with Runtime.open(settings, placement=placement) as runtime:
        got = scatter(runtime.locations(Scope("ledger")), _sum, timeout=30)
    assert merge_sum(got) == TOTAL and list(got.answers) == SHARDS


@pytest.mark.parametrize("sharded", ["sqlite"], indirect=True)
def test_cli_scatter_merges_and_refuses_bad_input(sharded: tuple[Settings, Database]) -> None:
    settings, _ = sharded
    base = ["--store", settings.store, "shards", "scatter"]
    out = CliRunner().invoke(
        app, [*base, "accounts", "--sql", "SELECT SUM(amount) FROM ledger", "--merge", "sum", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert (
        data["value"] == TOTAL and data["epoch"] == 1 and set(data["shards"]) == set(SHARDS) and data["missing"] == []
    )
    listed = CliRunner().invoke(
        app, [*base, "accounts", "--sql", "SELECT amount FROM ledger", "--merge", "rows", "--limit", "3", "--json"]
    )
    assert json.loads(listed.output)["rows"] == [[0], [1], [2]]
    cases = [
        (["accounts", "--sql", "DELETE FROM ledger"], "sql must be a read"),
        (["accounts", "--sql", "SELECT 1; DELETE FROM ledger"], "one statement"),
        (["accounts", "--sql", "SELECT 1", "--policy", "maybe"], "policy must be one of fail, partial"),
        (["accounts", "--sql", "SELECT 1", "--timeout", "0"], "timeout must be"),
        (["accounts", "--sql", "SELECT 1", "--merge", "avg"], "merge must be one of"),
        (["nomap", "--sql", "SELECT 1"], "no shard map 'nomap'"),
    ]
    for args, message in cases:
        bad = CliRunner().invoke(app, [*base, *args])
        assert bad.exit_code != 0 and message in bad.output, (args, bad.output)
    failing = CliRunner().invoke(app, [*base, "accounts", "--sql", "SELECT amount FROM nowhere"])
    assert failing.exit_code != 0 and "3 of 3 shards gave no answer" in failing.output and "nowhere" in failing.output
    check_read_sql("  select 1 ;")
    with pytest.raises(ValidationError, match="sql"):
        check_read_sql("")


def test_policy_and_timeout_are_checked_before_anything_runs() -> None:
    with pytest.raises(ValidationError, match="policy"):
        scatter([], _sum, timeout=1, policy="best-effort")
    with pytest.raises(ValidationError, match="timeout"):
        scatter([], _sum, timeout=-1)
    assert scatter([], _sum, timeout=1) == Gathered({})


@pytest.mark.skipif(
    os.environ.get("DATASTRATA_FULL") != "1", reason="starts a second server (~20 s): DATASTRATA_FULL=1"
)
@pytest.mark.parametrize("sharded", ["postgresql"], indirect=True)
def test_a_postgres_shard_whose_server_stopped_is_missing_not_a_hang(sharded: tuple[Settings, Database]) -> None:
    """A shard on a second server: answering, then the server stops; open and new connections both fail fast."""
    from datastrata.testing.servers import ephemeral_postgres, migrated

    _, db = sharded
    near = ShardCatalog(db).specs("accounts")["s0"]
    with ephemeral_postgres(fsync=False) as other:
        far_url = migrated(create_database(other, "far"))
        far_db = open_database(far_url)
        with far_db:
            _ledger(far_db, ["acct-1000"])
        catalog = ShardCatalog(db)
        catalog.add("far", "s0", near.store)
        catalog.add("far", "s9", far_url)
        specs = catalog.specs("far")
        opened = [Location.open(spec, max_size=1) for spec in specs.values()]
        assert merge_sum(scatter(opened, _sum, timeout=10)) > 1000
    try:
        fresh = [Target(name, partial(Location.open, spec, max_size=1)) for name, spec in specs.items()]
        for targets in (opened, fresh):
            with pytest.raises(ScatterFailed, match=r"1 of 2 shards gave no answer: s9 \("):
                scatter(targets, _sum, timeout=10)
            got = scatter(targets, _sum, timeout=10, policy="partial")
            assert list(got.answers) == ["s0"] and [m.shard for m in got.missing] == ["s9"]
    finally:
        for location in opened:
            location.close()
