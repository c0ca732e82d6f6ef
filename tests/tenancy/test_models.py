"""The bridge and silo models on real stores: each tenant's own location, log, followers and migrations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from datastrata.catalog import components
from datastrata.catalog import migrate as migrate_all
from datastrata.core.config import Settings
from datastrata.core.errors import RuleViolation, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.core.tenancy import tenant as acting_for
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.migrations import migrate_placement
from datastrata.runtime.placement import ByTenant
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.stores.database import Database, Dialect, Tx
from datastrata.stores.migrations import Component, pending
from datastrata.tenancy.models import provisioner
from datastrata.tenancy.templates import templates
from datastrata.testing.servers import create_roles
from tests.tenancy.directory import Listed, provisioned

BRIDGE, SILO = "dedicated-storage", "dedicated-infrastructure"
#: The fuller run (``make test-full``): twenty bridge tenants on PostgreSQL too, and a silo's DROP DATABASE.
FULL = os.environ.get("DATASTRATA_FULL") == "1"


def _tally_ddl(dialect: Dialect) -> str:
    return (
        "CREATE TABLE IF NOT EXISTS tenant_tally (tenant_id TEXT NOT NULL, stream_id TEXT NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (tenant_id, stream_id));"
    )


TALLY = Component.baseline("test.tenant_tally", _tally_ddl)


class Tally:
    """Counts each tenant's events per stream, in the location the follower reads."""

    name = "test.tenant_tally"
    event_types: frozenset[str] | None = frozenset({"Counted"})

    def setup(self, db: Database) -> None:
        db.ensure(TALLY)

    def apply(self, tx: Tx, event: Event) -> None:
        tx.execute(
            "INSERT INTO tenant_tally (tenant_id, stream_id, n) VALUES (?, ?, 1) "
            "ON CONFLICT (tenant_id, stream_id) DO UPDATE SET n = tenant_tally.n + 1",
            (event.tenant_id, event.stream_id),
        )

    def clear(self, tx: Tx) -> None:
        tx.execute("DELETE FROM tenant_tally")


@pytest.fixture
def settings(home_url: str) -> Settings:
    """The home store, migrated as `datastrata migrate` leaves it."""
    settings = Settings(store=home_url)
    if home_url.startswith("sqlite"):
        migrate_all(settings)
    return settings


@pytest.fixture
def runtime(settings: Settings) -> Iterator[tuple[Runtime, Listed]]:
    directory = Listed()
    with Runtime.open(settings, tenants=directory) as runtime:
        yield runtime, directory


def place(runtime: Runtime, tenant: str) -> LocationSpec:
    """The location the runtime's by-tenant placement gives `tenant`."""
    assert isinstance(runtime.placement, ByTenant)
    return runtime.placement.of(tenant)


def counted(runtime: Runtime, tenant: str, stream: str = "P1") -> Event:
    return runtime.append(Scope("tally", stream, tenant), [NewEvent("Counted", {"by": tenant})]).events[0]


def test_each_model_lands_in_its_own_location_with_its_own_log(runtime: tuple[Runtime, Listed]) -> None:
    rt, directory = runtime
    bridge = provisioned(rt, directory, "acme", BRIDGE)
    silo = provisioned(rt, directory, "big", SILO)
    assert bridge is not None and silo is not None
    first = {tenant: counted(rt, tenant) for tenant in ("default", "acme", "big")}
    located = {tenant: rt.locate(Scope("tally", "P1", tenant)) for tenant in first}
    assert [located[t].name for t in first] == ["main", bridge.name, silo.name]
    assert len({loc.identity for loc in located.values()}) == 3, "each location is a log of its own"
    for tenant, event in first.items():
        assert event.version == 1, "the same stream id starts afresh in each tenant's log"
        assert [e.payload["by"] for e in rt.stream(Scope("tally", "P1", tenant))] == [tenant]
        assert located[tenant].log.head() == event.position, "nobody else's events are in this log"
    with rt.home.db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM eventlog_events WHERE tenant_id <> 'default'") == 0


