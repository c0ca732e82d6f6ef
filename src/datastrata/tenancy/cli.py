"""``datastrata tenants``: catalogue tenants in a tier, list and show them, and make or revoke their API keys."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.security.cli import created_text, expires_at
from datastrata.security.keys import ROLES, key_store
from datastrata.shell import JsonOption, emit, session
from datastrata.tenancy.catalogue import Catalogue, catalogue_of
from datastrata.tenancy.tiers import TIERS

app = typer.Typer(
    help="The tenant catalogue: add a tenant in a tier, list, show; its API keys (create, revoke).",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="API keys bound to one tenant: create (shown once), revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _catalogue(ctx: typer.Context) -> Catalogue:
    return catalogue_of(session(ctx).open())


@app.command()
def add(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="The tenant id: a-z, 0-9, '_' or '-'.")],
    tier: Annotated[str, typer.Option("--tier", help=f"One of {', '.join(TIERS)}.")],
    store: Annotated[
        str | None,
        typer.Option("--store", help="A dedicated-infrastructure tenant's own store URL (kept encrypted)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Catalogue a tenant in a tier and provision its model (from then on every command names its tenant)."""
    found = _catalogue(ctx).add(tenant_id, tier, store=store)
    emit(found.to_dict(), as_json=as_json, text=lambda d: f"added {_line(d)}")


@app.command("list")
def list_tenants(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the catalogued tenants: tier, model, state, usage of the quota."""
    rows = [t.to_dict() for t in _catalogue(ctx).list()]
    emit(rows, as_json=as_json, text=lambda rs: "\n".join(_line(r) for r in rs) or "no tenants catalogued")


@app.command()
def show(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="A catalogued tenant.")],
    as_json: JsonOption = False,
) -> None:
    """Show one tenant: tier (quota, fee, SLA, rate), model, state, epoch, location (no secrets), usage."""
    emit(_catalogue(ctx).get(tenant_id).to_dict(), as_json=as_json, text=_shown)


@app.command("set-tier")
def set_tier(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="A catalogued tenant.")],
    tier: Annotated[str, typer.Option("--tier", help=f"One of {', '.join(TIERS)}.")],
    as_json: JsonOption = False,
) -> None:
    """Change a tenant's tier: its quota and rate at once (`tenants move` moves its data to the tier's model)."""
    emit(_catalogue(ctx).set_tier(tenant_id, tier).to_dict(), as_json=as_json, text=_shown)


def _used(usage: dict[str, Any]) -> str:
    held = "unknown (its location is unreachable)" if usage["bytes"] is None else f"{usage['bytes']} bytes"
    return f"{held} of {usage['quota']}"


def _line(d: dict[str, Any]) -> str:
    return f"{d['tenant']:<20} {d['tier']:<12} {d['model']:<24} {d['state']:<10} {_used(d['usage'])}"


def _shown(d: dict[str, Any]) -> str:
    where = d["location"]
    place = "the home location (shared)" if where is None else f"{where['name']} ({where['store'] or 'home store'})"
    return "\n".join(
        [
            f"tenant {d['tenant']}: tier {d['tier']}, model {d['model']}, {d['state']} (epoch {d['epoch']})",
            f"  lives in {place}",
            f"  usage {_used(d['usage'])}",
            f"  ${d['monthly_usd']:,} a month, SLA {d['sla_percent']}%, "
            f"{d['rate']['per_second']:g} requests/s (burst {d['rate']['burst']})",
        ]
    )


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="A catalogued tenant.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.")],
    expires: Annotated[
        str | None, typer.Option("--expires", help="When the key stops working: a date (midnight UTC) or ISO time.")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="What the key is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an API key bound to a tenant and print it once: its requests run in that tenant only."""
    store = key_store(session(ctx).open())
    key, text = store.create(role=role, tenant=tenant_id, expires_at=expires_at(expires), note=note)
    emit({**key.to_dict(key.created_at), "key": text}, as_json=as_json, text=created_text)


@keys_app.command("revoke")
def revoke_key(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key id (the part before the dot).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a tenant's API key at once: its next request is refused (401)."""
    store = key_store(session(ctx).open())
    key = store.revoke(key_id)
    emit(key.to_dict(store.clock()), as_json=as_json, text=lambda r: f"revoked {r['key_id']} of tenant {r['tenant']}")
