"""Rebuilds beside the live read model: replay into the other slot, then switch the pointer in one short transaction.

One algorithm for one read model or several in a single pass over the log (``replay_together``):

1. *start or resume* (one transaction): when the pointer row says a rebuild is already building the inactive slot
   and its checkpoint ``<name>@rebuild`` follows this log, continue from that checkpoint; otherwise empty the
   inactive slot and start the rebuild's checkpoint at 0;
2. *replay* the log into the inactive slot on the follower core (:func:`~datastrata.projections.follower.
   follow_together`): each page is read and decoded once for every read model, and each folds it with its
   rebuild's checkpoint in one short transaction, until the head (re-read after each page, so events appended
   meanwhile are caught up too);
3. *switch* (one transaction): lock the live checkpoint (serialising with the live follower's pages); when the
   build has got at least as far as the live follower, make the built slot live, move the live checkpoint to the
   rebuild's and forget the rebuild's checkpoint; otherwise fold the remaining pages first and try again.

Events an operator skipped for the live follower (``datastrata deadletters skip``) are left out of the rebuild
too. Until the switch the live follower goes on applying to the live slot and every reader sees it, whole; a rebuild
that fails (a poison event, a crash, ``kill -9``) changes nothing they see, and running it again resumes. A poison
event stops only the read model it fails: its event is parked in that follower's dead letters, its live slot stays,
and the other read models of the same pass go on and switch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from datastrata.core.errors import ConcurrencyConflict, EventFailed, RebuildFailed, ValidationError
from datastrata.core.events import Event
from datastrata.eventlog.checkpoints import Mark
from datastrata.projections.checkpoints import TableSink
from datastrata.projections.follower import LogFollower, Progress, follow_together
from datastrata.projections.readmodels import SqlReadModel
from datastrata.projections.slots import REBUILD_SUFFIX, mark_building_in, other, state_in, switch_in
from datastrata.stores.database import Tx

#: How often a finished replay tries to switch before giving up (each try folds what the live follower got ahead).
SWITCH_ATTEMPTS = 100

if TYPE_CHECKING:
    from datastrata.projections.runner import ProjectionRunner


def slotted(runner: ProjectionRunner) -> SqlReadModel | None:
    """Return the runner's read model when it keeps A/B slots (declares its tables), else None."""
    projection = runner.projection
    return projection if isinstance(projection, SqlReadModel) and projection.tables else None


class SlotBuild(LogFollower[Tx]):
    """One read model's side of a rebuild: a follower of the log into the inactive slot, with its own checkpoint."""

    kind = "rebuild"

    def __init__(self, runner: ProjectionRunner) -> None:
        model = slotted(runner)
        if model is None:
            raise ValidationError(f"{runner.name} keeps no A/B slots (no tables declared); it rebuilds in place")
        super().__init__(
            runner.log,
            TableSink(runner.db, runner.checkpoints, durable=False),  # pages redone after a crash; the switch durable
            name=runner.name + REBUILD_SUFFIX,
            event_types=runner.event_types,
            batch_size=runner.rebuild_batch_size,
        )
        self.runner = runner
        self.model = model
        self.live = "a"
        self.target = "b"
        self.view: SqlReadModel = model
        self.at = 0
        self.resumed = False
        self.excluded = frozenset(runner.skipped() if runner.skipped is not None else ())

    def apply(self, tx: Tx, events: Sequence[Event]) -> None:
        """Fold `events` into the slot being built."""
        self.runner.apply_with(self.view, tx, events)

    def prepare(self, events: Sequence[Event]) -> object:
        """Build the page's rows for the slot being built, before its transaction."""
        return self.runner.prepare_with(self.view, events)

    def apply_prepared(self, tx: Tx, prepared: object) -> None:
        """Write what :meth:`prepare` built into the slot being built."""
        self.runner.write_with(self.view, tx, prepared)

    def clear(self, tx: Tx) -> None:
        """Empty the slot being built."""
        self.view.clear(tx)

    def start_in(self, tx: Tx) -> None:
        """Resume the rebuild under way into the inactive slot, or empty that slot and start at 0."""
        state = state_in(tx, self.runner.name, for_update=True)
        self.live, self.target = state.active, other(state.active)
        self.view = self.model.in_slot(self.target)
        checkpoints = self.runner.checkpoints
        mark = checkpoints.mark_in(tx, self.name, for_update=True)
        if state.building == self.target and mark.log_id == self.runner.log.identity:
            self.at, self.resumed = mark.position, True
            return
        self.view.clear(tx)
        mark_building_in(tx, self.runner.name, self.target)
        checkpoints.set_in(tx, self.name, 0, None, self.runner.log.identity)
        self.at, self.resumed = 0, False

    def live_position(self) -> int:
        """Return the live follower's checkpoint, 0 when it follows another log (the rebuild replaces it)."""
        return self._same_log(self.runner.checkpoints.mark(self.runner.name))

    def ready_in(self, tx: Tx) -> bool:
        """Lock the live checkpoint in `tx`; True when the build has got at least as far (never switch backwards)."""
        return self._same_log(self.runner.checkpoints.mark_in(tx, self.runner.name, for_update=True)) <= self.at

    def _same_log(self, mark: Mark) -> int:
        return mark.position if mark.log_id in (None, self.runner.log.identity) else 0

    def switch_in(self, tx: Tx) -> None:
        """Make the built slot live and move the live checkpoint to the rebuild's, in `tx`."""
        if self.runner.checkpoints.mark_in(tx, self.name, for_update=True).position != self.at:
            raise _another_rebuild([self])
        name, checkpoints = self.runner.name, self.runner.checkpoints
        switch_in(tx, name, self.target)
        checkpoints.set_in(tx, name, self.at, None, self.runner.log.identity)
        checkpoints.delete_in(tx, self.name)
        self.model.switched(tx, self.live, self.target)


