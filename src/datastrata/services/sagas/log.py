"""The durable saga log: one row per saga (where it stands, who drives it) and one per call of a step, with outcome.

Every call's outcome is recorded, together with where the saga goes next, in one transaction of the saga log's
location before the next call begins; so a restarted orchestrator reads where each unfinished saga stands and
calls on from there with the same idempotency keys. A saga is driven by the orchestrator holding its lease
(``owner`` is ``host:pid``, ``lease_id`` one orchestrator's id, ``heartbeat_at`` renewed by every record); each
record is conditional on the lease, so an orchestrator that lost it writes nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from datastrata.core.errors import ConcurrencyConflict, NotFound, RuleViolation
from datastrata.core.retry import retry_conflicts
from datastrata.runtime.jobs import owner_gone
from datastrata.runtime.location import Work
from datastrata.runtime.scope import Scope
from datastrata.runtime.units import Units
from datastrata.stores.database import Dialect, is_unique_violation, time_from_db, time_to_db
from datastrata.stores.migrations import Component
from datastrata.writes.idempotency import digest

#: The bounded context of the saga log (its location is wherever the placement puts this context).
CONTEXT = "sagas"
RUNNING, COMPENSATING, COMPLETED, COMPENSATED = "running", "compensating", "completed", "compensated"
FINISHED = (COMPLETED, COMPENSATED)
ACTION, COMPENSATION = "action", "compensation"
SUCCEEDED, DECLINED, TIMED_OUT, FAILED = "succeeded", "declined", "timed_out", "failed"

_DDL = """
CREATE TABLE IF NOT EXISTS saga_runs (
    tenant_id     TEXT    NOT NULL,
    saga_id       TEXT    NOT NULL,
    saga          TEXT    NOT NULL,
    input         TEXT    NOT NULL,
    input_sha256  TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('running', 'compensating', 'completed', 'compensated')),
    position      INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    results       TEXT    NOT NULL,
    records       INTEGER NOT NULL,
    reason        TEXT,
    owner         TEXT,
    lease_id      TEXT,
    heartbeat_at  {time},
    wake_at       {time},
    created_at    {time}  NOT NULL,
    updated_at    {time}  NOT NULL,
    finished_at   {time},
    PRIMARY KEY (tenant_id, saga_id)
);
CREATE INDEX IF NOT EXISTS saga_runs_unfinished ON saga_runs (state, wake_at);
CREATE TABLE IF NOT EXISTS saga_steps (
    tenant_id       TEXT    NOT NULL,
    saga_id         TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    step            TEXT    NOT NULL,
    phase           TEXT    NOT NULL CHECK (phase IN ('action', 'compensation')),
    kind            TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'declined', 'timed_out', 'failed')),
    result          TEXT,
    error           TEXT,
    started_at      {time}  NOT NULL,
    finished_at     {time}  NOT NULL,
    PRIMARY KEY (tenant_id, saga_id, seq)
);
"""


def ddl(dialect: Dialect) -> str:
    """Return the saga log's DDL."""
    return _DDL.format(time="TEXT" if dialect == "sqlite" else "TIMESTAMPTZ")


#: The saga log's schema (in the location of the ``sagas`` context).
MIGRATIONS = Component.baseline("sagas", ddl)


@dataclass(frozen=True, slots=True)
class SagaRun:
    """A saga as its log records it: where it stands, what its steps answered, who drives it."""

    tenant: str
    saga_id: str
    saga: str
    input: Mapping[str, Any]
    state: str
    #: The step called next: forward while running, backward while compensating.
    position: int
    #: The calls made so far at `position` (0: none yet).
    attempt: int
    results: Mapping[str, Mapping[str, Any]]
    records: int
    reason: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    owner: str | None = None
    lease_id: str | None = None
    heartbeat_at: datetime | None = None
    wake_at: datetime | None = None
    #: True when :meth:`SagaLog.start` found the saga already recorded with the same input.
    duplicate: bool = field(default=False, compare=False)

    @property
    def finished(self) -> bool:
        """Whether the saga has ended (completed or compensated)."""
        return self.state in FINISHED

    @property
    def scope(self) -> Scope:
        """The scope of this saga's rows in the saga log."""
        return Scope(CONTEXT, self.saga_id, tenant=self.tenant)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {
            "saga_id": self.saga_id,
            "saga": self.saga,
            "tenant": self.tenant,
            "state": self.state,
            "position": self.position,
            "attempt": self.attempt,
            "reason": self.reason,
            "input": dict(self.input),
            "results": {k: dict(v) for k, v in self.results.items()},
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "owner": self.owner,
        }


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One call of a step's action or compensation and its outcome."""

    seq: int
    step: str
    phase: str
    kind: str
    key: str
    attempt: int
    outcome: str
    result: Mapping[str, Any] | None
    error: str | None
    started_at: datetime
    finished_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {
            "seq": self.seq,
            "step": self.step,
            "phase": self.phase,
            "kind": self.kind,
            "idempotency_key": self.key,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "result": dict(self.result) if self.result is not None else None,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "ms": round((self.finished_at - self.started_at).total_seconds() * 1000, 3),
        }


