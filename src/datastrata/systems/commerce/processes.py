"""Where the processes of ``commerce up`` are: their folder, their run files' peers, their logs' identities.

Light on purpose (no routes, no stores): the shell imports it to find the running processes.
"""

from __future__ import annotations

from pathlib import Path

from datastrata.core.config import Settings, sqlite_path, url_scheme
from datastrata.core.errors import ConfigurationError
from datastrata.core.redact import redact_url
from datastrata.services.peers import PeerTransport
from datastrata.services.sagas.log import CONTEXT as SAGAS
from datastrata.systems.commerce.domain import SERVICES

#: The processes of ``commerce up``: the six services, then the order saga's orchestrator.
PROCESSES = (*SERVICES, SAGAS)


def up_folder(settings: Settings) -> Path:
    """Where the commerce processes of `settings`' store announce themselves and their logs."""
    if url_scheme(settings.store, role="store") == "sqlite":
        return sqlite_path(settings.store).parent / "commerce"
    safe = "".join(c if c.isalnum() else "_" for c in redact_url(settings.store).split("://", 1)[-1])
    return Path(".datastrata") / "commerce" / safe[:80]


def peer(folder: Path, name: str) -> PeerTransport:
    """A transport to commerce process `name`, found by its run file in `folder`."""
    return PeerTransport(folder, name, start=f"datastrata commerce up --service {name}", what=f"the {name} service")


def log_file(folder: Path, service: str) -> Path:
    """The file naming the identity of `service`'s log (its stream on the bus)."""
    return folder / "logs" / f"{service}.json"


def check_redis_bus(settings: Settings) -> None:
    """Refuse a bus other than Redis Streams: processes reach each other's events only through a shared bus."""
    if url_scheme(settings.bus, role="bus") != "redis":
        raise ConfigurationError(
            "commerce up runs each service as its own process, so their events cross on Redis Streams: set the "
            "`bus` setting to a redis:// URL (--bus or DATASTRATA_BUS)",
            field="bus",
        )
