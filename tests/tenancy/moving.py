"""Shared pieces of the move tests: a tenant directory kept in a table (it survives a killed process) and a
placement that asks it, two locations with a state table, a bulk fill, and the writers that run during a move."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound
from datastrata.core.events import NewEvent
from datastrata.runtime import Location, LocationSpec, Runtime, Scope
from datastrata.runtime.moves import Journal, Move, Mover
from datastrata.runtime.movetables import TablePart, tenant_tables
from datastrata.runtime.tenants import TenantPlacement
from datastrata.stores.database import Database, Dialect

ITEMS_DDL = (
    "CREATE TABLE IF NOT EXISTS movetest_items (tenant_id TEXT NOT NULL, item_id INTEGER NOT NULL, "
    "value INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (tenant_id, item_id));"
)
PLACES_DDL = (
    "CREATE TABLE IF NOT EXISTS movetest_places (tenant TEXT PRIMARY KEY, model TEXT NOT NULL, "
    "location TEXT NOT NULL, state TEXT NOT NULL, epoch INTEGER NOT NULL);"
)


def items_ddl(dialect: Dialect) -> str:
    """The test's state table."""
    return ITEMS_DDL


class StoredPlaces:
    """A tenant directory and move placer kept in one table of the home store (what the catalogue does for real)."""

    ttl = 0.05

    def __init__(self, db: Database, specs: dict[str, LocationSpec]) -> None:
        self.db = db
        self.specs = specs
        db.ensure_schema("movetest.places", lambda d: PLACES_DDL)

    def add(self, tenant: str, model: str, location: str) -> None:
        """Place `tenant` in `location`."""
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO movetest_places VALUES (?, ?, ?, 'active', 1) ON CONFLICT (tenant) DO NOTHING",
                (tenant, model, location),
            )

    def multi_tenant(self) -> bool:
        return True

    def placement(self, tenant: str) -> TenantPlacement:
        with self.db.read() as tx:
            row = tx.one("SELECT model, location, state, epoch FROM movetest_places WHERE tenant = ?", (tenant,))
        if row is None:
            raise NotFound(f"no tenant {tenant!r}", field="tenant_id")
        model, location, state, epoch = row
        return TenantPlacement(tenant, "indie", str(model), str(state), int(epoch), self.specs[str(location)])

    def tenants(self) -> list[TenantPlacement]:
        with self.db.read() as tx:
            names = [str(r[0]) for r in tx.query("SELECT tenant FROM movetest_places ORDER BY tenant")]
        return [self.placement(n) for n in names]

    def invalidate(self) -> None:
        """Nothing is cached: every placement is read from the table."""

    # ---- the placer --------------------------------------------------------------------------------------

    def moving(self, subject: str) -> None:
        self._set(subject, "state = 'moving'", ())

    def switch(self, subject: str, target: dict[str, Any]) -> int:
        self._set(
            subject,
            "model = ?, location = ?, state = 'active', epoch = epoch + 1",
            (target["model"], target["location"]),
        )
        return self.placement(subject).epoch

    def stay(self, subject: str, source: dict[str, Any]) -> int:
        self._set(subject, "model = ?, location = ?, state = 'active'", (source["model"], source["location"]))
        return self.placement(subject).epoch

    def _set(self, subject: str, assignments: str, params: tuple[Any, ...]) -> None:
        with self.db.transaction() as tx:
            tx.execute(f"UPDATE movetest_places SET {assignments} WHERE tenant = ?", (*params, subject))


class ByPlaces:
    """A placement asking the directory: a tenant lives where its row says (the home location by default)."""

    kind = "by_tenant"

    def __init__(self, places: StoredPlaces, home: LocationSpec) -> None:
        self.places = places
        self.home = home

    def locate(self, scope: Scope) -> LocationSpec:
        try:
            spec = self.places.placement(scope.tenant).spec
        except NotFound:
            return self.home
        return spec or self.home

    def locations(self, scope: Scope) -> list[LocationSpec]:
        return [self.locate(scope)]

    def all(self) -> list[LocationSpec]:
        return list(self.places.specs.values())


