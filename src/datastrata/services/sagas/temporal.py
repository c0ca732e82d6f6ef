"""The same saga definitions on Temporal (``datastrata[temporal]``): a workflow per saga, an activity per step.

Each step's action is the activity ``<saga>.<step>`` and its compensation ``<saga>.<step>.undo``; they call the
same functions with the same idempotency keys as the built-in orchestrator, so the receiving services dedup both
alike. A step's timeout is the activity's start-to-close timeout and its retry policy Temporal's (initial interval,
coefficient 2, maximum interval; ``attempts`` for a compensatable step, unlimited for the pivot, the retriable steps
and every compensation; :class:`StepDeclined` is not retried before the pivot). What happens after an outcome is
decided by the built-in rules (:func:`datastrata.services.sagas.progress.after`), so both runners agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.tenancy import DEFAULT_TENANT, current_tenant, tenant
from datastrata.services.sagas import progress
from datastrata.services.sagas.calls import Outcome
from datastrata.services.sagas.definition import (
    Action,
    SagaDefinition,
    Step,
    StepCall,
    StepDeclined,
    StepKind,
    check_saga_id,
    step_key,
)
from datastrata.services.sagas.log import (
    ACTION,
    COMPENSATING,
    COMPENSATION,
    DECLINED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    SagaRun,
)
from datastrata.services.sagas.temporal_history import DECLINED_TYPE, history_timeline

#: The task queue the saga workflows and their step activities run on unless told otherwise.
TASK_QUEUE = "datastrata-sagas"
#: The definitions the workflows of this process run, by saga name (filled by :meth:`TemporalSagas.worker`).
_DEFINITIONS: dict[str, SagaDefinition] = {}


def activity_name(saga: str, step: str, *, compensation: bool = False) -> str:
    """Return the Temporal activity name of a step's action (or compensation)."""
    return f"{saga}.{step}" + (".undo" if compensation else "")


def workflow_id(saga: str, saga_id: str, *, tenant: str = DEFAULT_TENANT, prefix: str = "") -> str:
    """Return the Temporal workflow id of one saga: one workflow per tenant and saga id (in the `prefix`'s space)."""
    return f"{prefix}{tenant}/saga-{saga}-{saga_id}"


def retry_policy(step: Step, *, compensation: bool = False) -> RetryPolicy:
    """Return the step's retry policy as Temporal's (a compensatable action bounded by its attempts)."""
    bounded = step.kind is StepKind.COMPENSATABLE and not compensation
    declines_stop = not compensation and step.kind is not StepKind.RETRIABLE
    return RetryPolicy(
        initial_interval=timedelta(seconds=step.retry.initial),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=step.retry.maximum),
        maximum_attempts=step.retry.attempts if bounded else 0,
        non_retryable_error_types=[DECLINED_TYPE] if declines_stop else [],
    )


