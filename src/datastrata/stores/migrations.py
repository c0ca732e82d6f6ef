"""Numbered, per-dialect schema migrations per component, recorded in each database's ``schema_migrations``.

A component (the event log, messaging, a read model, a system…) declares its migrations beside its code; this
module applies what is pending, each migration in one transaction together with its record, and refuses an
applied migration whose SQL changed since. Embedded SQLite applies at open (:func:`ensure`); PostgreSQL only
checks at open and refuses while anything is pending: ``datastrata migrate`` applies it, as the owner role.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from datastrata.core.errors import ConfigurationError
from datastrata.core.redact import redact_url
from datastrata.core.tenancy import platform
from datastrata.stores.database import Database, Dialect, Tx, time_to_db

#: Transaction-scoped advisory lock serialising migrations (and ad-hoc schema scripts) across processes.
MIGRATION_LOCK = 724105
#: PostgreSQL's SQLSTATE for "permission denied".
INSUFFICIENT_PRIVILEGE = "42501"
_COMPONENT = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
_RECORD_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    checksum   TEXT    NOT NULL,
    applied_at {time}  NOT NULL,
    PRIMARY KEY (component, version)
);
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered step of a component's schema, with its SQL per dialect (None: nothing to do there)."""

    version: int
    name: str
    sqlite: str | None = None
    postgresql: str | None = None

    @classmethod
    def both(cls, version: int, name: str, sql: str) -> Migration:
        """A migration whose SQL is the same on both engines."""
        return cls(version, name, sql, sql)

    @classmethod
    def from_ddl(cls, version: int, name: str, ddl: Callable[[Dialect], str]) -> Migration:
        """A migration rendered from a per-dialect DDL function (a component's idempotent baseline)."""
        return cls(version, name, ddl("sqlite"), ddl("postgresql"))

    def sql(self, dialect: Dialect) -> str | None:
        """Return this migration's SQL on `dialect`, or None when it does not apply there."""
        return self.sqlite if dialect == "sqlite" else self.postgresql

    def checksum(self, dialect: Dialect) -> str:
        """Return the SHA-256 of this migration's SQL on `dialect` (surrounding whitespace ignored)."""
        return hashlib.sha256((self.sql(dialect) or "").strip().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Component:
    """The migrations of one component, in version order; its name is recorded with each applied one."""

    name: str
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        if not _COMPONENT.match(self.name):
            raise ConfigurationError(f"component name {self.name!r} must be 1-100 of a-z, 0-9, '_', '.', '-'")
        versions = [m.version for m in self.migrations]
        if not versions or versions != sorted(set(versions)) or versions[0] < 1:
            raise ConfigurationError(
                f"migrations of {self.name!r} must be numbered from 1 up without repeats; got {versions}"
            )

    @classmethod
    def baseline(cls, name: str, ddl: Callable[[Dialect], str], *more: Migration) -> Component:
        """A component whose first migration is its idempotent DDL of today, followed by `more`."""
        return cls(name, (Migration.from_ddl(1, "baseline", ddl), *more))

    def on(self, dialect: Dialect) -> list[Migration]:
        """Return the migrations that apply on `dialect`."""
        return [m for m in self.migrations if m.sql(dialect) is not None]

    def script(self, dialect: Dialect) -> str:
        """Return every migration's SQL on `dialect` as one script (for raw-driver benchmarks and fixtures)."""
        return "\n".join(m.sql(dialect) or "" for m in self.on(dialect))


@dataclass(frozen=True, slots=True)
class Pending:
    """A migration of a component not yet applied to a database."""

    component: str
    migration: Migration = field(repr=False)

    @property
    def version(self) -> int:
        """The migration's number."""
        return self.migration.version

    @property
    def label(self) -> str:
        """How messages and listings name it: ``component version name``."""
        return f"{self.component} {self.version:04d} {self.migration.name}"

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {"component": self.component, "version": self.version, "name": self.migration.name}


def unique(components: Iterable[Component]) -> list[Component]:
    """Return `components` with repeats dropped (same name, same migrations), refusing two different ones."""
    seen: dict[str, Component] = {}
    for component in components:
        known = seen.setdefault(component.name, component)
        if known != component:
            raise ConfigurationError(
                f"two different components are named {component.name!r}; give one of them another name"
            )
    return list(seen.values())


def pending(db: Database, components: Sequence[Component]) -> list[Pending]:
    """Return what is not applied to `db` yet, in order; refuse an applied migration whose SQL changed.

    Cheap enough for a readiness probe: one query of ``schema_migrations``, no DDL, no lock.
    """
    with db.read() as tx:
        return _pending_in(tx, unique(components))


def migrate(db: Database, components: Sequence[Component], *, dry_run: bool = False) -> list[Pending]:
    """Apply every pending migration of `components` to `db`, each in one transaction with its record.

    Returns what was applied (with `dry_run`, what would be). Safe to run from several processes at once: each
    migration re-checks under a lock that it is still pending. Needs DDL rights (on PostgreSQL: the owner role).
    """
    components = unique(components)
    try:
        _create_record_table(db)
        todo = pending(db, components)
        if dry_run:
            return todo
        applied: list[Pending] = []
        with platform():  # a migration rewrites every tenant's rows: past SQLite's tenant guard, as the platform
            for step in todo:
                if _apply(db, step):
                    applied.append(step)
        return applied
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            raise ConfigurationError(
                f"migrations on {redact_url(db.url)} were refused ({str(exc).splitlines()[0]}); run them as the "
                "owner role: `datastrata migrate --owner-url …` or DATASTRATA_OWNER_STORE"
            ) from exc
        raise


def ensure(db: Database, component: Component) -> None:
    """Make sure `component`'s schema is in place on `db`, once per process and database.

    SQLite (embedded) applies what is pending. PostgreSQL refuses while anything is pending, naming the first
    migration, because the application role has no DDL rights: ``datastrata migrate`` applies it as the owner.
    """
    if db.dialect == "sqlite":
        db.once(component.name, lambda: migrate(db, [component]))
    else:
        db.once(component.name, lambda: refuse_pending(db, [component]))


def refuse_pending(db: Database, components: Sequence[Component]) -> None:
    """Raise ConfigurationError naming the first pending migration of `components` on `db`, if any."""
    todo = pending(db, components)
    if todo:
        raise ConfigurationError(
            f"the store {redact_url(db.url)} has pending migrations, the first is {todo[0].label}; "
            "run `datastrata migrate` (or `datastrata serve --migrate`) as the owner role first"
        )


def run_adhoc(db: Database, name: str, ddl: Callable[[Dialect], str]) -> None:
    """Apply an ad-hoc, one-step component at once on any dialect (tests and scripts; needs DDL rights)."""
    migrate(db, [Component.baseline(name, ddl)])


# ---- internals -------------------------------------------------------------------------------------------------


def _has_record_table(tx: Tx) -> bool:
    if tx.dialect == "sqlite":
        found = tx.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    else:
        found = tx.scalar("SELECT to_regclass('schema_migrations') IS NOT NULL")
    return bool(found)


def _create_record_table(db: Database) -> None:
    with db.read() as tx:
        if _has_record_table(tx):
            return
    with db.transaction() as tx:
        _lock(tx)
        tx.run_script(_RECORD_DDL.format(time="TEXT" if db.dialect == "sqlite" else "TIMESTAMPTZ"))


def _lock(tx: Tx) -> None:
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))


