"""Database per service: each context its own store and log, its own relay to the bus, its own role on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.services.events import ServiceEvents
from datastrata.services.placement import ByContext, by_context, check_service
from datastrata.services.provision import provision
from datastrata.stores.migrations import Component
from datastrata.testing.servers import RoleUrls


def _things(service: str) -> Component:
    """A service's own table (and nothing of any other service's)."""
    return Component.baseline(
        f"test.{service}",
        lambda _: (
            f"CREATE TABLE IF NOT EXISTS {service}_things (tenant_id TEXT NOT NULL, id TEXT NOT NULL, "
            "PRIMARY KEY (tenant_id, id));"
        ),
    )


COMPONENTS = {"alpha": (_things("alpha"),), "beta": (_things("beta"),)}


def _open(settings: Settings) -> tuple[Runtime, ByContext]:
    with Runtime.open(settings) as probe:
        placement = by_context(probe.home.spec, COMPONENTS)
    provision(settings, placement, COMPONENTS)
    return Runtime.open(settings, placement=placement), placement


def _write(runtime: Runtime, service: str, thing: str) -> None:
    with runtime.transaction(Scope.of(service, thing)) as work:
        work.execute(f"INSERT INTO {service}_things (tenant_id, id) VALUES (?, ?)", (work.scope.tenant, thing))
        work.append([NewEvent("ThingMade", {"service": service, "id": thing})])


def test_each_service_lives_in_its_own_store_with_its_own_log(tmp_path: Path) -> None:
    runtime, placement = _open(Settings.embedded(tmp_path))
    with runtime:
        _write(runtime, "alpha", "a1")
        _write(runtime, "beta", "b1")
        alpha, beta = (runtime.locate(Scope.of(name)) for name in ("alpha", "beta"))
        assert alpha.spec.store != beta.spec.store != runtime.home.spec.store
        assert Path(alpha.spec.store.removeprefix("sqlite:///")).parent == tmp_path / "services"
        assert alpha.log.identity != beta.log.identity
        assert [e.payload["id"] for e in alpha.log.read_all()] == ["a1"]  # each log holds its own service's facts
        assert [e.payload["id"] for e in beta.log.read_all()] == ["b1"]
        assert runtime.home.log.head() == 0
        assert runtime.locate(Scope.of("alpha.detail")).name == "alpha"  # a sub-context is its service's
        assert runtime.locate(Scope.of("elsewhere")).name == runtime.home.name
        # alpha's file has no table of beta's
        with pytest.raises(Exception, match="beta_things"), runtime.transaction(Scope.of("alpha", "x")) as work:
            work.execute("SELECT count(*) FROM beta_things")
        assert placement.all()[0] == runtime.home.spec


def test_each_services_events_reach_the_bus_through_its_own_relay(tmp_path: Path) -> None:
    runtime, placement = _open(Settings.embedded(tmp_path))
    got: list[Event] = []
    with runtime:
        events = ServiceEvents(runtime, placement)
        events.subscribe("watcher", got.append, types=["ThingMade"], producers=["alpha", "beta"])
        _write(runtime, "alpha", "a1")
        _write(runtime, "beta", "b1")
        assert events.pending() == 2
        while runtime.run_once():
            pass
        assert sorted(e.payload["id"] for e in got) == ["a1", "b1"]
        assert events.pending() == 0
        _write(runtime, "alpha", "a2")
        runtime.run_once()
        assert [e.payload["id"] for e in got][-1] == "a2"  # each relay resumes from its own checkpoint


def test_service_names_are_refused_when_they_cannot_name_a_schema_role_and_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        check_service("Orders-1")
    assert refused.value.field == "service"
    with Runtime.open(Settings.embedded(tmp_path)) as runtime, pytest.raises(ConfigurationError, match="at least"):
        ByContext({}, runtime.home.spec)


def _denied(runtime: Runtime, service: str, sql: str) -> str:
    with pytest.raises(Exception) as caught, runtime.transaction(Scope.of(service, "x")) as work:
        work.execute(sql)
    return str(getattr(caught.value, "sqlstate", "")) or str(caught.value)


def test_on_postgresql_a_services_role_cannot_read_another_services_tables(
    pg_server: str, app_role_pg: RoleUrls
) -> None:
    settings = Settings(
        store=app_role_pg.app,
        owner_store=app_role_pg.owner,
        platform_store=app_role_pg.platform,
        app_role=app_role_pg.app_role,
        platform_role=app_role_pg.platform_role,
        provision_store=f"{pg_server}/postgres",  # a role that may CREATE ROLE
    )
    runtime, placement = _open(settings)
    alpha, beta = placement.service("alpha"), placement.service("beta")
    assert alpha.namespace and beta.namespace and alpha.role != beta.role
    with runtime:
        _write(runtime, "alpha", "a1")
        _write(runtime, "beta", "b1")
        with runtime.read(Scope.of("alpha")) as work:  # its own tables, unqualified: its schema
            assert work.scalar("SELECT count(*) FROM alpha_things") == 1
            assert work.scalar("SELECT current_user") == alpha.role
        other = f'SELECT count(*) FROM "{beta.namespace}".beta_things'
        assert _denied(runtime, "alpha", other) == "42501"  # permission denied: the database says no
        events = f'SELECT count(*) FROM "{beta.namespace}".eventlog_events'
        assert _denied(runtime, "alpha", events) == "42501"  # nor another service's log
        assert _denied(runtime, "alpha", "SELECT count(*) FROM public.eventlog_events") == "42501"  # nor home's
        with runtime.read(Scope.of("beta")) as work:
            assert work.scalar("SELECT count(*) FROM beta_things") == 1
    again, _ = _open(settings)  # provisioning again finds everything made: nothing pending
    again.close()


def test_on_postgresql_the_app_role_alone_reaches_no_service_schema(pg_server: str, app_role_pg: RoleUrls) -> None:
    import psycopg

    settings = Settings(
        store=app_role_pg.app, owner_store=app_role_pg.owner, app_role=app_role_pg.app_role,
        platform_role=app_role_pg.platform_role, provision_store=f"{pg_server}/postgres",
    )  # fmt: skip
    runtime, placement = _open(settings)
    runtime.close()
    schema = placement.service("alpha").namespace
    # no SET ROLE: the grant does not pass the service role's rights on
    with psycopg.connect(app_role_pg.app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f'SELECT count(*) FROM "{schema}".alpha_things')


def test_on_redis_each_services_log_is_a_stream_of_its_own(tmp_path: Path, redis_url: str) -> None:
    import redis

    settings = Settings(store=f"sqlite:///{tmp_path / 'home.db'}", bus=redis_url, consumer="test")
    runtime, placement = _open(settings)
    got: list[str] = []
    with runtime:
        events = ServiceEvents(runtime, placement)
        events.subscribe("watcher", lambda e: got.append(e.payload["id"]), types=["ThingMade"], producers=["beta"])
        _write(runtime, "alpha", "a1")
        _write(runtime, "beta", "b1")
        for _ in range(5):
            runtime.run_once()
        assert got == ["b1"]  # subscribed to beta's stream only
        client = redis.Redis.from_url(redis_url)
        streams = {key.decode() for key in client.scan_iter("datastrata:events:*")}
        client.close()
        for name in ("alpha", "beta"):
            assert f"datastrata:events:{runtime.locate(Scope.of(name)).log.identity}" in streams
