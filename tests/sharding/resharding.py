"""Shared set-up of the reshard tests: a runtime over N SQLite (or PostgreSQL) shards, a sharded ledger, a writer."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import platform
from datastrata.runtime.location import Location, LocationSpec
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.sharding import JumpRouter, Router
from datastrata.sharding.catalog import ShardCatalog, provision_all
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import ByShard, StoredMap
from datastrata.sharding.slots import slot_of
from datastrata.stores.database import Database, Dialect
from datastrata.stores.open import open_database
from datastrata.testing.servers import create_database

MAP = "accounts"
CONTEXT = "ledger"


def ledger_ddl(dialect: Dialect) -> str:
    """A sharded state table: one row per account, with the convention's shard columns."""
    return (
        "CREATE TABLE IF NOT EXISTS ledger_accounts (tenant_id TEXT NOT NULL, account TEXT NOT NULL, "
        "shard_key TEXT NOT NULL, shard_slot INTEGER NOT NULL, balance BIGINT NOT NULL, writes BIGINT NOT NULL, "
        "PRIMARY KEY (tenant_id, account)); "
        "CREATE INDEX IF NOT EXISTS ledger_accounts_slot ON ledger_accounts (shard_slot)"
    )


@dataclass
class Shards:
    """The stores of one reshard test: home, and each shard's URL."""

    home: str
    shards: dict[str, str]

    def specs(self) -> dict[str, LocationSpec]:
        """The shard locations."""
        return {name: LocationSpec(name, url, "", "") for name, url in self.shards.items()}

    def create_map(self, router: Router) -> None:
        """Install epoch 1 of the map and the ledger table on every shard."""
        db = open_database(self.home)
        try:
            ShardMaps(db).create(MAP, router)
        finally:
            db.close()
        for url in self.shards.values():
            shard = open_database(url)
            try:
                shard.ensure_schema("test.ledger", ledger_ddl)
            finally:
                shard.close()

    def open(self, *, ttl: float = 0.05) -> Runtime:
        """Open a runtime routing the ledger by the stored map."""
        maps_db = open_database(self.home)
        source = StoredMap(ShardMaps(maps_db), MAP, ttl=ttl)
        home = LocationSpec("main", self.home, "", "")
        placement = ByShard(source, self.specs(), home, contexts=[CONTEXT])
        runtime = Runtime.open(Settings(store=self.home), placement=placement)
        for location in runtime.locations(Scope(CONTEXT)):
            location.db.ensure_schema("test.ledger", ledger_ddl)
        return runtime


def sqlite_shards(folder: str, count: int) -> Shards:
    """Shards s0..s{count-1} as SQLite files in `folder`."""
    return Shards(f"sqlite:///{folder}/home.db", {f"s{i}": f"sqlite:///{folder}/s{i}.db" for i in range(count)})


def credit(runtime: Runtime, key: str, amount: int = 1) -> None:
    """One write of `key`: its balance and write count go up, its event appended in the same transaction."""
    with runtime.transaction(Scope(CONTEXT, key)) as work:
        work.execute(
            "INSERT INTO ledger_accounts (tenant_id, account, shard_key, shard_slot, balance, writes) "
            "VALUES ('default', ?, ?, ?, ?, 1) ON CONFLICT (tenant_id, account) DO UPDATE SET "
            "balance = ledger_accounts.balance + excluded.balance, writes = ledger_accounts.writes + 1",
            (key, key, slot_of(key), amount),
        )
        work.append([NewEvent("Credited", {"amount": amount})])


def seed(runtime: Runtime, keys: Sequence[str]) -> None:
    """Put one row per key on its shard directly (a bulk load: no events), one transaction per shard."""
    placement = runtime.placement
    assert isinstance(placement, ByShard)
    by_shard: dict[str, list[str]] = {}
    for key in keys:
        by_shard.setdefault(placement.route(key).shard, []).append(key)
    for shard, mine in by_shard.items():
        db = runtime.location(placement.shard(shard)).db
        with platform(), db.transaction() as tx:
            tx.executemany(
                "INSERT INTO ledger_accounts (tenant_id, account, shard_key, shard_slot, balance, writes) "
                "VALUES ('default', ?, ?, ?, 100, 0)",
                [(k, k, slot_of(k)) for k in mine],
            )


