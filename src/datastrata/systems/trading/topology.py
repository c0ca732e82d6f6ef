"""Where the two regions' stores are: New York's home and shards, Singapore's read store, the link's state file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from datastrata.core.config import Settings, sqlite_path, url_scheme
from datastrata.core.errors import ConfigurationError
from datastrata.runtime.location import LocationSpec

#: New York's shards by default.
SHARDS = 4
#: The regions and what each one does.
NEW_YORK, SINGAPORE = "new-york", "singapore"
REGIONS = (NEW_YORK, SINGAPORE)


@dataclass(frozen=True, slots=True)
class Topology:
    """New York's home location and shards, Singapore's location, and the folder the link state lives in.

    `shards` names existing shard stores to catalogue; left empty, New York's shard catalogue provisions
    `shard_count` of them (``datastrata.sharding.catalog``: SQLite files beside the home, or PostgreSQL databases).
    """

    home: LocationSpec
    shards: dict[str, LocationSpec]
    singapore: LocationSpec
    folder: Path
    shard_count: int = SHARDS

    @property
    def link_file(self) -> Path:
        """The file holding the link's latency and whether it is cut (shared by every process of the system)."""
        return self.folder / "link.json"


def _spec(name: str, store: str) -> LocationSpec:
    return LocationSpec(name, store, "", "")


def topology(settings: Settings, *, shards: int = SHARDS) -> Topology:
    """Return the regions' stores for `settings`: SQLite files under ``<home>/trading/``, or PostgreSQL databases
    named after the store's (``<db>_ny``, ``<db>_sg``) on the same server; New York's catalogue makes its shards."""
    if shards < 1:
        raise ConfigurationError(f"the trading system needs at least one shard; got {shards}")
    scheme = url_scheme(settings.store, role="store")
    if scheme == "sqlite":
        base = sqlite_path(settings.store).parent / "trading"
        ny, sg = base / NEW_YORK, base / SINGAPORE
        for folder in (ny, sg):
            folder.mkdir(parents=True, exist_ok=True)
        return Topology(
            home=_spec("new-york", f"sqlite:///{ny / 'home.db'}"),
            shards={},
            singapore=_spec("singapore", f"sqlite:///{sg / 'read.db'}"),
            folder=base,
            shard_count=shards,
        )
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(settings.store)
        database = parts.path.lstrip("/") or "postgres"

        def named(suffix: str) -> str:
            return urlunsplit(parts._replace(path=f"/{database}_{suffix}"))

        folder = Path(".datastrata") / "trading"
        folder.mkdir(parents=True, exist_ok=True)
        return Topology(
            home=_spec("new-york", named("ny")),
            shards={},
            singapore=_spec("singapore", named("sg")),
            folder=folder,
            shard_count=shards,
        )
    raise ConfigurationError(f"the trading system runs on SQLite or PostgreSQL stores; got {scheme}:// in --store")
