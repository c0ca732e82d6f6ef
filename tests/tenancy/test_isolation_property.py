"""Property: random operations of every system, for tenants on all three models sharing ids, never cross a tenant.

Each example catalogues four fresh tenants through the real catalogue — two shared (`indie`), one with dedicated
storage (`professional`: a schema and role, or a file) and one with dedicated infrastructure (`enterprise`: a
database, or a folder) — and runs a random sequence of the registry's operations (:mod:`tests.tenancy.ops`) for
them, grants between them included; each operation checks its answer against that tenant's own history. After each
example every location is read as its owner: each holds rows of its own tenants only. SQLite runs with the tenant
guard on; PostgreSQL as the application role under row-level security, the followers as the platform role, and
after each example a raw ``SELECT`` as the application role, with no tenant set, finds nothing anywhere.
"""

from __future__ import annotations

import base64
import itertools
import os
import sqlite3
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from datastrata.core.config import Settings, sqlite_path
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.runtime.location import LocationSpec
from datastrata.stores.tenanttables import is_global
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.naming import with_database
from datastrata.tenancy.secrets import KEY_VARIABLE
from datastrata.testing.servers import RoleUrls
from tests.tenancy.ops import OPERATIONS, SYSTEMS, World, deposit, run

FULL = os.environ.get("DATASTRATA_FULL") == "1"
EXAMPLES = 30 if FULL else 3
STEPS = 60 if FULL else 30
#: Shrinking a failure replays it many times (minutes on PostgreSQL): only under DATASTRATA_FULL=1.
PHASES = tuple(Phase) if FULL else (Phase.explicit, Phase.reuse, Phase.generate)
#: Each example's tenants by tier: two share the pool, one has dedicated storage, one dedicated infrastructure.
TIERS = {"a": "indie", "b": "indie", "c": "professional", "d": "enterprise"}
_examples = itertools.count()

steps = st.lists(
    st.tuples(st.integers(0, len(TIERS) - 1), st.sampled_from(OPERATIONS), st.integers(0, 26)),
    min_size=8,
    max_size=STEPS,
)


_BY_NAME = {op.name: op for op in OPERATIONS}
_A, _B, _C, _D = range(len(TIERS))
#: The grant story every run tells across the models (random sequences rarely line a grant up with its use): a
#: shared studio lets the bridge studio write one item; the silo studio lets the shared one read a status; uses
#: beyond a grant, by the pool neighbour, on an archived item and after the revoke are refused. An op's argument
#: `n` picks the item (n % 3), the permission or use (n // 3 % 3) and the other tenant (n // 9 % 3).
GRANT_STORY = [
    (who, _BY_NAME[name], n)
    for who, name, n in [
        *((t, "register_item", 0) for t in (_A, _B, _C, _D)),  # every studio holds an item k1
        (_A, "grant_item", 15),  # a → c: footage:write on k1
        (_D, "grant_item", 0),  # d → a: status:read on k1
        (_C, "use_grant", 6),  # c writes a's k1 (its own k1, and b's, untouched)
        (_C, "use_grant", 3),  # and reads it back
        (_A, "use_grant", 18),  # a reads d's status
        (_A, "use_grant", 21),  # but not d's footage
        (_B, "use_grant", 3),  # b, a's pool neighbour, reads nothing of a's
        *((t, "list_grants", 0) for t in (_A, _B, _C, _D)),
        (_A, "publish_item", 0),
        (_A, "publish_item", 0),  # archived: c's granted write is refused
        (_C, "use_grant", 6),
        (_A, "record_views", 0),
        *((t, "cost_report", 0) for t in (_A, _C, _D)),
        (_A, "revoke_grant", 1),  # d's grant is not a's to revoke
        (_A, "revoke_grant", 0),  # a revokes its own: c's use is refused from now on
        (_C, "use_grant", 3),
        (_C, "list_grants", 0),
    ]
]


def test_the_registry_covers_every_system() -> None:
    assert {op.system for op in OPERATIONS} == set(SYSTEMS)


@pytest.fixture(autouse=True)
def _catalogue_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key the catalogue seals dedicated tenants' store URLs with."""
    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(bytes(range(32))).decode())


