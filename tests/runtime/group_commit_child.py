"""Child process for the group-commit kill test: 8 threads of keyed deposits, each acknowledged once it returns."""

from __future__ import annotations

import sys
import threading

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.systems.portfolio.service import PortfolioService

CLIENTS = 8


def main() -> None:
    url, folder = sys.argv[1], sys.argv[2]
    runtime = Runtime.open(Settings(store=url, graph=f"ladybug:///{folder}/graph"))
    service = PortfolioService(runtime)
    printing = threading.Lock()

    def client(k: int) -> None:
        i = 0
        while True:  # until killed
            service.deposit(f"p-{k}", "1", event_id=f"{k}-{i}")
            with printing:
                print(f"ack {k} {i}", flush=True)  # told done: it must survive the kill
            i += 1

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
