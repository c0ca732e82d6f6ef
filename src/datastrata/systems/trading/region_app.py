"""A region process's HTTP side: its routes as a FastAPI app answering problem+json, served by uvicorn on its port.

The routes are the region's own (orders, reads, link control, forwarded pages: see regions.py); the app answers
errors the way the project's API does (:func:`datastrata.api.problems.install_problems`), so a
:class:`~datastrata.services.client.HttpTransport` on the calling side raises them again as their own kind.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from datastrata.api.contract import InputGuard, UnexpectedErrorGuard
from datastrata.api.problems import install_problems
from datastrata.core.errors import ValidationError
from datastrata.services.serving import AppServer

log = logging.getLogger(__name__)

#: A route's handler: the path after the route's name (a user id, or "") and the JSON body (GET: {}).
Handler = Callable[[str, dict[str, Any]], Any]
#: The largest request body a region accepts (a page of business events is far smaller).
MAX_BODY = 16 * 1024 * 1024


def region_app(region: str, routes: dict[tuple[str, str], Handler]) -> FastAPI:
    """The FastAPI app of `region`: each route ``METHOD /name[/rest]`` calls its handler in the thread pool."""
    app = FastAPI(title=f"datastrata trading {region}", docs_url=None, redoc_url=None, openapi_url=None)
    install_problems(app)
    for (method, name), handler in sorted(routes.items()):
        endpoint = _endpoint(handler)
        app.add_api_route(f"/{name}", endpoint, methods=[method], name=f"{method} /{name}")
        app.add_api_route(f"/{name}/{{rest:path}}", endpoint, methods=[method], name=f"{method} /{name}/…")
    app.add_middleware(InputGuard, max_body=MAX_BODY)
    app.add_middleware(UnexpectedErrorGuard)
    return app


def _endpoint(handler: Handler) -> Callable[..., Any]:
    async def endpoint(request: Request, rest: str = "") -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise ValidationError(f"the body is not JSON: {exc}", field="body") from exc
        if not isinstance(body, dict):
            raise ValidationError("the request body must be a JSON object", field="body")
        return await run_in_threadpool(handler, rest, body)  # handlers block (the link's latency, the stores)

    return endpoint


class RegionServer(AppServer):
    """uvicorn serving a region's app in a background thread, on a socket bound here (port 0: the system chooses)."""

    def __init__(self, region: str, routes: dict[tuple[str, str], Handler], *, host: str, port: int) -> None:
        super().__init__(region, region_app(region, routes), host=host, port=port)
        self.region = region
