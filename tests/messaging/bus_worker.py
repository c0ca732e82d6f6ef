"""A worker process for the several-workers tests: the runtime's relay and bus poll, two idempotent consumers.

Usage: ``python bus_worker.py STORE BUS DELAY`` with ``DATASTRATA_CONSUMER`` naming the process in each group.
Each delivery is recorded in ``bus_deliveries``; each effect, behind the inbox, in ``bus_effects``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable

from datastrata.core.config import load_settings
from datastrata.core.events import Event
from datastrata.messaging import Inbox
from datastrata.runtime import Runtime
from datastrata.stores.database import Dialect

GROUPS = ("billing", "audit")


def ddl(dialect: Dialect) -> str:
    """The tables the test counts in."""
    return (
        "CREATE TABLE IF NOT EXISTS bus_deliveries (grp TEXT NOT NULL, event_id TEXT NOT NULL, worker TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS bus_effects (grp TEXT NOT NULL, event_id TEXT NOT NULL, worker TEXT NOT NULL);"
    )


def consumer(runtime: Runtime, inbox: Inbox, group: str, delay: float) -> Callable[[Event], None]:
    """Return the handler of `group`: record the delivery, then the effect once (inbox in the same transaction)."""
    worker = runtime.bus.consumer_name  # type: ignore[attr-defined]

    def handle(event: Event) -> None:
        time.sleep(delay)
        with runtime.db.transaction() as tx:
            tx.execute("INSERT INTO bus_deliveries VALUES (?, ?, ?)", (group, event.event_id, worker))
        with runtime.db.transaction() as tx:
            if inbox.first_time(tx, group, event.event_id):
                tx.execute("INSERT INTO bus_effects VALUES (?, ?, ?)", (group, event.event_id, worker))

    return handle


def main() -> None:
    """Run until SIGTERM (or SIGKILL)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    store, bus, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    runtime = Runtime.open(load_settings({"store": store, "bus": bus}))
    runtime.db.ensure_schema("bus_worker_test", ddl)
    inbox = Inbox(runtime.db)
    for group in GROUPS:
        runtime.bus.subscribe(group, consumer(runtime, inbox, group, delay))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    try:
        runtime.run_worker(stop, idle_wait=0.05)
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
