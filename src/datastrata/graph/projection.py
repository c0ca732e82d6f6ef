"""Graph projections: log pages folded into a graph in batches, the checkpoint a node in the same graph transaction.

The SQL :class:`~datastrata.projections.runner.ProjectionRunner` keeps its checkpoint beside a relational read
model. A graph read model lives in another engine, so its checkpoint lives in the graph itself: a ``Checkpoint``
node written in the same LadybugDB transaction as the page's upserts. A crash anywhere in a page rolls back both,
and the page is applied again, once, on the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

from datastrata.core.clock import Clock, system_clock
from datastrata.core.events import Event
from datastrata.eventlog.checkpoints import Mark
from datastrata.eventlog.log import EventLog
from datastrata.graph.rebuild import rebuild_beside
from datastrata.graph.schema import GraphSchema, NodeTable, ladybug_ddl
from datastrata.projections.follower import LogFollower, Progress
from datastrata.stores.graphdb import GraphDatabase, GraphTx

__all__ = ["CHECKPOINT_SCHEMA", "GraphCheckpoints", "GraphProjection", "GraphProjectionRunner", "GraphSink", "Progress"]

CHECKPOINT_SCHEMA = GraphSchema(
    nodes=(
        NodeTable(
            "Checkpoint",
            (("position", "INT64"), ("event_id", "STRING"), ("updated_at", "TIMESTAMP"), ("log_id", "STRING")),
        ),
    )
)


class GraphProjection(Protocol):
    """A graph read model fed from the log a page at a time; it touches the graph only through `tx`."""

    @property
    def name(self) -> str:
        """Unique name; also the checkpoint node's id."""

    @property
    def event_types(self) -> frozenset[str] | None:
        """Event types this projection reads (None: all)."""

    def apply_batch(self, tx: GraphTx, events: Sequence[Event]) -> None:
        """Fold `events` (in log order) into the graph."""

    def clear(self, tx: GraphTx) -> None:
        """Empty the graph read model (a rebuild fills a new, empty graph file instead of calling it)."""


