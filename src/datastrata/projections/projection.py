"""The projection protocol: a read model that folds events in, inside a transaction it is given."""

from __future__ import annotations

from typing import Protocol

from datastrata.core.events import Event
from datastrata.stores.database import Database, Tx


class Projection(Protocol):
    """A read model fed from the log; `apply` must only touch the store through `tx`."""

    @property
    def name(self) -> str:
        """Unique name; also the checkpoint's name."""

    @property
    def event_types(self) -> frozenset[str] | None:
        """Event types this projection reads (None: all)."""

    def setup(self, db: Database) -> None:
        """Create the read model's tables (idempotent)."""

    def apply(self, tx: Tx, event: Event) -> None:
        """Fold one event into the read model."""

    def clear(self, tx: Tx) -> None:
        """Empty the read model before a rebuild."""
