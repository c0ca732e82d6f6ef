"""Child process for the combined-rebuild SIGKILL test: rebuilds match's four read models and dies on a later page."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from datastrata.core.config import Settings
from datastrata.projections.batching import replay_together
from datastrata.runtime import Runtime
from datastrata.stores.database import Tx
from datastrata.systems.match.service import MatchService, register_batched
from datastrata.systems.match.tv import TvProjection


class KilledOnThirdPage(TvProjection):
    """The TV read model, killing its own process while a rebuild folds its third page (uncommitted)."""

    pages = 0

    def write(self, tx: Tx, prepared: list[tuple[Any, ...]]) -> None:
        super().write(tx, prepared)
        if self.pinned is not None:
            KilledOnThirdPage.pages += 1
            if KilledOnThirdPage.pages == 3:
                os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    with Runtime.open(Settings(store=sys.argv[1])) as runtime:
        register_batched(runtime, KilledOnThirdPage(runtime.cache))  # MatchService takes this runner
        svc = MatchService(runtime)
        replay_together(list(svc.runners.values()), batch_size=int(sys.argv[2]))


if __name__ == "__main__":
    main()
