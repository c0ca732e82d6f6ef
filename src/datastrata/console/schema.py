"""Tables of the console: its sign-in sessions in the home store (the session id is never stored, only its hash)."""

from __future__ import annotations

from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component

# No tenant_id column: a session is found by its hash before its tenant is known (the key's tenant is the visitor's).
_DDL = """
CREATE TABLE IF NOT EXISTS console_sessions (
    session_sha256 TEXT   PRIMARY KEY,
    key_id         TEXT   NOT NULL,
    created_at     {time} NOT NULL,
    last_seen_at   {time} NOT NULL,
    expires_at     {time} NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_by_key ON console_sessions (key_id);
"""


def ddl(dialect: Dialect) -> str:
    """Return the console's DDL for `dialect`."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The console's schema: sign-in sessions (in `catalog.components()`, so `datastrata migrate` and readiness cover it).
MIGRATIONS = Component.baseline("console", ddl)
