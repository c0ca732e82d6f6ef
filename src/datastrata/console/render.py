"""Rendering the console's pages: Jinja2 templates shipped in the package, autoescaped, one layout for every page."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from datastrata import __version__

#: Where the console lives in the app.
PREFIX = "/console"
#: Where its static files are served.
STATIC = f"{PREFIX}/static"
#: Every page forbids inline scripts, framing and other origins: htmx and the pages' own scripts come from STATIC.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@cache
def templates() -> Environment:
    """The console's template environment (built once; templates are read from the installed package)."""
    env = Environment(
        loader=PackageLoader("datastrata.console", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,  # a name a template uses but the page did not give is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(prefix=PREFIX, static=STATIC, version=__version__)
    return env


def page(request: Request, template: str, *, title: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` in the console's layout for the request's visitor (its principal, CSRF token and menu)."""
    from datastrata.console.access import visitor_of
    from datastrata.console.pages import menu

    visitor = visitor_of(request)
    html = (
        templates()
        .get_template(template)
        .render(request=request, title=title, visitor=visitor, menu=menu(), path=request.url.path, **context)
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def fragment(template: str, **context: Any) -> HTMLResponse:
    """Render `template` alone (an htmx swap: a table, a chart, a progress bar), without the layout."""
    html = templates().get_template(template).render(**context)
    return HTMLResponse(html, headers=SECURITY_HEADERS)
