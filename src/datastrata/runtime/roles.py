"""PostgreSQL roles: the owner runs migrations and owns the tables; the application and platform roles get DML only.

Every tenant table (a ``tenant_id`` column, not in ``stores.tenanttables.GLOBAL_TABLES``) gets row-level security:
the application role sees and writes only the rows of the tenant its transaction binds, the platform role and the
owner see every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datastrata.core.errors import ConfigurationError
from datastrata.core.redact import redact_url
from datastrata.stores.database import Database, Tx
from datastrata.stores.tenanttables import is_global

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: Tables the non-owner roles may read and append to but never change: the log is append-only, the record of
#: migrations belongs to the owner.
_APPEND_ONLY = ("eventlog_events",)
_READ_ONLY = ("schema_migrations",)
_TENANT_SETTING = "current_setting('datastrata.tenant', true)"
#: The application role's rows: the bound tenant's, or every row under the platform binding (``'*'``: a follower or
#: job of a deployment whose followers share the application role). Equality only: an unset setting reads ``''``
#: after an earlier transaction set it on the same connection, and matches no row.
_OWN_ROWS = f"tenant_id = {_TENANT_SETTING} OR {_TENANT_SETTING} = '*'"
#: Restrictive policies other packages add to a tenant table (table → name → USING expression), applied by `grant`.
_RESTRICTIONS: dict[str, dict[str, str]] = {}


@dataclass(frozen=True, slots=True)
class Roles:
    """The role names migrations grant to: `app` serves commands and queries, `platform` runs the followers."""

    app: str | None = None
    platform: str | None = None

    def __post_init__(self) -> None:
        for role in self.names():
            if not _ROLE.match(role):
                raise ConfigurationError(
                    f"role name {role!r} must be 1-63 of a-z, 0-9 and '_', not starting with a digit",
                    field="app_role",
                )

    def names(self) -> list[str]:
        """Return the configured role names (without repeats)."""
        return list(dict.fromkeys(r for r in (self.app, self.platform) if r))


def restrict(table: str, name: str, using_sql: str) -> None:
    """Add a RESTRICTIVE policy `name` on `table` (rows must also pass `using_sql`), applied by every `grant`."""
    for field, value in (("table", table), ("name", name)):
        if not _ROLE.match(value):
            raise ConfigurationError(f"policy {field} {value!r} must be 1-63 of a-z, 0-9 and '_'", field=field)
    if name in ("ds_tenant", "ds_platform"):
        raise ConfigurationError(f"policy name {name!r} is datastrata's own; choose another", field="name")
    _RESTRICTIONS.setdefault(table, {})[name] = using_sql


def unrestrict(table: str, name: str) -> None:
    """Forget the restrictive policy `name` on `table` (the next `grant` drops it no more: drop it by hand)."""
    policies = _RESTRICTIONS.get(table, {})
    policies.pop(name, None)
    if not policies:
        _RESTRICTIONS.pop(table, None)


def restrictions() -> dict[str, dict[str, str]]:
    """Return the restrictive policies registered so far (table → name → USING expression)."""
    return {table: dict(policies) for table, policies in _RESTRICTIONS.items()}


def grant(db: Database, roles: Roles) -> None:
    """Give `roles` the rights they need on every table of `db`'s schema, and nothing more (PostgreSQL only).

    Run by the owner after each `migrate`, so tables added by new migrations are covered. The roles get no
    ``CREATE`` on the schema (so no DDL), own nothing, and are refused here if they could bypass row-level security.
    With an application role, every tenant table gets row-level security (:func:`secure`).
    """
    names = roles.names()
    if db.dialect != "postgresql" or not names:
        return
    with db.transaction() as tx:
        found = {
            str(name): (bool(superuser), bool(bypass))
            for name, superuser, bypass in tx.query(
                "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = ANY(?)", (names,)
            )
        }
        for name in names:
            if name not in found:
                raise ConfigurationError(
                    f"role {name!r} does not exist on {redact_url(db.url)}; create it (LOGIN, NOSUPERUSER, "
                    "NOBYPASSRLS) before running migrate"
                )
            if any(found[name]):
                raise ConfigurationError(
                    f"role {name!r} is a superuser or has BYPASSRLS; the application and platform roles must have "
                    f"neither (ALTER ROLE {name} NOSUPERUSER NOBYPASSRLS)"
                )
        schema = str(tx.scalar("SELECT current_schema()"))
        to = ", ".join(f'"{n}"' for n in names)
        tx.run_script(
            f"""
