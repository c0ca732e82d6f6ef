"""Jobs: long work (a rebuild, …) recorded in the home store with its state and progress, run in the background.

A job is ``queued`` when created, ``running`` once its thread starts, then ``succeeded`` (with its result) or
``failed`` (with the error's message). Its progress (`position` of `goal`, log positions for a rebuild) is written
as the work reports it, one short transaction per report, so another process (``serve`` answering
``GET /jobs/{id}``, an operator's CLI) reads it from the store. A process killed mid-job leaves its record
``running``; the work itself is resumable (a rebuild continues from its checkpoint when run again).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ConcurrencyConflict, DatastrataError, NotFound
from datastrata.core.ids import new_id
from datastrata.core.redact import describe_error
from datastrata.stores.database import Database, Dialect, time_from_db, time_to_db
from datastrata.stores.migrations import Component

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime

log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
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


#: The jobs table's schema (a spine component: every home location has it).
MIGRATIONS = Component.baseline("jobs", ddl)


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
        }


_COLUMNS = "id, kind, target, state, position, goal, error, result, created_at, started_at, finished_at"


class Jobs:
    """Creates, runs and reads job records in one database (the runtime's home store)."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure(MIGRATIONS)
        self._running: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.threads: dict[str, threading.Thread] = {}

    def create(self, kind: str, target: str) -> Job:
        """Record a new queued job."""
        job_id = new_id()
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO jobs (id, kind, target, state, created_at) VALUES (?, ?, ?, 'queued', ?)",
                (job_id, kind, target, time_to_db(tx.dialect, self.clock())),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        """Return job `job_id`, or raise NotFound."""
        with self.db.read() as tx:
            row = tx.one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no job {job_id!r}; start one with POST /rebuild/{{name}}", field="id")
        return _job(row)

    def list(self, *, limit: int = 50) -> list[Job]:
        """Return the latest jobs, newest first."""
        with self.db.read() as tx:
            rows = tx.query(f"SELECT {_COLUMNS} FROM jobs ORDER BY created_at DESC, id LIMIT ?", (limit,))
        return [_job(r) for r in rows]

    def run(self, job: Job, work: Work, *, reraise: bool = False) -> Job:
        """Run `work` as `job` in this thread, recording its start, progress and end; return the final record.

        A failure is recorded and returned (`reraise`: raised too, e.g. for the CLI to print and exit non-zero).
        """
        key = (job.kind, job.target)
        with self._lock:
            if key in self._running:
                self._end(job.id, FAILED, None, f"a {job.kind} of {job.target} is already running here; wait for it")
                return self.get(job.id)
            self._running.add(key)
        try:
            self._update("state = 'running', started_at = ?", (time_to_db(self.db.dialect, self.clock()),), job.id)
            try:
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
            with self._lock:
                self._running.discard(key)
        return self.get(job.id)

    def submit(self, kind: str, target: str, work: Work) -> Job:
        """Record a queued job and run it in a background thread; return the queued record at once."""
        with self._lock:
            if (kind, target) in self._running:
                raise ConcurrencyConflict(f"a {kind} of {target} is already running; wait for it (GET /jobs)")
        job = self.create(kind, target)
        thread = threading.Thread(target=self.run, args=(job, work), name=f"job-{job.id}", daemon=True)
        self.threads[job.id] = thread
        thread.start()
        return job

    def progress(self, job_id: str, position: int, goal: int) -> None:
        """Record how far job `job_id` has got."""
        self._update("position = ?, goal = ?", (position, goal), job_id)

    def _end(self, job_id: str, state: str, result: Any, error: str | None) -> None:
        at = time_to_db(self.db.dialect, self.clock())
        text = json.dumps(result, default=str) if result is not None else None
        self._update("state = ?, result = ?, error = ?, finished_at = ?", (state, text, error, at), job_id)

    def _update(self, assignments: str, params: tuple[Any, ...], job_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*params, job_id))


def rebuild_work(runtime: Runtime, name: str) -> Work:
    """Return the work of rebuilding follower `name` of `runtime` (NotFound when it has none of that name)."""
    runner = runtime.follower(name)  # builds a deferred follower (the graph) only when it is the one named
    if runner is None:
        known = sorted([*runtime.runners, *runtime.deferred])
        raise NotFound(f"no projection named {name!r}; known: {known}", field="name")

    def work(progress: Callable[[int, int], None]) -> dict[str, Any]:
        applied = runner.rebuild(progress)
        return {"applied": applied, "position": runner.position()}

    return work


def jobs_of(runtime: Runtime) -> Jobs:
    """Return the job records of `runtime`'s home store (one `Jobs` per runtime)."""
    found = runtime.services.get("jobs")
    if not isinstance(found, Jobs):
        found = runtime.service("jobs", lambda r: Jobs(r.db, clock=r.clock))
    return found


def _job(row: Any) -> Job:
    jid, kind, target, state, position, goal, error, result, created, started, finished = row
    return Job(
        str(jid),
        str(kind),
        str(target),
        str(state),
        int(position),
        int(goal),
        str(error) if error is not None else None,
        json.loads(str(result)) if result else None,
        time_from_db(created),
        time_from_db(started) if started is not None else None,
        time_from_db(finished) if finished is not None else None,
    )
