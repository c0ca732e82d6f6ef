"""Calls to a peer process found through its run file, over one HttpTransport per address it had.

The address is read on every call (a restarted peer on a new port is found at once); the connections to one
address are kept open between calls. A peer that is not running, or does not answer, is a
:class:`~datastrata.core.errors.BackendUnavailable` saying how to start it; the peer's own refusals are raised as
themselves (see :class:`~datastrata.services.client.HttpTransport`).
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import httpx

from datastrata.core.errors import BackendUnavailable
from datastrata.core.redact import describe_error
from datastrata.services.client import HttpTransport
from datastrata.services.processes import Endpoint, running

#: Requests leave in one segment, not held back by Nagle's algorithm until the last one's ACK (40 ms delayed).
NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class PeerTransport:
    """A transport to the process `name` announced in `folder`; `start` is the command that starts it."""

    def __init__(self, folder: Path, name: str, *, start: str, what: str = "", timeout: float = 30.0) -> None:
        self.folder = folder
        self.name = name
        self.start = start
        #: How errors name the peer ("the new-york region", "the orders service").
        self.what = what or name
        self.timeout = timeout
        self._lock = threading.Lock()
        self._held: tuple[Endpoint, httpx.Client, HttpTransport] | None = None

    def endpoint(self) -> Endpoint:
        """Where the peer listens now; refused when it is not running."""
        found = running(self.folder, self.name)
        if found is None:
            raise BackendUnavailable(f"{self.what} is not running; start it (`{self.start}`)")
        return found

    def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Any:
        """Send one request to where the peer listens now; its JSON answer, or its error raised as its own kind."""
        where = self.endpoint()
        try:
            return self._transport(where).call(method, path, body=body, params=params, key=key)
        except BackendUnavailable as exc:
            if not isinstance(exc.__cause__, httpx.HTTPError):
                raise  # the peer's own refusal, raised as itself
            raise BackendUnavailable(
                f"{self.what} at {where.host}:{where.port} did not answer {method} {path} "
                f"({describe_error(exc.__cause__)}); it is retried once it is back (`{self.start}`)"
            ) from exc.__cause__

    def _transport(self, where: Endpoint) -> HttpTransport:
        with self._lock:
            if self._held is not None and self._held[0] == where:
                return self._held[2]
            self._close()
            http = httpx.Client(
                base_url=where.url, timeout=self.timeout, transport=httpx.HTTPTransport(socket_options=NO_DELAY)
            )
            self._held = (where, http, HttpTransport(http=http))
            return self._held[2]

    def _close(self) -> None:
        if self._held is not None:
            self._held[1].close()
            self._held = None

    def close(self) -> None:
        """Close the connections to the peer's last address."""
        with self._lock:
            self._close()