@workflow.defn(name="datastrata.saga", sandboxed=False)
class SagaWorkflow:
    """One saga: its steps forward, and on a decline or an exhausted compensatable step, compensations backward."""

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        """Run the saga `args` names (``saga``, ``saga_id``, ``tenant``, ``input``); return its end and its calls."""
        definition = _DEFINITIONS[str(args["saga"])]
        now = workflow.now()
        run = SagaRun(
            str(args["tenant"]), str(args["saga_id"]), definition.name, args["input"], RUNNING, 0, 0, {}, 0, None, now,
            now,
        )  # fmt: skip
        calls: list[dict[str, Any]] = []
        while not run.finished:
            step = definition.steps[run.position]
            compensating = run.state == COMPENSATING
            got = await self._call(definition, run, step, compensating=compensating)
            calls.append(
                {"step": step.name, "phase": COMPENSATION if compensating else ACTION, "outcome": got.outcome,
                 "error": got.error}
            )  # fmt: skip
            if got.outcome == FAILED:
                run = replace(run, attempt=step.retry.attempts - 1)  # Temporal spent every attempt
            run = replace(progress.after(definition, run, got, workflow.now()), wake_at=None)
        return {"state": run.state, "reason": run.reason, "results": dict(run.results), "calls": calls}

    async def _call(self, definition: SagaDefinition, run: SagaRun, step: Step, *, compensating: bool) -> Outcome:
        key = step_key(definition.name, run.saga_id, step.name, compensation=compensating)
        undoes = step_key(definition.name, run.saga_id, step.name) if compensating else None
        payload = {
            "saga_id": run.saga_id,
            "tenant": run.tenant,
            "key": key,
            "undoes": undoes,
            "reason": run.reason if compensating else None,
            "input": dict(run.input),
            "results": dict(run.results),
        }
        try:
            answer = await workflow.execute_activity(
                activity_name(definition.name, step.name, compensation=compensating),
                payload,
                start_to_close_timeout=timedelta(seconds=step.timeout),
                retry_policy=retry_policy(step, compensation=compensating),
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == DECLINED_TYPE:
                return Outcome(DECLINED, error=cause.message)
            if isinstance(cause, TimeoutError):
                return Outcome(TIMED_OUT, error=f"no answer within {step.timeout:g}s on its last attempt")
            return Outcome(FAILED, error=str(cause or exc))
        return Outcome(SUCCEEDED, dict(answer))


class TemporalSagas:
    """Runs saga definitions on a Temporal cluster: ``worker()`` hosts them, ``execute`` runs one saga to its end."""

    def __init__(
        self, client: Client, definitions: Iterable[SagaDefinition], *, task_queue: str = TASK_QUEUE, prefix: str = ""
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        #: What the workflow ids start with: one deployment's sagas apart from another's in a shared namespace.
        self.prefix = prefix
        self.definitions = {d.name: d for d in definitions}

    @classmethod
    async def connect(
        cls,
        target: str,
        definitions: Iterable[SagaDefinition],
        *,
        namespace: str = "default",
        task_queue: str = TASK_QUEUE,
        prefix: str = "",
    ) -> TemporalSagas:
        """Connect to the Temporal frontend at `target` (``host:port``)."""
        client = await Client.connect(target, namespace=namespace)
        return cls(client, definitions, task_queue=task_queue, prefix=prefix)

    def activities(self) -> list[Any]:
        """Every step's activity: ``<saga>.<step>`` and, for a compensatable step, ``<saga>.<step>.undo``."""
        made: list[Any] = []
        for definition in self.definitions.values():
            for step in definition.steps:
                made.append(_named(activity_name(definition.name, step.name), step.name, step.action))
                if step.compensation is not None:
                    name = activity_name(definition.name, step.name, compensation=True)
                    made.append(_named(name, step.name, step.compensation))
        return made

    @contextlib.asynccontextmanager
    async def worker(self, *, threads: int = 16) -> AsyncIterator[Worker]:
        """Run a worker of these sagas (the workflow and every step's activity) while the block runs."""
        added = []
        for name, definition in self.definitions.items():
            known = _DEFINITIONS.setdefault(name, definition)
            if known is not definition:
                raise ValidationError(f"another saga named {name!r} runs in this process already", field="name")
            added.append(name)
        try:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="saga-activity") as pool:
                worker = Worker(
                    self.client,
                    task_queue=self.task_queue,
                    workflows=[SagaWorkflow],
                    activities=self.activities(),
                    activity_executor=pool,
                )
                async with worker:
                    yield worker
        finally:
            for name in added:
                _DEFINITIONS.pop(name, None)

    async def start(self, saga: str, saga_id: str, data: Mapping[str, Any]) -> WorkflowHandle[Any, dict[str, Any]]:
        """Start saga `saga_id` of `saga` on Temporal unless it runs or ran already; its workflow's handle.

        The workflow id is the saga's, so starting the same saga again while it runs joins it, and after it ends
        finds its recorded end (as the built-in log does): a starter may run more than once.
        """
        if saga not in self.definitions:
            raise ValidationError(f"no saga named {saga!r}; known: {sorted(self.definitions)}", field="saga")
        who = current_tenant()
        wid = workflow_id(saga, check_saga_id(saga_id), tenant=who, prefix=self.prefix)
        args = {"saga": saga, "saga_id": saga_id, "tenant": who, "input": dict(data)}
        try:
            return await self.client.start_workflow(
                SagaWorkflow.run,
                args,
                id=wid,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:  # it ended: its recorded end
            return self.client.get_workflow_handle(wid, result_type=dict)

    async def execute(self, saga: str, saga_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Run saga `saga_id` of `saga` on Temporal (or join it) and return its end (``state``, ``reason``, …)."""
        handle = await self.start(saga, saga_id, data)
        try:
            result: dict[str, Any] = await handle.result()
        except WorkflowFailureError as exc:
            raise RuntimeError(f"saga workflow {handle.id} failed: {exc.cause}") from exc
        return result

    async def history(self, saga: str, saga_id: str) -> dict[str, Any]:
        """Return saga `saga_id`'s timeline (``saga show``'s shape) from its workflow's history on Temporal."""
        if saga not in self.definitions:
            raise ValidationError(f"no saga named {saga!r}; known: {sorted(self.definitions)}", field="saga")
        who = current_tenant()
        wid = workflow_id(saga, check_saga_id(saga_id), tenant=who, prefix=self.prefix)
        try:
            history = await self.client.get_workflow_handle(wid).fetch_history()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            raise NotFound(
                f"no saga {saga_id!r} on Temporal (workflow {wid}); was it started?", field="saga_id"
            ) from None
        return history_timeline(history.events, self.definitions[saga], saga_id, tenant=who)


def _named(name: str, step: str, action: Action) -> Any:
    """The activity `name` running `action` for `step`."""

    def run(payload: dict[str, Any]) -> dict[str, Any]:
        call = StepCall(
            str(payload["saga_id"]),
            step,
            str(payload["key"]),
            activity.info().attempt,
            payload["input"],
            payload["results"],
            payload.get("undoes"),
            payload.get("reason"),
        )
        try:
            with tenant(str(payload["tenant"])):
                return dict(action(call))
        except StepDeclined as exc:
            raise ApplicationError(exc.message, type=DECLINED_TYPE) from None

    return activity.defn(name=name)(run)