def test_a_bridge_tenant_is_a_schema_and_role_on_postgresql_or_a_file_on_sqlite(
    runtime: tuple[Runtime, Listed],
) -> None:
    rt, directory = runtime
    spec = provisioned(rt, directory, "acme", BRIDGE)
    assert spec is not None and spec.name.startswith("t_acme_") and len(spec.name) <= 63
    if rt.home.db.dialect == "postgresql":
        assert (spec.store, spec.namespace, spec.role) == (rt.home.spec.store, spec.name, spec.name)
        with rt.home.db.read() as tx:
            assert tx.scalar("SELECT count(*) FROM pg_roles WHERE rolname = ? AND NOT rolcanlogin", (spec.role,)) == 1
            tables = tx.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = ?", (spec.namespace,))
            template = tx.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'tenant_template'")
            assert tables == template > 20
    else:
        assert spec.namespace is None and Path(spec.store.removeprefix("sqlite:///")).exists()
    location = rt.location(spec)
    assert pending(location.db, components()) == [], "the template's record of migrations came along"
    with location.read(Scope("tally", "P1", "acme")) as work:
        assert work.scalar("SELECT count(*) FROM schema_migrations") == sum(
            len(c.on(work.dialect)) for c in components()
        )


def test_a_second_tenant_of_a_model_is_not_the_first(runtime: tuple[Runtime, Listed]) -> None:
    rt, directory = runtime
    one, two = provisioned(rt, directory, "acme", BRIDGE), provisioned(rt, directory, "acme-2", BRIDGE)
    assert one is not None and two is not None and one.name != two.name
    counted(rt, "acme")
    counted(rt, "acme")
    assert counted(rt, "acme-2").version == 1
    assert rt.location(one).identity != rt.location(two).identity


def test_bad_input_is_refused_and_nothing_is_made(runtime: tuple[Runtime, Listed]) -> None:
    rt, directory = runtime
    with pytest.raises(ValidationError, match="--store is for dedicated-infrastructure") as refused:
        provisioner(BRIDGE).provision(rt, "acme", store="sqlite:///elsewhere.db")
    assert refused.value.field == "store"
    with pytest.raises(ValidationError, match="tenant_id must be"):
        provisioner(SILO).provision(rt, "Not A Tenant")
    with pytest.raises(ValidationError, match="model must be one of"):
        provisioner("dedicated")
    provisioned(rt, directory, "acme", BRIDGE)
    counted(rt, "acme")
    with pytest.raises(RuleViolation, match="exists already"):
        provisioner(BRIDGE).provision(rt, "acme")
    assert len(rt.stream(Scope("tally", "P1", "acme"))) == 1, "the first provisioning's data is untouched"


@pytest.mark.parametrize("model", [BRIDGE, SILO])
def test_destroy_removes_what_provision_made(runtime: tuple[Runtime, Listed], model: str) -> None:
    rt, directory = runtime
    if model == SILO and rt.home.db.dialect == "postgresql" and not FULL:
        pytest.skip("DROP DATABASE waits for a checkpoint (~10 s on a busy server): `make test-full`")
    for tenant in ("acme",):
        spec = provisioned(rt, directory, tenant, model)
        assert spec is not None
        counted(rt, tenant)
        provisioner(model).destroy(rt, tenant, spec)
        del directory.placed[tenant]
        assert spec.name not in [loc.name for loc in rt._open.values()]
        if spec.store.startswith("sqlite"):
            assert not Path(spec.store.removeprefix("sqlite:///")).exists()
        elif spec.namespace is not None:
            with rt.home.db.read() as tx:
                assert tx.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = ?", (spec.namespace,)) == 0
                assert tx.scalar("SELECT count(*) FROM pg_roles WHERE rolname = ?", (spec.role,)) == 0
        else:
            with rt.home.db.read() as tx:
                assert tx.scalar("SELECT count(*) FROM pg_database WHERE datname = ?", (spec.name,)) == 0
        assert provisioned(rt, directory, tenant, model) is not None, "the tenant can be provisioned afresh"