class GraphCheckpoints:
    """Named checkpoints stored as ``Checkpoint`` nodes; moves happen inside the caller's graph transaction."""

    def __init__(self, db: GraphDatabase, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure_schema(ladybug_ddl(CHECKPOINT_SCHEMA))
        columns = {str(r[1]) for r in db.execute("CALL table_info('Checkpoint') RETURN *")}
        if "log_id" not in columns:  # a graph file made before checkpoints named their log
            db.execute("ALTER TABLE Checkpoint ADD log_id STRING DEFAULT ''")

    def get(self, name: str) -> int:
        """Return the position `name` has applied up to (0 when it never ran)."""
        return self.mark(name).position

    def mark(self, name: str) -> Mark:
        """Return checkpoint `name` with the log identity it follows."""
        return _mark(self.db.read(_MARK, {"name": name}))

    def get_in(self, tx: GraphTx, name: str) -> int:
        """Return the checkpoint as seen inside `tx`."""
        return self.mark_in(tx, name).position

    def mark_in(self, tx: GraphTx, name: str) -> Mark:
        """Return checkpoint `name` and its log identity as seen inside `tx`."""
        return _mark(tx.execute(_MARK, {"name": name}))

    def set_in(self, tx: GraphTx, name: str, position: int, event_id: str | None, log_id: str | None = None) -> None:
        """Move checkpoint `name` to `position` inside `tx` (recording the log it follows unless None)."""
        params = {
            "name": name,
            "position": position,
            "event_id": event_id or "",
            "at": self.clock().astimezone(UTC).replace(tzinfo=None),
        }
        cypher = (
            "MERGE (c:Checkpoint {id: $name}) SET c.position = $position, c.event_id = $event_id, c.updated_at = $at"
        )
        if log_id is not None:
            cypher += ", c.log_id = $log_id"
            params["log_id"] = log_id
        tx.execute(cypher, params)

    def updated_at(self, name: str) -> datetime | None:
        """Return when checkpoint `name` last moved, or None."""
        rows = self.db.read("MATCH (c:Checkpoint {id: $name}) RETURN c.updated_at", {"name": name})
        value = rows[0][0] if rows else None
        return value.replace(tzinfo=UTC) if isinstance(value, datetime) else None


_MARK = "MATCH (c:Checkpoint {id: $name}) RETURN c.position, c.log_id"


def _mark(rows: Sequence[Sequence[object]]) -> Mark:
    if not rows:
        return Mark(0)
    position, log_id = rows[0][0], rows[0][1]
    return Mark(int(position or 0), str(log_id) if log_id else None)  # type: ignore[call-overload]


class GraphSink:
    """The graph sink: a LadybugDB transaction and the ``Checkpoint`` node written in it."""

    def __init__(self, db: GraphDatabase, checkpoints: GraphCheckpoints) -> None:
        self.db = db
        self.checkpoints = checkpoints
        self.where = f"graph {db.path}"
        self.hint = "or point --graph at its own file"

    def transaction(self) -> AbstractContextManager[GraphTx]:
        """Open a graph write transaction (LadybugDB has one writer: it is the lock)."""
        return self.db.transaction()

    def mark(self, name: str) -> Mark:
        """Return checkpoint `name`."""
        return self.checkpoints.mark(name)

    def mark_in(self, tx: GraphTx, name: str) -> Mark:
        """Return checkpoint `name` inside `tx`."""
        return self.checkpoints.mark_in(tx, name)

    def move_in(self, tx: GraphTx, name: str, position: int, event_id: str | None, log_id: str) -> None:
        """Move checkpoint `name` inside `tx`."""
        self.checkpoints.set_in(tx, name, position, event_id, log_id)


class GraphProjectionRunner(LogFollower[GraphTx]):
    """Runs one graph projection: a page per graph transaction, checkpoint included, so each event counts once.

    Open the graph with ``shared.acquire(url, auto_checkpoint=False)``: LadybugDB's default folds the write-ahead
    log inside every commit once it passes 16 MiB, which cost ~1 s per 5000-order page at 120k edges. The runner
    folds it itself (``CHECKPOINT``) every `checkpoint_every` events, when it finds the log drained after at least
    `fold_when_idle_after` events or `fold_when_idle_after_commits` commits, at the latest after
    `fold_after_commits` commits, and after a rebuild. The commit counts bound memory: LadybugDB 0.22 holds about
    120 KB of memory per commit until the write-ahead log is folded (a page of one event, or an empty page that only
    moves the checkpoint past other systems' events, costs as much as a big one), and slows each commit as it grows.

    Pages: `batch_size` events when waiting for a token (``run_once``, ``wait_for``: a short page commits sooner),
    `catch_up_batch_size` when catching up on a backlog and `rebuild_batch_size` when replaying the log. Larger
    pages fold more repeats of a (user, restaurant) pair into one edge write and pay the per-statement cost once:
    at 435k edges, 20k-event pages applied orders at ~19k events/s against ~9k for 5k-event pages (measured).
    """

    kind = "graph"

    def __init__(
        self,
        log: EventLog,
        projection: GraphProjection,
        db: GraphDatabase,
        *,
        batch_size: int = 5000,
        catch_up_batch_size: int = 20000,
        rebuild_batch_size: int = 20000,
        checkpoint_every: int = 200_000,
        fold_when_idle_after: int = 20_000,
        fold_when_idle_after_commits: int = 256,
        fold_after_commits: int = 512,
        clock: Clock = system_clock,
    ) -> None:
        self.projection = projection
        self.db = db
        self.checkpoint_every = checkpoint_every
        self.fold_when_idle_after = fold_when_idle_after
        self.fold_when_idle_after_commits = fold_when_idle_after_commits
        self.fold_after_commits = fold_after_commits
        self.checkpoints = GraphCheckpoints(db, clock=clock)
        self._since_fold = 0
        self._commits_since_fold = 0
        super().__init__(
            log,
            GraphSink(db, self.checkpoints),
            name=projection.name,
            event_types=projection.event_types,
            batch_size=batch_size,
            catch_up_batch_size=catch_up_batch_size,
            rebuild_batch_size=rebuild_batch_size,
        )

    def apply(self, tx: GraphTx, events: Sequence[Event]) -> None:
        """Fold the page into the graph with the projection's `apply_batch`."""
        self.projection.apply_batch(tx, events)

    def clear(self, tx: GraphTx) -> None:
        """Empty the graph read model."""
        self.projection.clear(tx)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Replay the log into a new graph file beside the live one, then switch to it (see graph/rebuild.py).

        The live graph answers, and its follower goes on, until the switch; a rebuild that fails (a poison event,
        a crash, ``kill -9``) leaves it untouched, and running the rebuild again resumes from its checkpoint.
        """
        applied = rebuild_beside(self, progress)
        self.halted = None
        self._since_fold = self._commits_since_fold = 0  # the new file was folded before the switch
        return applied

    def applied(self, count: int) -> None:
        """CHECKPOINT the graph's write-ahead log every `checkpoint_every` events: reads of folded edges are faster."""
        self._since_fold += count
        self._commits_since_fold += 1
        if (self.checkpoint_every and self._since_fold >= self.checkpoint_every) or (
            self._commits_since_fold >= self.fold_after_commits
        ):
            self.fold()

    def idle(self) -> None:
        """Fold when the log is drained and enough was applied since the last fold."""
        # A CHECKPOINT rewrites most of a large rel table (~1.5 s at 120k edges), so a trickle of events is not
        # folded on every idle round; deleted-and-copied edges read as fast before the fold as after (measured).
        if (self._since_fold and self._since_fold >= self.fold_when_idle_after) or (
            self._commits_since_fold >= self.fold_when_idle_after_commits
        ):
            self.fold()

    def rebuilt(self) -> None:
        """Fold after a rebuild."""
        self.fold()

    def fold(self) -> None:
        """CHECKPOINT now: fold the write-ahead log into the database files (the runner also does it when idle)."""
        self.db.checkpoint()
        self._since_fold = self._commits_since_fold = 0