@dataclass
class Writer:
    """A thread crediting keys round-robin until stopped; counts every acknowledged write per key."""

    runtime: Runtime
    keys: Sequence[str]
    acked: Counter[str] = field(default_factory=Counter)
    errors: list[BaseException] = field(default_factory=list)
    #: Between two writes (a writer of ~150 writes a second, not a busy loop hogging the GIL and the CI's cores).
    pace: Callable[[], None] = lambda: time.sleep(0.005)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Writer:
        """Start writing."""
        self._thread.start()
        return self

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            key = self.keys[index % len(self.keys)]
            index += 1
            try:
                credit(self.runtime, key)
            except BaseException as exc:  # reported by the test
                self.errors.append(exc)
                return
            self.acked[key] += 1
            self.pace()

    def stop(self) -> Counter[str]:
        """Stop and return the acknowledged writes per key."""
        self._stop.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the writer is stuck"
        return self.acked


def rows_on(location: Location) -> dict[str, tuple[int, int]]:
    """Every ledger row of `location`: key → (balance, writes)."""
    with platform(), location.db.read() as tx:
        return {
            str(r[0]): (int(r[1]), int(r[2])) for r in tx.query("SELECT account, balance, writes FROM ledger_accounts")
        }


def events_on(location: Location) -> Counter[str]:
    """The number of events per stream in `location`'s log."""
    with platform(), location.db.read() as tx:
        return Counter(
            {
                str(r[0]): int(r[1])
                for r in tx.query("SELECT stream_id, COUNT(*) FROM eventlog_events GROUP BY stream_id")
            }
        )


def assert_each_once(runtime: Runtime, seeded: Sequence[str], acked: Counter[str]) -> None:
    """Every key's row and events live on exactly its shard under the current map, with every acknowledged write."""
    placement = runtime.placement
    assert isinstance(placement, ByShard) and isinstance(placement.source, StoredMap)
    placement.source.invalidate()
    held = {name: rows_on(runtime.location(spec)) for name, spec in placement.shards.items()}
    logs = {name: events_on(runtime.location(spec)) for name, spec in placement.shards.items()}
    for key in {*seeded, *acked}:
        home = placement.route(key).shard
        where = [name for name, rows in held.items() if key in rows]
        assert where == [home], f"{key}: rows on {where}, routed to {home}"
        balance, writes = held[home][key]
        base = 100 if key in seeded else 0
        assert writes == acked[key] and balance == base + acked[key], (key, held[home][key], acked[key])
        stream = f"{CONTEXT}-{key}"
        on = [name for name, counts in logs.items() if counts[stream]]
        assert on == ([home] if acked[key] else []), f"{stream}: events on {on}, routed to {home}"
        assert logs[home][stream] == acked[key]


def default_router(count: int) -> Router:
    """A jump router over s0..s{count-1}."""
    return JumpRouter([f"s{i}" for i in range(count)])


def open_db(url: str) -> Database:
    """Open a store (closed by the caller)."""
    return open_database(url)


def store_of(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> tuple[str, Callable[[str], str] | None]:
    """A home store of `backend` and, on PostgreSQL, how to make a shard's database (a copy of the migrated
    template, quicker than migrating each); SQLite shards are provisioned by the catalogue (None)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/home.db", None
    store = str(request.getfixturevalue("pg_url"))
    server, template = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_template")
    stem = store.rsplit("/", 1)[-1]

    def databases(shard: str) -> str:
        return create_database(server, f"{stem}_{shard}", template=template)

    return store, databases


def catalogue(
    settings: Settings, shards: Sequence[str], routed: Sequence[str], databases: Callable[[str], str] | None
) -> LocationSpec:
    """Catalogue `shards` of the map (provisioned, or made by `databases`), route by `routed` (jump), and give each
    shard the ledger table; the home's location."""
    db = open_database(settings.store)
    try:
        catalog = ShardCatalog(db)
        if databases is None:
            provision_all(settings, catalog, MAP, list(shards))
        else:
            for name in shards:
                catalog.add(MAP, name, databases(name))
        catalog.set_contexts(MAP, [CONTEXT])
        ShardMaps(db).create(MAP, JumpRouter(list(routed)))
        for spec in catalog.specs(MAP).values():
            shard = open_database(spec.store)
            try:
                shard.ensure_schema("test.ledger", ledger_ddl)
            finally:
                shard.close()
        return LocationSpec("main", settings.store, "", "")
    finally:
        db.close()
