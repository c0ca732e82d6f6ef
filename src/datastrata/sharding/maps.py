"""Stored shard maps: every epoch of every named map in a location's ``sharding_maps`` table, never overwritten.

A map's epochs start at 1 and grow by one; a new epoch is installed only by a caller that names the epoch it saw
(compare-and-set), so two concurrent reshards cannot both switch: the second gets a ConcurrencyConflict.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ConcurrencyConflict, NotFound
from datastrata.core.validation import MAX_INT, bounded_int
from datastrata.sharding.codec import router_from_dict
from datastrata.sharding.names import check_shard
from datastrata.sharding.router import Router
from datastrata.sharding.shardmap import ShardMap
from datastrata.stores.database import Database, Dialect, is_unique_violation, time_from_db, time_to_db
from datastrata.stores.migrations import Component, Migration

#: The most epochs `history` returns at once.
MAX_HISTORY = 1000
#: Routers each `ShardMaps` keeps decoded by their stored text (a range router of thousands of runs takes tens of
#: milliseconds to read back: every writer re-reads its map each second, and a reshard's switch reads it fenced).
DECODED = 8


def _ddl(dialect: Dialect) -> str:
    time = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
    whole = "INTEGER" if dialect == "sqlite" else "BIGINT"
    return f"""
CREATE TABLE IF NOT EXISTS sharding_maps (
    name        TEXT    NOT NULL,
    epoch       {whole} NOT NULL,
    router      TEXT    NOT NULL,
    recorded_at {time}  NOT NULL,
    PRIMARY KEY (name, epoch)
);
"""


MIGRATIONS = Component("sharding.maps", (Migration.from_ddl(1, "baseline", _ddl),))


@dataclass(frozen=True, slots=True)
class StoredMap:
    """One epoch of a named map as stored: the map and when it was installed."""

    name: str
    map: ShardMap
    recorded_at: datetime


class ShardMaps:
    """The named shard maps of one location, every epoch kept (item 4's reverse and audit read the older ones)."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        db.ensure(MIGRATIONS)
        self.db = db
        self.clock = clock
        self._decoded: dict[str, Router] = {}
        self._lock = threading.Lock()

    def create(self, name: str, router: Router) -> ShardMap:
        """Install epoch 1 of map `name`; refused (ConcurrencyConflict) when the map exists."""
        return self._install(check_shard(name, field="name"), router, expected=None)

    def switch(self, name: str, router: Router, *, expected_epoch: int) -> ShardMap:
        """Install the next epoch of `name` with `router`, if its current epoch is still `expected_epoch`."""
        expected = bounded_int(expected_epoch, field="expected_epoch", minimum=1, maximum=MAX_INT - 1)
        return self._install(check_shard(name, field="name"), router, expected=expected)

    def current(self, name: str) -> ShardMap:
        """Return the newest epoch of map `name`."""
        with self.db.read() as tx:
            row = tx.one(
                "SELECT epoch, router FROM sharding_maps WHERE name = ? ORDER BY epoch DESC LIMIT 1",
                (check_shard(name, field="name"),),
            )
        if row is None:
            raise NotFound(f"no shard map {name!r}; create it first (ShardMaps.create)", field="name")
        return ShardMap(self._router(str(row[1])), int(row[0]))

    def at(self, name: str, epoch: int) -> ShardMap:
        """Return epoch `epoch` of map `name` (an old epoch stays readable)."""
        epoch = bounded_int(epoch, field="epoch", minimum=1, maximum=MAX_INT)
        with self.db.read() as tx:
            row = tx.one(
                "SELECT router FROM sharding_maps WHERE name = ? AND epoch = ?",
                (check_shard(name, field="name"), epoch),
            )
        if row is None:
            raise NotFound(f"shard map {name!r} has no epoch {epoch}; see its history", field="epoch")
        return ShardMap(self._router(str(row[0])), epoch)

    def history(self, name: str, *, limit: int = 100) -> list[StoredMap]:
        """Return map `name`'s epochs, newest first (at most `limit`)."""
        limit = bounded_int(limit, field="limit", minimum=1, maximum=MAX_HISTORY)
        with self.db.read() as tx:
            rows = tx.query(
                "SELECT epoch, router, recorded_at FROM sharding_maps WHERE name = ? ORDER BY epoch DESC LIMIT ?",
                (check_shard(name, field="name"), limit),
            )
        return [
            StoredMap(name, ShardMap(router_from_dict(json.loads(router)), int(epoch)), time_from_db(at))
            for epoch, router, at in rows
        ]

    def _install(self, name: str, router: Router, *, expected: int | None) -> ShardMap:
        """Insert the epoch after `expected` (None: epoch 1 of a new map) in one transaction; the primary key makes
        a concurrent install of the same epoch fail, so exactly one of two racing switches wins."""
        epoch = 1 if expected is None else expected + 1
        shard_map = ShardMap(router, epoch)
        with self._lock:
            text = next((t for t, known in self._decoded.items() if known is router), None)
        if text is None:
            text = json.dumps(router.to_dict(), separators=(",", ":"), sort_keys=True)
        try:
            with self.db.transaction() as tx:
                current = tx.scalar("SELECT MAX(epoch) FROM sharding_maps WHERE name = ?", (name,))
                found = None if current is None else int(current)
                if found != expected:
                    raise _conflict(name, expected, found)
                tx.execute(
                    "INSERT INTO sharding_maps (name, epoch, router, recorded_at) VALUES (?, ?, ?, ?)",
                    (name, epoch, text, time_to_db(tx.dialect, self.clock())),
                )
        except ConcurrencyConflict:
            raise
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            raise _conflict(name, expected, epoch) from None
        self._keep(text, router)
        return shard_map

    def _router(self, text: str) -> Router:
        """The router stored as `text`, decoded once (the same object while it is kept)."""
        with self._lock:
            known = self._decoded.get(text)
        if known is None:
            known = router_from_dict(json.loads(text))
            self._keep(text, known)
        return known

    def _keep(self, text: str, router: Router) -> None:
        with self._lock:
            self._decoded.pop(text, None)
            self._decoded[text] = router  # the newest last; the oldest goes first
            while len(self._decoded) > DECODED:
                del self._decoded[next(iter(self._decoded))]


def _conflict(name: str, expected: int | None, found: int | None) -> ConcurrencyConflict:
    if expected is None:
        message = f"shard map {name!r} exists already (epoch {found}); switch it to a new epoch instead"
    elif found is None:
        message = f"no shard map {name!r}; create it first (ShardMaps.create)"
    else:
        message = f"shard map {name!r} is at epoch {found}, not {expected}: read it again and re-plan"
    return ConcurrencyConflict(message, stream_id=f"sharding-map-{name}", expected=expected or 0, actual=found or 0)
