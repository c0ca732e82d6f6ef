"""Open a named shard map for a runtime: its catalogued shards (provisioned on first use) and its stored epochs.

A system that shards its accounts names its map, its shards and its contexts, never a store: the catalogue makes
the shards' stores beside the home (SQLite files or PostgreSQL databases, migrated), epoch 1 of the map is a jump
hash over them, and the ``by_shard`` placement routes by the stored map from then on (a reshard switches it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from datastrata.core.errors import ConcurrencyConflict, NotFound
from datastrata.runtime.location import LocationSpec
from datastrata.sharding.catalog import ShardCatalog, provision_all
from datastrata.sharding.jump import JumpRouter
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.placement import ByShard
from datastrata.stores.database import Database
from datastrata.stores.open import open_database

if TYPE_CHECKING:
    from datastrata.core.config import Settings


@dataclass(frozen=True, slots=True)
class OpenMap:
    """A shard map's ``by_shard`` placement and the home database its catalogue and epochs are read from."""

    placement: ByShard
    db: Database

    def close(self) -> None:
        """Close the home database the placement reads the map from."""
        self.db.close()


def open_map(
    settings: Settings,
    map_name: str,
    home: LocationSpec,
    shards: Sequence[str],
    *,
    contexts: Iterable[str],
    stores: Mapping[str, str] | None = None,
) -> OpenMap:
    """Open map `map_name` in `home`: catalogue `stores` as its shards when given, else provision `shards` the first
    time (later: the catalogued ones); create epoch 1 (a jump hash over them) unless the map exists."""
    db = open_database(home.store)
    try:
        catalog = ShardCatalog(db)
        if stores:
            for shard, store in stores.items():
                catalog.add(map_name, shard, store)
        elif not catalog.entries(map_name):  # opened before: its shards are the catalogue's (a reshard changes them)
            provision_all(settings, catalog, map_name, shards)
        maps = ShardMaps(db)
        try:
            maps.current(map_name)
        except NotFound:
            with contextlib.suppress(ConcurrencyConflict):  # another process made it first
                maps.create(map_name, JumpRouter([entry.shard for entry in catalog.entries(map_name)]))
        return OpenMap(catalog.placement(map_name, home, contexts=contexts), db)
    except BaseException:
        db.close()
        raise
