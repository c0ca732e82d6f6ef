"""Child process of the kill -9 and lease tests: runs order sagas over stores named by a JSON file of URLs.

``python -m tests.services.saga_child URLS N:before|N:after|never`` runs a batch of order sagas; the N-th step call
(counted over the batch) kills the process before it is made, or after its effect is committed but before the saga
log records its outcome. ``python -m tests.services.saga_child URLS resume`` waits for a line on stdin, then
resumes every saga nobody alive drives, printing the saga id of each call it makes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datastrata.runtime.location import Location
from datastrata.services.sagas import Action, Orchestrator, StepCall
from datastrata.stores.open import open_database
from datastrata.testing.sagashop import Shop, open_shop

#: The batch: a confirmed order, a payment failure (compensated) and an inventory failure.
ORDERS: dict[str, dict[str, Any]] = {
    "o-0": {"sku": "sku-1", "qty": 3, "account": "alice", "amount": 30},
    "o-1": {"sku": "sku-1", "qty": 2, "account": "bob", "amount": 20},
    "o-2": {"sku": "sku-1", "qty": 100, "account": "alice", "amount": 1},
}
#: The step calls the batch makes when nothing fails (reserve, charge, confirm; reserve, charge, release; reserve).
CALLS = 7


def open_all(urls: Mapping[str, str]) -> tuple[Shop, Location]:
    """Open the services and the saga log on `urls` (stocking and funding them the first time)."""
    shop = open_shop(urls, open_database)
    if not shop.inventory.read("SELECT 1 FROM inv_stock"):
        shop.inventory.stock("sku-1", 10)
        shop.payment.fund("alice", 1000)
        shop.payment.fund("bob", 5)
    return shop, Location.over(open_database(urls["log"]), name="sagas")


def killing(shop: Shop, at: str) -> None:
    """Make the planned call boundary of `shop`'s steps kill this process."""
    if at == "never":
        return
    nth, when = at.split(":")
    seen = [0]

    def wrap(action: Action) -> Action:
        def call(c: StepCall) -> Mapping[str, Any]:
            seen[0] += 1
            if seen[0] == int(nth) and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            try:
                return action(c)
            finally:
                if seen[0] == int(nth) and when == "after":
                    os.kill(os.getpid(), signal.SIGKILL)

        return call

    shop.faults.wrap = lambda name, action: wrap(action)  # type: ignore[method-assign]


def resume(shop: Shop, log: Location) -> None:
    """Wait for the go, then resume sagas until a round makes no call, printing each call's saga id."""

    def wrap(action: Action) -> Action:
        def call(c: StepCall) -> Mapping[str, Any]:
            time.sleep(0.005)  # slow enough for the two resumers to overlap
            print(c.saga_id, flush=True)
            return action(c)

        return call

    shop.faults.wrap = lambda name, action: wrap(action)  # type: ignore[method-assign]
    orchestrator = Orchestrator(log, [shop.definition(timeout=5.0)])
    print("ready", flush=True)
    sys.stdin.readline()
    while orchestrator.resume():
        pass
    orchestrator.close()


def main() -> None:
    urls, at = json.loads(Path(sys.argv[1]).read_text()), sys.argv[2]
    shop, log = open_all(urls)
    if at == "resume":
        resume(shop, log)
        return
    killing(shop, at)
    orchestrator = Orchestrator(log, [shop.definition(timeout=5.0)])
    for saga_id, order in ORDERS.items():
        print(saga_id, orchestrator.execute("order", saga_id, order).state, flush=True)


if __name__ == "__main__":
    main()
