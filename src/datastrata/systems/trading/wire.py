"""The socket between the region processes: JSON over HTTP/1.1, each region's address in a run file on the host.

A region process (``datastrata trading up``) listens on a port (chosen by the system unless ``--port`` says) and
writes ``<trading folder>/up/<region>.json`` with its pid, host and port; a peer or the shell reads it on every call,
so a restarted process on a new port is found at once. An error crosses as its kind, message and field and is raised
again on the calling side, so a refusal in New York reads the same in Singapore. A region that does not answer is a
:class:`~datastrata.core.errors.BackendUnavailable` naming it and how to start it.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from datastrata.core import errors
from datastrata.core.errors import BackendUnavailable, DatastrataError, ValidationError
from datastrata.core.redact import describe_error

log = logging.getLogger(__name__)

#: A route's handler: the path after the route's name (a user id, or "") and the JSON body (GET: {}).
Handler = Callable[[str, dict[str, Any]], Any]
#: The largest request body a region accepts (a page of business events is far smaller).
MAX_BODY = 16 * 1024 * 1024
#: Seconds a call waits for the far region's answer (the link's latency is at most a second a round trip).
TIMEOUT = 30.0
#: The error kinds that cross as themselves (anything else arrives as a DatastrataError with its message).
KINDS: dict[str, type[DatastrataError]] = {
    kind.__name__: kind
    for kind in (
        errors.ValidationError,
        errors.NotFound,
        errors.RuleViolation,
        errors.BackendUnavailable,
        errors.ConfigurationError,
        errors.ConsistencyTimeout,
    )
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a running region process listens."""

    region: str
    pid: int
    host: str
    port: int

    def to_dict(self) -> dict[str, Any]:
        """Return the run file's JSON shape."""
        return {"region": self.region, "pid": self.pid, "host": self.host, "port": self.port}


def run_file(folder: Path, region: str) -> Path:
    """The file a running `region` process announces its address in."""
    return folder / "up" / f"{region}.json"


def announce(folder: Path, endpoint: Endpoint) -> Path:
    """Write `endpoint`'s run file (atomically: a reader sees the old address or the new one)."""
    path = run_file(folder, endpoint.region)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(endpoint.to_dict()))
    os.replace(temporary, path)
    return path


def withdraw(folder: Path, endpoint: Endpoint) -> None:
    """Remove `endpoint`'s run file if it is still this process's."""
    path = run_file(folder, endpoint.region)
    if running(folder, endpoint.region) == endpoint:
        path.unlink(missing_ok=True)


def running(folder: Path, region: str) -> Endpoint | None:
    """The endpoint of `region`'s process when its run file names a live process on this host, else None."""
    try:
        data = json.loads(run_file(folder, region).read_text())
        endpoint = Endpoint(str(data["region"]), int(data["pid"]), str(data["host"]), int(data["port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(endpoint.pid, 0)
    except ProcessLookupError:
        return None  # killed without withdrawing (kill -9): a restart announces itself again
    except PermissionError:
        pass  # alive, another user's
    return endpoint


class RegionClient:
    """Calls to a region process found through its run file; its errors are raised here as their own kinds."""

    def __init__(self, folder: Path, region: str, *, timeout: float = TIMEOUT) -> None:
        self.folder = folder
        self.region = region
        self.timeout = timeout
        self._local = threading.local()

    def endpoint(self) -> Endpoint:
        """Where the region listens now; refused when it is not running."""
        found = running(self.folder, self.region)
        if found is None:
            raise BackendUnavailable(
                f"the {self.region} region is not running; start it (`datastrata trading up --region {self.region}`)"
            )
        return found

    def get(self, path: str) -> Any:
        """GET `path` from the region; its JSON answer."""
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` to `path` of the region; its JSON answer."""
        return self.call("POST", path, body)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request and return the JSON answer, raising the far side's error as its own kind.

        Each thread keeps its connection to the region open between calls; one the region closed meanwhile (it
        restarted, or dropped an idle connection) is replaced and the request sent once more — every route is
        idempotent (orders by id, pages by event id).
        """
        where = self.endpoint()
        payload = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            connection, reused = self._connection(where)
            try:
                connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                status, raw = response.status, response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self._forget()
                if reused and attempt == 1:
                    continue
                raise BackendUnavailable(
                    f"the {self.region} region at {where.host}:{where.port} did not answer {method} {path} "
                    f"({describe_error(exc)}); it is retried once the region is back (`datastrata trading up "
                    f"--region {self.region}`)"
                ) from exc
        answer = json.loads(raw) if raw else None
        if status == 200:
            return answer
        raise _error_of(status, answer if isinstance(answer, dict) else {})

    def _connection(self, where: Endpoint) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's open connection to `where` (and whether it served a call before), or a new one."""
        held: tuple[Endpoint, http.client.HTTPConnection] | None = getattr(self._local, "held", None)
        if held is not None and held[0] == where:
            return held[1], True
        self._forget()
        connection = http.client.HTTPConnection(where.host, where.port, timeout=self.timeout)
        self._local.held = (where, connection)
        return connection, False

    def _forget(self) -> None:
        held = getattr(self._local, "held", None)
        if held is not None:
            held[1].close()
            self._local.held = None


def _error_of(status: int, data: dict[str, Any]) -> DatastrataError:
    kind = KINDS.get(str(data.get("error")), DatastrataError)
    message = str(data.get("message") or f"the region answered HTTP {status}")
    field = data.get("field")
    error = kind(message, field=None if field is None else str(field))
    error.status = status
    return error


class RegionServer:
    """A threaded HTTP server answering a region's routes with JSON (errors as their kind, message and field)."""

    def __init__(self, region: str, routes: dict[tuple[str, str], Handler], *, host: str, port: int) -> None:
        self.region = region
        self.routes = routes
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> Endpoint:
        """Where this server listens (the port the system chose when 0 was asked for)."""
        host, port = self.httpd.server_address[:2]
        return Endpoint(self.region, os.getpid(), str(host), int(port))

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"{self.region}-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(10)
            self._thread = None
        self.httpd.server_close()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """Route one request; its status and JSON answer."""
        name, _, rest = path.lstrip("/").partition("/")
        handler = self.routes.get((method, name))
        if handler is None:
            known = ", ".join(f"{m} /{n}" for m, n in sorted(self.routes))
            return 404, {"error": "NotFound", "message": f"no route {method} {path} in {self.region}; try {known}"}
        try:
            data = json.loads(body) if body else {}
            if not isinstance(data, dict):
                raise ValidationError("the request body must be a JSON object", field="body")
            return 200, handler(rest, data)
        except json.JSONDecodeError as exc:
            return 422, {"error": "ValidationError", "message": f"the body is not JSON: {exc}", "field": "body"}
        except DatastrataError as exc:
            return exc.status, {"error": type(exc).__name__, "message": str(exc), "field": exc.field}
        except Exception as exc:  # one bad request stays in its room: answered, logged, the server goes on
            log.exception("%s: %s %s failed", self.region, method, path)
            return 500, {"error": "internal", "message": describe_error(exc)}


def _handler_for(server: RegionServer) -> type[BaseHTTPRequestHandler]:
    class RegionHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # connections stay open between calls
        disable_nagle_algorithm = True  # the status line and the body leave at once, not 40 ms apart (delayed ACK)

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, answer = 413, {"error": "ValidationError", "message": f"the body exceeds {MAX_BODY} bytes",
                                       "field": "body"}  # fmt: skip
                self.close_connection = True
            else:
                status, answer = server.answer(method, self.path, self.rfile.read(length) if length else b"")
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s: " + format, server.region, *args)

    return RegionHandler