REVOKE CREATE ON SCHEMA "{schema}" FROM PUBLIC;
REVOKE CREATE ON SCHEMA "{schema}" FROM {to};
GRANT USAGE ON SCHEMA "{schema}" TO {to};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {to};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO {to};
REVOKE UPDATE, DELETE ON {", ".join(_APPEND_ONLY)} FROM {to};
REVOKE INSERT, UPDATE, DELETE ON {", ".join(_READ_ONLY)} FROM {to};
"""
        )
        if roles.platform and tx.scalar("SELECT to_regprocedure('eventlog_delete_tenant(text)') IS NOT NULL"):
            # A tenant's whole log is deleted by the platform (a move's clean-up, offboarding), never by the app.
            tx.execute(f'GRANT EXECUTE ON FUNCTION eventlog_delete_tenant(text) TO "{roles.platform}"')
        if roles.app:
            secure(tx, schema, roles)
            _utc_by_default(tx)


def _utc_by_default(tx: Tx) -> None:
    """Make UTC the database's default timezone, for connections that cannot send it (through a pooler)."""
    database = str(tx.scalar("SELECT current_database()")).replace('"', '""')
    tx.execute("SAVEPOINT utc_default")
    try:
        tx.execute(f"ALTER DATABASE \"{database}\" SET timezone = 'UTC'")
    except Exception as exc:  # not the database's owner: the pooled transactions still set UTC themselves
        if getattr(exc, "sqlstate", None) != "42501":
            raise
        tx.execute("ROLLBACK TO SAVEPOINT utc_default")
    else:
        tx.execute("RELEASE SAVEPOINT utc_default")


def tenant_tables(tx: Tx, schema: str) -> list[str]:
    """Return the tables of `schema` that hold tenants' rows: a ``tenant_id`` column and not global."""
    rows = tx.query(
        "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = ? AND c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE' ORDER BY 1",
        (schema,),
    )
    return [str(name) for (name,) in rows if not is_global(str(name))]


def secure(tx: Tx, schema: str, roles: Roles) -> list[str]:
    """Enable and force row-level security with datastrata's policies on every tenant table of `schema`; return them.

    ``ds_tenant`` lets the application role see and write the rows whose ``tenant_id`` equals the transaction's
    ``datastrata.tenant`` setting (no setting: ``''`` or NULL, so nothing; ``'*'``, the platform binding: every
    row); ``ds_platform`` lets the platform role
    and the owner (who migrates, backs up and restores) see every row. Registered restrictions apply to all roles.
    """
    owner = str(tx.scalar("SELECT current_user"))
    everyone = ", ".join(f'"{n}"' for n in dict.fromkeys(r for r in (roles.platform, owner) if r))
    statements: list[str] = []
    tables = tenant_tables(tx, schema)
    for table in tables:
        t = f'"{schema}"."{table}"'
        statements += [
            f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS ds_tenant ON {t}",
            f'CREATE POLICY ds_tenant ON {t} FOR ALL TO "{roles.app}" USING ({_OWN_ROWS}) WITH CHECK ({_OWN_ROWS})',
            f"DROP POLICY IF EXISTS ds_platform ON {t}",
            f"CREATE POLICY ds_platform ON {t} FOR ALL TO {everyone} USING (true) WITH CHECK (true)",
        ]
        for name, using in _RESTRICTIONS.get(table, {}).items():
            statements += [
                f"DROP POLICY IF EXISTS {name} ON {t}",
                f"CREATE POLICY {name} ON {t} AS RESTRICTIVE FOR ALL USING ({using})",
            ]
    if statements:
        tx.run_script(";\n".join(statements) + ";")
    return tables
