"""Background threads of New York's per-shard work: each shard's supervisor driven by a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from datastrata.runtime.supervisor import Supervisor

#: Seconds a shard's thread waits when its round had nothing to do.
IDLE_WAIT = 0.005


def drive(supervisor: Supervisor, stop: threading.Event, *, idle_wait: float = IDLE_WAIT) -> None:
    """Run `supervisor`'s rounds until `stop`, waiting a moment when a round had nothing to do."""
    while not stop.is_set():
        if not supervisor.run_once():
            stop.wait(idle_wait)


def start_each(supervisors: Mapping[str, Supervisor], stop: threading.Event, *, what: str) -> list[threading.Thread]:
    """Drive each shard's supervisor in a daemon thread ``<what>@<shard>`` until `stop`; the threads."""
    threads = [
        threading.Thread(target=drive, args=(supervisor, stop), name=f"{what}@{shard}", daemon=True)
        for shard, supervisor in supervisors.items()
    ]
    for thread in threads:
        thread.start()
    return threads