@dataclass(frozen=True, slots=True)
class Unfinished:
    """An unfinished saga as the orchestrator's scan sees it."""

    tenant: str
    saga_id: str
    owner: str | None
    lease_id: str | None
    heartbeat_at: datetime | None
    wake_at: datetime | None


_RUN_COLUMNS = (
    "tenant_id, saga_id, saga, input, state, position, attempt, results, records, reason, created_at, updated_at, "
    "finished_at, owner, lease_id, heartbeat_at, wake_at, input_sha256"
)
_STEP_COLUMNS = "seq, step, phase, kind, idempotency_key, attempt, outcome, result, error, started_at, finished_at"


class SagaLog:
    """Reads and writes the saga log through `units` (the runtime, or one location), one short transaction each."""

    def __init__(self, units: Units) -> None:
        self.units = units
        units.ensure(MIGRATIONS, context=CONTEXT)  # only where the saga log lives, not in every service's store

    def start(self, scope: Scope, saga: str, data: Mapping[str, Any], *, owner: str, lease_id: str) -> SagaRun:
        """Record saga `scope.key` of definition `saga` with input `data`, leased to the caller; once per id.

        The same id with the same saga and input returns the recorded run (``duplicate``); with another, it is
        refused naming the id, as every idempotency key is.
        """
        text = json.dumps(dict(data), sort_keys=True, default=str)
        sha = digest({"saga": saga, "input": text})

        def attempt() -> SagaRun:
            with self.units.transaction(scope) as work:
                found = _run_in(work, scope)
                if found is not None:
                    if found[1] != sha:
                        raise RuleViolation(
                            f"saga id {scope.key!r} was already used for another {found[0].saga} saga or input; "
                            "send the same saga and input to see it, or use a new id",
                            field="saga_id",
                        )
                    return replace(found[0], duplicate=True)
                now = self.units.clock()
                at = time_to_db(work.dialect, now)
                work.execute(
                    "INSERT INTO saga_runs (tenant_id, saga_id, saga, input, input_sha256, state, position, attempt, "
                    "results, records, owner, lease_id, heartbeat_at, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, 'running', 0, 0, '{}', 0, ?, ?, ?, ?, ?)",
                    (scope.tenant, scope.key, saga, text, sha, owner, lease_id, at, at, at),
                )
            return SagaRun(
                scope.tenant, str(scope.key), saga, json.loads(text), RUNNING, 0, 0, {}, 0, None, now, now,
                owner=owner, lease_id=lease_id, heartbeat_at=now,
            )  # fmt: skip

        def twin(exc: Exception) -> ConcurrencyConflict | None:  # a twin start committed first: read what it stored
            return (
                ConcurrencyConflict(f"saga {scope.key!r} was started twice at once")
                if is_unique_violation(exc)
                else None
            )

        return retry_conflicts(attempt, attempts=3, conflict=twin)

    def get(self, scope: Scope) -> SagaRun:
        """Return saga `scope.key`, or raise NotFound."""
        with self.units.read(scope) as work:
            found = _run_in(work, scope)
        if found is None:
            raise NotFound(f"no saga {scope.key!r} in the saga log", field="saga_id")
        return found[0]

    def steps(self, scope: Scope) -> list[StepRecord]:
        """Return every recorded call of saga `scope.key`, in order."""
        with self.units.read(scope) as work:
            rows = work.query(
                f"SELECT {_STEP_COLUMNS} FROM saga_steps WHERE tenant_id = ? AND saga_id = ? ORDER BY seq",
                (scope.tenant, scope.key),
            )
        return [_record(r) for r in rows]

    def unfinished(self, scope: Scope, *, limit: int = 1000) -> list[Unfinished]:
        """Return up to `limit` unfinished sagas (every tenant's under a platform scope), the longest waiting first."""
        where, params = ("", ()) if scope.all_tenants else ("AND tenant_id = ? ", (scope.tenant,))
        with self.units.read(scope) as work:
            rows = work.query(
                "SELECT tenant_id, saga_id, owner, lease_id, heartbeat_at, wake_at FROM saga_runs "
                f"WHERE state IN ('running', 'compensating') {where}ORDER BY updated_at, saga_id LIMIT ?",
                (*params, limit),
            )
        return [Unfinished(str(t), str(s), _text(o), _text(lid), _time(hb), _time(w)) for t, s, o, lid, hb, w in rows]

    def claim(self, scope: Scope, *, owner: str, lease_id: str, lease: float) -> SagaRun | None:
        """Take the lease of saga `scope.key` if free, ours, or its holder is gone; the run, or None if held.

        The take is a compare-and-set on the lease seen and the record count: of two racing takers one wins.
        """
        with self.units.transaction(scope) as work:
            found = _run_in(work, scope)
            if found is None:
                raise NotFound(f"no saga {scope.key!r} in the saga log", field="saga_id")
            run = found[0]
            now = self.units.clock()
            if run.lease_id not in (None, lease_id) and owner_gone(run.owner, run.heartbeat_at, now, lease) is None:
                return None
            if run.lease_id == lease_id:
                return run
            cursor = work.execute(
                "UPDATE saga_runs SET owner = ?, lease_id = ?, heartbeat_at = ? "
                "WHERE tenant_id = ? AND saga_id = ? AND records = ? AND COALESCE(lease_id, '') = ?",
                (
                    owner,
                    lease_id,
                    time_to_db(work.dialect, now),
                    scope.tenant,
                    scope.key,
                    run.records,
                    run.lease_id or "",
                ),
            )
            if int(cursor.rowcount or 0) != 1:
                return None
        return replace(run, owner=owner, lease_id=lease_id, heartbeat_at=now)

    def record(self, run: SagaRun, call: StepRecord, after: SagaRun) -> SagaRun:
        """Record `call` and move `run` to `after` in one transaction, if `run`'s lease still holds; `after`.

        Raises ConcurrencyConflict when another orchestrator took the saga over (this one must stop driving it).
        """
        scope = run.scope
        with self.units.transaction(scope) as work:
            d = work.dialect
            now = self.units.clock()
            cursor = work.execute(
                "UPDATE saga_runs SET state = ?, position = ?, attempt = ?, results = ?, records = ?, reason = ?, "
                "heartbeat_at = ?, wake_at = ?, updated_at = ?, finished_at = ? "
                "WHERE tenant_id = ? AND saga_id = ? AND lease_id = ? AND records = ?",
                (
                    after.state,
                    after.position,
                    after.attempt,
                    json.dumps(after.results, default=str),
                    call.seq,
                    after.reason,
                    time_to_db(d, now),
                    time_to_db(d, after.wake_at) if after.wake_at else None,
                    time_to_db(d, now),
                    time_to_db(d, now) if after.finished else None,
                    run.tenant,
                    run.saga_id,
                    run.lease_id,
                    run.records,
                ),
            )
            if int(cursor.rowcount or 0) != 1:
                raise ConcurrencyConflict(
                    f"saga {run.saga_id!r} was taken over by another orchestrator; this one stops driving it"
                )
            work.defer(
                f"INSERT INTO saga_steps (tenant_id, saga_id, {_STEP_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.tenant,
                    run.saga_id,
                    call.seq,
                    call.step,
                    call.phase,
                    call.kind,
                    call.key,
                    call.attempt,
                    call.outcome,
                    json.dumps(call.result, default=str) if call.result is not None else None,
                    call.error,
                    time_to_db(d, call.started_at),
                    time_to_db(d, call.finished_at),
                ),
            )
        return replace(
            after, records=call.seq, heartbeat_at=now, updated_at=now, finished_at=now if after.finished else None
        )

    def release(self, run: SagaRun) -> None:
        """Give up the lease of `run` (an orchestrator closing): another may drive it at once."""
        with self.units.transaction(run.scope) as work:
            work.execute(
                "UPDATE saga_runs SET owner = NULL, lease_id = NULL "
                "WHERE tenant_id = ? AND saga_id = ? AND lease_id = ?",
                (run.tenant, run.saga_id, run.lease_id),
            )


