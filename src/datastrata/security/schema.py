"""Tables of the security package: API keys of the home location (the secret is never stored, only its hash)."""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

_DDL = """
CREATE TABLE IF NOT EXISTS security_api_keys (
    key_id         TEXT   PRIMARY KEY,
    tenant_id      TEXT   NOT NULL,
    role           TEXT   NOT NULL,
    secret_sha256  TEXT   NOT NULL,
    note           TEXT   NOT NULL DEFAULT '',
    created_at     {time} NOT NULL,
    expires_at     {time},
    revoked_at     {time}
);
"""


def ddl(dialect: Dialect) -> str:
    """Return the security DDL for `dialect`."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The security schema: API keys (in `catalog.components()`, so `datastrata migrate` and readiness cover it).
MIGRATIONS = Component.baseline("security", ddl)
