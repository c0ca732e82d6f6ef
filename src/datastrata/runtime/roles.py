"""PostgreSQL roles: the owner runs migrations and owns the tables; the application and platform roles get DML only."""

from __future__ import annotations

import re
from dataclasses import dataclass

from datastrata.core.errors import ConfigurationError
from datastrata.core.redact import redact_url
from datastrata.stores.database import Database

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: Tables the non-owner roles may read and append to but never change: the log is append-only, the record of
#: migrations belongs to the owner.
_APPEND_ONLY = ("eventlog_events",)
_READ_ONLY = ("schema_migrations",)


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


def grant(db: Database, roles: Roles) -> None:
    """Give `roles` the rights they need on every table of `db`'s schema, and nothing more (PostgreSQL only).

    Run by the owner after each `migrate`, so tables added by new migrations are covered. The roles get no
    ``CREATE`` on the schema (so no DDL), own nothing, and are refused here if they could bypass row-level security.
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
