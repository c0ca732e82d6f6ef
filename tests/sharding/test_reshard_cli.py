"""``datastrata shards plan|reshard|reshard-status|reverse`` over catalogued SQLite shards, end to end."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.core.config import Settings
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.sharding.catalog import ShardCatalog
from datastrata.sharding.maps import ShardMaps
from datastrata.stores.open import open_database
from tests.sharding.resharding import CONTEXT, assert_each_once, credit, ledger_ddl, seed

KEYS = [f"acct-{i}" for i in range(400)]


def _runtime(store: str) -> Runtime:
    db = open_database(store)
    placement = ShardCatalog(db).placement("accounts", LocationSpec("main", store, "", ""), ttl=0.05)
    runtime = Runtime.open(Settings(store=store), placement=placement)
    for spec in placement.shards.values():
        runtime.location(spec).db.ensure_schema("test.ledger", ledger_ddl)
    return runtime


def test_plan_reshard_status_and_reverse_from_the_command_line(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/datastrata.db"
    cli = CliRunner()
    made = cli.invoke(app, ["--store", store, "shards", "init", "accounts", "--count", "2", "--context", CONTEXT])
    assert made.exit_code == 0, made.output
    with _runtime(store) as runtime:
        seed(runtime, KEYS)
        credit(runtime, KEYS[0])
    bad = cli.invoke(app, ["--store", store, "shards", "plan", "accounts", "--add", "1", "--remove", "s0"])
    assert bad.exit_code != 0 and "exactly one" in bad.output
    plan_file = tmp_path / "plan.json"
    planned = cli.invoke(
        app, ["--store", store, "shards", "plan", "accounts", "--add", "1", "--out", str(plan_file), "--json"]
    )
    assert planned.exit_code == 0, planned.output
    plan = json.loads(plan_file.read_text())
    assert json.loads(planned.output) == plan and {m["target"] for m in plan["moves"]} == {"s2"}
    db = open_database(store)
    assert ShardMaps(db).current("accounts").epoch == 1  # planning switched nothing
    assert "s2" in {e.shard for e in ShardCatalog(db).entries("accounts")}  # the new shard's store is made
    ran = cli.invoke(app, ["--store", store, "shards", "reshard", str(plan_file), "--grace", "0"])
    assert ran.exit_code != 0 and "lacks the sharded table(s) ledger_accounts" in ran.output
    with _runtime(store):
        pass  # the ledger's table on the new shard too (what `datastrata migrate` does for a system's tables)
    ran = cli.invoke(app, ["--store", store, "shards", "reshard", str(plan_file), "--grace", "0"])
    assert ran.exit_code == 0, ran.output
    assert "completed" in ran.output
    shown = cli.invoke(app, ["--store", store, "shards", "reshard-status", "accounts", "--json"])
    status = json.loads(shown.output)
    assert status["state"] == "completed" and status["copied"] == plan["rows"]
    assert ShardMaps(db).current("accounts").epoch == 1 + len(plan["moves"])
    again = cli.invoke(app, ["--store", store, "shards", "reshard", str(plan_file), "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["state"] == "completed"  # resumable: nothing left
    gone = cli.invoke(app, ["--store", store, "shards", "reverse", "accounts"])
    assert gone.exit_code != 0 and "cleaned up" in gone.output  # after cleanup: plan the opposite instead
    with _runtime(store) as runtime:
        assert_each_once(runtime, KEYS, Counter({KEYS[0]: 1}))
    db.close()
