"""The projection runner: applies log pages and moves the checkpoint in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from datastrata.core.errors import ConsistencyTimeout
from datastrata.eventlog.log import EventLog
from datastrata.projections.checkpoints import Checkpoints
from datastrata.projections.projection import Projection
from datastrata.stores.database import Database

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a consumer of the log is behind: its checkpoint, the log's head, and the events in between."""

    name: str
    position: int
    head: int
    behind: int

    @classmethod
    def of(cls, name: str, position: int, log: EventLog) -> Lag:
        """Measure the lag of a consumer at `position` (positions are sparse, so events are counted)."""
        head = log.head()
        return cls(name, position, head, log.count(after=position, upto=head) if position < head else 0)


class Follower(Protocol):
    """Anything that follows the log from its own checkpoint: what the platform drives, lists and rebuilds."""

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


class ProjectionRunner:
    """Runs one projection: exactly-once effect through checkpoint and read model sharing a transaction."""

    def __init__(
        self, log: EventLog, projection: Projection, *, read_db: Database | None = None, batch_size: int = 500
    ) -> None:
        self.log = log
        self.projection = projection
        self.db = read_db or log.db
        self.batch_size = batch_size
        self.checkpoints = Checkpoints(self.db)
        projection.setup(self.db)

    @property
    def name(self) -> str:
        """The projection's name."""
        return self.projection.name

    def position(self) -> int:
        """Return the checkpoint."""
        return self.checkpoints.get(self.name)

    def run_once(self) -> int:
        """Apply the next page of events, if any; return how many events were applied."""
        after = self.position()
        page = self.log.read_page(after=after, limit=self.batch_size, types=self.projection.event_types)
        if page.next_after == after:
            return 0
        applied = 0
        with self.db.transaction() as tx:
            # Re-read under lock: another runner may have moved the checkpoint since we looked.
            current = self.checkpoints.get_in(tx, self.name, for_update=True)
            if current != after:
                return 0  # moved by another runner, or reset by a rebuild: read again from the new place
            last_id: str | None = None
            for event in page.events:
                self.projection.apply(tx, event)
                last_id = event.event_id
                applied += 1
            self.checkpoints.set_in(tx, self.name, page.next_after, last_id)
        return applied

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply events until the projection reaches the log's head as of the call; return how many applied."""
        total = 0
        target = self.log.head()
        while (position := self.position()) < target:
            total += self.run_once()
            if progress is not None:
                progress(min(position, target), target)
        if progress is not None:
            progress(target, target)
        return total

    def rebuild(self, progress: Progress | None = None) -> int:
        """Empty the read model, reset the checkpoint to 0 and replay the whole log."""
        with self.db.transaction() as tx:
            self.checkpoints.get_in(tx, self.name, for_update=True)
            self.projection.clear(tx)
            self.checkpoints.set_in(tx, self.name, 0, None)
        return self.catch_up(progress)

    def lag(self) -> Lag:
        """Return the checkpoint and the head of the log."""
        return Lag.of(self.name, self.position(), self.log)

    def wait_for(self, position: int, *, timeout: float = 5.0) -> None:
        """Block until this projection has applied `position` (a consistency token), catching up itself."""
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if self.run_once() == 0:
                if time.monotonic() >= deadline:
                    raise ConsistencyTimeout(
                        f"projection {self.name!r} is at position {self.position()}, not {position}, "
                        f"after {timeout:g}s; retry later or raise the timeout"
                    )
                time.sleep(0.01)
