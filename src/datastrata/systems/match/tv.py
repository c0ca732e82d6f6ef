"""TV live events: one display line per event, latest first; the last ten per match served from the cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.projections.readmodels import CachedView, SqlReadModel, insert_rows, slotted
from datastrata.projections.slots import Tables
from datastrata.stores.cache import Cache
from datastrata.stores.database import Dialect, Tx
from datastrata.systems.match import domain
from datastrata.systems.match.schema import without_rowid

LATEST = 10
#: The TV table's columns and PostgreSQL types, in the order a page's rows carry them.
COLUMNS = (
    ("tenant_id", "text"),
    ("position", "bigint"),
    ("match_id", "text"),
    ("minute", "int"),
    ("kind", "text"),
    ("text", "text"),
)


def _ddl(dialect: Dialect) -> str:
    return without_rowid(
        """
CREATE TABLE IF NOT EXISTS match_tv_events (
    tenant_id TEXT    NOT NULL,
    position  BIGINT  NOT NULL,
    match_id  TEXT    NOT NULL,
    minute    INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    text      TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, position)
);
CREATE INDEX IF NOT EXISTS match_tv_events_latest ON match_tv_events (tenant_id, match_id, minute, position);
""",
        dialect,
    )


def _who(player: Mapping[str, Any]) -> str:
    return f"{player['name']} ({player['team_name']})"


def display(event_type: str, p: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return (kind, text) a broadcaster shows for an event, or None when another line already says it."""
    if event_type == domain.MATCH_STARTED:
        return "kick-off", f"Kick-off: {domain.fixture_name(p)} (referee {p['referee']['name']})"
    if event_type == domain.PLAYER_BOOKED:
        return f"{p['card']} card", f"{_who(p['player'])} - {p['foul']['description']}"
    if event_type == domain.PLAYER_SENT_OFF:
        if p["reason"] != "second yellow card":
            return None  # a straight red already has its own line
        return "sent off", f"{_who(p['player'])} - Sent off: second yellow card"
    if event_type == domain.GOAL_SCORED:
        return "goal", f"GOAL! {_who(p['player'])} - {domain.scoreline(p)}"
    if event_type == domain.SUBSTITUTION_MADE:
        return "substitution", f"Substitution ({p['team']['name']}): {p['on']['name']} on, {p['off']['name']} off"
    if event_type == domain.MATCH_ENDED:
        return "full time", f"Full time: {domain.scoreline(p)}"
    return None


class TvProjection(SqlReadModel):
    """Display lines per match; after each commit the cached last-ten of every touched match is dropped."""

    name = "match.tv"
    tables = ("match_tv_events",)
    migrations = slotted("match.tv", _ddl, tables)
    event_types = domain.MATCH_EVENTS

    def __init__(self, cache: Cache, *, ttl: float = 30.0) -> None:
        self.views = CachedView(cache, "match:tv", ttl=ttl)

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        """Insert one line per event and invalidate the touched matches' cache entries on commit."""
        self.write(tx, self.prepare(events))

    def prepare(self, events: Sequence[Event]) -> list[tuple[Any, ...]]:
        """Return the page's display lines as rows of the TV table (no store access)."""
        rows = []
        for e in events:
            p = e.payload
            line = display(e.type, p)
            if line is not None:
                rows.append((e.tenant_id, e.position, p["match_id"], p["minute"], *line))
        return rows

    def write(self, tx: Tx, prepared: list[tuple[Any, ...]]) -> None:
        """Insert the lines and drop the touched matches' cached last-ten once the transaction commits."""
        insert_rows(tx, self.slot(tx)["match_tv_events"], COLUMNS, prepared)
        self.views.invalidate_on_commit(tx, {f"{t}:{m}" for t, m in {(r[0], r[2]) for r in prepared}})

    def clear(self, tx: Tx) -> None:
        """Empty the table and drop the cached views of every match it held, once the transaction commits."""
        if self.pinned is None:  # a rebuild empties the other slot: the cached views are of the live one
            self._forget_views(tx, self.slot(tx).slot)
        super().clear(tx)

    def switched(self, tx: Tx, old: str, new: str) -> None:
        """Drop the cached views of every match either slot holds, once the switch commits."""
        self._forget_views(tx, old)
        self._forget_views(tx, new)

    def _forget_views(self, tx: Tx, slot: str) -> None:
        table = Tables(slot)["match_tv_events"]
        names = [f"{t}:{m}" for t, m in tx.query(f"SELECT DISTINCT tenant_id, match_id FROM {table}")]
        self.views.invalidate_on_commit(tx, names)

    def latest(self, tx: Tx, match_id: str, *, limit: int = LATEST) -> list[dict[str, Any]]:
        """Return the latest `limit` lines of a match from the table, latest first."""
        rows = tx.query(
            f"SELECT minute, kind, text, position FROM {self.slot(tx)['match_tv_events']} "
            "WHERE tenant_id = ? AND match_id = ? ORDER BY minute DESC, position DESC LIMIT ?",
            (current_tenant(), match_id, limit),
        )
        return [{"minute": int(m), "kind": k, "text": t, "position": int(p)} for m, k, t, p in rows]

    def cache_name(self, match_id: str) -> str:
        """Return the cache entry name of a match's last ten lines."""
        return f"{current_tenant()}:{match_id}"
