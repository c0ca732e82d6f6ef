"""News alerts: a headline, sub-headline, urgency score and category per newsworthy event, most urgent first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.projections.readmodels import SqlReadModel, insert_rows, slotted
from datastrata.stores.database import Dialect, Tx
from datastrata.systems.match import domain
from datastrata.systems.match.schema import without_rowid

#: Urgency by category (0-100); documented in docs/match.md.
URGENCY = {
    "late goal": 95,
    "goal": 90,
    "red card": 85,
    "result": 80,
    "yellow card": 75,
    "kick-off": 40,
    "substitution": 30,
}
LATE_MINUTE = 80
#: The alerts table's columns and PostgreSQL types, in the order a page's rows carry them.
COLUMNS = (
    ("tenant_id", "text"),
    ("position", "bigint"),
    ("match_id", "text"),
    ("minute", "int"),
    ("category", "text"),
    ("urgency_score", "int"),
    ("headline", "text"),
    ("sub_headline", "text"),
)


def _ddl(dialect: Dialect) -> str:
    return without_rowid(
        """
CREATE TABLE IF NOT EXISTS match_news_alerts (
    tenant_id     TEXT    NOT NULL,
    position      BIGINT  NOT NULL,
    match_id      TEXT    NOT NULL,
    minute        INTEGER NOT NULL,
    category      TEXT    NOT NULL,
    urgency_score INTEGER NOT NULL,
    headline      TEXT    NOT NULL,
    sub_headline  TEXT    NOT NULL,
    PRIMARY KEY (tenant_id, position)
);
CREATE INDEX IF NOT EXISTS match_news_alerts_urgent ON match_news_alerts (tenant_id, urgency_score, position);
""",
        dialect,
    )


def alert(event_type: str, p: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """Return (category, headline, sub-headline) for an event, or None when it is not news on its own."""
    at = f"{domain.fixture_name(p)}, {p['minute']}'"
    if event_type == domain.GOAL_SCORED:
        category = "late goal" if p["minute"] >= LATE_MINUTE else "goal"
        who = p["player"]
        return category, f"GOAL: {who['name']} scores for {who['team_name']}", f"{domain.scoreline(p)} ({p['minute']}')"
    if event_type == domain.PLAYER_SENT_OFF:
        who = p["player"]
        return "red card", f"{who['name']} sent off", f"{at}: {p['reason']} ({p['foul']['description']})"
    if event_type == domain.PLAYER_BOOKED and p["card"] == "yellow":
        who = p["player"]
        return "yellow card", f"Yellow card for {who['name']} ({who['team_name']})", f"{at}: {p['foul']['description']}"
    if event_type == domain.MATCH_ENDED:
        return "result", f"Full time: {domain.scoreline(p)}", f"{domain.fixture_name(p)} ends after {p['minute']}'"
    if event_type == domain.MATCH_STARTED:
        return "kick-off", f"Kick-off: {domain.fixture_name(p)}", f"Referee {p['referee']['name']}"
    if event_type == domain.SUBSTITUTION_MADE:
        return (
            "substitution",
            f"{p['team']['name']} substitution: {p['on']['name']} replaces {p['off']['name']}",
            at,
        )
    return None  # a straight red's booking: the sent-off alert says it


class NewsProjection(SqlReadModel):
    """Alerts for reporters, scored by urgency."""

    name = "match.news"
    tables = ("match_news_alerts",)
    migrations = slotted("match.news", _ddl, tables)
    event_types = domain.MATCH_EVENTS

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        """Insert one alert per newsworthy event."""
        self.write(tx, self.prepare(events))

    def prepare(self, events: Sequence[Event]) -> list[tuple[Any, ...]]:
        """Return the page's alerts as rows of the alerts table (no store access)."""
        rows = []
        for e in events:
            p = e.payload
            found = alert(e.type, p)
            if found is not None:
                category, headline, sub = found
                rows.append(
                    (e.tenant_id, e.position, p["match_id"], p["minute"], category, URGENCY[category], headline, sub)
                )
        return rows

    def write(self, tx: Tx, prepared: list[tuple[Any, ...]]) -> None:
        """Insert the alerts."""
        insert_rows(tx, self.slot(tx)["match_news_alerts"], COLUMNS, prepared)

    def alerts(
        self, tx: Tx, *, threshold: int = 0, match_id: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Return alerts with urgency >= `threshold`, most urgent first (latest first within a score)."""
        sql = (
            "SELECT headline, sub_headline, urgency_score, category, match_id, minute, position "
            f"FROM {self.slot(tx)['match_news_alerts']} WHERE tenant_id = ? AND urgency_score >= ?"
        )
        params: list[Any] = [current_tenant(), threshold]
        if match_id is not None:
            sql += " AND match_id = ?"
            params.append(match_id)
        sql += " ORDER BY urgency_score DESC, position DESC LIMIT ?"
        params.append(limit)
        keys = ("headline", "sub_headline", "urgency_score", "category", "match_id", "minute", "position")
        return [dict(zip(keys, row, strict=True)) for row in tx.query(sql, params)]
