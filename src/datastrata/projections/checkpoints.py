"""The relational sink of a follower: a read model's transaction and its checkpoint row beside it."""

from __future__ import annotations

from contextlib import AbstractContextManager

from datastrata.core.redact import redact_url
from datastrata.eventlog.checkpoints import Checkpoints, Mark
from datastrata.stores.database import Database, Tx


class TableSink:
    """The relational sink: the read model's transaction and its row in ``projection_checkpoints``.

    Not `durable` (a rebuild's slot, redone from its checkpoint after a crash): page commits do not wait for the disk.
    """

    def __init__(self, db: Database, checkpoints: Checkpoints | None = None, *, durable: bool = True) -> None:
        self.db = db
        self.durable = durable
        self.checkpoints = checkpoints or Checkpoints(db)
        url = getattr(db, "url", None)
        self.where = f"read model store {redact_url(url)}" if isinstance(url, str) else "read model store"
        self.hint = "or point --store at the store whose log it follows"

    def transaction(self) -> AbstractContextManager[Tx]:
        """Open the read model's write transaction."""
        return self.db.transaction(durable=self.durable)

    def mark(self, name: str) -> Mark:
        """Return the checkpoint `name` (outside any transaction)."""
        return self.checkpoints.mark(name)

    def mark_in(self, tx: Tx, name: str) -> Mark:
        """Return the checkpoint `name` locked inside `tx`."""
        return self.checkpoints.mark_in(tx, name, for_update=True)

    def move_in(self, tx: Tx, name: str, position: int, event_id: str | None, log_id: str) -> None:
        """Move checkpoint `name` inside `tx`."""
        self.checkpoints.set_in(tx, name, position, event_id, log_id)
