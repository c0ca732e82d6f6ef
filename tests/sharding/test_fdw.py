"""The postgres_fdw coordinator: foreign partitions per shard answer the same SUM as the app's fan-out, per epoch."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.sharding import JumpRouter
from datastrata.sharding.adhoc import scatter_sql
from datastrata.sharding.catalog import ShardCatalog, provision_all
from datastrata.sharding.fdw import Coordinator
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import route_key
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Database
from datastrata.stores.open import open_database
from datastrata.testing.servers import create_database

SHARDS = ["s0", "s1", "s2"]
KEYS = [f"acct-{i}" for i in range(300)]
SUM_SQL = "SELECT SUM(amount) FROM ledger"
#: The same SUM grouped by the partition key first: PostgreSQL 15 pushes a whole aggregate to each shard only so.
PUSHED_SQL = "SELECT SUM(total) FROM (SELECT shard, SUM(amount) AS total FROM ledger GROUP BY shard) AS per_shard"


@pytest.fixture(scope="module")
def sharded(pg_server: str, pg_template: str) -> Iterator[tuple[Settings, Database]]:
    """Three PostgreSQL shards of map ``accounts`` with their keys' ledger rows (module-wide: provisioning is slow)."""
    settings = Settings(store=create_database(pg_server, f"fdw{os.getpid()}", template=pg_template))
    db = open_database(settings.store)
    catalog = ShardCatalog(db)
    provision_all(settings, catalog, "accounts", SHARDS)
    shard_map = ShardMaps(db).create("accounts", JumpRouter(SHARDS))
    for name, spec in catalog.specs("accounts").items():
        shard = open_database(spec.store)
        with shard, shard.transaction() as tx:
            tx.run_script(
                "CREATE TABLE ledger (tenant_id TEXT NOT NULL, shard_key TEXT NOT NULL, shard_slot INTEGER NOT NULL, "
                "amount BIGINT NOT NULL)"
            )
            tx.executemany(
                "INSERT INTO ledger VALUES ('default', ?, ?, ?)",
                [(k, slot_of(k), int(k.split("-")[1])) for k in KEYS if route_key(shard_map, k).shard == name],
            )
    try:
        yield settings, db
    finally:
        db.close()


def test_the_coordinator_sum_equals_the_app_fan_out_and_is_pushed_down(sharded: tuple[Settings, Database]) -> None:
    settings, db = sharded
    catalog, maps = ShardCatalog(db), ShardMaps(db)
    coordinator = Coordinator(settings, catalog, maps, "accounts")
    built = coordinator.build("ledger")
    assert built["built_from_epoch"] == 1 and built["fresh"]
    assert coordinator.build("ledger") == built  # idempotent
    _, rows = coordinator.sql(SUM_SQL)
    fanned = scatter_sql(catalog, maps, "accounts", SUM_SQL, merge="sum")
    assert int(rows[0][0]) == fanned.merged == sum(range(300))
    _, counts = coordinator.sql("SELECT tableoid::regclass::text, COUNT(*) FROM ledger GROUP BY 1 ORDER BY 1")
    assert [(name, int(n)) for name, n in counts] == [
        (f"ledger__{s}", int(fanned_count)) for s, fanned_count in _counts(catalog, maps).items()
    ]
    _, plan = coordinator.sql(f"EXPLAIN (VERBOSE) {SUM_SQL}")
    text = "\n".join(str(r[0]) for r in plan)
    assert text.count("Partial Aggregate") == 3  # partitionwise: PostgreSQL 15 sums each shard's rows here
    _, plan = coordinator.sql(f"EXPLAIN (VERBOSE) {PUSHED_SQL}")
    text = "\n".join(str(r[0]) for r in plan)
    assert text.count("Async Foreign Scan") == 3, text  # the shards are asked at once
    assert text.count("sum(amount) FROM public.ledger__coordinated GROUP BY") == 3, text  # summed on each shard
    assert int(coordinator.sql(PUSHED_SQL)[1][0][0]) == sum(range(300))