def test_followers_of_every_location_run(runtime: tuple[Runtime, Listed], settings: Settings) -> None:
    rt, directory = runtime
    provisioned(rt, directory, "acme", BRIDGE)
    provisioned(rt, directory, "big", SILO)
    migrate_placement(rt.placement, [TALLY])  # as `datastrata migrate` would, in every location
    rt.register(Tally())
    rt.open_followers()
    names = sorted(n for n in rt.runners if n.startswith(Tally.name))
    bridge, silo = (place(rt, t).name for t in ("acme", "big"))
    assert names == sorted([Tally.name, f"{Tally.name}@{bridge}", f"{Tally.name}@{silo}"])
    for tenant, times in (("default", 1), ("acme", 2), ("big", 3)):
        for _ in range(times):
            counted(rt, tenant)
    while rt.run_once():
        pass
    for tenant, times in (("default", 1), ("acme", 2), ("big", 3)):
        with rt.read(Scope("tally", None, tenant)) as work:
            rows = work.query("SELECT tenant_id, n FROM tenant_tally")
        assert rows == [(tenant, times)], f"{tenant}'s follower ran in its own location only"
    assert {s.name for s in rt.statuses(fresh=True)} >= set(names)


def test_migrate_upgrades_every_location_and_the_templates(runtime: tuple[Runtime, Listed], settings: Settings) -> None:
    rt, directory = runtime
    bridge = provisioned(rt, directory, "acme", BRIDGE)
    silo = provisioned(rt, directory, "big", SILO)
    assert bridge is not None and silo is not None
    extra = templates(settings)
    done = migrate_placement(rt.placement, [TALLY], extra=extra)
    names = [d.location for d in done]
    assert names[:3] == ["main", bridge.name, silo.name] and "tenant_template" in names  # home, then tenant order
    assert all([p.component for p in d.migrations] == [TALLY.name] for d in done), done
    assert migrate_placement(rt.placement, [TALLY], extra=extra, dry_run=True)[1].migrations == ()
    for tenant in ("default", "acme", "big"):
        with rt.read(Scope("tally", None, tenant)) as work:
            assert work.scalar("SELECT count(*) FROM tenant_tally") == 0
    provisioned(rt, directory, "late", BRIDGE)
    late = rt.location(place(rt, "late"))
    with late.read(Scope("tally", None, "late")) as work:  # copied from the upgraded template
        assert work.scalar("SELECT count(*) FROM schema_migrations WHERE component = ?", (TALLY.name,)) == 1


def test_many_bridge_tenants_open_in_one_process_over_the_home_pool(runtime: tuple[Runtime, Listed]) -> None:
    rt, directory = runtime
    before = rt.connections()
    many = 20 if FULL or rt.home.db.dialect == "sqlite" else 5  # each PostgreSQL clone takes about a second
    tenants = [f"tenant-{i:02d}" for i in range(many)]
    for tenant in tenants:
        provisioned(rt, directory, tenant, BRIDGE)
        counted(rt, tenant)
    assert {rt.locate(Scope("tally", "P1", t)).name for t in tenants} == {s.name for s in rt.placement.all()[1:]}
    assert len(rt._open) == many + 1
    for tenant in tenants:
        assert [e.tenant_id for e in rt.stream(Scope("tally", "P1", tenant))] == [tenant]
    assert rt.connections() == before, "bridge locations share the home store's pool"


