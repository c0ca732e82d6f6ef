"""The FastAPI app factory: one runtime per app, every system's router, problem+json errors, a worker thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from datastrata import __version__
from datastrata.api.contract import InputGuard, UnexpectedErrorGuard, problems
from datastrata.api.docs import install_docs
from datastrata.api.metrics import install_metrics
from datastrata.api.operations import router as operations_router
from datastrata.api.problems import install_problems
from datastrata.catalog import components, install_all, systems
from datastrata.console.app import install_console
from datastrata.console.sessions import sessions_of
from datastrata.core.config import Settings
from datastrata.design.api import router as design_router
from datastrata.runtime import Runtime
from datastrata.runtime.migrations import require_applied
from datastrata.security.auth import AuthConfig, auth_dependency, install_auth
from datastrata.security.keys import key_store
from datastrata.sharding.load_api import router as shards_load_router
from datastrata.sharding.reshard_api import router as shards_reshard_router
from datastrata.tenancy.api import router as tenants_router
from datastrata.tenancy.erasure_api import router as erasure_router
from datastrata.tenancy.move_api import router as moves_router
from datastrata.tenancy.offboard_api import router as offboard_router
from datastrata.tiering.api import router as tiering_router
from datastrata.tiering.job import serve_tiering
from datastrata.tiering.policy import Policy

_log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, worker: bool = True, auth: AuthConfig | None = None, tiering: Sequence[Policy] = ()
) -> FastAPI:
    """Return the datastrata HTTP app; with `worker`, the relay and projections run in a background thread.

    Every route but the probes and the docs needs an API key (`auth`: keys by default; see security/auth.py).
    `tiering`: policies served under ``/tiering`` and, with `worker`, run as supervised jobs (``serve --tiering``).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.open(settings)
        install_all(runtime)
        key_store(runtime)  # the API keys' table, like each system's, is in place before the first request
        sessions_of(runtime)  # and the console's sessions' table
        runtime.readiness["migrations"] = lambda: require_applied(runtime, components())
        app.state.runtime = runtime
        app.state.tiering = serve_tiering(runtime, tiering, supervised=worker)
        stop = threading.Event()
        thread = threading.Thread(target=runtime.run_worker, args=(stop,), name="datastrata-worker", daemon=True)
        if worker:
            runtime.open_followers()  # serve runs the worker, so it owns every follower's resources (the graph)
            thread.start()
            app.state.worker = thread
        try:
            yield
        finally:
            stop.set()
            if worker:
                runtime.db.notify_changed()
                thread.join(timeout=10)
            runtime.close()

    app = FastAPI(
        title="datastrata",
        version=__version__,
        description="Data-architecture strategies as working reference systems.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs from the package's own Swagger UI files
        redoc_url=None,
        responses=problems(401, 403, 429),
        dependencies=[auth_dependency()],
    )
    install_auth(app, auth or AuthConfig())
    install_docs(app)

    install_problems(app)
    install_metrics(app)
    app.add_middleware(InputGuard)
    app.add_middleware(UnexpectedErrorGuard)  # outside the metrics, inside Starlette's last-resort handler
    app.include_router(operations_router)
    for entry in systems():
        app.include_router(entry.router())
    app.include_router(tiering_router)
    app.include_router(tenants_router)
    app.include_router(design_router)
    app.include_router(moves_router)
    app.include_router(offboard_router)
    app.include_router(erasure_router)
    app.include_router(shards_load_router)
    app.include_router(shards_reshard_router)
    install_console(app)
    return app
