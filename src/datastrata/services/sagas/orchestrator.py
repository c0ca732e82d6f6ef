"""The orchestrator: drives sagas call by call from their durable log, under a lease, resuming after any crash.

``execute`` (or ``start`` then ``run``) drives one saga in the caller's thread, waiting out backoffs. ``resume`` is
the worker's job (:meth:`Orchestrator.attach`): each round it takes every unfinished saga that nobody alive drives
— after a kill -9 its holder's pid is gone at once; on another host its lease runs out — and drives each until it
ends or must wait, one saga's failure never stopping the others. Every call carries its step's idempotency key, so
calling a step again after a crash (its effect may have been applied before the log recorded it) is deduplicated
by the receiving service.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from datastrata.core.errors import ConcurrencyConflict, DatastrataError, NotFound, ValidationError
from datastrata.core.ids import new_id
from datastrata.core.redact import describe_error
from datastrata.core.tenancy import tenant
from datastrata.runtime.jobs import LEASE, owner_gone, this_owner
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.runtime.units import Units
from datastrata.services.sagas import progress
from datastrata.services.sagas.calls import WORKERS, Caller
from datastrata.services.sagas.definition import SagaDefinition, StepCall, check_saga_id, step_key
from datastrata.services.sagas.log import ACTION, COMPENSATING, COMPENSATION, CONTEXT, SagaLog, SagaRun, StepRecord

log = logging.getLogger(__name__)

#: The worker job that resumes unfinished sagas.
JOB = "sagas.resume"
#: The most bytes of JSON a saga's input may take (it is kept in the log and passed to every call).
MAX_INPUT = 64 * 1024


class Orchestrator:
    """Runs the sagas of `definitions` whose log lives where `units` places the ``sagas`` context."""

    def __init__(
        self,
        units: Units,
        definitions: Iterable[SagaDefinition],
        *,
        lease: float = LEASE,
        workers: int = WORKERS,
    ) -> None:
        self.units = units
        self.log = SagaLog(units)
        self.lease = lease
        self.definitions: dict[str, SagaDefinition] = {}
        for definition in definitions:
            self.add(definition)
        self.owner = this_owner()
        #: This orchestrator's own lease id (two in one process never drive the same saga either).
        self.lease_id = new_id()
        self.caller = Caller(workers=workers)
        self._driving: set[tuple[str, str]] = set()
        #: The sagas the last rounds could not resume, with why (health reports them; each is retried every round).
        self.stuck: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def add(self, definition: SagaDefinition) -> None:
        """Register `definition` (by name, once).

        A step's timeout plus its longest backoff must stay under half the lease: the lease is renewed by every
        record, so a saga waiting that long between two would read as abandoned.
        """
        if definition.name in self.definitions and self.definitions[definition.name] is not definition:
            raise ValidationError(f"a saga named {definition.name!r} is already registered", field="name")
        for i, step in enumerate(definition.steps):
            if step.timeout + step.retry.maximum >= self.lease / 2:
                raise ValidationError(
                    f"step {step.name!r} of saga {definition.name!r}: timeout + retry.maximum "
                    f"({step.timeout + step.retry.maximum:g}s) must stay under half the lease ({self.lease / 2:g}s); "
                    "shorten them or give the orchestrator a longer lease",
                    field=f"steps[{i}].timeout",
                )
        self.definitions[definition.name] = definition

    def definition(self, name: str) -> SagaDefinition:
        """Return the registered saga `name`, or raise NotFound listing the known ones."""
        found = self.definitions.get(name)
        if found is None:
            raise NotFound(f"no saga named {name!r}; known: {sorted(self.definitions)}", field="saga")
        return found

    # ---- driving one saga ----------------------------------------------------------------------------------

    def start(self, saga: str, saga_id: str, data: Mapping[str, Any]) -> SagaRun:
        """Record saga `saga_id` of definition `saga` with input `data` (JSON), leased to this orchestrator.

        Starting the same id again with the same input returns the recorded run (``duplicate``); nothing runs yet.
        """
        self.definition(saga)
        scope = Scope.of(CONTEXT, check_saga_id(saga_id))
        if not isinstance(data, Mapping):
            raise ValidationError(f"input must be a mapping (JSON object); got {type(data).__name__}", field="input")
        try:
            size = len(json.dumps(dict(data)).encode())
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"input must be JSON: {exc}", field="input") from None
        if size > MAX_INPUT:
            raise ValidationError(
                f"input is {size} bytes of JSON; at most {MAX_INPUT} are kept with a saga: pass ids, not documents",
                field="input",
            )
        return self.log.start(scope, saga, data, owner=self.owner, lease_id=self.lease_id)

    def run(self, saga_id: str) -> SagaRun:
        """Drive saga `saga_id` (of the current tenant) in this thread until it is completed or compensated.

        Refused (ConcurrencyConflict) while another live orchestrator drives it.
        """
        scope = Scope.of(CONTEXT, check_saga_id(saga_id))
        with self._holding(scope.tenant, saga_id) as mine:
            if not mine:
                return self._refuse(scope)
            run = self.log.claim(scope, owner=self.owner, lease_id=self.lease_id, lease=self.lease)
            if run is None:
                return self._refuse(scope)
            return self._drive(run, wait=True)

    def execute(self, saga: str, saga_id: str, data: Mapping[str, Any]) -> SagaRun:
        """Start saga `saga_id` and drive it to its end here (a finished one is returned as recorded)."""
        run = self.start(saga, saga_id, data)
        if run.finished:
            return run
        if run.duplicate:  # recorded before, maybe leased to another orchestrator: claim it first
            return self.run(saga_id)
        with self._holding(run.tenant, saga_id) as mine:  # just recorded, leased to us
            return self._drive(run, wait=True) if mine else self._refuse(run.scope)

    def get(self, saga_id: str) -> SagaRun:
        """Return saga `saga_id` of the current tenant as its log records it."""
        return self.log.get(Scope.of(CONTEXT, check_saga_id(saga_id)))

    # ---- the worker's job ----------------------------------------------------------------------------------

    def resume(self) -> int:
        """Drive every unfinished saga nobody alive drives until it ends or must wait; the calls made.

        Each saga is its own failure boundary: one that fails (its log unreachable, its definition unknown) is
        logged and left for the next round, and the others go on.
        """
        with self._platform():
            candidates = self.log.unfinished(Scope.platform(CONTEXT))
        now = self.units.clock()
        calls = 0
        for found in candidates:
            if found.lease_id == self.lease_id:
                if found.wake_at is not None and found.wake_at > now:
                    continue  # ours, waiting out a backoff
            elif found.lease_id is not None and owner_gone(found.owner, found.heartbeat_at, now, self.lease) is None:
                continue  # another live orchestrator drives it
            key = (found.tenant, found.saga_id)
            try:
                calls += self._resume_one(found.tenant, found.saga_id)
            except Exception as exc:  # one saga's failure stays in its room
                if key not in self.stuck:
                    log.warning("saga %s (tenant %s) could not be resumed", found.saga_id, found.tenant, exc_info=True)
                self.stuck[key] = exc.message if isinstance(exc, DatastrataError) else describe_error(exc)
            else:
                self.stuck.pop(key, None)
        return calls

    def stuck_reason(self) -> str:
        """Say which sagas cannot be resumed and why ("" when none): what degrades health."""
        if not self.stuck:
            return ""
        (tenant_id, saga_id), why = next(iter(self.stuck.items()))
        return f"{len(self.stuck)} saga(s) cannot be resumed; saga {saga_id} (tenant {tenant_id}): {why}"

    def _resume_one(self, tenant_id: str, saga_id: str) -> int:
        with self._holding(tenant_id, saga_id) as mine, tenant(tenant_id):
            if not mine:
                return 0
            scope = Scope(CONTEXT, saga_id, tenant=tenant_id)
            run = self.log.claim(scope, owner=self.owner, lease_id=self.lease_id, lease=self.lease)
            if run is None:
                return 0
            before = run.records
            return self._drive(run, wait=False).records - before

    def attach(self, runtime: Runtime) -> None:
        """Resume this orchestrator's sagas on every worker round of `runtime`, in the job's failure boundary.

        Health reads degraded while a saga cannot be resumed (naming it and why).
        """
        runtime.add_job(JOB, self.resume)
        runtime.degraded_by[JOB] = self.stuck_reason
        runtime.on_close(self.close)

    def close(self) -> None:
        """Give up the leases of the unfinished sagas this orchestrator holds, and stop its call threads."""
        try:
            with self._platform():
                held = [u for u in self.log.unfinished(Scope.platform(CONTEXT)) if u.lease_id == self.lease_id]
            for found in held:
                with tenant(found.tenant):
                    scope = Scope(CONTEXT, found.saga_id, tenant=found.tenant)
                    run = self.log.get(scope)
                    if (found.tenant, found.saga_id) not in self._driving:
                        self.log.release(run)
        finally:
            self.caller.close()

    # ---- the calls -----------------------------------------------------------------------------------------

    def _drive(self, run: SagaRun, *, wait: bool) -> SagaRun:
        """Call `run`'s steps until it ends, or (unless `wait`) until it must wait out a backoff."""
        definition = self.definition(run.saga)
        while not run.finished:
            if run.wake_at is not None:
                delay = (run.wake_at - self.units.clock()).total_seconds()
                if delay > 0:
                    if not wait:
                        return run
                    time.sleep(delay)
            run = self._call(definition, run)
        return run

    def _call(self, definition: SagaDefinition, run: SagaRun) -> SagaRun:
        """Make the call at `run`'s position and record its outcome with where the saga goes next."""
        step = definition.steps[run.position]
        compensating = run.state == COMPENSATING
        action = step.compensation if compensating and step.compensation is not None else step.action
        key = step_key(definition.name, run.saga_id, step.name, compensation=compensating)
        attempt = run.attempt + 1
        undoes = step_key(definition.name, run.saga_id, step.name) if compensating else None
        why = run.reason if compensating else None
        call = StepCall(run.saga_id, step.name, key, attempt, run.input, run.results, undoes, why)
        started: datetime = self.units.clock()
        got = self.caller.call(action, call, step.timeout)
        finished: datetime = self.units.clock()
        record = StepRecord(
            run.records + 1,
            step.name,
            COMPENSATION if compensating else ACTION,
            step.kind.value,
            key,
            attempt,
            got.outcome,
            got.result,
            got.error,
            started,
            finished,
        )
        return self.log.record(run, record, progress.after(definition, run, got, finished))

    @contextlib.contextmanager
    def _holding(self, tenant_id: str, saga_id: str) -> Iterator[bool]:
        """Mark a saga driven by a thread of this orchestrator; False when another of its threads drives it."""
        key = (tenant_id, saga_id)
        with self._lock:
            if key in self._driving:
                yield False
                return
            self._driving.add(key)
        try:
            yield True
        finally:
            with self._lock:
                self._driving.discard(key)

    def _refuse(self, scope: Scope) -> SagaRun:
        run = self.log.get(scope)
        if run.finished:
            return run
        raise ConcurrencyConflict(
            f"saga {scope.key!r} is being driven by {run.owner or 'another thread of this orchestrator'}; "
            "it resumes there (or here, once that orchestrator is gone)"
        )

    def _platform(self) -> contextlib.AbstractContextManager[None]:
        """Act as the platform (every tenant's sagas) when the units are a runtime's."""
        return self.units.as_platform() if isinstance(self.units, Runtime) else contextlib.nullcontext()
