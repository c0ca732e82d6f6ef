"""Property: random operations of every system, for three or more tenants sharing ids, never cross a tenant.

Each example runs a random sequence of the registry's operations (:mod:`tests.tenancy.ops`) for fresh tenants in one
store, and each operation checks its answer against that tenant's own history. SQLite runs with the tenant guard on;
PostgreSQL as the application role under row-level security, the followers as the platform role.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import psycopg
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.stores.tenanttables import is_global
from datastrata.testing.servers import RoleUrls
from tests.tenancy.ops import OPERATIONS, SYSTEMS, World, run

FULL = os.environ.get("DATASTRATA_FULL") == "1"
EXAMPLES = 40 if FULL else 4
STEPS = 60 if FULL else 24
#: Shrinking a failure replays it many times (minutes on PostgreSQL): only under DATASTRATA_FULL=1.
PHASES = tuple(Phase) if FULL else (Phase.explicit, Phase.reuse, Phase.generate)
_examples = itertools.count()

steps = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(OPERATIONS), st.integers(0, 5)), min_size=8, max_size=STEPS
)


def test_the_registry_covers_every_system() -> None:
    assert {op.system for op in OPERATIONS} == set(SYSTEMS)


def _check_property(runtime: Runtime) -> None:
    """Run random operation sequences on `runtime`, each for three fresh tenants that share their ids."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not FULL,
        phases=PHASES,
    )
    @given(cases=steps)
    def check(cases: list[tuple[int, object, int]]) -> None:
        n = next(_examples)
        world = World(runtime, tuple(f"p{n}-{c}" for c in "abc"), shared_ids=True)
        for who, op, arg in cases:
            run(world, op, world.tenants[who], arg)  # type: ignore[arg-type]

    check()


def test_no_operation_crosses_a_tenant_on_sqlite_with_the_guard_on(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'pool.db'}?tenant_guard=on"
    with Runtime.open(Settings(store=store, objects=f"file://{tmp_path / 'objects'}")) as runtime:
        _check_property(runtime)


def test_no_operation_crosses_a_tenant_on_postgres_as_the_app_role(app_role_pg: RoleUrls, tmp_path: Path) -> None:
    settings_ = Settings(store=app_role_pg.app, platform_store=app_role_pg.platform, objects=f"file://{tmp_path}")
    with Runtime.open(settings_) as runtime:
        _check_property(runtime)
    _every_row_belongs_to_a_tenant_that_wrote(app_role_pg.owner)


def _every_row_belongs_to_a_tenant_that_wrote(owner: str) -> None:
    """No write landed under a tenant nobody bound (e.g. ``default`` or an empty tenant id)."""
    with psycopg.connect(owner) as conn:
        tables = [
            str(t)
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name = 'tenant_id'"
            )
        ]
        for table in tables:
            if is_global(table):
                continue
            found = {str(t) for (t,) in conn.execute(f'SELECT DISTINCT tenant_id FROM "{table}"'.encode())}
            assert all(t.startswith("p") and t[-2:] in ("-a", "-b", "-c") for t in found), (table, found)
