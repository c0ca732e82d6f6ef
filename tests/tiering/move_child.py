"""Child process for the move SIGKILL test: runs a tiering plan and stops dead at the named step.

Arguments: store URL, objects URL, step, and optionally ``segments`` (the closed match streams' policy instead of
the readings').
"""

from __future__ import annotations

import sys
import time

from datastrata.core.clock import FrozenClock
from datastrata.stores.open import open_database
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import Move, plan
from datastrata.tiering.policy import parse_policy
from tests.tiering import segmentdata
from tests.tiering.rowdata import ICEBERG_POLICY, NOW, POLICY


def main() -> None:
    store, objects_url, stop_at = sys.argv[1], sys.argv[2], sys.argv[3]
    policies = {"iceberg": ICEBERG_POLICY, "segments": segmentdata.POLICY}
    policy = policies.get(sys.argv[4], POLICY) if sys.argv[4:] else POLICY
    clock = FrozenClock(NOW)
    seen: list[str] = []

    def on_step(step: str, move: Move) -> None:
        print(step, move.item.key, flush=True)
        seen.append(step)
        if step == stop_at and seen.count(step) == 2:  # the second move's step: one move is already whole
            time.sleep(600)  # the parent kills us here

    mover = Mover(
        open_database(store), ObjectStore(objects_url, clock=clock), parse_policy(policy), clock=clock, on_step=on_step
    )
    mover.run(plan(mover.policy, mover.inventory(), NOW))
    print("done", flush=True)


if __name__ == "__main__":
    main()
