"""Tiering under the worker's supervisor: a job that plans every so often and moves a few items per round."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import Move
from datastrata.tiering.policy import Policy
from datastrata.tiering.segments import check as check_segments
from datastrata.tiering.segments import readers_of

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime


class TieringJob:
    """One policy's moves as a supervised job step: each call moves at most `batch` items and returns how many.

    It plans when its last plan is used up and `every` has passed since it was made (a worker round is short;
    planning reads the inventory). A failed move raises into the job's failure boundary (which backs off) and the
    next call plans again, so the interrupted move is finished by the plan that follows.
    """

    def __init__(self, mover: Mover, *, every: timedelta = timedelta(hours=1), batch: int = 10) -> None:
        self.mover = mover
        self.every = every
        self.batch = batch
        self.planned_at: datetime | None = None
        self._pending: list[Move] = []

    @property
    def name(self) -> str:
        """The job's name under the supervisor (health, metrics)."""
        return f"tiering:{self.mover.policy.name}"

    def __call__(self) -> int:
        """Move up to `batch` items of the current plan; plan anew when it is used up and due."""
        now = self.mover.clock()
        if not self._pending:
            if self.planned_at is not None and now - self.planned_at < self.every:
                return 0
            self.mover.finish_expiries()
            self._pending = list(self.mover.plan(now).moves)
            self.planned_at = now
        take, self._pending = self._pending[: self.batch], self._pending[self.batch :]
        moved = 0
        try:
            for move in take:
                moved += self.mover.apply(move) is not None
        except Exception:
            self._pending, self.planned_at = [], None  # plan again next time: the failed move is finished then
            raise
        return moved


def install(runtime: Runtime, policy: Policy, *, every: timedelta = timedelta(hours=1)) -> TieringJob:
    """Run `policy` on every worker round of `runtime` (home store, configured objects), supervised."""
    objects = ObjectStore(runtime.settings.objects, clock=runtime.clock)
    mover = Mover(runtime.db, objects, policy, clock=runtime.clock, readers=lambda: readers_of(runtime))
    check_segments(policy, mover.readers())  # refused now, against the runtime's projections, not at the first run
    job = TieringJob(mover, every=every)
    runtime.add_job(job.name, job)
    return job
