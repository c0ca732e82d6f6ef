"""Child process of the commerce kill -9 tests: places choreographed orders, then kills itself at one reaction.

``python commerce_child.py HOME ORDERS CRASH_AT WHEN [STYLE]``: a fresh runtime on the embedded home folder `HOME`,
the stock and customers of the test, `ORDERS` orders of `STYLE` (default choreographed), then the services' rounds
until the `CRASH_AT`-th reaction (choreographed) or service call of a saga step (orchestrated), where it SIGKILLs
itself ``before`` it acts or ``after`` it acted (its effect committed; the relay's checkpoint or the saga log's
record of it not yet: it is delivered or called again after the restart).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from datastrata.core.config import Settings
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
    style = sys.argv[5] if len(sys.argv) > 5 else CHOREOGRAPHED
    _runtime, svc = shop(home)
    svc.catalogue.add("shoe", "Trail shoes", "40.00")
    svc.inventory.set_stock("shoe", orders)  # enough for about half the orders: the rest fall short
    svc.users.register("mei", "Mei")
    for n in range(orders):
        svc.orders.place("mei", [f"shoe:{1 + n % 3}"], order_id=f"k-{n}", saga=style)
    seen = 0

    def counted(act: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            nonlocal seen
            seen += 1
            if seen == crash_at and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            answer = act(*args, **kwargs)
            if seen == crash_at and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return answer

        return call

    if style == CHOREOGRAPHED:
        delivery = svc.runtime.bus.delivery("commerce.choreography")
        assert delivery is not None
        delivery.handler = counted(delivery.handler)
    else:  # the services' commands the saga's steps call (looked up on each call)
        for service, names in ((svc.inventory, ("reserve", "release", "confirm")), (svc.payment, ("charge",)),
                               (svc.orders, ("confirm", "cancel"))):  # fmt: skip
            for name in names:
                setattr(service, name, counted(getattr(service, name)))
    for _ in range(200):  # the rounds, waiting out a step's backoff
        if not svc.settle():
            time.sleep(0.02)
    print("finished without reaching the crash point", flush=True)


if __name__ == "__main__":
    main()
