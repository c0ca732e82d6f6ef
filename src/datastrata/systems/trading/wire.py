"""Where the region processes are: each region's address in a run file on the host, and a client that finds it.

A region process (``datastrata trading up``) serves its FastAPI app (region_app.py) on a port (chosen by the system
unless ``--port`` says) and writes ``<trading folder>/up/<region>.json`` with its pid, host and port
(:mod:`datastrata.services.processes`); a peer or the shell reads it on every call, so a restarted process on a new
port is found at once. The calls go through :class:`~datastrata.services.peers.PeerTransport`: an error answered as
problem+json is raised again on the calling side as its own kind with its field, so a refusal in New York reads the
same in Singapore. A region that is not running, or does not answer, is a
:class:`~datastrata.core.errors.BackendUnavailable` naming how to start it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datastrata.services.peers import PeerTransport
from datastrata.services.processes import Endpoint, announce, run_file, running, withdraw

#: Seconds a call waits for the far region's answer (the link's latency is at most a second a round trip).
TIMEOUT = 30.0

__all__ = ["TIMEOUT", "Endpoint", "RegionClient", "announce", "run_file", "running", "withdraw"]


class RegionClient(PeerTransport):
    """Calls to a region process found through its run file."""

    def __init__(self, folder: Path, region: str, *, timeout: float = TIMEOUT) -> None:
        start = f"datastrata trading up --region {region}"
        super().__init__(folder, region, start=start, what=f"the {region} region", timeout=timeout)
        self.region = region

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Any:
        """Send one request (every region route is idempotent: orders by id, pages by event id); its JSON answer."""
        return super().call(method, path, body=body, params=params, key=key)

    def get(self, path: str) -> Any:
        """GET `path` from the region; its JSON answer."""
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body` to `path` of the region; its JSON answer."""
        return self.call("POST", path, body=body)
