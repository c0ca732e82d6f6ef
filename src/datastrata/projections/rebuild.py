"""Rebuilds beside the live read model: replay into the other slot, then switch the pointer in one short transaction.

One algorithm for one read model or several in a single pass over the log (``replay_together``):

1. *start or resume* (one transaction): when the pointer row says a rebuild is already building the inactive slot
   and its checkpoint ``<name>@rebuild`` follows this log, continue from that checkpoint; otherwise empty the
   inactive slot and start the rebuild's checkpoint at 0;
2. *replay* the log into the inactive slot in pages, each page and the rebuild's checkpoint in one short
   transaction, until the head (re-read after each page, so events appended meanwhile are caught up too);
3. *switch* (one transaction): lock the live checkpoint (serialising with the live follower's pages); when the
   build has got at least as far as the live follower, make the built slot live, move the live checkpoint to the
   rebuild's and forget the rebuild's checkpoint; otherwise fold the remaining pages first and try again.

Events an operator skipped for the live follower (``datastrata deadletters skip``) are left out of the rebuild
too. Until the switch the live follower goes on applying to the live slot and every reader sees it, whole; a rebuild
that fails (a poison event, a crash, ``kill -9``) changes nothing they see, and running it again resumes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from datastrata.core.errors import (
    BackendUnavailable,
    ConcurrencyConflict,
    ConfigurationError,
    EventFailed,
    RebuildFailed,
    ValidationError,
)
from datastrata.core.events import Event
from datastrata.core.redact import describe_error
from datastrata.eventlog.checkpoints import Mark
from datastrata.eventlog.log import Page
from datastrata.projections.follower import Progress
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


class _Build:
    """One read model's side of a rebuild: the slot it fills, the copy that writes it, its own checkpoint."""

    def __init__(self, runner: ProjectionRunner) -> None:
        model = slotted(runner)
        if model is None:
            raise ValidationError(f"{runner.name} keeps no A/B slots (no tables declared); it rebuilds in place")
        self.runner = runner
        self.model = model
        self.checkpoint = runner.name + REBUILD_SUFFIX
        self.live = "a"
        self.target = "b"
        self.view: SqlReadModel = model
        self.position = 0
        self.resumed = False
        self.skipped = runner.skipped() if runner.skipped is not None else set()

    def start_in(self, tx: Tx) -> None:
        """Resume the rebuild under way into the inactive slot, or empty that slot and start at 0."""
        state = state_in(tx, self.runner.name, for_update=True)
        self.live, self.target = state.active, other(state.active)
        self.view = self.model.in_slot(self.target)
        checkpoints = self.runner.checkpoints
        mark = checkpoints.mark_in(tx, self.checkpoint, for_update=True)
        if state.building == self.target and mark.log_id == self.runner.log.identity:
            self.position, self.resumed = mark.position, True
            return
        self.view.clear(tx)
        mark_building_in(tx, self.runner.name, self.target)
        checkpoints.set_in(tx, self.checkpoint, 0, None, self.runner.log.identity)
        self.position, self.resumed = 0, False

    def check_in(self, tx: Tx) -> None:
        """Refuse to go on when another rebuild moved this one's checkpoint (two rebuilds of one read model)."""
        if self.runner.checkpoints.mark_in(tx, self.checkpoint, for_update=True).position != self.position:
            raise ConcurrencyConflict(
                f"another rebuild of {self.runner.name} is running (its checkpoint {self.checkpoint} moved); "
                "let it finish, or stop it and run the rebuild again (it resumes)"
            )

    def wanted(self, events: Sequence[Event]) -> list[Event]:
        """Return the events of a page this read model folds and has not folded yet."""
        types = self.runner.event_types
        return [
            e
            for e in events
            if e.position > self.position and (types is None or e.type in types) and e.event_id not in self.skipped
        ]

    def fold_in(self, tx: Tx, events: Sequence[Event], to: int) -> None:
        """Fold `events` into the slot being built and move the rebuild's checkpoint to `to`."""
        if events:
            self.runner.apply_with(self.view, tx, events)
        last = events[-1].event_id if events else None
        self.runner.checkpoints.set_in(tx, self.checkpoint, to, last, self.runner.log.identity)

    def live_position(self) -> int:
        """Return the live follower's checkpoint, 0 when it follows another log (the rebuild replaces it)."""
        return self._same_log(self.runner.checkpoints.mark(self.runner.name))

    def ready_in(self, tx: Tx) -> bool:
        """Lock the live checkpoint in `tx`; True when the build has got at least as far (never switch backwards)."""
        return self._same_log(self.runner.checkpoints.mark_in(tx, self.runner.name, for_update=True)) <= self.position

    def _same_log(self, mark: Mark) -> int:
        return mark.position if mark.log_id in (None, self.runner.log.identity) else 0

    def switch_in(self, tx: Tx) -> None:
        """Make the built slot live and move the live checkpoint to the rebuild's, in `tx`."""
        self.check_in(tx)
        name, checkpoints = self.runner.name, self.runner.checkpoints
        switch_in(tx, name, self.target)
        checkpoints.set_in(tx, name, self.position, None, self.runner.log.identity)
        checkpoints.delete_in(tx, self.checkpoint)
        self.model.switched(tx, self.live, self.target)


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
    Raises :class:`RebuildFailed` (the live slots untouched) when an event cannot be folded.
    """
    if not runners:
        return 0
    log, db = runners[0].log, runners[0].db
    if any(r.log is not log or r.db is not db for r in runners):
        raise ValueError("a rebuild of several read models needs runners on one log and one read database")
    builds = [_Build(r) for r in runners]
    with db.transaction() as tx:
        for build in builds:
            build.start_in(tx)
    union: set[str] | None = set()
    for runner in runners:
        if runner.event_types is None or union is None:
            union = None
        else:
            union |= runner.event_types
    after, applied = min(b.position for b in builds), 0
    target = log.head()
    for attempt in range(SWITCH_ATTEMPTS):
        if attempt:
            time.sleep(0.05)  # the live follower got ahead of what this rebuild can read yet: let the horizon move
        while after < (target := max(log.head(), *(b.live_position() for b in builds))):
            if progress is not None:
                progress(after, target)
            page = log.read_page(after=after, limit=batch_size, types=union)
            if page.next_after == after:
                break  # nothing readable below the head yet (PostgreSQL's horizon): the live follower takes the rest
            try:
                applied += _fold_page(builds, page, timings)
            except (BackendUnavailable, ConfigurationError, ConcurrencyConflict):
                raise
            except Exception:
                applied += _isolate(builds, page)
            after = page.next_after
        with db.transaction() as tx:
            switched = all(build.ready_in(tx) for build in builds)
            if switched:
                for build in builds:
                    build.switch_in(tx)
        if switched:
            break
    else:
        raise RebuildFailed(
            f"rebuild of {', '.join(r.name for r in runners)} could not catch up with the live follower after "
            f"{SWITCH_ATTEMPTS} attempts; the live read model is untouched; run the rebuild again (it resumes)"
        )
    for runner in runners:
        runner.halted = None
    if progress is not None:
        progress(max(after, target), max(after, target))
    return applied


def _fold_page(builds: Sequence[_Build], page: Page, timings: dict[str, float] | None) -> int:
    """Fold one page into every build's slot in one transaction; return the events folded."""
    applied = 0
    with builds[0].runner.db.transaction() as tx:
        for build in builds:
            build.check_in(tx)
            events = build.wanted(page.events)
            started = time.perf_counter()
            build.fold_in(tx, events, page.next_after)
            if timings is not None and events:
                timings[build.runner.name] = timings.get(build.runner.name, 0.0) + time.perf_counter() - started
            applied += len(events)
    for build in builds:
        build.position = page.next_after
    return applied