def replay_beside(
    runners: Sequence[ProjectionRunner], *, batch_size: int = 20000, progress: Progress | None = None
) -> int:
    """Start or resume the rebuilds of `runners` and replay the log into their inactive slots, without switching.

    Steps 1 and 2 of a rebuild, for a share of the read models replayed in another process
    (:mod:`datastrata.projections.partner`): the rebuild that switches (:func:`rebuild_beside`) resumes from the
    checkpoints this leaves. A read model stopped by an event it cannot fold just stops here (the good events
    before it committed); that rebuild meets the event again, parks it and reports it. Returns the events folded.
    """
    if not runners:
        return 0
    builds = [SlotBuild(r) for r in runners]
    with runners[0].db.transaction() as tx:
        for build in builds:
            build.start_in(tx)
    done = follow_together(builds, batch_size=batch_size, progress=progress)
    if done.moved:
        raise _another_rebuild([b for b in builds if b.name in done.moved])
    return done.applied


def rebuild_beside(
    runners: Sequence[ProjectionRunner],
    *,
    progress: Progress | None = None,
    batch_size: int = 20000,
    timings: dict[str, float] | None = None,
) -> int:
    """Rebuild the read models of `runners` (one log, one database) into their inactive slots, then switch them.

    Resumes a rebuild that stopped (crash, failure) from its checkpoint. Returns the events folded by this run (an
    event two read models fold counts twice). With `timings`, each read model's seconds in `apply` are added.
    Raises :class:`RebuildFailed` when an event cannot be folded: that read model's live slot is untouched and the
    event is parked in its dead letters; the others are rebuilt and switched.
    """
    if not runners:
        return 0
    log, db = runners[0].log, runners[0].db
    if any(r.log is not log or r.db is not db for r in runners):
        raise ValueError("a rebuild of several read models needs runners on one log and one read database")
    folding = {r.name: r.fold_seconds for r in runners}
    builds = [SlotBuild(r) for r in runners]
    with db.transaction() as tx:
        for build in builds:
            build.start_in(tx)
    pending, applied = list(builds), 0
    failed: dict[SlotBuild, EventFailed] = {}
    for attempt in range(SWITCH_ATTEMPTS):
        if attempt:
            time.sleep(0.05)  # the live follower got ahead of what this rebuild can read yet: let the horizon move
        done = follow_together(
            pending,
            batch_size=batch_size,
            progress=progress,
            goal=lambda: max(log.head(), *(b.live_position() for b in pending)),
        )
        applied += done.applied
        for build in pending:
            build.at = done.positions[build.name]
        if done.moved:
            raise _another_rebuild([b for b in pending if b.name in done.moved])
        for build in [b for b in pending if b.name in done.failed]:
            failed[build] = done.failed[build.name]
            pending.remove(build)
        if not pending:
            break
        with db.transaction() as tx:
            switched = all(build.ready_in(tx) for build in pending)
            if switched:
                for build in pending:
                    build.switch_in(tx)
        if switched:
            break
    else:
        raise RebuildFailed(
            f"rebuild of {', '.join(r.name for r in runners)} could not catch up with the live follower after "
            f"{SWITCH_ATTEMPTS} attempts; the live read model is untouched; run the rebuild again (it resumes)"
        )
    for build in pending:
        build.runner.halted = None
    if timings is not None:
        for runner in runners:
            timings[runner.name] = timings.get(runner.name, 0.0) + runner.fold_seconds - folding[runner.name]
    if failed:
        raise _failed(failed, [b.runner.name for b in pending])
    return applied


def _another_rebuild(builds: Sequence[SlotBuild]) -> ConcurrencyConflict:
    names = ", ".join(b.runner.name for b in builds)
    checkpoints = ", ".join(b.name for b in builds)
    return ConcurrencyConflict(
        f"another rebuild of {names} is running (its checkpoint {checkpoints} moved); "
        "let it finish, or stop it and run the rebuild again (it resumes)"
    )


def _failed(failed: dict[SlotBuild, EventFailed], switched: list[str]) -> RebuildFailed:
    """Park each failed read model's event in its dead letters; return the error naming them (and who switched)."""
    causes, parts = [], []
    for build, exc in failed.items():
        name = build.runner.name
        cause = EventFailed(name, exc.event_id, exc.position, exc.error, event_type=exc.type, stream_id=exc.stream_id)
        if build.runner.park is not None:
            build.runner.park(cause)
        causes.append(cause)
        parts.append(
            f"rebuild of {name} stopped at event {exc.event_id} (position {exc.position}, {exc.type}): {exc.error}; "
            f"the live read model (slot {build.live}) is untouched and still answers; fix the projection and run "
            f"the rebuild again: it resumes at position {build.at}"
            + (f" (the event is parked: `datastrata deadletters list --follower {name}`)" if build.runner.park else "")
        )
    if switched:
        parts.append(f"{', '.join(switched)} rebuilt and switched")
    error = RebuildFailed("; ".join(parts))
    error.__cause__ = causes[0]
    return error
