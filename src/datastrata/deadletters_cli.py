"""``datastrata deadletters``: list, retry and skip the events followers and bus consumers could not handle."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datastrata.catalog import install_all
from datastrata.runtime import Runtime
from datastrata.runtime import deadletters as operations
from datastrata.shell import JsonOption, emit, session

app = typer.Typer(no_args_is_help=True, help="Events a follower or consumer could not handle: list, retry, skip.")

IdsArgument = Annotated[list[int], typer.Argument(help="Dead-letter ids (from `deadletters list`).")]


def _runtime(ctx: typer.Context) -> Runtime:
    runtime = session(ctx).open()
    install_all(runtime)
    return runtime


@app.command("list")
def list_letters(
    ctx: typer.Context,
    follower: Annotated[str | None, typer.Option("--follower", help="Only this follower's or consumer's.")] = None,
    status: Annotated[str | None, typer.Option(help="Only parked, retry, resolved or skipped letters.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List dead letters, oldest first."""
    letters = [x.to_dict() for x in session(ctx).open().dead_letters.list(follower, status=status)]
    emit(letters, as_json=as_json, text=_table)


@app.command()
def retry(ctx: typer.Context, ids: IdsArgument, as_json: JsonOption = False) -> None:
    """Try each event again now; on success a halted follower resumes from it."""
    runtime = _runtime(ctx)
    emit([operations.retry(runtime, i).to_dict() for i in ids], as_json=as_json, text=_table)


@app.command()
def skip(ctx: typer.Context, ids: IdsArgument, as_json: JsonOption = False) -> None:
    """Move past each event for good; a halted follower goes on after it."""
    runtime = _runtime(ctx)
    emit([operations.skip(runtime, i).to_dict() for i in ids], as_json=as_json, text=_table)


def _table(letters: list[dict[str, Any]]) -> str:
    if not letters:
        return "no dead letters"
    return "\n".join(
        f"{x['id']:>5}  {x['status']:<8}  {x['follower']:<24}  position {x['position']:>10}  {x['event_type']:<22}  "
        f"attempts {x['attempts']:>3}  last {x['last_seen']}  {x['error']}"
        for x in letters
    )
