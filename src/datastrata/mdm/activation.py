"""The activation job a worker runs every round: ``activate()`` when something is due, a cheap read otherwise."""

from __future__ import annotations

from datastrata.mdm.store import MasterDataStore
from datastrata.stores.database import time_to_db


class ActivationJob:
    """Callable job: announce future-dated versions that took effect and clear lapsed current rows."""

    def __init__(self, store: MasterDataStore, *, limit: int = 1000) -> None:
        self.store = store
        self.limit = limit

    def due(self) -> bool:
        """True when a version has taken effect unannounced or a current row's period has ended (all tenants)."""
        with self.store.units.read(self.store.scope()) as tx:
            now = time_to_db(tx.dialect, self.store.clock())
            pending = tx.one(
                "SELECT 1 FROM master_data_versions "
                "WHERE activated_at IS NULL AND recorded_to IS NULL AND valid_from <= ? LIMIT 1",
                (now,),
            )
            if pending is not None:
                return True
            lapsed = tx.one(
                "SELECT 1 FROM master_data_current WHERE valid_to IS NOT NULL AND valid_to <= ? LIMIT 1", (now,)
            )
        return lapsed is not None

    def __call__(self) -> int:
        """Run one activation batch if anything is due; return how many versions it announced."""
        if not self.due():
            return 0
        return len(self.store.activate(limit=self.limit))
