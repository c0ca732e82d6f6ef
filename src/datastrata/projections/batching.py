"""Batched projections: a page of events folded in with a few set-based statements instead of one per event."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, cast, runtime_checkable

from datastrata.core.errors import ConcurrencyConflict
from datastrata.core.events import Event
from datastrata.eventlog.log import EventLog
from datastrata.projections.follower import follow_together
from datastrata.projections.projection import Projection
from datastrata.projections.rebuild import rebuild_beside, slotted
from datastrata.projections.runner import Progress, ProjectionRunner
from datastrata.stores.database import Database, Tx


@runtime_checkable
class BatchProjection(Projection, Protocol):
    """A projection that can fold a whole page at once (its `apply` is `apply_batch` of one event)."""

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        """Fold `events` (in log order) into the read model."""


class BatchRunner(ProjectionRunner):
    """A ProjectionRunner that hands each page to `apply_batch`; same checkpoint-in-the-same-transaction contract."""

    projection: BatchProjection

    def __init__(
        self,
        log: EventLog,
        projection: BatchProjection,
        *,
        read_db: Database | None = None,
        batch_size: int = 2000,
        rebuild_batch_size: int = 20000,
    ) -> None:
        super().__init__(log, projection, read_db=read_db, batch_size=batch_size)
        self.rebuild_batch_size = rebuild_batch_size

    def apply_with(self, projection: Projection, tx: Tx, events: Sequence[Event]) -> None:
        """Fold the whole page with one `apply_batch` of `projection` (the read model or its pinned copy)."""
        started = time.perf_counter()
        cast(BatchProjection, projection).apply_batch(tx, events)
        self.fold_seconds += time.perf_counter() - started


def replay_together(
    runners: Sequence[BatchRunner],
    *,
    progress: Progress | None = None,
    batch_size: int = 20000,
    timings: dict[str, float] | None = None,
) -> int:
    """Rebuild several projections of one log in a single pass: each page is read once and fed to all of them.

    Read models with A/B slots are built beside their live slots and switched on success
    (:func:`~datastrata.projections.rebuild.rebuild_beside`); others are emptied and replayed in place. Each
    read-model change and its checkpoint share one transaction; returns the events applied (an event read by two
    projections counts twice). With `timings`, the seconds each projection spent in `apply` are added under its
    name (how fast it folds, apart from reading the log).
    """
    if not runners:
        return 0
    if all(slotted(r) is not None for r in runners):
        return rebuild_beside(runners, progress=progress, batch_size=batch_size, timings=timings)
    log, db = runners[0].log, runners[0].db
    if any(r.log is not log or r.db is not db for r in runners):
        raise ValueError("replay_together needs runners on one log and one read database")
    folding = {r.name: r.fold_seconds for r in runners}
    with db.transaction() as tx:
        for runner in runners:
            runner.reset_in(tx)
    for runner in runners:
        runner.halted = None
    done = follow_together(runners, batch_size=batch_size, progress=progress)
    if done.moved:
        raise ConcurrencyConflict(
            f"projections {done.moved} were moved by another runner during the rebuild; stop the worker "
            "(or let it finish) and rebuild again"
        )
    if done.failed:
        raise next(iter(done.failed.values()))
    applied = done.applied
    for runner in runners:  # events appended during the replay
        applied += runner.catch_up()
    if timings is not None:
        for runner in runners:
            timings[runner.name] = timings.get(runner.name, 0.0) + runner.fold_seconds - folding[runner.name]
    return applied
