"""Waiting reads without a held thread: an HTTP read with ``?after=TOKEN`` awaits the worker, it never applies.

The route polls the follower's checkpoint with ``await asyncio.sleep`` between reads (each read a short trip to the
threadpool), so a thousand waiting clients cost a thousand coroutines, not a thousand threads, and ``/health``
stays fast. A read never runs a projection catch-up inside the request: the worker applies; the read waits or
answers as it stands and says how stale.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import Query
from starlette.concurrency import run_in_threadpool

from datastrata.core.errors import ConsistencyTimeout
from datastrata.core.validation import MAX_INT, MAX_WAIT, bounded_int, bounded_wait
from datastrata.projections.consistency import check_log
from datastrata.projections.follower import LogFollower
from datastrata.runtime import Runtime

#: Seconds between two looks at the checkpoint.
POLL = 0.02

AfterQuery = Annotated[
    int | None,
    Query(ge=0, le=MAX_INT, description="Consistency token from a command: wait until the read model applied it"),
]
LogQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="The `log` a command returned with its token: a token of another log is refused (409)",
    ),
]
TimeoutQuery = Annotated[
    float, Query(ge=0, le=MAX_WAIT, description=f"Seconds to wait for `after` (at most {MAX_WAIT:g})")
]


async def await_applied(
    runner: LogFollower[Any], after: int | None, timeout: float = 5.0, *, log: str | None = None
) -> None:
    """Return once `runner` has applied `after` (or is halted: the read then says so); 504 after `timeout`.

    A token of another log than `runner`'s (`log`, as the command returned it) is refused at once (409).
    """
    check_log(log, runner.log.identity, lineage=runner.log.lineage)
    if after is None:
        return
    after = bounded_int(after, field="after", minimum=0)
    deadline = time.monotonic() + bounded_wait(timeout)
    while True:
        position = await run_in_threadpool(runner.position)
        if position >= after or runner.halted is not None:
            return
        if time.monotonic() >= deadline:
            raise ConsistencyTimeout(
                f"read model {runner.name!r} is at position {position}, not {after}, after {timeout:g}s; "
                f"retry later or pass a longer timeout (at most {MAX_WAIT:g}s)"
            )
        await asyncio.sleep(POLL)


def follower_state(runtime: Runtime, name: str, state: str) -> str:
    """Return the follower's state as the supervisor sees it (a read no longer runs it, so it cannot notice)."""
    if state != "running":
        return state
    for status in runtime.statuses():
        if status.name == name:
            return str(status.state)
    return state
