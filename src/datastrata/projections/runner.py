"""The projection runner: a relational read model on the follower core (one event at a time within a page)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, cast

from datastrata.core.events import Event
from datastrata.eventlog.checkpoints import Checkpoints, Lag
from datastrata.eventlog.log import EventLog
from datastrata.projections.checkpoints import TableSink
from datastrata.projections.follower import LogFollower, Progress
from datastrata.projections.projection import Projection
from datastrata.projections.readmodels import SqlReadModel
from datastrata.projections.rebuild import rebuild_beside, slotted
from datastrata.projections.slots import REBUILD_SUFFIX, state_in
from datastrata.stores.database import Database, Tx

__all__ = ["Follower", "Lag", "Progress", "ProjectionRunner"]


class Follower(Protocol):
    """Anything that follows the log from its own checkpoint: what the runtime drives, lists and rebuilds."""

    log: EventLog

    @property
    def name(self) -> str:
        """A unique name (the checkpoint's key)."""

    def position(self) -> int:
        """Return the checkpoint."""

    def run_once(self) -> int:
        """Apply the next page of events, if any; return how many were applied."""

    def rebuild(self, progress: Progress | None = None) -> int:
        """Clear what the follower built and replay the log; return how many events were applied."""

    def lag(self) -> Lag:
        """Return how far behind the log this follower is."""


class ProjectionRunner(LogFollower[Tx]):
    """Runs one projection: exactly-once effect through checkpoint and read model sharing a transaction."""

    #: Seconds this runner has spent folding pages in `apply_with` (live and rebuild), apart from reading the log.
    fold_seconds: float = 0.0

    def __init__(
        self, log: EventLog, projection: Projection, *, read_db: Database | None = None, batch_size: int = 500
    ) -> None:
        self.projection = projection
        self.db = read_db or log.db
        self.checkpoints = Checkpoints(self.db)
        projection.setup(self.db)
        super().__init__(
            log,
            TableSink(self.db, self.checkpoints),
            name=projection.name,
            event_types=projection.event_types,
            batch_size=batch_size,
        )

    def apply(self, tx: Tx, events: Sequence[Event]) -> None:
        """Fold the page into the read model (its live slot)."""
        self.apply_with(self.projection, tx, events)

    def apply_with(self, projection: Projection, tx: Tx, events: Sequence[Event]) -> None:
        """Fold the page through `projection` (this runner's read model, or its copy pinned to a slot)."""
        started = time.perf_counter()
        if isinstance(projection, SqlReadModel):
            projection.apply_batch(tx, events)  # one pointer read for the page
        else:
            for event in events:
                projection.apply(tx, event)
        self.fold_seconds += time.perf_counter() - started

    def prepare(self, events: Sequence[Event]) -> object:
        """Build the page's rows before its transaction (a read model with `prepare`; else the events)."""
        return self.prepare_with(self.projection, events)

    def apply_prepared(self, tx: Tx, prepared: object) -> None:
        """Write what :meth:`prepare` built into the live slot."""
        self.write_with(self.projection, tx, prepared)

    def prepare_with(self, projection: Projection, events: Sequence[Event]) -> object:
        """Build `projection`'s rows of a page outside any transaction (timed with the fold)."""
        if not isinstance(projection, SqlReadModel):
            return events
        started = time.perf_counter()
        prepared = projection.prepare(events)
        self.fold_seconds += time.perf_counter() - started
        return prepared

    def write_with(self, projection: Projection, tx: Tx, prepared: object) -> None:
        """Write what :meth:`prepare_with` built through `projection` inside `tx` (timed with the fold)."""
        if not isinstance(projection, SqlReadModel):
            self.apply_with(projection, tx, cast(Sequence[Event], prepared))
            return
        started = time.perf_counter()
        projection.write(tx, prepared)
        self.fold_seconds += time.perf_counter() - started

    def rebuild(self, progress: Progress | None = None) -> int:
        """Rebuild beside the live read model and switch on success (in place when it keeps no A/B slots)."""
        if slotted(self) is None:
            return super().rebuild(progress)
        return rebuild_beside([self], progress=progress, batch_size=self.rebuild_batch_size)

    def clear(self, tx: Tx) -> None:
        """Empty the read model."""
        self.projection.clear(tx)

    def rebuilding_before(self, position: int) -> bool:
        """True when a rebuild beside the live slot is under way and its checkpoint is below `position`."""
        if slotted(self) is None:
            return False
        with self.db.read() as tx:
            if state_in(tx, self.name).building is None:
                return False
            return self.checkpoints.mark_in(tx, self.name + REBUILD_SUFFIX).position < position
