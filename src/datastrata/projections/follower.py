"""One follower core: log pages applied with their checkpoint in one transaction of a pluggable sink.

A sink pairs a transaction with a checkpoint inside it: the read model's SQL transaction and its
``projection_checkpoints`` row (:class:`~datastrata.projections.checkpoints.TableSink`), or a graph transaction and
its ``Checkpoint`` node (:class:`~datastrata.graph.projection.GraphSink`). Everything else — paging, catching up,
waiting for a token, rebuilding, measuring lag, isolating the one event a page fails on, refusing another log —
is here, once.
"""

from __future__ import annotations

import gc
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, cast

from datastrata.core.errors import (
    BackendUnavailable,
    ConfigurationError,
    ConsistencyTimeout,
    EventFailed,
    ValidationError,
)
from datastrata.core.events import Event
from datastrata.core.redact import describe_error
from datastrata.eventlog.checkpoints import Lag, Mark, check_identity
from datastrata.eventlog.log import EventLog, Page

T = TypeVar("T")
Progress = Callable[[int, int], None]


class Sink(Protocol[T]):
    """Where a follower's effects and its checkpoint live together: one transaction holds both."""

    #: What the sink is, for messages (secrets removed), e.g. ``graph /srv/food.graph``.
    where: str
    #: The second way out of an identity mismatch, e.g. ``or point --graph at its own file``.
    hint: str

    def transaction(self) -> AbstractContextManager[T]:
        """Open a write transaction of the sink."""

    def mark(self, name: str) -> Mark:
        """Return checkpoint `name` outside any transaction."""

    def mark_in(self, tx: T, name: str) -> Mark:
        """Return checkpoint `name` inside `tx`, locked against a concurrent runner."""

    def move_in(self, tx: T, name: str, position: int, event_id: str | None, log_id: str) -> None:
        """Move checkpoint `name` to `position` inside `tx`, recording the log identity it follows."""


