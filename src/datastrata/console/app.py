"""Installing the console in the HTTP app: its home, every page's router and its static files under ``/console``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from datastrata.console.access import Viewer, Visitor
from datastrata.console.pages import pages
from datastrata.console.render import PREFIX, STATIC, page
from datastrata.console.routing import ConsoleRoute
from datastrata.console.signin import router as signin

home = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@home.get(PREFIX)
def console_home(request: Request, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The console's home: every page with what it shows."""
    return page(request, "home.html", title="Console")


def install_console(app: FastAPI) -> None:
    """Serve the console on `app`: pages need a signed-in visitor (or ``--insecure-local``), static files do not."""
    app.include_router(home)
    app.include_router(signin)
    for each in pages():
        app.include_router(each.router)
    app.mount(STATIC, StaticFiles(packages=[("datastrata.console", "static")]), name="console-static")
