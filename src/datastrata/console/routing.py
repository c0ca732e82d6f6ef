"""The console's route class: refusals render as HTML pages, a missing sign-in redirects to the sign-in page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode, urlsplit

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
                return sign_in_first(request)
            except DatastrataError as exc:
                return error_page(request, exc.status, exc.title, exc.message, field=exc.field)
            except RequestValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
                return error_page(request, 422, "Validation error", problems)

        return run


def sign_in_first(request: Request) -> Response:
    """Send a visitor without a live session to the sign-in page, to come back to the page it asked for.

    An htmx request (a fragment polled after the session ended) gets an ``HX-Redirect`` so the whole page moves;
    a form posted without a session comes back to the console's home, not to the form's action.
    """
    if request.headers.get("hx-request") == "true":
        back = urlsplit(request.headers.get("hx-current-url", ""))
        here = back.path + (f"?{back.query}" if back.query else "")
        return Response(status_code=200, headers={"HX-Redirect": login_url(here)})
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return RedirectResponse(login_url(request.url.path + (f"?{query}" if query else "")), status_code=303)
    return RedirectResponse(login_url(PREFIX), status_code=303)


def login_url(back: str) -> str:
    """The sign-in page's address, coming back to `back` (checked again when used: console paths only)."""
    return f"{PREFIX}/login?{urlencode({'next': back or PREFIX})}"


def error_page(request: Request, status: int, title: str, message: str, *, field: str | None = None) -> Response:
    """The console's error page for a refusal (its status, what went wrong, the field it names)."""
    if status >= 500:
        log.warning("console %s %s answered %s: %s", request.method, request.url.path, status, message)
    return page(request, "error.html", title=title, status=status, message=message, field=field)


def console_router(slug: str) -> APIRouter:
    """A router for the page `slug`: its paths under ``/console/<slug>``, errors as pages, not in the OpenAPI."""
    return APIRouter(prefix=f"{PREFIX}/{slug}", route_class=ConsoleRoute, include_in_schema=False)
