"""The order saga on Temporal (``saga=temporal``): the orchestrator's own definition, a workflow per order.

An order placed with ``saga=temporal`` is started on Temporal from its ``OrderCreated`` (a consumer of the order
service's relay, like the orchestrated saga's starter), never in the order's transaction; its workflow id is the
saga's, so a redelivered event joins the one workflow. This process hosts a worker of the saga (its activities call
the services in-process, with each step's idempotency key) on an event loop of its own, beside the services' rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.core.events import Event
from datastrata.core.redact import redact_url
from datastrata.core.tenancy import current_tenant, tenant
from datastrata.services.sagas import SagaDefinition
from datastrata.systems.commerce.domain import TEMPORAL
from datastrata.systems.commerce.saga import ORDER_SAGA

if TYPE_CHECKING:
    from datastrata.services.sagas.temporal import TemporalSagas

#: The consumer that starts a Temporal order's workflow from its ``OrderCreated``.
STARTER = "commerce.sagas.temporal"
#: The Temporal task queue of the commerce order saga.
TASK_QUEUE = "datastrata-commerce"
#: Seconds to wait for the Temporal frontend to answer, and for one order's saga to end.
CONNECT, WAIT = 10.0, 120.0
T = TypeVar("T")


def target_of(settings: Settings) -> str:
    """The Temporal frontend the settings name, or a ConfigurationError naming the setting to set."""
    if not settings.temporal:
        raise ConfigurationError(
            "saga 'temporal' needs a Temporal frontend: set the `temporal` setting (DATASTRATA_TEMPORAL=host:7233, "
            'or temporal = "host:7233" in datastrata.toml), or choose saga orchestrated'
        )
    return settings.temporal


class TemporalOrders:
    """A worker of the order saga on Temporal, hosted on this process's own event loop; starts and awaits sagas."""

    def __init__(self, target: str, definition: SagaDefinition, *, prefix: str, task_queue: str = TASK_QUEUE) -> None:
        try:
            from datastrata.services.sagas.temporal import TemporalSagas
        except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
            raise ConfigurationError("saga 'temporal' needs the extra: pip install 'datastrata[temporal]'") from exc
        self.target = target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="commerce-temporal", daemon=True)
        self._thread.start()
        self._ready: Future[TemporalSagas] = Future()
        self._stopping: asyncio.Event | None = None
        hosting = self._host(TemporalSagas, definition, task_queue, prefix)
        self._hosting = asyncio.run_coroutine_threadsafe(hosting, self._loop)
        try:
            self.sagas = self._ready.result(timeout=CONNECT)
        except Exception as exc:
            self.close()
            raise BackendUnavailable(
                f"the Temporal frontend {redact_url(target)} (setting `temporal`) did not answer: {exc}; start it "
                "(e.g. `temporal server start-dev`) or fix DATASTRATA_TEMPORAL"
            ) from exc

    async def _host(
        self, sagas_type: type[TemporalSagas], definition: SagaDefinition, task_queue: str, prefix: str
    ) -> None:
        self._stopping = asyncio.Event()
        try:
            sagas = await sagas_type.connect(self.target, [definition], task_queue=task_queue, prefix=prefix)
            async with sagas.worker():
                self._ready.set_result(sagas)
                await self._stopping.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def _call(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run `make()` on the worker's loop under the caller's tenant and wait for its answer."""
        who = current_tenant()

        async def under_tenant() -> T:
            with tenant(who):
                return await make()

        return asyncio.run_coroutine_threadsafe(under_tenant(), self._loop).result(timeout=timeout)

    def start(self, order_id: str) -> None:
        """Start the saga of order `order_id` on Temporal (again: the one workflow of that order)."""
        self._call(lambda: self.sagas.start(ORDER_SAGA, order_id, {"order_id": order_id}), CONNECT)

    def execute(self, order_id: str) -> dict[str, Any]:
        """Run (or join) the saga of order `order_id`; its end: ``state``, ``reason``, ``results``, ``calls``."""
        return self._call(lambda: self.sagas.execute(ORDER_SAGA, order_id, {"order_id": order_id}), WAIT)

    def history(self, order_id: str) -> dict[str, Any]:
        """The timeline of order `order_id`'s saga from its workflow's history (``saga show``'s shape)."""
        return self._call(lambda: self.sagas.history(ORDER_SAGA, order_id), CONNECT)

    def close(self) -> None:
        """Stop the worker (its running activities finish) and the event loop."""
        stopping = self._stopping
        if stopping is not None:
            self._loop.call_soon_threadsafe(stopping.set)
        with contextlib.suppress(Exception):  # a worker that failed to start was reported by __init__
            self._hosting.result(timeout=WAIT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CONNECT)
        if not self._thread.is_alive():
            self._loop.close()


class TemporalStarter:
    """Starts each Temporal order's saga from its ``OrderCreated``; other orders: nothing."""

    def __init__(self, orders: Callable[[], TemporalOrders]) -> None:
        self.orders = orders

    def start(self, event: Event) -> None:
        """Start the order's workflow on Temporal (a redelivery joins the same workflow)."""
        if event.payload.get("saga") != TEMPORAL:
            return
        with tenant(event.tenant_id):
            self.orders().start(str(event.payload["order_id"]))
