"""The HTTP contract every route shares: problem+json bodies, the statuses routes declare, and the 500 guard.

A failure nobody planned for answers a generic problem with a correlation id; the exception and its text go to the
log under that id, never to the caller. The guard answers inside the app, so the server sees a finished response
and keeps the keep-alive connection for the next request.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_log = logging.getLogger("datastrata.api")


class FieldProblem(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong (`detail`) and, for a refused input, which `field`."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int = Field(ge=100, le=599)
    detail: str
    field: str | None = None
    errors: list[FieldProblem] | None = None
    correlation_id: str | None = None


_DESCRIPTIONS = {
    400: "The body is not JSON",
    401: "No valid API key",
    403: "The key may not do this",
    404: "Not found (an unknown id)",
    429: "Rate limit of the key reached (`Retry-After` says when to retry)",
    413: "The body is larger than the server takes (1 MiB)",
    405: "Method not allowed (the `Allow` header lists the allowed ones)",
    409: "Refused by a business rule, a conflicting idempotency key or a lost race",
    422: "Invalid input: `field` names it and `detail` says the limit",
    500: "Unexpected failure: a generic problem with a correlation id (the details are in the server log)",
    503: "A store, cache or bus is unavailable",
    504: "The read model did not reach the consistency token in time",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the `responses=` of a route that may answer these statuses (plus 400, 413, 422, 500: all may)."""
    wanted = sorted({*statuses, 400, 413, 422, 500})
    return {
        s: {"model": Problem, "description": _DESCRIPTIONS.get(s, "Problem"), "content": {PROBLEM: {}}} for s in wanted
    }


def correlation_id(scope: Scope) -> str:
    """Return the caller's `X-Correlation-ID` when it is a sane id, else a new one."""
    for name, value in scope.get("headers", ()):
        if name.decode("latin-1").lower() == CORRELATION_HEADER.lower():
            text = str(value.decode("latin-1"))
            if _ACCEPTED_ID.match(text):
                return text
    return uuid.uuid4().hex


class UnexpectedErrorGuard:
    """ASGI middleware: an unhandled exception becomes a generic 500 problem with a correlation id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer a generic 500 if it raises before its response started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            ident = correlation_id(scope)
            _log.exception("unexpected failure on %s %s [correlation id %s]", scope["method"], scope["path"], ident)
            if started:  # too late for a problem body; the server closes this one response
                raise
            body = {
                "type": "about:blank",
                "title": "internal failure",
                "status": 500,
                "detail": f"the server failed unexpectedly; quote correlation id {ident} when reporting it",
                "correlation_id": ident,
            }
            payload = json.dumps(body).encode()
            headers = [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(payload)).encode()),
                (CORRELATION_HEADER.lower().encode(), ident.encode()),
            ]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": payload})


#: Largest request body (a spec, a full attribute set or an order is far smaller).
MAX_BODY = 1024 * 1024
_NUL_ESCAPE = re.compile(rb"\\u0000", re.IGNORECASE)


async def _send_problem(send: Send, status: int, title: str, detail: str, field: str) -> None:
    payload = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "field": field}
    ).encode()
    headers = [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class InputGuard:
    """ASGI middleware: a body over MAX_BODY is refused (413); NUL characters, which no store keeps, are refused
    (422) in the body, the path and the query — before any route, so no surface can pass one to a store."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request's size and text, then run the app with the body replayed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        if b"%00" in raw_path.lower() or b"\x00" in raw_path or b"%00" in scope.get("query_string", b""):
            await _send_problem(send, 422, "validation error", "the path or query contains a NUL character", "path")
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await _send_problem(send, 413, "content too large", f"the body exceeds {self.max_body} bytes", "body")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_problem(send, 413, "content too large", f"the body exceeds {self.max_body} bytes", "body")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if b"\x00" in body or _NUL_ESCAPE.search(body):
            await _send_problem(send, 422, "validation error", "text must not contain NUL characters (\\u0000)", "body")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
