"""Say why a PostgreSQL URL cannot be used, from one short connection attempt (before any pool exists)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from datastrata.core.errors import BackendUnavailable
from datastrata.core.redact import redact_url

#: Seconds the first connection may take: a server that does not answer is said quickly, not after the pool's wait.
PROBE_TIMEOUT = 3


def probe(url: str) -> None:
    """Open and close one connection to `url`; raise BackendUnavailable naming the real cause and the fix."""
    import psycopg

    try:
        conn = psycopg.connect(url, connect_timeout=PROBE_TIMEOUT, autocommit=True)
    except psycopg.Error as exc:
        raise BackendUnavailable(explain(url, exc)) from None
    conn.close()


def explain(url: str, exc: Any) -> str:
    """One line for a failed connection: what is wrong with the server, database, role or password, and the fix."""
    text = str(exc).strip()
    parts = urlsplit(url)
    where = f"PostgreSQL at {redact_url(url)}"
    server = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    if found := re.search(r'database "([^"]+)" does not exist', text):
        name = found.group(1)
        return f'{where}: database "{name}" does not exist; create it with createdb {name}, then run datastrata migrate'
    if found := re.search(r'role "([^"]+)" does not exist', text):
        name = found.group(1)
        return f'{where}: role "{name}" does not exist; create it with createuser {name}, or fix the user in the URL'
    if found := re.search(r'password authentication failed for user "([^"]+)"', text):
        return (
            f'{where}: password authentication failed for user "{found.group(1)}"; check the password in the URL '
            "(or PGPASSWORD, ~/.pgpass)"
        )
    if "no password supplied" in text:
        return f"{where}: the server asks for a password; put it in the URL, PGPASSWORD or ~/.pgpass"
    if "Connection refused" in text or "No such file or directory" in text:
        return f"{where}: no server is listening on {server}; start PostgreSQL or fix the host and port in the URL"
    if "timeout expired" in text or "timed out" in text:
        return f"{where}: {server} did not answer within {PROBE_TIMEOUT} s; check the host, port and firewall"
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{where}: cannot connect: {first}; check the URL and that the server is up"
