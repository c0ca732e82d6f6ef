"""``datastrata tenants move|move-status|move-reverse``: move a tenant to another isolation model, watch, undo."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.runtime.jobs import Job
from datastrata.runtime.moves import Plan
from datastrata.runtime.tenants import MODELS
from datastrata.shell import JsonOption, emit, session
from datastrata.tenancy.move import GRACE, move_status, reverse_move, start_move

app = typer.Typer(no_args_is_help=True, help="Tenants: move one to another isolation model.")

TenantArg = Annotated[str, typer.Argument(help="The tenant's id.")]


@app.command("move")
def move(
    ctx: typer.Context,
    tenant: TenantArg,
    to: Annotated[str, typer.Option("--to", help=f"The model to move to: {', '.join(MODELS)}.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only plan: tables, rows, bytes, archived content, an estimate.")
    ] = False,
    grace: Annotated[
        float, typer.Option(min=0, max=86_400, help="Seconds between the switch and deleting the old copy.")
    ] = GRACE,
    as_json: JsonOption = False,
) -> None:
    """Move a tenant (copy, catch up, fence its writes only, verify, switch, clean up); resumes a killed move."""

    def step(name: str) -> None:
        if not as_json:
            typer.echo(f"  {name}", err=True)  # progress on stderr: stdout stays the result

    runtime = session(ctx).open()
    found = start_move(runtime, tenant, to, dry_run=dry_run, grace=grace, foreground=True, on_step=step)
    if isinstance(found, Plan):
        emit(found.to_dict(), as_json=as_json, text=_plan)
        return
    emit(found.to_dict(), as_json=as_json, text=_job)
    if found.state != "succeeded":
        raise typer.Exit(1)


@app.command("move-status")
def status(ctx: typer.Context, tenant: TenantArg, as_json: JsonOption = False) -> None:
    """Show a tenant's moves, newest first: step, state, rows copied, timings, error."""
    emit([m.to_dict() for m in move_status(session(ctx).open(), tenant)], as_json=as_json, text=_moves)


@app.command("move-reverse")
def reverse(ctx: typer.Context, tenant: TenantArg, as_json: JsonOption = False) -> None:
    """Undo a tenant's move until it completes (after its switch: move it back, fenced and verified again)."""
    found = reverse_move(session(ctx).open(), tenant, foreground=True)
    if isinstance(found, Job):
        emit(found.to_dict(), as_json=as_json, text=_job)
        if found.state != "succeeded":
            raise typer.Exit(1)
        return
    emit([found.to_dict()], as_json=as_json, text=_moves)


def _plan(plan: dict[str, Any]) -> str:
    lines = [f"move {plan['subject']}: {plan['source']} → {plan['target']}"]
    lines += [f"  {table:<40} {rows:>12,} rows" for table, rows in plan["tables"].items() if rows]
    lines.append(
        f"  {plan['rows']:,} rows, {plan['events']:,} events, {plan['objects']:,} objects, "
        f"~{plan['bytes'] / 1e6:.1f} MB, "
        f"~{plan['estimate_seconds']} s"
    )
    cold = plan.get("cold") or {}
    if cold.get("rows"):
        lines.append(f"  {cold['rows']:,} rows in {cold['parts']:,} cold part(s): copied into the target's parts")
    lines += _archived(plan.get("archived") or {})
    return "\n".join(lines)


def _archived(archived: dict[str, Any]) -> list[str]:
    """The plan's archived content: streams archived again at the target, what must be restored first and when."""
    lines = []
    if archived.get("streams"):
        lines.append(
            f"  {archived['streams']:,} archived stream(s) of {archived['stream_events']:,} events: re-appended, "
            "then archived again at the target"
        )
    needed = archived.get("objects") or []
    if needed:
        lines.append(
            f"  {len(needed):,} archived object(s) to restore first ({archived['restore_tier']} tier), "
            f"readable at {archived['restore_eta']}:"
        )
        lines += [f"    {o['key']} ({o['storage_class']}, {o['bytes']:,} bytes) ready {o['ready_at']}" for o in needed]
    return lines


def _job(job: dict[str, Any]) -> str:
    result = job.get("result") or {}
    line = f"job {job['id']} {job['state']}: move {result.get('move', '?')} {result.get('state', '')}".rstrip()
    return line + (f"\n  {job['error']}" if job.get("error") else "")


def _moves(moves: list[dict[str, Any]]) -> str:
    if not moves:
        return "no moves"
    lines = []
    for m in moves:
        copied = m["cursors"].get("copied", 0)
        line = (
            f"{m['id']}  {m['source']['model']} → {m['target']['model']}  {m['state']:<9} step {m['step']:<9} "
            f"{copied:,} rows copied"
        )
        if m["step"] == "restore" and m["cursors"].get("restores"):
            left = m["cursors"].get("restores_left", len(m["cursors"]["restores"]))
            line += f"\n    waiting for {left} restore(s), readable at {m['cursors'].get('restore_eta')}"
        lines.append(line + (f"\n    {m['error']}" if m["error"] else ""))
    return "\n".join(lines)
