"""Who owns a graph file: one process opens it (the worker, or ``serve``); the others are told which, in one line.

LadybugDB already refuses a second process with a lock error naming the holder's PID on several lines. The owner
also writes ``<graph>.owner`` (its PID and command line) beside the file, so the refusal can say what holds it and
what to do instead. The owner file is information, not the lock: a stale one (after a crash) is overwritten by
the next process that gets LadybugDB's lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datastrata.core.errors import BackendUnavailable
from datastrata.core.redact import redact_url
from datastrata.stores.graphdb import GraphDatabase

_HELD_BY = re.compile(r"held by PID (\d+)", re.IGNORECASE)


def owner_file(path: Path) -> Path:
    """Return the file beside the graph at `path` naming its owner."""
    return path.with_name(path.name + ".owner")


def owner(path: Path) -> dict[str, Any] | None:
    """Return what the owner file of the graph at `path` says (``pid``, ``command``), or None."""
    try:
        found = json.loads(owner_file(path).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def open_owned(path: Path, opener: Callable[[Path], GraphDatabase]) -> GraphDatabase:
    """Open the graph at `path` with `opener` and record this process as its owner; refuse in one line if owned."""
    try:
        db = opener(path)
    except BackendUnavailable as exc:
        if "lock" not in str(exc).lower():
            raise
        raise BackendUnavailable(_owned_message(path, str(exc))) from None
    with contextlib.suppress(OSError):  # the owner file only explains a refusal; the graph is open and locked
        _claim(path)
    return db


def refuse_if_owned(path: Path) -> None:
    """Refuse in one line when a live process other than this one owns the graph at `path` (checked before start)."""
    found = owner(path)
    pid = found.get("pid") if found else None
    if not isinstance(pid, int) or pid == os.getpid():
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return  # a stale owner file (after a crash): the next opener overwrites it
    except PermissionError:
        pass  # alive, owned by another user
    raise BackendUnavailable(_owned_message(path, f"held by PID {pid}"))


def disown(path: Path) -> None:
    """Remove the owner file of the graph at `path` if it names this process."""
    found = owner(path)
    if found is not None and found.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            owner_file(path).unlink()


def _claim(path: Path) -> None:
    target = owner_file(path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    program = Path(sys.argv[0]).name if sys.argv else "python"
    program = "datastrata" if program == "__main__.py" else program  # python -m datastrata
    command = " ".join([program, *(redact_url(a) if "://" in a else a for a in sys.argv[1:])])[:200]
    temporary.write_text(json.dumps({"pid": os.getpid(), "command": command}))
    os.replace(temporary, target)


def _owned_message(path: Path, error: str) -> str:
    found = owner(path) or {}
    held = _HELD_BY.search(error)
    pid = found.get("pid") or (int(held.group(1)) if held else None)
    who = f"process {pid}" if pid else "another process"
    if found.get("command") and found.get("pid") == pid:
        who += f" ({found['command']})"
    stop = f"stop it first (kill {pid})" if pid else "stop it first"
    return (
        f"the graph {path} is owned by {who}; one process owns a graph file at a time, so ask the owner over HTTP "
        f"(`datastrata serve` answers /food/...) or {stop}"
    )
