"""Child process for the SIGKILL test: runs the four match projections slowly until it is killed."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from datastrata.core.config import Settings
from datastrata.core.events import Event
from datastrata.projections.batching import BatchProjection
from datastrata.runtime import Runtime
from datastrata.stores.database import Database, Tx
from datastrata.systems.match.service import MatchService


class Slow:
    """Delegates to a projection, pausing after each batch so a kill lands between and inside batches."""

    def __init__(self, inner: BatchProjection) -> None:
        self.inner = inner
        self.name = inner.name
        self.event_types = inner.event_types

    def setup(self, db: Database) -> None:
        self.inner.setup(db)

    def apply(self, tx: Tx, event: Event) -> None:
        self.apply_batch(tx, [event])

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        self.inner.apply_batch(tx, events[: len(events) // 2])
        time.sleep(0.01)
        self.inner.apply_batch(tx, events[len(events) // 2 :])

    def clear(self, tx: Tx) -> None:
        self.inner.clear(tx)


def main() -> None:
    with Runtime.open(Settings(store=sys.argv[1])) as runtime:
        svc = MatchService(runtime)
        for runner in svc.runners.values():
            runner.batch_size = 20
            runner.projection = Slow(runner.projection)
        print("ready", flush=True)
        busy = True
        while busy:
            busy = False
            for runner in svc.runners.values():
                if runner.run_once():
                    busy = True
                    print(runner.name, flush=True)  # a batch committed


if __name__ == "__main__":
    main()
