"""The move workflow: carry what a selection names (a tenant, or a shard map's slot range) from one location to another.

``plan`` → ``copy`` (state tables in key order, 500 rows per short transaction, the cursor journalled after each
batch) → ``events`` (re-appended at the target: same ids, versions and times, the target's positions) →
``catchup`` (the log is the change feed: the rows of every stream with events after the cursor are copied again)
→ ``followers`` (the target's read models to the head) → ``fence`` (this subject's writers only) → ``delta`` →
``verify`` (per-table counts and checksums) → ``switch`` (the placement's epoch + 1; the source fence stays
``moved``) → ``grace`` → ``complete`` (the source's copy deleted). The journal (``runtime_moves``, in the home
store) records the step and cursors, so a crashed move resumes where it stopped; until ``complete`` a move can be
reversed. A failed verify leaves the subject where it was and lifts the fence.

Archived content has two steps of its own (:class:`ArchivedPart`): ``restore`` after ``plan`` (what an archive class
holds is restored, and waited for, before anything is copied) and ``closed`` after ``followers`` (the streams archived
at the source are archived again at the target once its followers have read their re-appended events).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ConcurrencyConflict, NotFound, RuleViolation, ValidationError
from datastrata.core.ids import new_id
from datastrata.core.redact import redact_url
from datastrata.eventlog.log import Page
from datastrata.runtime import fences, shardfences
from datastrata.runtime.location import Location
from datastrata.runtime.moveevents import ShardEvents
from datastrata.runtime.movetables import (
    BATCH,
    Digest,
    Selection,
    TablePart,
    copy_batch,
    count,
    delete_batch,
    differing_keys,
    digest,
    page,
    prune_where,
    recopy_where,
    rows_where,
    size_of,
    still_differing,
)
from datastrata.runtime.shardfences import MIGRATIONS as SHARD_FENCES
from datastrata.runtime.slotrange import SlotRange, key_of_stream
from datastrata.runtime.tenantdata import NO_ROWS
from datastrata.stores.database import Database, Dialect, time_from_db, time_to_db
from datastrata.stores.migrations import Component

log = logging.getLogger(__name__)

STEPS = (
    "plan",
    "restore",
    "copy",
    "events",
    "catchup",
    "followers",
    "closed",
    "fence",
    "delta",
    "verify",
    "switch",
    "grace",
    "complete",
)
RUNNING, SWITCHED, COMPLETED, FAILED, REVERSED = "running", "switched", "completed", "failed", "reversed"
#: States in which a move still holds its subject (no second move may start).
ACTIVE = (RUNNING, SWITCHED)
#: Rows per second a plan's estimate assumes (the copy rate measured by benchmarks/tenancy_moves.py, rounded down).
ESTIMATE_ROWS_PER_SECOND = 10_000
#: Object bytes per second a plan's estimate assumes (a local or same-region object store).
ESTIMATE_BYTES_PER_SECOND = 50_000_000
#: Catch-up rounds before the fence that compare again the rows a write touched during the comparison.
PRECHECK_ROUNDS = 3
#: Events per catch-up page.
EVENT_PAGE = 1000
#: Seconds between two looks at restores still under way (the ETA is on the platform clock).
RESTORE_POLL = 0.5
#: Streams whose rows one catch-up query re-reads (their conditions OR-ed).
STREAMS_PER_QUERY = 100

_DDL = """
CREATE TABLE IF NOT EXISTS runtime_moves (
    id         TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    step       TEXT   NOT NULL,
    state      TEXT   NOT NULL CHECK (state IN ('running', 'switched', 'completed', 'failed', 'reversed')),
    cursors    TEXT   NOT NULL,
    timings    TEXT   NOT NULL,
    error      TEXT,
    created_at {time} NOT NULL,
    updated_at {time} NOT NULL
);
CREATE INDEX IF NOT EXISTS runtime_moves_by_subject ON runtime_moves (kind, subject, created_at);
CREATE TABLE IF NOT EXISTS tenancy_fences (
    tenant_id TEXT    PRIMARY KEY,
    epoch     BIGINT  NOT NULL,
    state     TEXT    NOT NULL CHECK (state IN ('open', 'fenced', 'moved')),
    set_at    {time}  NOT NULL
);
"""


def ddl(dialect: Dialect) -> str:
    """Return the move journal's and the fences' DDL."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The move journal and the write fences (a spine component: every location has the fences table).
