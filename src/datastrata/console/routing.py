"""The console's route class: refusals render as HTML pages, a missing sign-in redirects to the sign-in page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from datastrata.console.access import SignInRequired
from datastrata.console.render import PREFIX, page
from datastrata.core.errors import DatastrataError

log = logging.getLogger(__name__)


class ConsoleRoute(APIRoute):
    """An APIRoute whose errors are console pages: the visitor reads what went wrong and how to fix it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler: sign-in redirects, datastrata errors and bad input become error pages."""
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return RedirectResponse(f"{PREFIX}/login?next={request.url.path}", status_code=303)
            except DatastrataError as exc:
                return error_page(request, exc.status, exc.title, exc.message, field=exc.field)
            except RequestValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
                return error_page(request, 422, "Validation error", problems)

        return run


def error_page(request: Request, status: int, title: str, message: str, *, field: str | None = None) -> Response:
    """The console's error page for a refusal (its status, what went wrong, the field it names)."""
    if status >= 500:
        log.warning("console %s %s answered %s: %s", request.method, request.url.path, status, message)
    return page(request, "error.html", title=title, status=status, message=message, field=field)


def console_router(slug: str) -> APIRouter:
    """A router for the page `slug`: its paths under ``/console/<slug>``, errors as pages, not in the OpenAPI."""
    return APIRouter(prefix=f"{PREFIX}/{slug}", route_class=ConsoleRoute, include_in_schema=False)
