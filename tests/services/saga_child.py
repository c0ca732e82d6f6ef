"""Child process of the kill -9 tests: runs a batch of order sagas and SIGKILLs itself at one call boundary.

``python -m tests.services.saga_child DIR N:before|N:after|never`` — DIR holds the SQLite files of the saga log and
the three services; the N-th step call (counted over the batch) kills the process before it is made, or after its
effect is committed but before the saga log records its outcome.
"""

from __future__ import annotations

import os
import signal
import sys
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


def open_all(folder: Path) -> tuple[Shop, Location]:
    """Open the services and the saga log in `folder` (stocking and funding them the first time)."""
    urls = {role: f"sqlite:///{folder / role}.db" for role in ("inventory", "payment", "orders", "log")}
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


def main() -> None:
    folder, at = Path(sys.argv[1]), sys.argv[2]
    shop, log = open_all(folder)
    killing(shop, at)
    orchestrator = Orchestrator(log, [shop.definition(timeout=5.0)])
    for saga_id, order in ORDERS.items():
        print(saga_id, orchestrator.execute("order", saga_id, order).state, flush=True)


if __name__ == "__main__":
    main()