def _run_in(work: Work, scope: Scope) -> tuple[SagaRun, str] | None:
    row = work.one(
        f"SELECT {_RUN_COLUMNS} FROM saga_runs WHERE tenant_id = ? AND saga_id = ?", (scope.tenant, scope.key)
    )
    if row is None:
        return None
    (
        tenant,
        saga_id,
        saga,
        data,
        state,
        position,
        attempt,
        results,
        records,
        reason,
        created,
        updated,
        finished,
        owner,
        lease_id,
        heartbeat,
        wake,
        sha,
    ) = row
    run = SagaRun(
        str(tenant),
        str(saga_id),
        str(saga),
        json.loads(str(data)),
        str(state),
        int(position),
        int(attempt),
        json.loads(str(results)),
        int(records),
        _text(reason),
        time_from_db(created),
        time_from_db(updated),
        _time(finished),
        _text(owner),
        _text(lease_id),
        _time(heartbeat),
        _time(wake),
    )
    return run, str(sha)


def _record(row: Any) -> StepRecord:
    seq, step, phase, kind, key, attempt, outcome, result, error, started, finished = row
    return StepRecord(
        int(seq),
        str(step),
        str(phase),
        str(kind),
        str(key),
        int(attempt),
        str(outcome),
        json.loads(str(result)) if result is not None else None,
        _text(error),
        time_from_db(started),
        time_from_db(finished),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _time(value: object) -> datetime | None:
    return None if value is None else time_from_db(value)