def _counts(catalog: ShardCatalog, maps: ShardMaps) -> dict[str, int]:
    got = scatter_sql(catalog, maps, "accounts", "SELECT COUNT(*) FROM ledger", merge="none")
    return {name: int(rows[0][0]) for name, rows in sorted(got.gathered.answers.items())}


def test_after_a_map_switch_the_coordinator_refuses_until_refreshed(sharded: tuple[Settings, Database]) -> None:
    settings, db = sharded
    catalog, maps = ShardCatalog(db), ShardMaps(db)
    coordinator = Coordinator(settings, catalog, maps, "accounts")
    coordinator.build("ledger")
    current = maps.current("accounts")
    maps.switch("accounts", current.router, expected_epoch=current.epoch)  # same routes, a new epoch
    with pytest.raises(RuleViolation, match=r"built from epoch \d+ .* --refresh"):
        coordinator.sql(SUM_SQL)
    refreshed = CliRunner().invoke(
        app,
        ["--store", settings.store, "shards", "coordinator", "accounts", "--table", "ledger", "--refresh", "--json"],
    )
    assert refreshed.exit_code == 0, refreshed.output
    assert json.loads(refreshed.output)["built_from_epoch"] == current.epoch + 1
    out = CliRunner().invoke(app, ["--store", settings.store, "shards", "sql", "accounts", SUM_SQL, "--json"])
    assert out.exit_code == 0, out.output
    assert int(json.loads(out.output)["rows"][0][0]) == sum(range(300))


def test_bad_input_to_the_coordinator_is_refused(sharded: tuple[Settings, Database], tmp_path: object) -> None:
    settings, db = sharded
    coordinator = Coordinator(settings, ShardCatalog(db), ShardMaps(db), "accounts")
    with pytest.raises(NotFound, match="no table 'nothing'"):
        coordinator.build("nothing")
    with pytest.raises(ValidationError, match="table must be"):
        coordinator.build("Bad Table")
    with pytest.raises(ValidationError, match="sql must be a read"):
        coordinator.sql("DELETE FROM ledger")
    coordinator.build("ledger", refresh=True)
    with pytest.raises(Exception, match="read-only transaction"):
        coordinator.sql("WITH gone AS (DELETE FROM ledger RETURNING 1) SELECT COUNT(*) FROM gone")
    assert int(coordinator.sql(SUM_SQL)[1][0][0]) == sum(range(300))
    with pytest.raises(NotFound, match="no shard map 'nomap'"):
        Coordinator(settings, ShardCatalog(db), ShardMaps(db), "nomap").build("ledger")
    ShardMaps(db).create("unbuilt", JumpRouter(SHARDS))
    with pytest.raises(NotFound, match=r"no coordinator for map 'unbuilt'.*shards coordinator unbuilt --table"):
        Coordinator(settings, ShardCatalog(db), ShardMaps(db), "unbuilt").sql(SUM_SQL)
    with pytest.raises(Exception, match="PostgreSQL server"):
        Coordinator(Settings(store="sqlite:///x.db"), ShardCatalog(db), ShardMaps(db), "accounts")


def test_a_filter_on_the_shard_column_asks_that_shard_only(sharded: tuple[Settings, Database]) -> None:
    settings, db = sharded
    catalog, maps = ShardCatalog(db), ShardMaps(db)
    coordinator = Coordinator(settings, catalog, maps, "accounts")
    coordinator.build("ledger", refresh=True)
    _, plan = coordinator.sql("EXPLAIN SELECT COUNT(*) FROM ledger WHERE shard = 's1'")
    text = "\n".join(str(r[0]) for r in plan)
    assert "ledger__s1" in text and "ledger__s0" not in text and "ledger__s2" not in text
    _, rows = coordinator.sql("SELECT COUNT(*) FROM ledger WHERE shard = 's1'")
    assert int(rows[0][0]) == _counts(catalog, maps)["s1"]
