"""``datastrata keys``: create, list and revoke the API keys HTTP callers authenticate with."""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Annotated, Any

import typer

from datastrata.core.tenancy import DEFAULT_TENANT, current_tenant
from datastrata.security.keys import ROLES, KeyStore, key_store
from datastrata.shell import JsonOption, emit, session, time_option

app = typer.Typer(
    help="API keys for HTTP callers: create (the key is shown once), list (never the secret), revoke.",
    no_args_is_help=True,
)

TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help=f"The tenant the key acts for (env DATASTRATA_TENANT; default {DEFAULT_TENANT!r})."),
]


def _store(ctx: typer.Context) -> KeyStore:
    return key_store(session(ctx).open())


def _tenant(value: str | None) -> str:
    return value or os.environ.get("DATASTRATA_TENANT") or current_tenant()


@app.command()
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires", help="When the key stops working: a date (midnight UTC) or an ISO-8601 time, e.g. 2027-01-01."
        ),
    ] = None,
    tenant: TenantOption = None,
    note: Annotated[str, typer.Option("--note", help="What the key is for (shown by `keys list`).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it once: it is stored only as a hash and cannot be shown again."""
    key, text = _store(ctx).create(role=role, tenant=_tenant(tenant), expires_at=expires_at(expires), note=note)
    data: dict[str, Any] = {**key.to_dict(key.created_at), "key": text}
    emit(data, as_json=as_json, text=created_text)


def expires_at(expires: str | None) -> datetime | None:
    """Parse ``--expires``: a date alone means its first moment, in UTC; else an ISO-8601 time."""
    if expires is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", expires.strip()):
        expires = f"{expires.strip()}T00:00:00Z"
    found: datetime | None = time_option(expires, field="expires")
    return found


def created_text(data: dict[str, Any]) -> str:
    """Return a newly created key as text: the key (shown this once), then what it is."""
    until = f", expires {data['expires_at']}" if data["expires_at"] else ""
    return (
        f"{data['key']}\n"
        f"key id {data['key_id']} ({data['role']} of tenant {data['tenant']}{until}). "
        "Store the key now: it is shown only once. Send it as `Authorization: Bearer <key>`."
    )


@app.command("list")
def list_keys(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only the keys of this tenant.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the API keys: id, tenant, role, state and times (never the secret)."""
    store = _store(ctx)
    now = store.clock()
    rows = [key.to_dict(now) for key in store.list(tenant=tenant)]
    emit(rows, as_json=as_json, text=lambda rs: "\n".join(_line(r) for r in rs) or "no API keys")


def _line(row: dict[str, Any]) -> str:
    until = row["expires_at"] or "never"
    note = f"  {row['note']}" if row["note"] else ""
    return f"{row['key_id']}  {row['role']:<6}  {row['tenant']:<12}  {row['state']:<7}  expires {until}{note}"


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key id (the part before the dot), from `keys list`.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke an API key at once: its next request is refused (401)."""
    store = _store(ctx)
    key = store.revoke(key_id)
    emit(key.to_dict(store.clock()), as_json=as_json, text=lambda r: f"revoked {r['key_id']} at {r['revoked_at']}")
