"""``datastrata commerce up``: each commerce service its own process until SIGTERM (or all of them as children).

A service process makes and opens only its own service's store, relays its own log to its stream on Redis,
subscribes its consumers to its producers' streams, serves its own routes on its port and then announces itself in
its run file; the orchestrator (``sagas``) does the same with the saga log at home. SIGTERM or SIGINT stops it
cleanly: the round in progress ends (an event whose reaction waits for a peer stays unacknowledged), the socket
closes, the stores close, the run file goes. A kill -9 leaves a run file naming a dead pid, which peers ignore; a
restart reads what its predecessor left pending (the same consumer name) and resumes the sagas it drove (their
lease names a dead pid), so every saga finishes or compensates.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.services.processes import announce, refuse_if_running, run_children, stop_event, withdraw
from datastrata.services.serving import AppServer
from datastrata.systems.commerce.domain import DeclineRule
from datastrata.systems.commerce.processes import PROCESSES, check_redis_bus, up_folder
from datastrata.systems.commerce.standalone import ServiceProcess

#: ``--service all``: every process, each a child of this one.
ALL = "all"


def check_up_service(value: object) -> str:
    """Return `value` if ``commerce up`` can run it: a service, ``sagas`` (the orchestrator) or ``all``."""
    if value not in (ALL, *PROCESSES):
        raise ValidationError(f"service must be {ALL} or one of {', '.join(PROCESSES)}; got {value!r}", field="service")
    return str(value)


def serve_service(
    settings: Settings,
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    decline: DeclineRule | None = None,
    say: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Run process `name` of ``commerce up`` here until `stop` is set (by default: until SIGTERM or SIGINT)."""
    stop = stop_event(stop)
    folder = up_folder(settings)
    refuse_if_running(folder, name, field="service")
    opened = ServiceProcess(settings, name, decline=decline)
    server: AppServer | None = None
    worker: threading.Thread | None = None
    announced = None
    try:
        if not opened.connect(stop):
            return
        server = AppServer(name, opened.app(), host=host, port=port)
        server.start()
        worker = threading.Thread(target=opened.work, name=f"commerce {name} worker", daemon=True)
        worker.start()
        announced = server.endpoint
        announce(folder, announced)
        say(f"{name} is up at {announced.url} (pid {announced.pid}); SIGTERM stops it")
        while not stop.wait(0.5):
            pass
        say(f"{name} is stopping")
    finally:
        stop.set()
        if announced is not None:
            withdraw(folder, announced)
        if server is not None:
            server.stop()
        if worker is not None:
            worker.join(30)
        opened.close()


def run_all(settings: Settings, *, host: str = "127.0.0.1", port: int = 0, say: Callable[[str], None] = print) -> int:
    """Run every process of ``commerce up`` as a child process until SIGTERM; the exit status (a child's failure)."""
    check_redis_bus(settings)
    base = [sys.executable, "-m", "datastrata", "commerce", "--store", settings.store, "--bus", settings.bus, "up"]
    commands = {
        name: [*base, "--service", name, "--host", host, "--port", str(port + offset if port else 0)]
        for offset, name in enumerate(PROCESSES)
    }
    return run_children(commands, say=say)