class Locations:
    """Reads every location of a runtime as its owner, and as the application role with nothing bound."""

    def __init__(self, runtime: Runtime, roles: RoleUrls | None = None) -> None:
        self.runtime, self.roles = runtime, roles
        #: The shared tenants of every example so far: the only tenants the home tables may hold.
        self.shared: set[str] = set()

    def tenants_in(self, spec: LocationSpec | None) -> dict[str, set[str]]:
        """Each tenant table of the location (None: the home) and the tenants whose rows it holds, read as the owner."""
        if self.roles is None:
            path = sqlite_path(spec.store if spec else self.runtime.home.spec.store)
            with sqlite3.connect(path) as conn:
                names = [str(n) for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                tables = [
                    t for t in names if any(c[1] == "tenant_id" for c in conn.execute(f'PRAGMA table_info("{t}")'))
                ]
                return {t: {str(x) for (x,) in conn.execute(f'SELECT DISTINCT tenant_id FROM "{t}"')} for t in tables}
        schema, url = "public", self.roles.owner
        if spec is not None and spec.namespace is not None:
            schema = spec.namespace
        elif spec is not None:
            url = with_database(self.roles.owner, _database(spec.store))
        with psycopg.connect(url) as conn:
            tables = _tables(conn, schema)
            return {
                t: {str(x) for (x,) in conn.execute(f'SELECT DISTINCT tenant_id FROM "{schema}"."{t}"'.encode())}
                for t in tables
            }

    def nothing_crossed(self, world: World) -> None:
        """Every location holds rows of its own tenants only; as the app role, nothing is visible unbound."""
        placed = {t: self.runtime.tenants.placement(t) for t in world.tenants}
        self.shared |= {t for t, p in placed.items() if p.spec is None}
        for table, found in self.tenants_in(None).items():
            if is_global(table):
                continue  # the catalogue, its audit and the grants list every tenant by design
            assert found <= self.shared, f"home table {table} holds rows of {sorted(found - self.shared)}"
        for tid, placement in placed.items():
            if placement.spec is None:
                continue
            held = self.tenants_in(placement.spec)
            for table, found in held.items():
                assert found <= {tid}, f"{placement.model} location of {tid}: {table} holds {sorted(found)}"
            assert {tid} in held.values(), f"{tid}'s own location holds none of its rows"
            if self.roles is not None:
                self.app_role_sees_nothing(placement.spec)
        if self.roles is not None:
            self.app_role_sees_nothing(None)

    def app_role_sees_nothing(self, spec: LocationSpec | None) -> None:
        """A raw SELECT as the application role without the tenant setting returns no row of any tenant table."""
        assert self.roles is not None
        schema, owner_url, url = "public", self.roles.owner, self.roles.app
        if spec is not None and spec.namespace is not None:
            schema = spec.namespace
        elif spec is not None:
            owner_url, url = with_database(self.roles.owner, _database(spec.store)), spec.store
        with psycopg.connect(owner_url) as owner:
            tables = _tables(owner, schema)
        assert tables, f"no tenant tables in {schema}"
        with psycopg.connect(url, autocommit=True) as conn:
            if spec is not None and spec.namespace is not None:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):  # its schema is its role's alone
                    conn.execute(f'SELECT count(*) FROM "{schema}".eventlog_events'.encode())
                conn.execute(f'SET ROLE "{spec.role}"'.encode())  # even as the tenant's role: no setting, no rows
            for table in tables:
                row = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"'.encode()).fetchone()
                assert row == (0,), f"the app role read {row} rows of {schema}.{table} with no tenant set"


def _tables(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> list[str]:
    """The tenant tables of `schema` (a ``tenant_id`` column, not global)."""
    rows = conn.execute(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = %s AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' ORDER BY 1",
        (schema,),
    )
    return [str(name) for (name,) in rows if not is_global(str(name))]


def _database(store: str) -> str:
    return store.rsplit("/", 1)[1].split("?", 1)[0]


def _check_property(runtime: Runtime, locations: Locations) -> None:
    """Run random operation sequences on `runtime`, each for fresh tenants on every model that share their ids."""
    catalogue = catalogue_of(runtime)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not FULL,
        phases=PHASES,
    )
    @given(cases=steps)
    @example(cases=GRANT_STORY)
    def check(cases: list[tuple[int, object, int]]) -> None:
        n = next(_examples)
        tiers = {f"p{n}-{c}": tier for c, tier in TIERS.items()}
        for tid, tier in tiers.items():
            catalogue.add(tid, tier)
        world = World(runtime, tuple(tiers), shared_ids=True, tiers=tiers)
        for who, op, arg in cases:
            run(world, op, world.tenants[who], arg)  # type: ignore[arg-type]
        for tid in world.tenants:  # every location holds rows, so the checks below read something
            with tenant(tid):
                deposit(world, tid, 0)
        world.settle()
        locations.nothing_crossed(world)

    check()


def test_no_operation_crosses_a_tenant_on_sqlite_with_the_guard_on(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'pool.db'}?tenant_guard=on"
    with Runtime.open(Settings(store=store, objects=f"file://{tmp_path / 'objects'}")) as runtime:
        _check_property(runtime, Locations(runtime))


def test_no_operation_crosses_a_tenant_on_postgres_as_the_app_role(
    pg_server: str, app_role_pg: RoleUrls, tmp_path: Path
) -> None:
    settings_ = Settings(
        store=app_role_pg.app,
        owner_store=app_role_pg.owner,
        platform_store=app_role_pg.platform,
        app_role=app_role_pg.app_role,
        platform_role=app_role_pg.platform_role,
        provision_store=f"{pg_server}/postgres",  # a role that may CREATE ROLE and CREATE DATABASE
        objects=f"file://{tmp_path}",
    )
    with Runtime.open(settings_) as runtime:
        _check_property(runtime, Locations(runtime, app_role_pg))
