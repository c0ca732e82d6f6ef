"""Tiering under the supervisor (``worker``/``serve --tiering``): plans every so often, moves a few items per round,
and finishes the restore jobs whose copies are ready."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from datastrata.runtime.jobs import jobs_of
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import Move
from datastrata.tiering.policy import Policy
from datastrata.tiering.restores import Restores
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

    def __init__(
        self,
        mover: Mover,
        *,
        every: timedelta = timedelta(hours=1),
        batch: int = 10,
        restores: Restores | None = None,
        check_restores: timedelta = timedelta(seconds=30),
    ) -> None:
        self.mover = mover
        self.every = every
        self.batch = batch
        self.restores = restores or Restores(mover)
        self.check_restores = check_restores
        self.planned_at: datetime | None = None
        self.restores_checked_at: datetime | None = None
        self._pending: list[Move] = []

    def blocked(self) -> str:
        """Say which datasets of this policy wait on a fix, and why ("" when none): health reports it."""
        return "; ".join(f"{name}: {reason}" for name, reason in sorted(self.mover.blocked.items()))

    @property
    def name(self) -> str:
        """The job's name under the supervisor (health, metrics)."""
        return f"tiering:{self.mover.policy.name}"

    def __call__(self) -> int:
        """Finish ready restores (every `check_restores`); move up to `batch` items of the plan, planning when due."""
        now = self.mover.clock()
        finished = 0
        if self.restores_checked_at is None or now - self.restores_checked_at >= self.check_restores:
            finished = len(self.restores.complete_ready())
            self.restores_checked_at = now
        return finished + self._move(now)

    def _move(self, now: datetime) -> int:
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
    job = TieringJob(mover, every=every, restores=Restores(mover, jobs=jobs_of(runtime), log=runtime.log))
    runtime.add_job(job.name, job)
    runtime.degraded_by[job.name] = job.blocked
    return job


def serve_tiering(runtime: Runtime, policies: Sequence[Policy], *, supervised: bool) -> dict[str, Mover]:
    """The movers of the policies `serve` answers for, by name; `supervised`: each also runs as its tiering job."""
    movers: dict[str, Mover] = {}
    for policy in policies:
        if supervised:
            movers[policy.name] = install(runtime, policy).mover
        else:
            objects = ObjectStore(runtime.settings.objects, clock=runtime.clock)
            movers[policy.name] = Mover(
                runtime.db, objects, policy, clock=runtime.clock, readers=lambda: readers_of(runtime)
            )
    return movers
