"""Jobs: long work (a rebuild, …) recorded in the home store with its state and progress, run in the background.

A job is ``queued`` when created, ``running`` once its thread starts, then ``succeeded`` (with its result) or
``failed`` (with the error's message). Its progress (`position` of `goal`, log positions for a rebuild) is written
as the work reports it, one short transaction per report, so another process (``serve`` answering
``GET /jobs/{id}``, an operator's CLI) reads it from the store.

Each job has an owner (``host:pid``) that renews a lease (`heartbeat_at`) while the job runs. A job whose owner is
gone — its pid is dead on this host, or its lease expired — reads as ``interrupted`` (a failure, with the reason);
submitting the same work again records it so and starts afresh (a rebuild continues from its checkpoint).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ConcurrencyConflict, DatastrataError, NotFound
from datastrata.core.ids import new_id
from datastrata.core.redact import describe_error
from datastrata.core.tenancy import DEFAULT_TENANT, current_tenant
from datastrata.stores.database import Database, Dialect, Tx, time_from_db, time_to_db
from datastrata.stores.migrations import Component, Migration

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
#: How a job whose owner is gone reads (stored as ``failed`` with ``interrupted`` set).
INTERRUPTED = "interrupted"
#: Seconds a job's owner may stay silent before the job reads as interrupted; it renews every quarter of that.
LEASE = 60.0
#: The owner of a job whose work happens outside any process (an archive restore): it holds no lease, so it never
#: reads as interrupted; it is finished by whoever notices the work is done (:meth:`Jobs.finish_in`).
EXTERNAL = "external"
#: Work a job runs: it takes a progress callback ``(position, goal)`` and returns a JSON-friendly result.
Work = Callable[[Callable[[int, int], None]], Any]

_DDL = """
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    position    BIGINT  NOT NULL DEFAULT 0,
    goal        BIGINT  NOT NULL DEFAULT 0,
    error       TEXT,
    result      TEXT,
    created_at  {time}  NOT NULL,
    started_at  {time},
    finished_at {time}
);
CREATE INDEX IF NOT EXISTS jobs_by_target ON jobs (kind, target, created_at);
"""


def ddl(dialect: Dialect) -> str:
    """Return the jobs table's DDL."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


def _owner_ddl(dialect: Dialect) -> str:
    time = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
    return f"""
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN heartbeat_at {time};
ALTER TABLE jobs ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
"""


_TENANT_DDL = """
ALTER TABLE jobs ADD COLUMN tenant_id TEXT NOT NULL DEFAULT 'default';
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant_id, kind, target);
"""

#: The jobs table's schema (a spine component: every home location has it); 2 adds the owner and its lease, 3 the
#: tenant a job works for (a tenant's admin sees only its own jobs; filtered here, not by row-level security).
MIGRATIONS = Component.baseline(
    "jobs", ddl, Migration.from_ddl(2, "owner", _owner_ddl), Migration.both(3, "tenant", _TENANT_DDL)
)


def this_owner() -> str:
    """Return this process's name as a job owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(owner: str | None, heartbeat: datetime | None, now: datetime, lease: float = LEASE) -> str | None:
    """Return why a job's owner is gone (its pid is dead on this host, or its lease expired), None while it lives."""
    if owner is None:
        return None  # recorded before jobs had owners: nothing to judge by
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return f"its process {owner} is gone (killed or crashed)"
        except PermissionError:
            pass  # alive, another user's
    if heartbeat is not None and now - heartbeat > timedelta(seconds=lease):
        return f"its owner {owner} has not renewed its lease since {heartbeat.isoformat()} ({lease:g}s lease)"
    return None


@dataclass(frozen=True, slots=True)
class Job:
    """One job as recorded: what it works on, where it stands, how it ended."""

    id: str
    kind: str
    target: str
    state: str
    position: int
    goal: int
    error: str | None
    result: Any
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner: str | None = None
    #: The tenant the job works for (the caller's when it was created).
    tenant: str = DEFAULT_TENANT

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape of ``GET /jobs/{id}``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "state": self.state,
            "progress": {"position": self.position, "target": self.goal},
            "error": self.error,
            "result": self.result,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "owner": self.owner,
            "tenant": self.tenant,
        }

    @property
    def finished(self) -> bool:
        """Whether the job has ended (succeeded, failed or interrupted)."""
        return self.state in (SUCCEEDED, FAILED, INTERRUPTED)


_COLUMNS = (
    "id, kind, target, state, position, goal, error, result, created_at, started_at, finished_at, owner, "
    "heartbeat_at, interrupted, tenant_id"
)


