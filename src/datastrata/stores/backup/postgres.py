"""PostgreSQL backups through its own tools: ``pg_dump -Fc`` from one exported snapshot, ``pg_restore`` in one
transaction. The password goes to the tools in ``PGPASSWORD``, never on a command line or in a message."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datastrata.core.errors import BackendUnavailable, ConfigurationError, ValidationError
from datastrata.core.redact import redact
from datastrata.stores.backup.manifest import LogMark

FILE = "store.pgdump"
#: Where to look for the client tools first (Debian keeps each major version's tools off PATH).
BINDIR_ENV = "DATASTRATA_PG_BINDIR"
Say = Callable[[str], None]
_IN_USE_GRACE = 3.0


def find_tool(name: str) -> Path:
    """Find a PostgreSQL client tool: $DATASTRATA_PG_BINDIR, the newest /usr/lib/postgresql/*/bin, then PATH."""
    candidates = [os.environ[BINDIR_ENV]] if os.environ.get(BINDIR_ENV) else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(done.stdout.strip())
    found = shutil.which(name)
    candidates += [str(Path(found).parent)] if found else []
    for folder in candidates:
        if folder and (Path(folder) / name).is_file():
            return Path(folder) / name
    raise ConfigurationError(
        f"{name} not found; install PostgreSQL's client tools (apt-get install postgresql-client, at least the "
        f"server's major version) or set {BINDIR_ENV} to the folder that holds {name}"
    )


def _major(folder: str) -> int:
    match = re.search(r"/(\d+)/bin$", folder)
    return int(match.group(1)) if match else 0


def tool_command(tool: Path, url: str, *args: str) -> tuple[list[str], dict[str, str], str]:
    """Return (argv, environment, password) for running `tool` on `url`: the password only in the environment."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(url)
    except Exception as exc:  # psycopg raises ProgrammingError for a malformed URL
        raise ConfigurationError(f"store URL {redact(url)} is malformed: {redact(str(exc))}") from None
    password = str(params.pop("password", "") or "")
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if password:
        env["PGPASSWORD"] = password
    return [str(tool), "--no-password", *args, "--dbname", make_conninfo("", **params)], env, password


def run_tool(tool: Path, url: str, *args: str) -> str:
    """Run a client tool on `url` and return its output; a failure is one line with every secret hidden."""
    argv, env, password = tool_command(tool, url, *args)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()] or [f"exit {done.returncode}"]
        detail = redact(" / ".join(lines[-3:]), (password, url))
        if "version mismatch" in detail:
            detail += f"; use the client tools of the server's major version or newer (set {BINDIR_ENV})"
        raise BackendUnavailable(f"{tool.name} on {redact(url)} failed: {detail}")
    return done.stdout


def tool_version(tool: Path) -> str:
    """Return e.g. ``pg_dump (PostgreSQL) 16.4``."""
    return subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=False).stdout.strip()


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """Open one autocommit connection, failing with the URL redacted."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise BackendUnavailable(f"cannot reach PostgreSQL at {redact(url)}: {redact(str(exc), (url,))}") from None
    try:
        yield conn
    finally:
        conn.close()


def log_mark(conn: Any) -> LogMark:
    """Return where the log stands as `conn`'s snapshot sees it (identity None, 0, 0 without a log)."""
    identity = None
    if conn.execute("SELECT to_regclass('eventlog_identity')").fetchone()[0] is not None:
        row = conn.execute("SELECT log_id FROM eventlog_identity WHERE singleton = 1").fetchone()
        identity = None if row is None else str(row[0])
    if conn.execute("SELECT to_regclass('eventlog_events')").fetchone()[0] is None:
        return LogMark(identity, 0, 0)
    head, events = conn.execute("SELECT coalesce(max(position), 0), count(*) FROM eventlog_events").fetchone()
    return LogMark(identity, int(head), int(events))


def dump(url: str, folder: Path, say: Say) -> tuple[LogMark, str]:
    """Dump the database with ``pg_dump -Fc`` from the snapshot the log position is read in."""
    tool = find_tool("pg_dump")
    with connect(url) as conn:
        # The manifest's log position and the dump must describe one moment: export this snapshot to pg_dump.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        mark = log_mark(conn)
        say(f"dumping {redact(url)} with {tool} (custom format, snapshot {snapshot})")
        # Row-level security is forced on tenant tables: the owner's policy lets it read every row (pg_dump's
        # default, row_security=off, would refuse the dump instead).
        run_tool(
            tool, url, "--format=custom", "--enable-row-security", f"--snapshot={snapshot}", f"--file={folder / FILE}"
        )
        conn.execute("COMMIT")
    return mark, tool_version(tool)


def load(url: str, folder: Path, say: Say) -> None:
    """Replace the database's contents with the dump, in one transaction (all of it or nothing)."""
    tool = find_tool("pg_restore")
    archive = folder / FILE
    backed_up = _archive_tables(tool, archive)
    with connect(url) as conn:
        _refuse_if_in_use(conn, url)
        extra = sorted(_tables(conn) - backed_up)
    if extra:
        raise ValidationError(
            f"{redact(url)} has tables the backup does not ({', '.join(extra[:5])}"
            f"{'…' if len(extra) > 5 else ''}); restore into an empty database (createdb) or drop them first"
        )
    say(f"restoring {redact(url)} with {tool} (--clean --if-exists, one transaction)")
    run_tool(
        tool,
        url,
        "--clean",
        "--if-exists",
        "--single-transaction",
        "--exit-on-error",
        "--enable-row-security",  # the rows go back through the owner's policy, as they came out
        str(archive),
    )


def _archive_tables(tool: Path, archive: Path) -> set[str]:
    """Return ``schema.table`` for every table in a custom-format archive (from ``pg_restore --list``)."""
    done = subprocess.run([str(tool), "--list", str(archive)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValidationError(f"{archive} is not a readable pg_dump archive ({done.stderr.strip()}); use another")
    tables = set()
    for line in done.stdout.splitlines():
        fields = line.split()
        if not line.startswith(";") and len(fields) >= 6 and fields[3] == "TABLE" and fields[4] != "DATA":
            tables.add(f"{fields[4]}.{fields[5]}")
    return tables


def _tables(conn: Any) -> set[str]:
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'"
    ).fetchall()
    return {str(r[0]) for r in rows}


def _refuse_if_in_use(conn: Any, url: str) -> None:
    """Refuse while other sessions use the database (waiting briefly for ones that are closing)."""
    deadline = time.monotonic() + _IN_USE_GRACE
    while True:
        rows = conn.execute(
            "SELECT pid, coalesce(nullif(application_name, ''), client_addr::text, 'local') FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchall()
        if not rows or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if rows:
        who = ", ".join(f"pid {pid} ({app})" for pid, app in rows[:5])
        raise BackendUnavailable(
            f"{redact(url)} is in use by {len(rows)} other session(s): {who}; stop every `datastrata worker`, "
            "`serve` and other client of it (or pg_terminate_backend them), then run restore again"
        )
