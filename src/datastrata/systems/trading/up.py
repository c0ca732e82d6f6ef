"""``datastrata trading up``: run a region as its own process until SIGTERM (or both, as two child processes).

A region process opens only its own stores, starts its background work, listens on its socket and announces its
address in its run file; SIGTERM or SIGINT stops it cleanly: the socket closes, the threads finish their round
(a forwarder's page in flight is answered or retried later), the stores close and the run file goes. A kill -9
leaves a run file naming a dead pid, which readers ignore; a restart announces itself again and resumes from the
checkpoints committed with their effects, so nothing is lost or applied twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from types import FrameType

from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError, ValidationError
from datastrata.systems.trading.region_app import RegionServer
from datastrata.systems.trading.regions import NewYorkRegion, Region, SingaporeRegion
from datastrata.systems.trading.topology import NEW_YORK, REGIONS, SINGAPORE, topology
from datastrata.systems.trading.wire import Endpoint, announce, running, withdraw

#: ``--region all``: both regions, each a child process.
ALL = "all"
#: Seconds a child process of ``--region all`` has to stop after SIGTERM before it is killed.
STOP_GRACE = 15.0


def check_up_region(value: object) -> str:
    """Return `value` if ``trading up`` can run it: a region, or ``all``."""
    if value not in (ALL, *REGIONS):
        raise ValidationError(f"region must be {ALL}, {' or '.join(REGIONS)}; got {value!r}", field="region")
    return str(value)


def check_port(value: int) -> int:
    """Return `value` if it is a TCP port (0: the system chooses)."""
    if not 0 <= value <= 65535:
        raise ValidationError(f"port must be from 0 (any free port) to 65535; got {value}", field="port")
    return value


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


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
    if stop is None:
        stop = threading.Event()
        _stop_on_signals(stop)
    where = topology(settings)
    already = running(where.folder, region)
    if already is not None:
        raise ConfigurationError(
            f"{region} is already running here (pid {already.pid}, port {already.port}); stop it first "
            f"(kill -TERM {already.pid}) or give this one another --store",
            field="region",
        )
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
    stop = threading.Event()
    _stop_on_signals(stop)
    base = [sys.executable, "-m", "datastrata", "trading", "--store", settings.store, "up", "--host", host]
    if latency_ms is not None:
        base += ["--latency-ms", str(latency_ms)]
    children: dict[str, subprocess.Popen[bytes]] = {}
    status = 0
    try:
        for offset, region in enumerate((NEW_YORK, SINGAPORE)):
            chosen = port + offset if port else 0
            children[region] = subprocess.Popen([*base, "--region", region, "--port", str(chosen)], env=os.environ)
        while not stop.wait(0.5):
            ended = {name: child.returncode for name, child in children.items() if child.poll() is not None}
            if ended:
                say(f"{', '.join(ended)} stopped (exit {', '.join(map(str, ended.values()))}); stopping the others")
                status = next(iter(ended.values())) or 1
                break
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return status
