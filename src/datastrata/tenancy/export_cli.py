"""``datastrata tenants export ID --to DIR``: added to the ``tenants`` group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datastrata.shell import JsonOption, emit, session
from datastrata.tenancy.export import export_tenant
from datastrata.tenancy.offboard import offboard_tenant

TenantArgument = Annotated[str, typer.Argument(help="The tenant id.")]


def export_command(
    ctx: typer.Context,
    tenant_id: TenantArgument,
    to: Annotated[Path, typer.Option("--to", help="A new (or empty) folder to write the export into.")],
    as_json: JsonOption = False,
) -> None:
    """Write every fact of a tenant to DIR in open formats (JSON lines, CSV, objects; README.md names them)."""
    done = export_tenant(session(ctx).open(), tenant_id, to)
    emit(done.to_dict(), as_json=as_json, text=_exported)


def offboard_command(ctx: typer.Context, tenant_id: TenantArgument, as_json: JsonOption = False) -> None:
    """Delete a tenant everywhere (rows, events, objects, keys, its own place); needs an export of all its events."""
    done = offboard_tenant(session(ctx).open(), tenant_id)
    emit(done.to_dict(), as_json=as_json, text=_offboarded)


def add_commands(group: typer.Typer) -> None:
    """Add ``export`` to the ``tenants`` group."""
    group.command("export")(export_command)
    group.command("offboard")(offboard_command)


def _offboarded(done: dict[str, Any]) -> str:
    rows = sum(done["rows"].values())
    events = sum(done["events"].values())
    objects = sum(done["objects"].values())
    destroyed = f"; destroyed {', '.join(done['destroyed'])}" if done["destroyed"] else ""
    return (
        f"offboarded tenant {done['tenant']}: {rows} rows, {events} events and {objects} objects deleted"
        f"{destroyed} (exported to {done['export']})"
    )


def _exported(done: dict[str, Any]) -> str:
    lines = [
        f"exported tenant {done['tenant']} to {done['to']}: {done['events']} events, {done['rows']} rows, "
        f"{done['objects']} objects"
    ]
    lines += [f"  not copied (archived; restore it and export again): {key}" for key in done["not_copied"]]
    return "\n".join(lines)
