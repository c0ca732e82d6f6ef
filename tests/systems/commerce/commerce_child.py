"""Child process of the commerce kill -9 tests: places choreographed orders, then kills itself at one reaction.

``python commerce_child.py HOME ORDERS CRASH_AT WHEN``: a fresh runtime on the embedded home folder `HOME`, the
stock and customers of the test, `ORDERS` choreographed orders, then the services' rounds until the `CRASH_AT`-th
reaction, where it SIGKILLs itself ``before`` the reaction acts or ``after`` it acted (its effect committed, the
relay's checkpoint not yet moved: the event is delivered again after the restart).
"""

from __future__ import annotations

import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

from datastrata.core.config import Settings
from datastrata.core.events import Event
from datastrata.runtime import Runtime
from datastrata.systems.commerce.domain import CHOREOGRAPHED, DeclineRule
from datastrata.systems.commerce.service import CommerceService

#: The decline rule of the crash tests: a charge above 100.00 is declined.
RULE = DeclineRule(limit=Decimal("100.00"))


def shop(home: Path) -> tuple[Runtime, CommerceService]:
    """The runtime and commerce services on `home` (the same in the child and in the test)."""
    runtime = Runtime.open(Settings.embedded(home))
    return runtime, runtime.service("commerce", lambda r: CommerceService(r, decline=RULE))


def main() -> None:
    home, orders, crash_at, when = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    runtime, svc = shop(home)
    svc.catalogue.add("shoe", "Trail shoes", "40.00")
    svc.inventory.set_stock("shoe", orders)  # enough for about half the orders: the rest fall short
    svc.users.register("mei", "Mei")
    for n in range(orders):
        svc.orders.place("mei", [f"shoe:{1 + n % 3}"], order_id=f"k-{n}", saga=CHOREOGRAPHED)
    seen = 0
    react = svc.choreography.handle

    def counted(event: Event) -> None:
        nonlocal seen
        seen += 1
        if seen == crash_at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        react(event)
        if seen == crash_at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    delivery = runtime.services["commerce"].runtime.bus.delivery("commerce.choreography")
    delivery.handler = counted
    svc.settle()
    print("finished without reaching the crash point", flush=True)


if __name__ == "__main__":
    main()
