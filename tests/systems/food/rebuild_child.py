"""Child process for the graph rebuild SIGKILL test: rebuilds the food graph and kills itself mid-replay."""

from __future__ import annotations

import os
import signal
import sys

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.food.service import install


def main(store: str, graph: str, kill_at: int) -> None:
    """Rebuild two events a page; SIGKILL this process when the rebuild is about to read page `kill_at`."""
    runtime = Runtime.open(Settings(store=store, graph=graph))
    svc = install(runtime)
    svc.runner.rebuild_batch_size = 2
    pages = 0

    def progress(done: int, total: int) -> None:
        nonlocal pages
        pages += 1
        if pages == kill_at:
            print(done, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    svc.rebuild(progress)
    print("finished", flush=True)  # the test fails on this line: the kill should have come first


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
