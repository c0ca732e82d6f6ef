"""Fixtures: real SQLite files, and PostgreSQL and Redis servers started from local binaries."""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from datastrata.security.keys import KeyStore
from datastrata.stores.database import Database
from datastrata.stores.open import open_database
from datastrata.tenancy.secrets import KEY_VARIABLE
from datastrata.testing.servers import (
    RoleUrls,
    ServerUnavailable,
    create_database,
    create_roles,
    ephemeral_pgbouncer,
    ephemeral_postgres,
    ephemeral_redis,
    ephemeral_s3,
    ephemeral_temporal,
    migrated,
)

#: The ``api_client`` fixture's type: ``api_client(app, role="admin")`` is a context manager of a TestClient.
ApiClient = Callable[..., AbstractContextManager[TestClient]]
REQUIRE_SERVERS = os.environ.get("DATASTRATA_REQUIRE_SERVERS") == "1"
#: `make test-full` runs every variant of a sampled matrix; `make test` its sample (`pytest_collection_modifyitems`).
FULL = os.environ.get("DATASTRATA_FULL") == "1"
_db_names = itertools.count()
#: Every test process (and the commands it starts) has the platform key: personal fields are sealed only with one.
#: A test of its absence removes it (``monkeypatch.delenv``).
os.environ.setdefault(KEY_VARIABLE, base64.urlsafe_b64encode(b"datastrata-tests-platform-key-32").decode())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the variants of a ``@pytest.mark.sample(ids…)`` test outside its sample, unless ``DATASTRATA_FULL=1``.

    A fault matrix (kill points by engines) runs whole in `make test-full`; `make test` runs the named variants
    (each id as pytest prints it between the brackets), so every engine and every step is still covered by some
    run without the whole matrix costing CI minutes.
    """
    if FULL:
        return
    for item in items:
        marker = item.get_closest_marker("sample")
        callspec = getattr(item, "callspec", None)
        if marker is not None and callspec is not None and callspec.id not in marker.args:
            item.add_marker(pytest.mark.skip(reason="outside the sample of its matrix: `make test-full` runs it"))


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason} (DATASTRATA_REQUIRE_SERVERS=1, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in its own folder, so embedded defaults (./.datastrata/…) never collide between tests."""
    monkeypatch.chdir(tmp_path)
    for role in ("STORE", "BUS", "CACHE", "OBJECTS", "GRAPH", "TEMPORAL"):
        monkeypatch.delenv(f"DATASTRATA_{role}", raising=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL 15+ server for the whole session; its base URL."""
    try:
        with ephemeral_postgres() as url:
            yield url
    except ServerUnavailable as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A Redis server for the whole session; its URL."""
    try:
        with ephemeral_redis() as url:
            yield url
    except ServerUnavailable as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-compatible API server (moto's server mode) for the whole session; its endpoint URL."""
    try:
        with ephemeral_s3() as url:
            yield url
    except ServerUnavailable as exc:
        _unavailable(str(exc))


@pytest.fixture
def s3_url(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An ``s3://`` objects URL of a fresh bucket on the session's S3 server (test credentials in the environment)."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"b{os.getpid()}-{next(_db_names)}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/data?endpoint={s3_server}&region=us-east-1"


@pytest.fixture(params=["file", "s3"])
def objects_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh objects URL, once per backend: a local folder and a bucket on the S3 API server."""
    if request.param == "file":
        return f"file://{tmp_path / 'objects'}"
    return str(request.getfixturevalue("s3_url"))


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    """The name of a database with every component's migrations applied, copied for each test."""
    from datastrata.integrations.eventsourcing import TRACKING_MIGRATIONS

    name = f"template{os.getpid()}"
    migrated(create_database(pg_server, name), TRACKING_MIGRATIONS)
    return name


@pytest.fixture
def pg_url(pg_server: str, pg_template: str) -> str:
    """URL of a fresh PostgreSQL database for one test, migrated (as `datastrata migrate` leaves it), no rows."""
    return create_database(pg_server, f"t{os.getpid()}_{next(_db_names)}", template=pg_template)


#: The role names of the row-level security fixtures (roles live in the whole cluster; every test reuses them).
RLS_PREFIX = "dsrls"


@pytest.fixture(scope="session")
def rls_template(pg_server: str) -> str:
    """The name of a database migrated by its owner role with application and platform roles: RLS on."""
    from datastrata.catalog import migrate
    from datastrata.core.config import Settings

    name = f"rlstemplate{os.getpid()}"
    create_database(pg_server, name)
    roles = create_roles(pg_server, name, prefix=RLS_PREFIX)
    migrate(Settings(store=roles.owner, app_role=roles.app_role, platform_role=roles.platform_role))
    return name


@pytest.fixture
def app_role_pg(pg_server: str, rls_template: str) -> RoleUrls:
    """A fresh migrated database with row-level security on, reached as its owner, application and platform roles."""
    name = f"rls{os.getpid()}_{next(_db_names)}"
    create_database(pg_server, name, template=rls_template)
    return create_roles(pg_server, name, prefix=RLS_PREFIX)


@pytest.fixture(scope="session")
def pgbouncer_url(pg_server: str) -> Iterator[str]:
    """A PgBouncer (transaction pooling, one server connection per database and user) in front of `pg_server`."""
    users = ["postgres", *(f"{RLS_PREFIX}_{kind}" for kind in ("owner", "app", "platform"))]
    try:
        with ephemeral_pgbouncer(pg_server, users=users, pool_size=1) as url:
            yield url
    except ServerUnavailable as exc:
        _unavailable(str(exc))


def through_pooler(url: str, pooler_base: str) -> str:
    """Return `url` reached through the pooler at `pooler_base` (same user and database, ``?pooler=pgbouncer``)."""
    user = url.split("://", 1)[1].split("@", 1)[0]
    database = url.rsplit("/", 1)[1]
    return f"postgresql://{user}@{pooler_base.rsplit('@', 1)[1]}/{database}?pooler=pgbouncer"


@pytest.fixture
def bare_pg_url(pg_server: str) -> str:
    """URL of a fresh, empty PostgreSQL database: nothing migrated."""
    return create_database(pg_server, f"t{os.getpid()}_{next(_db_names)}")


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """URL of the session's Redis server, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    yield redis_server


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file for one test."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    """An open database on each backend."""
    database = open_database(store_url)
    yield database
    database.close()


@contextlib.contextmanager
def authenticated(app: FastAPI, role: str = "admin") -> Iterator[TestClient]:
    """Start `app`, create a key of `role` on its store, and yield a TestClient that sends it."""
    with TestClient(app) as http:
        runtime = app.state.runtime
        _, key = KeyStore(runtime.db, clock=runtime.clock).create(role=role, note="test")
        http.headers["Authorization"] = f"Bearer {key}"
        yield http


@pytest.fixture
def api_client() -> ApiClient:
    """Return ``api_client(app, role="admin")``: a started app's TestClient authenticated with a new key."""
    return authenticated


def finished_job(http: TestClient, answer: Any) -> dict[str, Any]:
    """Follow a 202's `Location` until its job has ended (bounded by a generous deadline); return the job."""
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 120
    while True:
        job: dict[str, Any] = http.get(answer.headers["location"]).json()
        if job["state"] in ("succeeded", "failed", "interrupted"):
            return job
        assert time.monotonic() < deadline, f"job {job['id']} did not end: {job}"
        time.sleep(0.02)


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[str]:
    """A Temporal dev server (in memory) for the session; its frontend address."""
    try:
        with ephemeral_temporal() as target:
            yield target
    except ServerUnavailable as exc:
        _unavailable(str(exc))
