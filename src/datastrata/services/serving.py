"""A process's HTTP side: a FastAPI app served by uvicorn in a background thread, on a socket bound here.

The socket is bound before uvicorn starts (port 0: the system chooses), so the endpoint the process announces is
known at once; uvicorn leaves the signals to the main thread, which owns the process's stop event.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from datastrata.core.errors import BackendUnavailable
from datastrata.services.processes import Endpoint, check_port

#: Seconds an idle connection from a peer stays open (peers call far more often).
KEEP_ALIVE = 75
#: Seconds uvicorn has to bind and start serving.
START_WAIT = 30.0


class AppServer:
    """uvicorn serving `app` as process `name` in a background thread, on ``host:port``."""

    def __init__(self, name: str, app: FastAPI, *, host: str, port: int) -> None:
        self.name = name
        self.socket = socket.create_server((host, check_port(port)))
        bound_host, bound_port = self.socket.getsockname()[:2]
        #: Where this server listens (the port the system chose when 0 was asked for).
        self.endpoint = Endpoint(name, os.getpid(), str(bound_host), int(bound_port))
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=KEEP_ALIVE
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread; return once it serves."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name=f"{self.name}-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_WAIT
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise BackendUnavailable(f"the HTTP server of {self.name} did not start on {self.endpoint}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving (requests in flight are answered) and release the port."""
        if self._thread is not None:
            self.server.should_exit = True
            self._thread.join(10)
            self._thread = None
        self.socket.close()