def _pending_in(tx: Tx, components: Sequence[Component]) -> list[Pending]:
    dialect = tx.dialect
    recorded: dict[tuple[str, int], tuple[str, str]] = {}
    if _has_record_table(tx):
        for component, version, name, checksum in tx.query(
            "SELECT component, version, name, checksum FROM schema_migrations"
        ):
            recorded[(str(component), int(version))] = (str(name), str(checksum))
    todo: list[Pending] = []
    for component in components:
        for migration in component.on(dialect):
            record = recorded.get((component.name, migration.version))
            if record is None:
                todo.append(Pending(component.name, migration))
            elif record[1] != migration.checksum(dialect):
                raise ConfigurationError(
                    f"migration {component.name} {migration.version:04d} {record[0]} was changed after it was "
                    f"applied (checksum {record[1][:12]} recorded, {migration.checksum(dialect)[:12]} now); "
                    "restore its SQL and put the change into a new numbered migration"
                )
    return todo


def _apply(db: Database, step: Pending) -> bool:
    """Apply one migration and its record in one transaction; False when another process applied it first."""
    sql = step.migration.sql(db.dialect) or ""
    with db.transaction() as tx:
        _lock(tx)
        if tx.scalar(
            "SELECT 1 FROM schema_migrations WHERE component = ? AND version = ?", (step.component, step.version)
        ):
            return False
        tx.run_script(sql)
        tx.execute(
            "INSERT INTO schema_migrations (component, version, name, checksum, applied_at) VALUES (?, ?, ?, ?, ?)",
            (
                step.component,
                step.version,
                step.migration.name,
                step.migration.checksum(db.dialect),
                time_to_db(db.dialect, datetime.now(UTC)),
            ),
        )
    return True