class LogFollower(ABC, Generic[T]):
    """Follows one log from its own checkpoint into one sink; subclasses say how a page is applied and cleared.

    `catch_up` stops as soon as a step makes no progress (nothing readable yet below the head, e.g. PostgreSQL's
    horizon): it never spins. A page that fails is applied again event by event so the good events before the bad
    one commit and :class:`EventFailed` names the bad one (the supervisor parks it); the page is not blamed on its
    first event.
    """

    #: What kind of follower this is (health and metrics label it).
    kind: str = "projection"
    #: Set by the supervisor when the follower halted on a parked event: queries answer stale, without retrying.
    halted: EventFailed | None = None
    #: The ids of events an operator skipped for this follower (its dead letters): a rebuild leaves them out too.
    skipped: Callable[[], set[str]] | None = None
    #: Set by the runtime: parks an event a rebuild of this follower could not fold in its dead letters.
    park: Callable[[EventFailed], None] | None = None
    #: Event ids this follower leaves out of pages read for it (a rebuild's copy of `skipped`, read once).
    excluded: frozenset[str] = frozenset()
    #: True when what it builds must stay rebuildable from the whole log: tiering may not expire its events.
    full_log: bool = False

    def __init__(
        self,
        log: EventLog,
        sink: Sink[T],
        *,
        name: str,
        event_types: frozenset[str] | None,
        batch_size: int,
        catch_up_batch_size: int | None = None,
        rebuild_batch_size: int | None = None,
    ) -> None:
        if batch_size < 1 or (catch_up_batch_size or 1) < 1 or (rebuild_batch_size or 1) < 1:
            raise ValidationError("batch sizes must be at least 1", field="batch_size")
        self.log = log
        self.sink = sink
        self.name = name
        self.event_types = event_types
        self.batch_size = batch_size
        self.catch_up_batch_size = catch_up_batch_size or batch_size
        self.rebuild_batch_size = rebuild_batch_size or self.catch_up_batch_size

    # ---- what a kind of follower supplies ------------------------------------------------------------------

    @abstractmethod
    def apply(self, tx: T, events: Sequence[Event]) -> None:
        """Fold `events` (in log order) into the sink inside `tx`."""

    @abstractmethod
    def clear(self, tx: T) -> None:
        """Empty what the follower built, before a rebuild."""

    def prepare(self, events: Sequence[Event]) -> object:
        """Build what `events` write before the page's transaction opens, from the events alone (default: them)."""
        return events

    def apply_prepared(self, tx: T, prepared: object) -> None:
        """Write what :meth:`prepare` built inside `tx` (default: :meth:`apply` of the events)."""
        self.apply(tx, cast(Sequence[Event], prepared))

    def applied(self, count: int) -> None:
        """Called after a page of `count` events committed (the graph folds its write-ahead log here)."""

    def idle(self) -> None:
        """Called when a step found nothing to apply."""

    def rebuilt(self) -> None:
        """Called after a rebuild finished."""

    # ---- the core ------------------------------------------------------------------------------------------

    def position(self) -> int:
        """Return the checkpoint."""
        return self.sink.mark(self.name).position

    def verify(self) -> None:
        """Refuse to read or follow when the checkpoint was made against another log (one line: both ids, the fix)."""
        self._check(self.sink.mark(self.name))

    def _check(self, mark: Mark) -> None:
        check_identity(
            mark,
            self.log.identity,
            where=self.sink.where,
            fix=f"rebuild it with `datastrata rebuild {self.name}` {self.sink.hint}",
        )

    def apply_one(self, event: Event) -> None:
        """Apply one event out of order, leaving the checkpoint alone (an operator's retry of a skipped event)."""
        with self.sink.transaction() as tx:
            self.apply(tx, [event])

    def run_once(self, *, limit: int | None = None) -> int:
        """Apply the next page of events, if any, in one transaction with the checkpoint; return how many."""
        return self._step(limit)[1]

    def _step(self, limit: int | None) -> tuple[bool, int]:
        """Apply one page; return whether the checkpoint moved and how many events were applied."""
        mark = self.sink.mark(self.name)
        self._check(mark)
        after = mark.position
        page = self.log.read_page(after=after, limit=limit or self.batch_size, types=self.event_types)
        if page.next_after == after:
            self.idle()
            return False, 0
        return True, self.fold_page(after, page) or 0

    def wanted(self, after: int, events: list[Event]) -> list[Event]:
        """Return the events of a page read for several followers that this one folds: its types, past `after`."""
        types, excluded = self.event_types, self.excluded
        if types is None and not excluded and (not events or events[0].position > after):
            return events
        return [
            e
            for e in events
            if e.position > after and (types is None or e.type in types) and e.event_id not in excluded
        ]

    def fold_page(self, after: int, page: Page) -> int | None:
        """Apply `page` (already read, holding only events this follower folds) from checkpoint `after`.

        One transaction holds the effect and the checkpoint's move to ``page.next_after``; a failing page is
        applied again event by event (:class:`EventFailed` names the bad one). Returns the events applied, or None
        when the checkpoint was no longer at `after` (another runner, or a rebuild, moved it).
        """
        try:
            moved = self._commit(after, page.events, page.next_after)
        except (BackendUnavailable, ConfigurationError):
            raise  # the store failed, not an event: the supervisor backs off without blaming one
        except Exception:
            if not page.events:
                raise
            return self._isolate(after, page)
        if not moved:
            return None
        self.applied(len(page.events))
        return len(page.events)

    def _commit(self, after: int, events: Sequence[Event], to: int) -> bool:
        """Apply `events` and move the checkpoint from `after` to `to` in one transaction; False if it moved."""
        prepared = self.prepare(events) if events else None  # outside the transaction: the writer lock waits less
        with self.sink.transaction() as tx:
            if self.sink.mark_in(tx, self.name).position != after:
                return False
            if events:
                self.apply_prepared(tx, prepared)
            self.sink.move_in(tx, self.name, to, events[-1].event_id if events else None, self.log.identity)
        return True

    def _isolate(self, after: int, page: Page) -> int:
        """Apply a failed page event by event: the good ones commit, the first bad one raises EventFailed."""
        applied = 0
        for event in page.events:
            try:
                if not self._commit(after, [event], event.position):
                    return applied
            except Exception as exc:
                if applied:
                    self.applied(applied)
                raise EventFailed(
                    self.name,
                    event.event_id,
                    event.position,
                    describe_error(exc),
                    event_type=event.type,
                    stream_id=event.stream_id,
                    tenant_id=event.tenant_id,
                ) from exc
            after, applied = event.position, applied + 1
        self._commit(after, [], page.next_after)  # each alone applied: the page failed only as a whole
        self.applied(applied)
        return applied

    def skip_past(self, position: int) -> bool:
        """Move the checkpoint to `position` without applying what lies before it (an operator's skip)."""
        with self.sink.transaction() as tx:
            if self.sink.mark_in(tx, self.name).position >= position:
                return False
            self.sink.move_in(tx, self.name, position, None, self.log.identity)
        self.halted = None
        return True

    def catch_up(self, progress: Progress | None = None, *, batch_size: int | None = None) -> int:
        """Apply events until the follower reaches the log's head as of the call, or stops making progress.

        Pages are `batch_size` events, by default the follower's `catch_up_batch_size`; returns how many applied.
        """
        if self.halted is not None:
            raise self.halted
        self.verify()  # even with nothing to apply: a checkpoint of another log may already lie past this head
        batch_size = batch_size or self.catch_up_batch_size
        total = 0
        target = self.log.head()
        while (position := self.position()) < target:
            if progress is not None:
                progress(position, target)
            moved, done = self._step(batch_size)
            if not moved:
                break
            total += done
        if progress is not None:
            progress(target, target)
        return total

    def reset_in(self, tx: T) -> None:
        """Empty what the follower built and move its checkpoint to 0 inside `tx`, adopting this log's identity."""
        self.sink.mark_in(tx, self.name)
        self.clear(tx)
        self.sink.move_in(tx, self.name, 0, None, self.log.identity)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Empty what the follower built, reset the checkpoint to 0 and replay the whole log in large pages."""
        with self.sink.transaction() as tx:
            self.reset_in(tx)
        self.halted = None
        applied = self.catch_up(progress, batch_size=self.rebuild_batch_size)
        self.rebuilt()
        return applied

    def skipped_segments(self) -> list[dict[str, object]]:
        """The archived streams of this follower's event types: a rebuild reads online tiers only and skips them."""
        return [s.to_dict() for s in self.log.archived(types=self.event_types)]

    def lag(self) -> Lag:
        """Return the checkpoint, the log's head and the events in between (counted: an operator's question)."""
        return Lag.of(self.name, self.position(), self.log)

    def checked_lag(self) -> Lag:
        """Return the lag, refusing a checkpoint of another log (what a query reads its freshness from)."""
        mark = self.sink.mark(self.name)
        self._check(mark)
        return Lag.of(self.name, mark.position, self.log)

    def rebuilding_before(self, position: int) -> bool:
        """True when a rebuild beside the live follower is under way and has not folded `position` yet."""
        return False

    def wait_for(self, position: int, *, timeout: float = 5.0) -> None:
        """Block until the follower has applied `position` (a consistency token), applying pages itself."""
        if isinstance(position, bool) or position < 0:
            raise ValidationError(f"a consistency token is a log position >= 0; got {position}", field="after")
        self.verify()
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if self.halted is not None:
                raise self.halted
            if self.run_once() == 0:  # nothing applied (the horizon may still creep on PostgreSQL): wait, bounded
                if time.monotonic() >= deadline:
                    raise ConsistencyTimeout(
                        f"follower {self.name!r} is at position {self.position()}, not {position}, "
                        f"after {timeout:g}s; retry later (the worker or serve applies new events; "
                        "`datastrata lag` shows how far behind it is)"
                    )
                time.sleep(0.01)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one page is read and folded; it runs again between pages.

    A page of 20,000 decoded events and the rows built from it are some 10^5 containers that live until the page
    commits; the collector's passes over them cost a rebuild about a sixth of its time and find nothing to free.
    Reference counting frees everything as usual meanwhile; cycles wait for the end of the page. A collector that
    was already off stays off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class Pass:
    """What one pass of several followers over the log did: events applied, where each stands, who stopped."""

    applied: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    #: Followers stopped by an event they could not fold (the good events before it committed).
    failed: dict[str, EventFailed] = field(default_factory=dict)
    #: Followers whose checkpoint another runner moved meanwhile (they leave the pass).
    moved: list[str] = field(default_factory=list)