@pytest.mark.parametrize("home_url", ["postgresql"], indirect=True)
def test_the_connection_cap_holds_with_many_silos(home_url: str) -> None:
    cap = 16
    settings = Settings(store=home_url, max_connections=str(cap))
    directory = Listed()
    with Runtime.open(settings, tenants=directory) as rt:
        tenants = [f"silo-{i}" for i in range(6)]
        for tenant in tenants:
            provisioned(rt, directory, tenant, SILO)
        for _ in range(2):
            for tenant in tenants:
                counted(rt, tenant)
                assert rt.connections() <= cap
        assert sum(1 for n in rt._open if n != "main") < len(tenants), "idle silos were closed to stay under the cap"
        databases = [place(rt, t).store.rsplit("/", 1)[1] for t in tenants]
        with psycopg.connect(home_url, autocommit=True) as conn:
            held = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(%s) OR datname = current_database()",
                (databases,),
            ).fetchone()
        assert held is not None and held[0] <= cap + 1  # + this probe's own connection
        for tenant in tenants:
            assert len(rt.stream(Scope("tally", "P1", tenant))) == 2


def test_a_bad_connection_cap_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="max_connections must be a whole number") as refused:
        Runtime.open(Settings(store=f"sqlite:///{tmp_path}/home.db", max_connections="lots"))
    assert getattr(refused.value, "field", None) == "max_connections"


def test_set_role_keeps_a_bridge_tenant_to_its_schema(pg_server: str, bare_pg_url: str) -> None:
    database = bare_pg_url.rsplit("/", 1)[1]
    urls = create_roles(pg_server, database, prefix="bridgetest")
    settings = Settings(
        store=urls.app,
        owner_store=urls.owner,
        platform_store=urls.platform,
        app_role=urls.app_role,
        platform_role=urls.platform_role,
        provision_store=bare_pg_url,  # a role that may CREATE ROLE (the owner may not)
    )
    migrate_all(settings)
    directory = Listed()
    with Runtime.open(settings, tenants=directory) as rt:
        acme, beta = (provisioned(rt, directory, t, BRIDGE) for t in ("acme", "beta"))
        assert acme is not None and beta is not None
        assert counted(rt, "acme").version == counted(rt, "beta").version == 1
        forgotten = f'SELECT count(*) FROM "{acme.namespace}".eventlog_events'
        with pytest.raises(psycopg.errors.InsufficientPrivilege), rt.home.db.read() as tx:
            tx.scalar(forgotten)  # the app role itself has no rights on a tenant's schema: fails closed
        with pytest.raises(psycopg.errors.InsufficientPrivilege), rt.location(beta).read(Scope("t", None, "beta")) as w:
            w.scalar(forgotten)  # nor has another tenant's role
        with acting_for("acme"), rt.location(acme).read(Scope("t", None, "acme")) as work:  # bound, as the runtime does
            assert work.scalar(forgotten) == 1
            assert work.scalar("SELECT current_user") == acme.role
        assert migrate_all(settings, tenants=directory)[1].location == acme.name, "every location, as the owner"


@pytest.mark.parametrize("home_url", ["postgresql"], indirect=True)
def test_silo_followers_past_the_cap_take_turns(home_url: str) -> None:
    settings = Settings(store=home_url, max_connections="14")  # room for two silo pools beside the home pool
    directory = Listed()
    with Runtime.open(settings, tenants=directory) as rt:
        tenants = [f"turn-{i}" for i in range(4)]
        for tenant in tenants:
            provisioned(rt, directory, tenant, SILO)
        migrate_placement(rt.placement, [TALLY])
        rt.register(Tally())
        for times, tenant in enumerate(tenants, start=1):
            for _ in range(times):
                counted(rt, tenant)
        rt.open_followers()  # does not fail at the cap: the silos past it wait for their turn
        for _ in range(3 * len(tenants)):
            rt.run_once()
            assert rt.connections() <= 14
        for times, tenant in enumerate(tenants, start=1):
            with rt.read(Scope("tally", None, tenant)) as work:
                assert work.query("SELECT tenant_id, n FROM tenant_tally") == [(tenant, times)]
