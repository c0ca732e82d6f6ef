"""The shard catalogue: which store each shard of a named map is, kept in the home store beside the maps.

A shard is a real, separate store (a SQLite file or a PostgreSQL database) with its own event log; the catalogue
records its URL per map, `provision` makes and migrates one, and `placement` builds the ``by_shard`` placement of a
map from its stored epochs (:class:`~datastrata.sharding.maps.ShardMaps`) and these stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from datastrata.core.clock import Clock, system_clock
from datastrata.core.config import beside_store, sqlite_path
from datastrata.core.errors import ConfigurationError, NotFound, ValidationError
from datastrata.core.redact import redact_url
from datastrata.runtime.location import LocationSpec
from datastrata.sharding.catalog_schema import MIGRATIONS
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.names import check_shard
from datastrata.sharding.placement import ByShard, StoredMap
from datastrata.stores.database import Database, is_unique_violation, time_to_db

if TYPE_CHECKING:
    from datastrata.core.config import Settings

#: The longest PostgreSQL identifier (a shard's database name is cut to fit, with a hash to stay unique).
PG_NAME_MAX = 63
#: PostgreSQL's SQLSTATE when CREATE DATABASE names one that exists.
DUPLICATE_DATABASE = "42P04"


@dataclass(frozen=True, slots=True)
class ShardEntry:
    """One catalogued shard: its map, its name and its store URL."""

    map_name: str
    shard: str
    store: str

    def to_dict(self) -> dict[str, str]:
        """Return a JSON-friendly dict with the store's secrets redacted."""
        return {"map": self.map_name, "shard": self.shard, "store": redact_url(self.store)}


