"""Child process for the rebuild SIGKILL test: rebuilds the holders read model and kills itself mid-transaction."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence

from datastrata.core.events import Event
from datastrata.eventlog import EventLog
from datastrata.projections import ProjectionRunner
from datastrata.stores.database import Tx
from datastrata.stores.open import open_database
from datastrata.systems.portfolio.holders import HoldersProjection


class KilledMidRebuild(HoldersProjection):
    """Holders that SIGKILL their own process when a rebuild (a slot-pinned copy) folds an event marked ``kill``."""

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        super().apply_batch(tx, events)  # inside the page's transaction, not committed yet
        if self.pinned is not None and any(e.payload.get("kill") for e in events):
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    db = open_database(sys.argv[1])
    runner = ProjectionRunner(EventLog(db), KilledMidRebuild())
    runner.rebuild_batch_size = int(sys.argv[2])
    runner.rebuild(lambda position, target: print(position, flush=True))


if __name__ == "__main__":
    main()
