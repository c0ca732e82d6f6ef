"""The interactive API docs at /docs, with Swagger UI's files served by this server (they render offline)."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

#: Where Swagger UI's files are served: the copy the `fastapi-offline` package ships (Swagger UI 5, OpenAPI 3.1).
ASSETS = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """Serve /docs and its assets locally; the app must be created with ``docs_url=None, redoc_url=None``."""
    folder = resources.files("fastapi_offline").joinpath("static")
    app.mount(ASSETS, StaticFiles(directory=str(folder)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        """Swagger UI for /openapi.json, every file from this server."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API docs",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        """The OAuth2 redirect page Swagger UI expects."""
        return get_swagger_ui_oauth2_redirect_html()