class Jobs:
    """Creates, runs and reads job records in one database (the runtime's home store)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = system_clock,
        lease: float = LEASE,
        around: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease
        #: What every job's work runs inside (the runtime's: acting as the platform role).
        self.around = around
        self.owner = this_owner()
        db.ensure(MIGRATIONS)
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.threads: dict[str, threading.Thread] = {}

    def create(self, kind: str, target: str) -> Job:
        """Record a new queued job of the current tenant, owned by this process; refuse while a live owner runs it.

        Earlier records of the same work whose owner is gone are marked interrupted in the same transaction.
        """
        job_id = new_id()
        who = current_tenant()
        with self.db.transaction() as tx:
            now = self.clock()
            for row in tx.query(
                f"SELECT {_COLUMNS} FROM jobs WHERE tenant_id = ? AND kind = ? AND target = ? "
                "AND state IN ('queued', 'running')",
                (who, kind, target),
            ):
                earlier = _job(row)
                reason = owner_gone(earlier.owner, _heartbeat(row), now, self.lease)
                if reason is None:
                    raise ConcurrencyConflict(
                        f"a {kind} of {target} is already running (job {earlier.id}, owner {earlier.owner}); "
                        f"wait for it (GET /jobs/{earlier.id})"
                    )
                tx.execute(
                    "UPDATE jobs SET state = 'failed', interrupted = 1, error = ?, finished_at = ? WHERE id = ?",
                    (_interrupted(reason), time_to_db(tx.dialect, now), earlier.id),
                )
            tx.execute(
                "INSERT INTO jobs (id, kind, target, state, created_at, owner, heartbeat_at, tenant_id) "
                "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                (job_id, kind, target, time_to_db(tx.dialect, now), self.owner, time_to_db(tx.dialect, now), who),
            )
        return self.get(job_id)

    def create_external_in(self, tx: Tx, kind: str, target: str, *, goal: int) -> str:
        """Record, inside `tx`, a running job whose work an outside service does (owner :data:`EXTERNAL`); its id."""
        job_id = new_id()
        now = time_to_db(tx.dialect, self.clock())
        tx.execute(
            "INSERT INTO jobs (id, kind, target, state, goal, created_at, started_at, owner, tenant_id) "
            "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (job_id, kind, target, goal, now, now, EXTERNAL, current_tenant()),
        )
        return job_id

    def finish_in(self, tx: Tx, job_id: str, result: Any, *, error: str | None = None) -> bool:
        """Mark running job `job_id` succeeded with `result` (failed, with `error`) inside `tx`, with its effects.

        Returns False when it was no longer running (another process finished it first): write nothing else then.
        """
        at = time_to_db(tx.dialect, self.clock())
        state, position = (FAILED, "position") if error is not None else (SUCCEEDED, "goal")
        text = json.dumps(result, default=str) if result is not None else None
        cursor = tx.execute(
            f"UPDATE jobs SET state = ?, position = {position}, result = ?, error = ?, finished_at = ? "
            "WHERE id = ? AND state = 'running'",
            (state, text, error, at, job_id),
        )
        return int(cursor.rowcount or 0) == 1

    def get(self, job_id: str, *, tenant: str | None = None) -> Job:
        """Return job `job_id` (``interrupted`` when its owner is gone), or raise NotFound.

        With `tenant`, a job of another tenant is not found either (404, never 403: its id tells nothing).
        """
        with self.db.read() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if row is None or (tenant is not None and str(row[14]) != tenant):
            raise NotFound(f"no job {job_id!r}; start one with POST /rebuild/{{name}}", field="id")
        return self._seen(row)

    def list(
        self, *, limit: int = 50, before: tuple[datetime, str] | None = None, tenant: str | None = None
    ) -> list[Job]:
        """Return up to `limit` jobs (of one tenant, if named), newest first, after `before` (``created_at, id``)."""
        clauses, params = [], cast(tuple[Any, ...], ())
        if tenant is not None:
            clauses, params = ["tenant_id = ?"], (tenant,)
        if before is not None:
            at = time_to_db(self.db.dialect, before[0])
            clauses.append("(created_at < ? OR (created_at = ? AND id > ?))")
            params = (*params, at, at, before[1])
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        with self.db.read() as tx:
            rows = tx.query(
                f"SELECT {_COLUMNS} FROM jobs {where}ORDER BY created_at DESC, id LIMIT ?", (*params, limit)
            )
        return [self._seen(r) for r in rows]

    def run(self, job: Job, work: Work, *, reraise: bool = False) -> Job:
        """Run `work` as `job` in this thread, recording its start, progress and end; return the final record.

        A failure is recorded and returned (`reraise`: raised too, e.g. for the CLI to print and exit non-zero).
        While it runs, this process renews the job's lease every quarter of it.
        """
        key = (job.kind, job.target)
        with self._lock:
            if key in self._running:
                self._end(job.id, FAILED, None, f"a {job.kind} of {job.target} is already running here; wait for it")
                return self.get(job.id)
            self._running.add(key)
        done = threading.Event()
        beat = threading.Thread(target=self._renew, args=(job.id, done), name=f"lease-{job.id}", daemon=True)
        try:
            now = time_to_db(self.db.dialect, self.clock())
            self._update("state = 'running', started_at = ?, heartbeat_at = ?", (now, now), job.id)
            beat.start()
            try:
                with self.around():
                    result = work(lambda position, goal: self.progress(job.id, position, goal))
            except Exception as exc:  # the job's own failure boundary: recorded, never raised into the server
                message = exc.message if isinstance(exc, DatastrataError) else describe_error(exc)
                log.warning("job %s (%s %s) failed: %s", job.id, job.kind, job.target, message)
                self._end(job.id, FAILED, None, message)
                if reraise:
                    raise
            else:
                self._end(job.id, SUCCEEDED, result, None)
        finally:
            done.set()
            with self._lock:
                self._running.discard(key)
        return self.get(job.id)

    def submit(self, kind: str, target: str, work: Work) -> Job:
        """Record a queued job and run it in a background thread; return the queued record at once.

        The thread runs in a copy of the caller's context, so the work acts for the caller's tenant.
        """
        with self._lock:
            if (kind, target) in self._running:
                raise ConcurrencyConflict(f"a {kind} of {target} is already running; wait for it (GET /jobs)")
        job = self.create(kind, target)
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(self.run, job, work), name=f"job-{job.id}", daemon=True)
        self.threads[job.id] = thread
        thread.start()
        return job

    def progress(self, job_id: str, position: int, goal: int) -> None:
        """Record how far job `job_id` has got (which renews its lease too)."""
        now = time_to_db(self.db.dialect, self.clock())
        self._update("position = ?, goal = ?, heartbeat_at = ?", (position, goal, now), job_id)

    def _renew(self, job_id: str, done: threading.Event) -> None:
        """Renew the lease of job `job_id` until `done` (a store hiccup is retried at the next beat)."""
        while not done.wait(self.lease / 4):
            try:
                self._update("heartbeat_at = ?", (time_to_db(self.db.dialect, self.clock()),), job_id)
            except Exception:  # the lease outlives one missed beat; the job itself reports real failures
                log.warning("renewing the lease of job %s failed", job_id, exc_info=True)

    def _seen(self, row: Any) -> Job:
        """Return the job of `row` as readers see it: ``interrupted``, with the reason, when its owner is gone."""
        job = _job(row)
        if job.state in (QUEUED, RUNNING):
            reason = owner_gone(job.owner, _heartbeat(row), self.clock(), self.lease)
            if reason is not None:
                return replace(job, state=INTERRUPTED, error=_interrupted(reason))
        return job

    def _end(self, job_id: str, state: str, result: Any, error: str | None) -> None:
        at = time_to_db(self.db.dialect, self.clock())
        text = json.dumps(result, default=str) if result is not None else None
        self._update("state = ?, result = ?, error = ?, finished_at = ?", (state, text, error, at), job_id)

    def _update(self, assignments: str, params: tuple[Any, ...], job_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*params, job_id))


def _interrupted(reason: str) -> str:
    return f"interrupted: {reason}; submit it again (a rebuild continues from its checkpoint)"


def _heartbeat(row: Any) -> datetime | None:
    return time_from_db(row[12]) if row[12] is not None else None


def rebuild_work(runtime: Runtime, name: str) -> Work:
    """Return the work of rebuilding follower `name` of `runtime` (NotFound when it has none of that name)."""
    runner = runtime.follower(name)  # builds a deferred follower (the graph) only when it is the one named
    if runner is None:
        known = sorted([*runtime.runners, *runtime.deferred])
        raise NotFound(f"no projection named {name!r}; known: {known}", field="name")

    def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
        applied = runner.rebuild(progress)
        result: dict[str, Any] = {"applied": applied, "position": runner.position()}
        from datastrata.projections.follower import LogFollower

        skipped = runner.skipped_segments() if isinstance(runner, LogFollower) else []
        if skipped:  # a rebuild reads the online log only: say which archived streams it did not see
            result["skipped_segments"] = skipped
            log.warning(
                "rebuild of %s read the online log only and skipped %d archived stream(s): %s",
                name,
                len(skipped),
                ", ".join(
                    f"{s['stream_id']} (positions {s['first_position']}-{s['last_position']}, {s['tier']})"
                    for s in skipped[:10]
                ),
            )
        return result

    return work


def jobs_of(runtime: Runtime) -> Jobs:
    """Return the job records of `runtime`'s home store, reached through the platform pool (one `Jobs` per runtime).

    Jobs run as the platform role: the work's units in the home location use the platform pool too.
    """
    found = runtime.services.get("jobs")
    if not isinstance(found, Jobs):
        found = runtime.service("jobs", lambda r: Jobs(r.platform.db, clock=r.clock, around=r.as_platform))
    return found


def _job(row: Any) -> Job:
    jid, kind, target, state, position, goal, error, result, created, started, finished, owner, _, stopped, who = row
    return Job(
        str(jid),
        str(kind),
        str(target),
        INTERRUPTED if stopped else str(state),
        int(position),
        int(goal),
        str(error) if error is not None else None,
        json.loads(str(result)) if result else None,
        time_from_db(created),
        time_from_db(started) if started is not None else None,
        time_from_db(finished) if finished is not None else None,
        str(owner) if owner is not None else None,
        str(who),
    )