class ShardCatalog:
    """The shards of every named map: their stores, and the contexts a map shards."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        db.ensure(MIGRATIONS)
        self.db = db
        self.clock = clock

    def add(self, map_name: str, shard: str, store_url: str) -> ShardEntry:
        """Record `store_url` as shard `shard` of map `map_name` (again with the same URL: nothing changes)."""
        name = check_shard(map_name, field="map")
        shard = check_shard(shard, field="shard")
        store = _check_store(store_url)
        try:
            self._add(name, shard, store)
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            self._add(name, shard, store)  # a concurrent add won: the same URL is fine, another is refused
        return ShardEntry(name, shard, store)

    def _add(self, name: str, shard: str, store: str) -> None:
        with self.db.transaction() as tx:
            found = tx.scalar("SELECT store FROM sharding_shards WHERE map_name = ? AND shard = ?", (name, shard))
            if found is None:
                tx.execute(
                    "INSERT INTO sharding_shards (map_name, shard, store, added_at) VALUES (?, ?, ?, ?)",
                    (name, shard, store, time_to_db(tx.dialect, self.clock())),
                )
            elif str(found) != store:
                raise ValidationError(
                    f"shard {shard!r} of map {name!r} is already {redact_url(str(found))}; choose another shard "
                    "name (a shard's store never changes: move its data with a reshard instead)",
                    field="store_url",
                )

    def entries(self, map_name: str | None = None) -> list[ShardEntry]:
        """Return the catalogued shards of `map_name` (None: of every map), by map then shard."""
        with self.db.read() as tx:
            if map_name is None:
                rows = tx.query("SELECT map_name, shard, store FROM sharding_shards ORDER BY map_name, shard")
            else:
                rows = tx.query(
                    "SELECT map_name, shard, store FROM sharding_shards WHERE map_name = ? ORDER BY shard",
                    (check_shard(map_name, field="map"),),
                )
        return [ShardEntry(str(m), str(s), str(u)) for m, s, u in rows]

    def maps(self) -> list[str]:
        """Return the names of the maps with catalogued shards."""
        with self.db.read() as tx:
            return [str(r[0]) for r in tx.query("SELECT DISTINCT map_name FROM sharding_shards ORDER BY map_name")]

    def specs(self, map_name: str, home: LocationSpec | None = None) -> dict[str, LocationSpec]:
        """Return map `map_name`'s shards as locations (graph beside each store; objects under `home`'s)."""
        entries = self.entries(map_name)
        if not entries:
            raise NotFound(
                f"no shards catalogued for map {map_name!r}; run `datastrata shards init {map_name} --count N`",
                field="map",
            )
        return {e.shard: _spec(e, home) for e in entries}

    def set_contexts(self, map_name: str, contexts: Iterable[str]) -> list[str]:
        """Record the contexts map `map_name` shards (none recorded: every context)."""
        name = check_shard(map_name, field="map")
        names = sorted({check_context(c) for c in contexts})
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM sharding_contexts WHERE map_name = ?", (name,))
            tx.executemany(
                "INSERT INTO sharding_contexts (map_name, context) VALUES (?, ?)", [(name, c) for c in names]
            )
        return names

    def contexts(self, map_name: str) -> list[str] | None:
        """Return the contexts map `map_name` shards (None: every context)."""
        with self.db.read() as tx:
            rows = tx.query(
                "SELECT context FROM sharding_contexts WHERE map_name = ? ORDER BY context",
                (check_shard(map_name, field="map"),),
            )
        return [str(r[0]) for r in rows] or None

    def provision(self, settings: Settings, map_name: str, shard: str, *, server: str | None = None) -> LocationSpec:
        """Make shard `shard`'s store, migrate it like `datastrata migrate` does, record it; return its location.

        Embedded home: the SQLite file ``<home folder>/shards/<map>/<shard>.db``. PostgreSQL: ``CREATE DATABASE``
        on `server` (a URL of a server the role may create databases on) or on the home store's server.
        """
        name = check_shard(map_name, field="map")
        shard = check_shard(shard, field="shard")
        known = {e.shard: e for e in self.entries(name)}
        if shard in known:
            return _spec(known[shard], None)
        store = _provision_store(settings, name, shard, server)
        return _spec(self.add(name, shard, store), None)

    def placement(
        self,
        map_name: str,
        home: LocationSpec,
        contexts: Iterable[str] | None = None,
        *,
        ttl: float = 1.0,
    ) -> ByShard:
        """Return the ``by_shard`` placement of map `map_name`: its stored epochs over the catalogued shards."""
        maps = ShardMaps(self.db, clock=self.clock)
        maps.current(map_name)  # a clear NotFound now rather than at the first keyed command
        chosen = self.contexts(map_name) if contexts is None else list(contexts)
        return ByShard(StoredMap(maps, map_name, ttl=ttl), self.specs(map_name, home), home, contexts=chosen)


def provision_all(
    settings: Settings, catalog: ShardCatalog, map_name: str, shards: Sequence[str], servers: Sequence[str] = ()
) -> list[LocationSpec]:
    """Provision `shards` of `map_name`, spreading them over `servers` in turn (none: the home store's server)."""
    return [
        catalog.provision(settings, map_name, shard, server=servers[index % len(servers)] if servers else None)
        for index, shard in enumerate(shards)
    ]


def _spec(entry: ShardEntry, home: LocationSpec | None) -> LocationSpec:
    """The location of a catalogued shard: its graph beside its store, its objects under the home's objects."""
    objects = beside_store(entry.store, "objects")
    if home is not None and home.objects:
        base, mark, query = home.objects.partition("?")  # an s3:// URL's endpoint and region stay its query
        objects = f"{base.rstrip('/')}/shards/{entry.map_name}/{entry.shard}{mark}{query}"
    return LocationSpec(entry.shard, entry.store, beside_store(entry.store, "graph"), objects)


def _check_store(url: object) -> str:
    if not isinstance(url, str) or not url.startswith(("sqlite:", "postgresql:", "postgres:")):
        raise ValidationError(
            f"store_url must be sqlite:///path.db or postgresql://…; got {redact_url(str(url))[:80]!r}",
            field="store_url",
        )
    if url.startswith("sqlite:"):
        sqlite_path(url)  # names a file
    return url


def check_context(name: object) -> str:
    """Return `name` if it can be a sharded context's name (no '-': the stream id is <context>-<key>)."""
    if not isinstance(name, str) or not name or "-" in name or len(name) > 63 or not name.isascii():
        raise ValidationError(
            f"context must be 1-63 ASCII characters without '-' (a stream id is <context>-<key>); got {name!r}",
            field="context",
        )
    return name


def _provision_store(settings: Settings, map_name: str, shard: str, server: str | None) -> str:
    """Create and migrate the store of one shard; return its URL."""
    from datastrata.tenancy.naming import dialect_of

    if dialect_of(settings.store) == "sqlite" and server is None:
        folder = PurePosixPath(str(sqlite_path(settings.store).parent)) / "shards" / map_name
        _, mark, query = settings.store.partition("?")
        store = f"sqlite:///{folder / shard}.db{mark}{query}"
        _migrate(settings, store, owner=store)
        return store
    if server is not None and dialect_of(server) != "postgresql":
        raise ValidationError(f"server must be a postgresql:// URL; got {redact_url(server)[:80]!r}", field="server")
    if server is None and dialect_of(settings.store) != "postgresql":
        raise ConfigurationError(f"cannot provision shards on store {redact_url(settings.store)}", field="store")
    return _create_database(settings, map_name, shard, server)


def _create_database(settings: Settings, map_name: str, shard: str, server: str | None) -> str:
    """``CREATE DATABASE`` for a shard (once) on `server` or the home's server, then migrate it; return its URL."""
    import hashlib

    from datastrata.tenancy import provisioning as p
    from datastrata.tenancy.naming import _database_of, with_database

    home_db = _database_of(settings.store)
    digest = hashlib.sha256(f"{home_db}/{map_name}/{shard}".encode()).hexdigest()[:8]
    name = f"{home_db}_{map_name}_{shard}".replace("-", "_").replace(".", "_")
    if len(name) > PG_NAME_MAX:
        name = f"{name[: PG_NAME_MAX - 9]}_{digest}"
    if server is None:  # the home's server: a copy of the migrated template silos are made from (fast), once
        from datastrata.tenancy.silo import create_database, migrate_store

        store = with_database(settings.store, name)
        with p.admin(p.provision_url(settings, settings.store), what=f"CREATE DATABASE {name}") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists:  # made before a crash, not yet catalogued: bring it up to date
            migrate_store(settings, store)
        else:
            create_database(settings, settings.store, store)
        return store
    with p.admin(server, what=f"CREATE DATABASE {name}") as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            try:
                conn.execute(f'CREATE DATABASE "{name}"'.encode())
            except Exception as exc:
                if getattr(exc, "sqlstate", None) != DUPLICATE_DATABASE:
                    raise  # (a concurrent provision made it a moment ago: migrate it below like ours)
    store = with_database(server, name)
    _migrate(settings, store, owner=store)
    return store


def _migrate(settings: Settings, store: str, *, owner: str) -> None:
    """Apply every component's migrations to a shard's store (as `owner`) and grant the roles."""
    from datastrata.runtime.roles import grant
    from datastrata.stores.migrations import migrate
    from datastrata.stores.open import open_database
    from datastrata.tenancy import provisioning as p

    db = open_database(owner, max_size=1)
    try:
        migrate(db, p.components())
        grant(db, p.roles_of(settings))
    finally:
        db.close()


def describe(catalog: ShardCatalog, maps: ShardMaps, map_name: str | None = None) -> list[dict[str, object]]:
    """Return each map's shards (stores redacted), current epoch, router kind and sharded contexts."""
    names = catalog.maps() if map_name is None else [check_shard(map_name, field="map")]
    rows: list[dict[str, object]] = []
    for name in names:
        current = maps.current(name)
        entries = catalog.entries(name)
        routed = set(current.shards)
        rows.append(
            {
                "map": name,
                "epoch": current.epoch,
                "router": current.router.kind,
                "contexts": catalog.contexts(name),
                "shards": [{**e.to_dict(), "routed": e.shard in routed} for e in entries],
            }
        )
    return rows