def _isolate(builds: Sequence[_Build], page: Page) -> int:
    """Fold a failed page event by event so the good ones commit; raise RebuildFailed naming the bad one."""
    applied = 0
    db = builds[0].runner.db
    for build in builds:
        for event in build.wanted(page.events):
            try:
                with db.transaction() as tx:
                    build.check_in(tx)
                    build.fold_in(tx, [event], event.position)
            except (BackendUnavailable, ConfigurationError, ConcurrencyConflict):
                raise
            except Exception as exc:
                cause = EventFailed(
                    build.runner.name,
                    event.event_id,
                    event.position,
                    describe_error(exc),
                    event_type=event.type,
                    stream_id=event.stream_id,
                )
                raise RebuildFailed(
                    f"rebuild of {build.runner.name} stopped at event {event.event_id} (position {event.position}, "
                    f"{event.type}): {describe_error(exc)}; the live read model (slot {build.live}) is untouched "
                    f"and still answers; fix the projection and run the rebuild again: it resumes at position "
                    f"{build.position}"
                ) from cause
            build.position = event.position
            applied += 1
    with db.transaction() as tx:  # each alone folded: the page failed only as a whole
        for build in builds:
            build.check_in(tx)
            build.fold_in(tx, [], page.next_after)
    for build in builds:
        build.position = page.next_after
    return applied
