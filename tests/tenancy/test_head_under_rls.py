"""A unit of work's head (its consistency token) as the application role: the tenant's own index, never a log scan."""

from __future__ import annotations

import json

import psycopg

from datastrata.core.config import Settings
from datastrata.core.events import NewEvent
from datastrata.eventlog.postgres_engine import TENANT_HEAD
from datastrata.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.testing.servers import RoleUrls

OTHERS = 5_000  # another tenant's events, all after acme's: a scan of the position index would walk them all


def _plan_rows(node: dict[str, object]) -> int:
    """Rows every node of a plan read, those its filters removed included."""
    read = int(str(node.get("Actual Rows", 0))) + int(str(node.get("Rows Removed by Filter", 0)))
    children = node.get("Plans", [])
    assert isinstance(children, list)
    return read + sum(_plan_rows(child) for child in children)


def test_the_head_of_a_tenants_work_reads_its_last_position_from_its_index(app_role_pg: RoleUrls) -> None:
    settings = Settings(store=app_role_pg.app, platform_store=app_role_pg.platform)
    with Runtime.open(settings) as runtime:
        with runtime.transaction(Scope("portfolio", "p-1", "acme")) as work:
            last = work.append([NewEvent("Opened", {"n": 1}), NewEvent("Opened", {"n": 2})]).events[-1].position
        with psycopg.connect(app_role_pg.owner, autocommit=True) as conn:  # globex's events, after acme's
            conn.execute(
                "INSERT INTO eventlog_events (position, tenant_id, stream_id, version, event_id, event_type, "
                "schema_version, payload, metadata, occurred_at, recorded_at) "
                "SELECT %s + g, 'globex', 's-' || g, 1, 'e-' || g, 'Opened', 1, '{}', '{}', now(), now() "
                "FROM generate_series(1, %s) g",
                (last, OTHERS),
            )
            conn.execute("ANALYZE eventlog_events")
        with runtime.transaction(Scope("portfolio", "p-1", "acme")) as work:
            assert work.head() == last  # the tenant's own last position: a token for reading its writes
        with runtime.transaction(Scope("portfolio", "p-1", "newco")) as work:
            assert work.head() == 0  # no events yet: found at once, not after walking every other tenant's

    with psycopg.connect(app_role_pg.app) as conn:  # the same statement as the application role, bound as acme
        conn.execute("SELECT set_config('datastrata.tenant', 'acme', true)")
        sql = TENANT_HEAD.replace("?", "%s")
        (plan,) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", ("acme",)).fetchone() or (None,)
        tree = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
        assert "Seq Scan" not in json.dumps(tree)
        assert _plan_rows(tree) < 10, tree  # an index probe: a handful of rows, not the other tenant's 5,000