def follow_together(
    followers: Sequence[LogFollower[T]],
    *,
    batch_size: int,
    goal: Callable[[], int] | None = None,
    progress: Progress | None = None,
) -> Pass:
    """Bring several followers of one log up to `goal` (default: the head as of the call) in one pass.

    Each page is read and decoded once, from the lowest checkpoint, and handed to every follower, which folds the
    events it wants in its own transaction with its own checkpoint (:meth:`LogFollower.fold_page`). A follower
    stopped by an event it cannot fold leaves the pass (:attr:`Pass.failed`) and the others go on: one failing
    follower stays in its room. `goal` is read again before each page.
    """
    result = Pass()
    if not followers:
        return result
    log = followers[0].log
    if any(f.log is not log for f in followers):
        raise ValueError("followers read together must follow one log")
    for follower in followers:
        follower.verify()
        result.positions[follower.name] = follower.position()
    active = list(followers)
    union: set[str] | None = set()
    for follower in followers:
        union = None if union is None or follower.event_types is None else union | follower.event_types
    fixed = log.head() if goal is None else None
    target = 0
    while active:
        target = fixed if fixed is not None else goal() if goal is not None else log.head()
        after = min(result.positions[f.name] for f in active)
        if after >= target:
            break
        if progress is not None:
            progress(after, target)
        with collector_paused():
            page = log.read_page(after=after, limit=batch_size, types=union)
            if page.next_after == after:
                break  # nothing readable below the head yet (PostgreSQL's horizon)
            _fold_shared(active, page, result)
    if progress is not None:
        progress(target, target)
    return result


def _fold_shared(active: list[LogFollower[T]], page: Page, result: Pass) -> None:
    """Hand one page to every follower in `active`; drop from it those that fail or were moved."""
    shared: dict[tuple[frozenset[str] | None, frozenset[str], int], list[Event]] = {}
    for follower in list(active):
        at = result.positions[follower.name]
        if page.next_after <= at:
            continue
        key = (follower.event_types, follower.excluded, at)
        events = shared.get(key)
        if events is None:
            events = shared[key] = follower.wanted(at, page.events)
        try:
            done = follower.fold_page(at, Page(events, page.next_after))
        except EventFailed as exc:
            result.failed[follower.name] = exc
            result.positions[follower.name] = follower.position()
            active.remove(follower)
            continue
        if done is None:
            result.moved.append(follower.name)
            active.remove(follower)
            continue
        result.applied += done
        result.positions[follower.name] = page.next_after
