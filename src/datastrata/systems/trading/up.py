"""``datastrata trading up``: run a region as its own process until SIGTERM (or both, as two child processes).

A region process opens only its own stores, starts its background work, listens on its socket and announces its
address in its run file; SIGTERM or SIGINT stops it cleanly: the socket closes, the threads finish their round
(a forwarder's page in flight is answered or retried later), the stores close and the run file goes. A kill -9
leaves a run file naming a dead pid, which readers ignore; a restart announces itself again and resumes from the
checkpoints committed with their effects, so nothing is lost or applied twice.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.services.processes import check_port, refuse_if_running, run_children, stop_event
from datastrata.systems.trading.region_app import RegionServer
from datastrata.systems.trading.regions import NewYorkRegion, Region, SingaporeRegion
from datastrata.systems.trading.topology import NEW_YORK, REGIONS, SINGAPORE, topology
from datastrata.systems.trading.wire import Endpoint, announce, withdraw

#: ``--region all``: both regions, each a child process.
ALL = "all"


def check_up_region(value: object) -> str:
    """Return `value` if ``trading up`` can run it: a region, or ``all``."""
    if value not in (ALL, *REGIONS):
        raise ValidationError(f"region must be {ALL}, {' or '.join(REGIONS)}; got {value!r}", field="region")
    return str(value)


def serve_region(
    settings: Settings,
    region: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float | None = None,
    say: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Run `region` in this process until `stop` is set (by default: until SIGTERM or SIGINT)."""
    stop = stop_event(stop)
    where = topology(settings)
    refuse_if_running(where.folder, region, field="region")
    opened: Region = (NewYorkRegion if region == NEW_YORK else SingaporeRegion)(settings, where, latency_ms=latency_ms)
    server: RegionServer | None = None
    endpoint: Endpoint | None = None
    try:
        server = RegionServer(region, opened.routes(), host=host, port=check_port(port))
        opened.start(stop)
        server.start()
        endpoint = server.endpoint
        announce(where.folder, endpoint)
        say(f"{region} is up at http://{endpoint.host}:{endpoint.port} (pid {endpoint.pid}); SIGTERM stops it")
        while not stop.wait(0.5):
            pass
        say(f"{region} is stopping")
    finally:
        stop.set()
        if endpoint is not None:
            withdraw(where.folder, endpoint)
        if server is not None:
            server.stop()
        opened.close()


def run_all(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: float | None = None,
    say: Callable[[str], None] = print,
) -> int:
    """Run New York and Singapore as two child processes until SIGTERM; the exit status (a child's failure)."""
    base = [sys.executable, "-m", "datastrata", "trading", "--store", settings.store, "up", "--host", host]
    if latency_ms is not None:
        base += ["--latency-ms", str(latency_ms)]
    commands = {
        region: [*base, "--region", region, "--port", str(port + offset if port else 0)]
        for offset, region in enumerate((NEW_YORK, SINGAPORE))
    }
    return run_children(commands, say=say)
