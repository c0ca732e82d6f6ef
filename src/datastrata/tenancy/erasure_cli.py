"""``datastrata erase SUBJECT``: erase a data subject of a tenant (its sealed fields then read "[erased]")."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from datastrata.core.tenancy import tenant
from datastrata.shell import JsonOption, emit, session
from datastrata.tenancy.erasure import erase


def erase_command(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="The data subject, e.g. user:u1 (food) or customer:C-1 (masterdata).")],
    tenant_id: Annotated[
        str | None, typer.Option("--tenant", help="The subject's tenant (default: DATASTRATA_TENANT, else default).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with the erasure).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Erase SUBJECT: delete its key, clear its declared columns and cached copies, record it in the log."""
    runtime = session(ctx).open()
    actor = f"cli:{getpass.getuser()}"
    if tenant_id is None:
        done = erase(runtime, subject, actor=actor, reason=reason)
    else:
        with tenant(tenant_id):
            done = erase(runtime, subject, actor=actor, reason=reason)
    emit(done.to_dict(), as_json=as_json, text=_text)


def _text(done: dict[str, Any]) -> str:
    cleared = ", ".join(f"{name} {n}" for name, n in done["cleared"].items() if n) or "no rows"
    key = "its key deleted" if done["key_deleted"] else "no key was held (nothing was sealed)"
    lines = [f"erased {done['subject']} of tenant {done['tenant']}: {key}; cleared {cleared}"]
    lines += [f"  {name}: {state}" for name, state in done["copies"].items()]
    return "\n".join(lines)
