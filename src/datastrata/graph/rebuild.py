"""A graph rebuild beside the live graph: replay into the next generation file, then switch the pointer.

The graph's counterpart of :mod:`datastrata.projections.rebuild` (the SQL read models' A/B slots):

1. *start or resume*: when the pointer (:mod:`datastrata.stores.graphfiles`) says a rebuild is building a generation
   and that file's checkpoint ``<name>@rebuild`` follows this log, continue from it; otherwise start a new
   generation file (empty, with the live graph's schema) and record in the pointer that it is being built;
2. *replay* the log into it, a page and the rebuild's checkpoint per transaction of the new file, until the head;
   the live follower goes on writing the live file and every reader reads it, whole, meanwhile;
3. *switch*, holding the live writer (so no live page is half committed): when the build has got at least as far
   as the live follower, move the checkpoint ``<name>`` in the new file to the rebuild's, fold its write-ahead
   log, replace the pointer (atomic), let the process's graph handle answer from the new file (reads under way
   finish on the old one) and remove the old generation's files. Otherwise fold the remaining pages and try again.

A rebuild that fails (a poison event, a crash, ``kill -9``) leaves the live graph untouched; run it again and it
resumes from its checkpoint. A crash after the pointer moved leaves only an old file, removed at the next open.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from datastrata.core.errors import BackendUnavailable, ConfigurationError, RebuildFailed
from datastrata.core.redact import describe_error
from datastrata.projections.follower import Progress
from datastrata.stores import graphfiles
from datastrata.stores.graphdb import GraphDatabase
from datastrata.stores.graphfiles import Pointer

if TYPE_CHECKING:
    from datastrata.graph.projection import GraphProjectionRunner

#: The rebuild's own checkpoint, in the generation it builds: ``<name>@rebuild`` (as for the SQL read models).
REBUILD_SUFFIX = "@rebuild"
#: How often a finished replay tries to switch before giving up (each try folds what the live follower got ahead).
SWITCH_ATTEMPTS = 100

_rebuilding: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _lock_of(db: GraphDatabase) -> threading.Lock:
    key = str(db.path.expanduser().resolve())
    with _guard:
        return _rebuilding.setdefault(key, threading.Lock())


class _Side:
    """The generation a rebuild fills: its file, database and how far the rebuild's checkpoint got."""

    def __init__(self, runner: GraphProjectionRunner) -> None:
        from datastrata.graph.projection import GraphCheckpoints

        live = runner.db
        self.runner = runner
        self.checkpoint = runner.name + REBUILD_SUFFIX
        self.pointer = graphfiles.read_pointer(live.path)
        name = self.pointer.building
        self.resumed = False
        if name and name != live.file.name and (live.path.parent / name).exists():
            self.db = live.beside(live.path.parent / name)
            self.checkpoints = GraphCheckpoints(self.db, clock=runner.checkpoints.clock)
            mark = self.checkpoints.mark(self.checkpoint)
            if mark.log_id == runner.log.identity:
                self.name, self.position, self.resumed = name, mark.position, True
                return
            self.db.close()  # a build of another log: start again
        self.name = graphfiles.next_generation(live.path, self.pointer)
        graphfiles.remove_generation(live.path, self.name)
        self.pointer = Pointer(live.file.name, self.name, self.pointer.switches)
        graphfiles.write_pointer(live.path, self.pointer)
        self.db = live.beside(live.path.parent / self.name)
        self.checkpoints = GraphCheckpoints(self.db, clock=runner.checkpoints.clock)
        with self.db.transaction() as tx:
            self.checkpoints.set_in(tx, self.checkpoint, 0, None, runner.log.identity)
        self.position = 0

    def replay(self, target: int, progress: Progress | None, skipped: set[str]) -> int:
        """Fold the log's pages after the rebuild's checkpoint up to `target` into the new generation."""
        runner, log, applied = self.runner, self.runner.log, 0
        while self.position < target:
            if progress is not None:
                progress(self.position, target)
            page = log.read_page(after=self.position, limit=runner.rebuild_batch_size, types=runner.event_types)
            if page.next_after == self.position:
                break  # nothing readable below the head yet (PostgreSQL's horizon): the live follower takes the rest
            events = [e for e in page.events if e.event_id not in skipped]
            with self.db.transaction() as tx:
                if events:
                    try:
                        runner.apply(tx, events)
                    except (BackendUnavailable, ConfigurationError):
                        raise
                    except Exception as exc:
                        raise RebuildFailed(
                            f"rebuild of {runner.name} failed in the events after position {self.position} (up "
                            f"to {page.next_after}): {describe_error(exc)}; the live graph is untouched and still "
                            "answers; fix the projection (or skip the event) and run the rebuild again: it resumes "
                            f"at position {self.position}"
                        ) from exc
                last = events[-1].event_id if events else None
                self.checkpoints.set_in(tx, self.checkpoint, page.next_after, last, log.identity)
            self.position, applied = page.next_after, applied + len(events)
        return applied

    def switch(self) -> bool:
        """Make the new generation live if it got as far as the live follower; True when it did."""
        runner, live = self.runner, self.runner.db
        with live.exclusive():  # no live page is open, and none starts until the handle answers from the new file
            if _live_position(runner) > self.position and runner.log.count(after=self.position):
                return False  # never switch backwards: fold what the live follower got ahead first
            # (a live graph ahead of a log with nothing more, e.g. after a restore, is replaced as it is)
            with self.db.transaction() as tx:
                self.checkpoints.set_in(tx, runner.name, self.position, None, runner.log.identity)
                tx.execute("MATCH (c:Checkpoint {id: $id}) DELETE c", {"id": self.checkpoint})
            self.db.checkpoint()
            old = live.file.name
            graphfiles.write_pointer(live.path, Pointer(self.name, None, self.pointer.switches + 1))
            live.adopt(self.db)
            graphfiles.remove_generation(live.path, old)
        return True


