"""Where the region processes are: each region's address in a run file on the host, and a client that finds it.

A region process (``datastrata trading up``) serves its FastAPI app (region_app.py) on a port (chosen by the system
unless ``--port`` says) and writes ``<trading folder>/up/<region>.json`` with its pid, host and port; a peer or the
shell reads it on every call, so a restarted process on a new port is found at once. The calls go through the
project's :class:`~datastrata.services.client.HttpTransport`: an error answered as problem+json is raised again on
the calling side as its own kind with its field, so a refusal in New York reads the same in Singapore. A region that
is not running, or does not answer, is a :class:`~datastrata.core.errors.BackendUnavailable` naming how to start it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from datastrata.core.errors import BackendUnavailable
from datastrata.core.redact import describe_error
from datastrata.services.client import HttpTransport

#: Seconds a call waits for the far region's answer (the link's latency is at most a second a round trip).
TIMEOUT = 30.0
#: Requests leave in one segment, not held back by Nagle's algorithm until the last one's ACK (40 ms delayed).
NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


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
    """Calls to a region process found through its run file, over one HttpTransport per address it had."""

    def __init__(self, folder: Path, region: str, *, timeout: float = TIMEOUT) -> None:
        self.folder = folder
        self.region = region
        self.timeout = timeout
        self._lock = threading.Lock()
        self._held: tuple[Endpoint, httpx.Client, HttpTransport] | None = None

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

        The transport keeps its connections open between calls (httpx replaces one the region closed); a region
        restarted on a new port gets a new transport. Every route is idempotent (orders by id, pages by event id).
        """
        where = self.endpoint()
        try:
            return self._transport(where).call(method, path, body=body)
        except BackendUnavailable as exc:
            if not isinstance(exc.__cause__, httpx.HTTPError):
                raise  # the far region's own refusal, raised as itself
            raise BackendUnavailable(
                f"the {self.region} region at {where.host}:{where.port} did not answer {method} {path} "
                f"({describe_error(exc.__cause__)}); it is retried once the region is back (`datastrata trading up "
                f"--region {self.region}`)"
            ) from exc.__cause__

    def _transport(self, where: Endpoint) -> HttpTransport:
        with self._lock:
            if self._held is not None and self._held[0] == where:
                return self._held[2]
            self.close()
            http = httpx.Client(
                base_url=f"http://{where.host}:{where.port}", timeout=self.timeout,
                transport=httpx.HTTPTransport(socket_options=NO_DELAY),
            )  # fmt: skip
            self._held = (where, http, HttpTransport(http=http))
            return self._held[2]

    def close(self) -> None:
        """Close the connections to the region's last address."""
        if self._held is not None:
            self._held[1].close()
            self._held = None