def open_runtime(source_url: str, target_url: str, tmp: str) -> tuple[Runtime, StoredPlaces]:
    """A runtime whose home is `source_url`, with `target_url` as a second location, tenants acme and beta home."""
    specs = {
        "main": LocationSpec("main", source_url, f"ladybug:///{tmp}/g-main", ""),
        "acme-own": LocationSpec("acme-own", target_url, f"ladybug:///{tmp}/g-acme", ""),
    }
    home = Location.open(specs["main"])
    places = StoredPlaces(home.db, specs)
    home.close()
    runtime = Runtime.open(
        Settings(store=source_url, graph=specs["main"].graph), placement=ByPlaces(places, specs["main"])
    )
    runtime.tenants = places
    places.db = runtime.db
    for name in ("acme", "beta"):
        places.add(name, "shared", "main")
    for spec in specs.values():
        runtime.location(spec).db.ensure_schema("movetest.items", items_ddl)
    return runtime, places


def fill(db: Database, tenant: str, rows: int) -> None:
    """Bulk-insert `rows` items of `tenant` (a fixture, not commands)."""
    with db.transaction() as tx:
        tx.executemany(
            "INSERT INTO movetest_items (tenant_id, item_id, value, note) VALUES (?, ?, 0, ?)",
            [(tenant, i, f"item {i} of {tenant}") for i in range(rows)],
        )


def items_part(db: Database) -> list[TablePart]:
    """The source's state tables, with the test table's rows mapped from its streams (``items-<id>``)."""
    parts = []
    for part in tenant_tables(db):
        if part.table == "movetest_items":
            part = TablePart(
                part.table, part.columns, part.key, rows_of_stream=lambda s: ("item_id = ?", (int(s.split("-")[1]),))
            )
        parts.append(part)
    return parts


@dataclass
class Writer:
    """Writes to one tenant's items until stopped: each write bumps an item (or adds one) and appends its event."""

    runtime: Runtime
    tenant: str
    items: int
    stop: threading.Event = field(default_factory=threading.Event)
    bumps: Counter[int] = field(default_factory=Counter)
    added: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    commits: list[float] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                item = (n * 7919) % self.items
                new = n % 10 == 0
                if new:
                    item = self.items + len(self.added)
                started = time.perf_counter()
                scope = Scope("items", str(item), tenant=self.tenant)
                with self.runtime.transaction(scope) as work:
                    if new:
                        work.execute(
                            "INSERT INTO movetest_items (tenant_id, item_id, value, note) VALUES (?, ?, 1, 'new')",
                            (self.tenant, item),
                        )
                    else:
                        work.execute(
                            "UPDATE movetest_items SET value = value + 1 WHERE tenant_id = ? AND item_id = ?",
                            (self.tenant, item),
                        )
                    work.append([NewEvent("ItemBumped", {"item": item})])
                self.latencies.append(time.perf_counter() - started)
                self.commits.append(time.monotonic())
                if new:
                    self.added.append(item)
                else:
                    self.bumps[item] += 1
                time.sleep(0.002)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread


def values(db: Database, tenant: str) -> dict[int, int]:
    """Every item of `tenant` in `db` and its value."""
    with db.read() as tx:
        rows = tx.query("SELECT item_id, value FROM movetest_items WHERE tenant_id = ?", (tenant,))
    return {int(i): int(v) for i, v in rows}


def start(runtime: Runtime, places: StoredPlaces, tenant: str, **options: Any) -> Mover:
    """Journal a move of `tenant` from its home to ``acme-own`` and return its mover (not yet run)."""
    journal = Journal(runtime.db)
    move = journal.create(
        "tenant",
        tenant,
        {"model": "shared", "location": "main"},
        {"model": "dedicated-storage", "location": "acme-own"},
    )
    return mover(runtime, places, move, **options)


def mover(runtime: Runtime, places: StoredPlaces, move: Move, **options: Any) -> Mover:
    """The mover of journalled `move` over the runtime's locations."""
    source = runtime.location(places.specs[move.source["location"]])
    target = runtime.location(places.specs[move.target["location"]])
    return Mover(Journal(runtime.db), move, source, target, items_part(source.db), places, **options)