def _live_position(runner: GraphProjectionRunner) -> int:
    """Return the live follower's checkpoint, 0 when it follows another log (the rebuild replaces it)."""
    mark = runner.checkpoints.mark(runner.name)
    return mark.position if mark.log_id in (None, runner.log.identity) else 0


def rebuild_beside(runner: GraphProjectionRunner, progress: Progress | None = None) -> int:
    """Rebuild `runner`'s graph into a new generation beside the live one and switch; return the events folded.

    Resumes a rebuild that stopped from its checkpoint. Raises :class:`RebuildFailed` (the live graph untouched)
    when an event cannot be folded.
    """
    live = runner.db
    if live.read_only:
        raise ConfigurationError(
            f"the graph {live.path} is open read-only; rebuild it in the process that owns it", field="graph"
        )
    lock = _lock_of(live)
    if not lock.acquire(blocking=False):
        raise BackendUnavailable(f"a rebuild of the graph {live.path} is already running in this process; let it end")
    try:
        side = _Side(runner)
        skipped = runner.skipped() if runner.skipped is not None else set()
        applied, switched = 0, False
        try:
            for attempt in range(SWITCH_ATTEMPTS):
                if attempt:
                    time.sleep(0.05)  # the live follower got ahead of what this rebuild can read yet
                target = max(runner.log.head(), _live_position(runner))
                applied += side.replay(target, progress, skipped)
                if side.switch():
                    switched = True
                    break
        finally:
            if not switched:
                side.db.close()
        if not switched:
            raise RebuildFailed(
                f"rebuild of {runner.name} could not catch up with the live follower after {SWITCH_ATTEMPTS} "
                "attempts; the live graph is untouched; run the rebuild again (it resumes)"
            )
        if progress is not None:
            progress(side.position, side.position)
        return applied
    finally:
        lock.release()