MIGRATIONS = Component.baseline("runtime.moves", ddl)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a move would carry: rows per table, events, an estimate of bytes and seconds."""

    subject: str
    source: str
    target: str
    tables: dict[str, int]
    events: int
    nbytes: int
    seconds: float
    #: The subject's objects (and their bytes are in `nbytes`).
    objects: int = 0
    #: Its archived content: streams, events, the objects and segments to restore and when they are readable.
    archived: dict[str, Any] = field(default_factory=dict)
    #: Its rows in readable cold parts: ``{"parts": n, "rows": n}`` (archived parts are in `archived`).
    cold: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows of every state table together."""
        return sum(self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of a dry run."""
        return {
            "subject": self.subject,
            "source": self.source,
            "target": self.target,
            "tables": self.tables,
            "rows": self.rows,
            "events": self.events,
            "objects": self.objects,
            "archived": self.archived,
            "cold": self.cold,
            "bytes": self.nbytes,
            "estimate_seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True, slots=True)
class Move:
    """One move as journalled: what moves where, the step it stands at, its cursors, timings and error."""

    id: str
    kind: str
    subject: str
    source: dict[str, Any]
    target: dict[str, Any]
    step: str
    state: str
    cursors: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of ``move-status``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "source": _shown(self.source),
            "target": _shown(self.target),
            "step": self.step,
            "state": self.state,
            "cursors": self.cursors,
            "timings": self.timings,
            "error": self.error,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


_COLUMNS = "id, kind, subject, source, target, step, state, cursors, timings, error, created_at"


def _shown(end: dict[str, Any]) -> dict[str, Any]:
    """A move's source or target as surfaces show it: any store URL without its secret."""
    spec = end.get("spec")
    if not isinstance(spec, dict) or not spec.get("store"):
        return end
    return {**end, "spec": {**spec, "store": redact_url(str(spec["store"]))}}


class Journal:
    """The moves of one home store: created, saved after every batch, read by status and resume."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure(MIGRATIONS)

    def create(self, kind: str, subject: str, source: dict[str, Any], target: dict[str, Any], **more: Any) -> Move:
        """Record a new running move of `subject`; refuse while another move of it is running or switched."""
        move = Move(new_id(), kind, subject, source, target, more.get("step", "plan"), RUNNING)
        move = replace(move, cursors=more.get("cursors", {}), timings={"created": self.clock().isoformat()})
        with self.db.transaction() as tx:
            busy = tx.scalar(
                "SELECT id FROM runtime_moves WHERE kind = ? AND subject = ? AND state IN ('running', 'switched')",
                (kind, subject),
            )
            if busy is not None:
                see = (
                    f"see `tenants move-status {subject}`, or reverse it with `tenants move-reverse {subject}`"
                    if kind == "tenant"
                    else f"see `shards reshard-status {subject.split(':')[0]}`"
                )
                raise ConcurrencyConflict(f"{kind} {subject} is already moving (move {busy}); {see}")
            now = time_to_db(tx.dialect, self.clock())
            tx.execute(
                f"INSERT INTO runtime_moves ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_params(move), now, now),
            )
        return self.get(move.id)

    def save(self, move: Move, *, was: str | None = None) -> Move:
        """Write `move`'s step, state, cursors, timings and error (one short transaction).

        With `was`, only while the journal still holds the move in that state: else :class:`MoveStopped` (it was
        reversed meanwhile by another thread or process).
        """
        guard, extra = (" AND state = ?", (was,)) if was is not None else ("", ())
        with self.db.transaction() as tx:
            cursor = tx.execute(
                "UPDATE runtime_moves SET step = ?, state = ?, cursors = ?, timings = ?, error = ?, updated_at = ? "
                f"WHERE id = ?{guard}",
                (
                    move.step,
                    move.state,
                    json.dumps(move.cursors),
                    json.dumps(move.timings),
                    move.error,
                    time_to_db(tx.dialect, self.clock()),
                    move.id,
                    *extra,
                ),
            )
            if was is not None and int(cursor.rowcount or 0) == 0:
                raise MoveStopped(
                    f"move {move.id} of {move.subject} was stopped meanwhile (reversed); nothing more done"
                )
        return move

    def get(self, move_id: str) -> Move:
        """Return move `move_id`, or raise NotFound."""
        with self.db.read() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM runtime_moves WHERE id = ?", (move_id,))
        if row is None:
            raise NotFound(f"no move {move_id!r}", field="id")
        return _move(row)

    def of(self, kind: str, subject: str) -> list[Move]:
        """Return every move of `subject`, newest first."""
        with self.db.read() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM runtime_moves WHERE kind = ? AND subject = ? ORDER BY created_at DESC, id",
                (kind, subject),
            )
        return [_move(r) for r in rows]

    def current(self, kind: str, subject: str) -> Move | None:
        """Return the running or switched move of `subject`, if any."""
        return next((m for m in self.of(kind, subject) if m.state in ACTIVE), None)


def _params(move: Move) -> tuple[Any, ...]:
    return (
        move.id,
        move.kind,
        move.subject,
        json.dumps(move.source),
        json.dumps(move.target),
        move.step,
        move.state,
        json.dumps(move.cursors),
        json.dumps(move.timings),
        move.error,
    )


def _move(row: Any) -> Move:
    mid, kind, subject, source, target, step, state, cursors, timings, error, created = row
    return Move(
        str(mid),
        str(kind),
        str(subject),
        json.loads(source),
        json.loads(target),
        str(step),
        str(state),
        json.loads(cursors),
        json.loads(timings),
        None if error is None else str(error),
        time_from_db(created),
    )


class Placer(Protocol):
    """Where the subject of a move is placed: the tenant catalogue for a tenant (a shard map for a shard)."""

    #: Seconds a process may act on a cached placement; a move waits twice this between ``moving`` and the fence.
    ttl: float

    def moving(self, subject: str) -> None:
        """Mark `subject` as moving (its writers start reading its fence)."""

    def switch(self, subject: str, target: dict[str, Any]) -> int:
        """Place `subject` at `target` (the model and location the move's target names); return the new epoch."""

    def stay(self, subject: str, source: dict[str, Any]) -> int:
        """Leave (or put back) `subject` active at `source`; return its epoch."""


class EventsPart(Protocol):
    """How a move carries a tenant's events (the event log's tenant-keyed API)."""

    def copy(self, source: Location, target: Location, subject: str, after: int) -> tuple[int, int]:
        """Import one page of `subject`'s events after source position `after`: (the next cursor, events)."""

    def count(self, location: Location, subject: str) -> int:
        """Return how many events of `subject` `location`'s log holds."""

    def digest(self, location: Location, subject: str, after: int = 0, upto: int | None = None) -> tuple[int, str]:
        """Return how many of `subject`'s events have `after` < position <= `upto` and the SHA-256 over them (ids,
        streams, versions, types, payloads, times), in their order."""

    def delete(self, location: Location, subject: str) -> int:
        """Delete `subject`'s events in `location` (after a completed move, or a reversed one at its target)."""


class ObjectsPart(Protocol):
    """How a move carries a tenant's objects (its object store's keys the components registered)."""

    def copy(self, source: Location, target: Location, subject: str) -> tuple[int, int]:
        """Copy what the target lacks or holds differently: (objects copied, bytes)."""

    def digest(self, location: Location, subject: str) -> tuple[int, str]:
        """Return how many objects `subject` has in `location` and a SHA-256 over their keys and checksums."""

    def delete(self, location: Location, subject: str) -> int:
        """Delete `subject`'s objects in `location`."""


class ArchivedPart(Protocol):
    """How a move carries a tenant's archived content (:class:`datastrata.runtime.movearchive.TenantArchive`)."""

    def request(self, location: Location, subject: str) -> list[dict[str, Any]]:
        """Ask for the restore of what `subject` keeps in an archive class in `location`; the requests made."""

    def pending(self, location: Location, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The requests whose copy is not readable yet."""

    def close(self, source: Location, target: Location, subject: str) -> int:
        """Archive again at `target` the streams of `subject` archived at `source`; how many."""

    def digest(self, location: Location, subject: str) -> tuple[int, str]:
        """Return how many archived streams `subject` has in `location` and a SHA-256 over them."""

    def unreadable(self, location: Location, subject: str) -> list[str]:
        """The keys of `subject`'s objects in `location` that cannot be read now."""

    def delete(self, location: Location, subject: str) -> int:
        """Delete the segments of `subject`'s archived streams in `location`."""


class ColdRowsPart(Protocol):
    """How a move carries a tenant's rows in cold Parquet parts (:mod:`datastrata.runtime.movecold`)."""

    def copy(self, source: Location, target: Location, subject: str) -> tuple[int, int]:
        """Make the target's share of `subject`'s cold rows equal the source's: (parts written, rows)."""

    def digest(self, location: Location, subject: str) -> tuple[int, str]:
        """Return how many cold rows `subject` has in `location` and a SHA-256 over them."""

    def marks(self, location: Location) -> str:
        """A fingerprint of `location`'s part records, read without reading a part."""

    def delete(self, location: Location, subject: str) -> int:
        """Take `subject`'s rows out of `location`'s cold parts."""


class MoveStopped(RuleViolation):
    """The journal no longer holds the move as this mover last saw it (it was reversed meanwhile)."""


@dataclass
class Mover:
    """Runs one journalled move step by step between two opened locations of the same dialect."""

    journal: Journal
    move: Move
    source: Location
    target: Location
    tables: Sequence[TablePart]
    placer: Placer
    events: EventsPart | None = None
    objects: ObjectsPart | None = None
    archived: ArchivedPart | None = None
    cold: ColdRowsPart | None = None
    #: Brings the target's followers to the head of its log (read models are rebuilt there, never copied).
    followers: Callable[[Location], None] = lambda location: None
    #: Seconds between the switch and deleting the source's copy.
    grace: float = 0.0
    clock: Clock = system_clock
    sleep: Callable[[float], None] = time.sleep
    #: Called with each step's name before it runs (progress; tests stop a move there).
    on_step: Callable[[str], None] = lambda step: None
    #: Called after every copy batch with (rows so far, rows planned).
    on_batch: Callable[[int, int], None] = lambda done, goal: None

    def __post_init__(self) -> None:
        if self.source.db.dialect != self.target.db.dialect:
            raise ValidationError(
                f"to: a move copies rows as they are stored, so it cannot cross engines "
                f"({self.source.db.dialect} → {self.target.db.dialect}); export and import instead",
                field="to",
            )
        if self.move.kind == "tenant":
            self.selection = Selection.tenant(self.move.subject)
            self.slots: SlotRange | None = None
        elif self.move.kind == "shard":  # a shard map's slot runs and pinned keys (both ends journal the range)
            self.slots = SlotRange.from_dict(self.move.source["range"])
            self.selection = Selection.shard(self.move.subject, self.slots)
            self._holds = self.slots.holder()
            #: What a condition naming only keys of the range is ANDed with (see :meth:`_rows_of`).
            self._keys_only = Selection("shard", self.move.subject, "1 = 1", ())
        else:
            raise ValidationError(f"kind: a move is of a tenant or a shard range; got {self.move.kind!r}", field="kind")
        for location in (self.source, self.target):
            location.ensure(MIGRATIONS)  # the fences (SQLite: made now; PostgreSQL: refused until migrated)
            location.ensure(SHARD_FENCES)

    # ---- the machine ---------------------------------------------------------------------------------------

    def run(self) -> Move:
        """Run the move from its journalled step to the end (``completed``, or ``failed`` after a failed verify)."""
        while self.move.state in ACTIVE:
            step = self.move.step
            self.on_step(step)
            started = time.perf_counter()
            nxt = getattr(self, f"_{step}")()
            took = self.move.timings.get("seconds", {})
            took[step] = round(took.get(step, 0.0) + time.perf_counter() - started, 4)
            self._save(timings={**self.move.timings, "seconds": took}, **({"step": nxt} if nxt else {}))
            if step == "complete":
                break
        return self.move

    def _plan(self) -> str:
        self._clear(self.target, events=False)  # what an earlier, reversed move may have left at the target
        self.placer.moving(self.move.subject)
        self._set_fence(self.source, fences.OPEN)
        self._set_fence(self.target, fences.FENCED)  # nobody writes there yet
        cursors = {
            "changes": self.source.log.head(),
            "events": 0,
            "tables": {p.table: None for p in self.tables if not p.derived},
            "done": [],
            "copied": 0,
            "bytes": 0,
        }
        self._save(cursors=cursors, timings={**self.move.timings, "moving_at": self.clock().isoformat()})
        return "restore"

    def _restore(self) -> str:
        """Ask for the restores the archived content needs (once: journalled), then wait until it is readable."""
        if self.archived is None:
            return "copy"
        asked = self.move.cursors.get("restores")
        if asked is None:
            asked = self.archived.request(self.source, self.move.subject)
            eta = max((r["ready_at"] for r in asked), default=None)
            self._save(cursors={**self.move.cursors, "restores": asked, "restore_eta": eta})
        while left := self.archived.pending(self.source, asked):
            eta = max(r["ready_at"] for r in left)
            self._save(cursors={**self.move.cursors, "restores_left": len(left), "restore_eta": eta})
            self.sleep(min(max((datetime.fromisoformat(eta) - self.clock()).total_seconds(), 0.05), RESTORE_POLL))
            if self.journal.get(self.move.id).state != RUNNING:
                raise MoveStopped(
                    f"move {self.move.id} of {self.move.subject} was reversed while it waited for restores"
                )
        self._save(cursors={**self.move.cursors, "restores_left": 0})
        return "copy"

    def _copy(self) -> str:
        cursors = self.move.cursors
        goal = sum(count(self.source.db, p, self.selection) for p in self._state_tables())
        for part in self._state_tables():
            if part.table in cursors["done"] or not part.keyed:  # a keyless table is copied whole at the fence
                continue
            after = cursors["tables"].get(part.table)
            while True:
                after, rows, nbytes = copy_batch(self.source.db, self.target.db, part, self.selection, after)
                if after is None:
                    cursors["done"].append(part.table)
                else:
                    cursors["tables"][part.table] = after
                    cursors["copied"] += rows
                    cursors["bytes"] += nbytes
                self._save(cursors=cursors)  # the cursor of every batch: a resumed copy starts after it
                self.on_batch(cursors["copied"], goal)
                if after is None:
                    break
        if self.objects is not None:  # while the tenant writes: under the fence only what changed since
            copied, nbytes = self.objects.copy(self.source, self.target, self.move.subject)
            self._save(cursors={**self.move.cursors, "objects": copied, "object_bytes": nbytes})
        if self.cold is not None:  # while the tenant writes; at the delta again (a tiering run may move more)
            parts, rows = self.cold.copy(self.source, self.target, self.move.subject)
            self._save(cursors={**self.move.cursors, "cold_parts": parts, "cold_rows": rows})
        return "events"

    def _events(self) -> str:
        if self.events is not None:
            while True:
                after, n = self.events.copy(self.source, self.target, self.move.subject, self.move.cursors["events"])
                self._save(cursors={**self.move.cursors, "events": after})
                if n == 0:
                    break
        return "catchup"

    def _catchup(self) -> str:
        self._changed_since()
        return "followers"

    def _followers(self) -> str:
        self.followers(self.target)
        return "closed"

    def _closed(self) -> str:
        if self.archived is not None:  # the target's followers have read their events: they leave its online log
            self._save(
                cursors={
                    **self.move.cursors,
                    "closed": self.archived.close(self.source, self.target, self.move.subject),
                }
            )
        return "fence"

    def _fence(self) -> str:
        moving_at = datetime.fromisoformat(self.move.timings["moving_at"])
        wait = 2 * self.placer.ttl - (self.clock() - moving_at).total_seconds()
        if wait > 0:  # every process has seen `moving` (and reads the fence) before it is raised
            self.sleep(wait)
        self._changed_since()
        dirty: dict[str, list[list[Any]]] = {}
        for part in self._state_tables():  # checked whole while writes go on: under the fence only what changed
            if part.keyed and part.rows_of_stream is not None:
                dirty[part.table] = differing_keys(self.source.db, self.target.db, part, self.selection)
        # the long comparisons first (the whole logs, the cold parts), then the short rounds right before the fence:
        # what is written after the last round is compared again under the fence, so that gap stays short
        pending = self._changed_since()
        checked = self._events_checked()
        cold = self._cold_checked()
        for _ in range(PRECHECK_ROUNDS):  # what writes touched meanwhile: caught up, then compared again
            pending |= self._changed_since()
            for part in self._state_tables():
                if dirty.get(part.table):
                    dirty[part.table] = still_differing(
                        self.source.db, self.target.db, part, self.selection, dirty[part.table]
                    )
            pending = {stream for stream in pending if not self._same_stream(stream, dirty)}
            if not pending and not any(dirty.values()):
                break
        at = self.move.cursors["changes"]  # a write after this comparison has an event after this position
        self._save(
            cursors={
                **self.move.cursors,
                "prechecked": dirty,
                "precheck_at": at,
                "pending": sorted(pending),
                "events_checked": checked,
                "cold_checked": cold,
            }
        )
        self._set_fence(self.source, fences.FENCED)
        self._save(timings={**self.move.timings, "fenced_at": self.clock().isoformat()})
        return "delta"

    def _delta(self) -> str:
        self._changed_since()
        same = []
        for part in self._state_tables():
            if part.rows_of_stream is not None and part.keyed:
                continue
            if len(set(self._digests(part))) == 1:
                same.append(part.table)  # fenced: it stays so until the switch
                continue
            # no stream maps to its rows: compared whole, and copied again whole when it differs
            if not part.keyed:
                while delete_batch(self.target.db, part, self.selection):
                    pass
            after: Any = None
            while True:
                after, _, _ = copy_batch(self.source.db, self.target.db, part, self.selection, after)
                if after is None:
                    break
            prune_where(self.source.db, self.target.db, part, self.selection, "1 = 1", ())
        if self.objects is not None:
            self.objects.copy(self.source, self.target, self.move.subject)
        if self.archived is not None:  # streams archived at the source since the ``closed`` step
            self.archived.close(self.source, self.target, self.move.subject)
        if self.cold is not None and not self._cold_unchanged():  # a tiering run wrote parts since the precheck
            self.cold.copy(self.source, self.target, self.move.subject)
        self._save(cursors={**self.move.cursors, "delta_same": same})
        return "verify"

    def _verify(self) -> str | None:
        differences = []
        prechecked: dict[str, list[list[Any]]] = self.move.cursors.get("prechecked", {})
        skip = set(self.move.cursors.get("delta_same", ()))
        changed = self._streams_since(int(self.move.cursors.get("precheck_at", 0))) if prechecked else set()
        changed |= set(self.move.cursors.get("pending", ()))
        for part in self._state_tables():
            if part.table in skip:
                continue
            if part.table in prechecked:  # whole before the fence: now its count and the rows that changed since
                problem = self._compare_changed(part, changed, prechecked[part.table])
                if problem:
                    differences.append(f"{part.table}: {problem}")
                continue
            here, there = self._digests(part)
            if here != there:
                differences.append(
                    f"{part.table}: {here.rows} row(s) at the source, {there.rows} at the target"
                    + ("" if here.rows != there.rows else " (same count, different checksum)")
                )
        if self.events is not None:
            problem = self._compare_events(self.move.cursors.get("events_checked"))
            if problem:
                differences.append(f"events: {problem}")
        if self.objects is not None:
            ours = self.objects.digest(self.source, self.move.subject)
            theirs = self.objects.digest(self.target, self.move.subject)
            if ours != theirs:
                differences.append(f"objects: {ours[0]} at the source, {theirs[0]} at the target, checksums differ")
                differences += self._unrestored()
        if self.archived is not None:
            streams = [self.archived.digest(end, self.move.subject) for end in (self.source, self.target)]
            if streams[0] != streams[1]:
                differences.append(
                    f"archived streams: {streams[0][0]} at the source, {streams[1][0]} at the target, differ"
                )
        if self.cold is not None and not self._cold_unchanged():
            mine = self.cold.digest(self.source, self.move.subject)
            copied = self.cold.digest(self.target, self.move.subject)
            if mine != copied:
                differences.append(f"cold rows: {mine[0]} at the source, {copied[0]} at the target, checksums differ")
        if not differences:
            return "switch"
        error = "verify failed, the tenant stays on the source: " + "; ".join(differences)
        log.warning("move %s of %s: %s", self.move.id, self.move.subject, error)
        self.placer.stay(self.move.subject, self.move.source)
        self._set_fence(self.source, fences.OPEN)
        self._save(state=FAILED, error=error)
        return None

    def _switch(self) -> str:
        if "target_head" not in self.move.cursors:  # journalled before the switch: the target is fenced till then,
            self._save(cursors={**self.move.cursors, "target_head": self.target.log.head()})  # so writes lie past it
        epoch = self.placer.switch(self.move.subject, self.move.target)
        self._set_fence(self.target, None, epoch)  # it lives here now
        self._set_fence(self.source, fences.MOVED, epoch)
        at = self.clock().isoformat()
        self._save(state=SWITCHED, timings={**self.move.timings, "switched_at": at, "epoch": epoch})
        return "grace"

    def _grace(self) -> str:
        switched = datetime.fromisoformat(self.move.timings["switched_at"])
        while (wait := self.grace - (self.clock() - switched).total_seconds()) > 0:
            self.sleep(min(wait, 1.0))
            if self.journal.get(self.move.id).state != SWITCHED:
                raise MoveStopped(f"move {self.move.id} of {self.move.subject} was reversed during its grace period")
        return "complete"

    def _complete(self) -> str:
        self._clear(self.source)
        self._save(state=COMPLETED, timings={**self.move.timings, "completed_at": self.clock().isoformat()})
        return "complete"

    # ---- reverse -------------------------------------------------------------------------------------------

    def reverse(self) -> Move:
        """Undo this move before it completes: before the switch drop the target's copy, after it move back."""
        if self.move.state not in ACTIVE:
            raise RuleViolation(
                f"move {self.move.id} is {self.move.state}: only a running or switched move can be reversed"
            )
        if self.move.state == RUNNING:
            self._save(state=REVERSED, error="reversed before the switch")  # a mover still running stops at once
            self.placer.stay(self.move.subject, self.move.source)
            self._set_fence(self.source, fences.OPEN)
            self._clear(self.target)
            return self.move
        return self.journal_back()

    def journal_back(self) -> Move:
        """Record the move back to the source, starting at catch-up from the target's head at the switch."""
        cursors = {
            "changes": self.move.cursors["target_head"],
            "events": self.move.cursors["target_head"],
            "tables": {},
            "done": [p.table for p in self._state_tables()],
            "copied": 0,
            "bytes": 0,
            "reverses": self.move.id,
        }
        self._save(state=REVERSED, error="reversed after the switch: moved back")
        self.placer.moving(self.move.subject)  # its writers read the fence again: the move back raises it
        back = self.journal.create(
            self.move.kind, self.move.subject, self.move.target, self.move.source, step="catchup", cursors=cursors
        )
        return self.journal.save(replace(back, timings={**back.timings, "moving_at": self.clock().isoformat()}))

    # ---- helpers -------------------------------------------------------------------------------------------

    def _digests(self, part: TablePart) -> tuple[Digest, Digest]:
        """Digest `part` at the source and at the target (two threads measured slower: the GIL holds the rows)."""
        return digest(self.source.db, part, self.selection), digest(self.target.db, part, self.selection)

    def _same_stream(self, stream: str, tables: dict[str, Any]) -> bool:
        """Whether the rows of `stream` are the same at both ends in every table of `tables`."""
        for part in self._state_tables():
            if part.table in tables and part.rows_of_stream is not None:
                for chosen, where, params in self._rows_of(part, [stream]):
                    if rows_where(self.source.db, part, chosen, where, params) != rows_where(
                        self.target.db, part, chosen, where, params
                    ):
                        return False
        return True

    def _events_checked(self) -> dict[str, int] | None:
        """Compare the subject's events whole before the fence; where both logs stood when they matched (or None).

        Events never change once stored and both marks are gap-safe heads (no event commits below one later), so
        under the fence only the events after these positions are counted and compared (reading a large log whole
        would hold the writes for seconds); ``events`` is how many each side held up to its mark.
        """
        if self.events is None:
            return None
        # the caller caught up just now: every source event up to the events cursor is below the target's head
        marks = {"source": int(self.move.cursors["events"]), "target": self.target.log.head()}
        subject = self.move.subject
        here = self.events.digest(self.source, subject, 0, marks["source"])
        if here != self.events.digest(self.target, subject, 0, marks["target"]):
            return None  # compared whole again under the fence (and reported there)
        return {**marks, "events": here[0]}

    def _cold_checked(self) -> list[str] | None:
        """Copy the subject's cold rows again and compare them whole before the fence; both ends' part marks when
        they matched (or None: compared under the fence). Parts change only by a tiering run, not by the tenant's
        writes, so under the fence unchanged marks at both ends mean nothing needs reading again."""
        if self.cold is None:
            return None
        self.cold.copy(self.source, self.target, self.move.subject)
        marks = [self.cold.marks(self.source), self.cold.marks(self.target)]
        if self.cold.digest(self.source, self.move.subject) != self.cold.digest(self.target, self.move.subject):
            return None
        return marks

    def _cold_unchanged(self) -> bool:
        """Whether no part was written at either end since the cold rows were compared before the fence."""
        checked = self.move.cursors.get("cold_checked")
        assert self.cold is not None
        return bool(checked) and checked == [self.cold.marks(self.source), self.cold.marks(self.target)]

    def _compare_events(self, checked: dict[str, int] | None) -> str | None:
        """Compare the subject's events at both ends under the fence: their counts and checksums, read after the
        marks of `checked` (whole without them)."""
        assert self.events is not None
        subject = self.move.subject
        if checked is None or "events" not in checked:  # no precheck matched (or a move journalled before counts)
            checked = {"source": 0, "target": 0, "events": 0}
        (here, ours), (there, theirs) = (
            self.events.digest(self.source, subject, checked["source"]),
            self.events.digest(self.target, subject, checked["target"]),
        )
        here, there = here + checked["events"], there + checked["events"]
        if here != there:
            return f"{here} at the source, {there} at the target"
        if ours != theirs:
            return f"{here} on each side, but their checksums differ"
        return None

    def _unrestored(self) -> list[str]:
        """Name what an archive class holds unrestored at the source (archived there during the move), if anything."""
        unreadable = [] if self.archived is None else self.archived.unreadable(self.source, self.move.subject)
        if not unreadable:
            return []
        return [
            f"{len(unreadable)} object(s) archived at the source during the move and not restored "
            f"({', '.join(unreadable[:3])}); move again: a move restores them first"
        ]

    def _compare_changed(self, part: TablePart, streams: set[str], keys: list[list[Any]]) -> str | None:
        """Compare `part`'s row counts and the rows of `streams` and of `keys` at both ends; what differs, or None."""
        here, there = count(self.source.db, part, self.selection), count(self.target.db, part, self.selection)
        if here != there:
            return f"{here} row(s) at the source, {there} at the target"
        left = still_differing(self.source.db, self.target.db, part, self.selection, keys)
        if left:
            shown = ", ".join(str(tuple(k)) for k in left[:5])
            return f"{here} row(s) on each side, but {len(left)} differ (keys {shown})"
        for chosen, where, params in self._rows_of(part, sorted(streams)):
            if rows_where(self.source.db, part, chosen, where, params) != rows_where(
                self.target.db, part, chosen, where, params
            ):
                return f"the rows of the streams that changed since the comparison differ ({where[:80]}…)"
        return None

    def _streams_since(self, after: int) -> set[str]:
        """Return the subject's streams with events after source position `after` (the fence holds it finite)."""
        streams: set[str] = set()
        while True:
            page = self._page(after)
            streams |= {e.stream_id for e in page.events}
            if not page.events:
                return streams
            after = page.next_after

    def _clear(self, location: Location, *, events: bool = True) -> None:
        """Delete the subject's rows (read models too) and, with `events`, its events in `location`."""
        for part in reversed(self.tables):  # children first: nothing points at a deleted row
            while delete_batch(location.db, part, self.selection):
                pass
        if events and self.archived is not None:  # before the log's records naming the segments go
            self.archived.delete(location, self.move.subject)
        if events and self.events is not None:
            self.events.delete(location, self.move.subject)
        if events and self.objects is not None:
            self.objects.delete(location, self.move.subject)
        if events and self.cold is not None:
            self.cold.delete(location, self.move.subject)

    def _state_tables(self) -> list[TablePart]:
        return [p for p in self.tables if not p.derived]

    def _changed_since(self) -> set[str]:
        """Copy again the rows of the subject's streams with events after the ``changes`` cursor; return them."""
        mapped = [p for p in self._state_tables() if p.rows_of_stream is not None]
        after = int(self.move.cursors["changes"])
        if self.events is not None:
            while True:
                nxt, n = self.events.copy(self.source, self.target, self.move.subject, self.move.cursors["events"])
                self._save(cursors={**self.move.cursors, "events": nxt})
                if n == 0:
                    break
        seen: set[str] = set()
        while True:
            page = self._page(after)
            streams = sorted({e.stream_id for e in page.events})
            seen.update(streams)
            for part in mapped:  # parents first: a row's parent is at the target before it
                for chosen, where, params in self._rows_of(part, streams):
                    recopy_where(self.source.db, self.target.db, part, chosen, where, params)
            for part in reversed(mapped):  # children first: a row is deleted after the rows pointing at it
                for chosen, where, params in self._rows_of(part, streams):
                    prune_where(self.source.db, self.target.db, part, chosen, where, params)
            if page.next_after != after:
                after = page.next_after
                self._save(cursors={**self.move.cursors, "changes": after})
            if not page.events:  # caught up (PostgreSQL's horizon moves with every transaction: not a test)
                return seen

    def _rows_of(self, part: TablePart, streams: Sequence[str]) -> list[tuple[Selection, str, tuple[Any, ...]]]:
        """The conditions selecting the rows `streams` made in `part`, each with the selection to AND it with.

        A shard range's keys are tested here (its pinned and excluded keys, its slots), and a table that finds a set
        of keys' rows itself (``rows_of_streams``: through its slot index) is asked for those keys alone: on
        PostgreSQL the range's own ``shard_slot IN (…thousands…)`` costs every such statement tens of milliseconds
        to plan, while the writes it re-reads are held by the fence.
        """
        if self.slots is None or part.rows_of_streams is None:
            return [(self.selection, where, params) for where, params in rows_of(part, streams)]
        holds = self._holds
        mine = [s for s in streams if (key := key_of_stream(s)) is not None and holds(key)]
        return [(self._keys_only, where, params) for where, params in rows_of(part, mine)]

    def _set_fence(self, location: Location, state: str | None, epoch: int = 0) -> None:
        """Set the subject's fence in `location` (None: lifted, it lives there now): a tenant's, or the range's."""
        if self.slots is None:
            if state is not None:
                fences.put(location.db, self.move.subject, state, epoch, clock=self.clock)
                return
            with location.db.transaction() as tx:
                fences.clear_in(tx, self.move.subject)
            return
        shard_map = str(self.move.source["map"])
        shardfences.put(
            location.db, self.move.subject, shard_map, self.slots, state or fences.OPEN, epoch, clock=self.clock
        )

    def _page(self, after: int) -> Page:
        """The subject's source events after `after` (one page; a shard range's through its events part)."""
        if self.slots is not None and isinstance(self.events, ShardEvents):
            return self.events.page(self.source, self.move.subject, after, EVENT_PAGE)
        return self.source.log.tenant_page(self.move.subject, after, EVENT_PAGE)

    def _save(self, **changes: Any) -> Move:
        self.move = self.journal.save(replace(self.move, **changes), was=self.move.state)
        return self.move


def rows_of(part: TablePart, streams: Sequence[str]) -> list[tuple[str, tuple[Any, ...]]]:
    """The conditions selecting the rows `streams` made in `part`, OR-ed in chunks (none when no stream maps here)."""
    assert part.rows_of_stream is not None
    if part.rows_of_streams is not None:  # one condition per chunk the table makes itself (an indexed lookup)
        step = STREAMS_PER_QUERY
        chunked = [part.rows_of_streams(streams[i : i + step]) for i in range(0, len(streams), step)]
        return [c for c in chunked if c != NO_ROWS]
    found = [c for c in map(part.rows_of_stream, streams) if c != NO_ROWS]
    chunks = [found[i : i + STREAMS_PER_QUERY] for i in range(0, len(found), STREAMS_PER_QUERY)]
    return [(" OR ".join(f"({w})" for w, _ in chunk), tuple(p for _, ps in chunk for p in ps)) for chunk in chunks]


def plan_move(
    source: Location,
    target: Location,
    subject: str,
    tables: Sequence[TablePart],
    events: EventsPart | None,
    objects: Callable[[], tuple[int, int]] | None = None,
    *,
    selection: Selection | None = None,
) -> Plan:
    """Count what moving `subject` from `source` to `target` carries, and estimate its bytes and seconds."""
    if source.db.dialect != target.db.dialect:
        raise ValidationError(
            f"to: a move cannot cross engines ({source.db.dialect} → {target.db.dialect}); export and import instead",
            field="to",
        )
    selection = selection or Selection.tenant(subject)
    counts = {p.table: count(source.db, p, selection) for p in tables if not p.derived}
    nbytes = 0
    for part in tables:
        if counts.get(part.table):
            with source.db.read() as tx:
                sample = page(tx, part, selection, None, BATCH)
            nbytes += sum(size_of(r) for r in sample) * counts[part.table] // max(len(sample), 1)
    n_events = events.count(source, subject) if events is not None else 0
    n_objects, object_bytes = objects() if objects is not None else (0, 0)
    seconds = (sum(counts.values()) + n_events) / ESTIMATE_ROWS_PER_SECOND + object_bytes / ESTIMATE_BYTES_PER_SECOND
    return Plan(
        subject, source.spec.name, target.spec.name, counts, n_events, nbytes + object_bytes, seconds, n_objects
    )
