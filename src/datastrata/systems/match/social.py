"""Social feed: posts with emoji and hashtags and an engagement score, latest first or trending."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from datastrata.core.events import Event
from datastrata.core.tenancy import current_tenant
from datastrata.projections.readmodels import SqlReadModel, insert_rows, slotted
from datastrata.stores.database import Dialect, Tx
from datastrata.systems.match import domain
from datastrata.systems.match.schema import without_rowid

#: Expected engagement by kind of post; documented in docs/match.md.
ENGAGEMENT = {
    "goal": 1000,
    "late goal": 1500,
    "result": 700,
    "red card": 600,
    "kick-off": 300,
    "yellow card": 250,
    "substitution": 80,
}
LATE_MINUTE = 80
#: The posts table's columns and PostgreSQL types, in the order a page's rows carry them.
COLUMNS = (
    ("tenant_id", "text"),
    ("position", "bigint"),
    ("match_id", "text"),
    ("minute", "int"),
    ("kind", "text"),
    ("text", "text"),
    ("hashtags", "text"),
    ("engagement_score", "int"),
)
_NOT_TAG = re.compile(r"[^0-9A-Za-z]+")


def _ddl(dialect: Dialect) -> str:
    return without_rowid(
        """
CREATE TABLE IF NOT EXISTS match_social_posts (
    tenant_id        TEXT    NOT NULL,
    position         BIGINT  NOT NULL,
    match_id         TEXT    NOT NULL,
    minute           INTEGER NOT NULL,
    kind             TEXT    NOT NULL,
    text             TEXT    NOT NULL,
    hashtags         TEXT    NOT NULL,
    engagement_score INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, position)
);
CREATE INDEX IF NOT EXISTS match_social_posts_trending ON match_social_posts (tenant_id, engagement_score, position);
""",
        dialect,
    )


def tag(name: str) -> str:
    """Return a hashtag for a team or phrase: '#' and its letters and digits ('South Korea' -> '#SouthKorea')."""
    return "#" + _NOT_TAG.sub("", name)


@cache
def _fixture_tags(home: str, away: str, home_code: str, away_code: str) -> str:
    """Return the hashtags every post of a fixture carries (teams are few: made once per fixture)."""
    return f"#WorldCup {tag(home)} {tag(away)} #{home_code}v{away_code}"


def post(event_type: str, p: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """Return (kind, text, hashtags separated by spaces) for an event, or None when another post already says it."""
    home, away = p["home"], p["away"]
    tags = _fixture_tags(home["name"], away["name"], home["code"], away["code"])
    minute = f"{p['minute']}'"
    if event_type == domain.SUBSTITUTION_MADE:
        text = f"🔄 {p['team']['name']} change: {p['on']['name']} ⬆️ {p['off']['name']} ⬇️ ({minute})"
        return "substitution", text, f"{tags} #Substitution"
    if event_type == domain.PLAYER_BOOKED:
        if p["card"] != "yellow":
            return None  # a straight red's booking: the red-card post says it
        who = p["player"]
        text = f"🟨 Yellow card for {who['name']} ({who['team_name']}): {p['foul']['description']} ({minute})"
        return "yellow card", text, f"{tags} #YellowCard"
    if event_type == domain.GOAL_SCORED:
        kind = "late goal" if p["minute"] >= LATE_MINUTE else "goal"
        who = p["player"]
        text = f"⚽ GOOOAL! {who['name']} scores for {who['team_name']}! {domain.scoreline(p)} ({minute}) 🔥"
        return kind, text, f"{tags} #Goal"
    if event_type == domain.PLAYER_SENT_OFF:
        who = p["player"]
        text = f"🟥 RED CARD! {who['name']} ({who['team_name']}) is sent off, {p['reason']} ({minute}) 😱"
        return "red card", text, f"{tags} #RedCard"
    if event_type == domain.MATCH_ENDED:
        return "result", f"🏁 FULL TIME: {domain.scoreline(p)} 👏", f"{tags} #FullTime"
    if event_type == domain.MATCH_STARTED:
        return "kick-off", f"📣 We're under way! {domain.fixture_name(p)} ⚽", f"{tags} #KickOff"
    return None


class SocialProjection(SqlReadModel):
    """Posts for social media editors."""

    name = "match.social"
    tables = ("match_social_posts",)
    migrations = slotted("match.social", _ddl, tables)
    event_types = domain.MATCH_EVENTS

    def apply_batch(self, tx: Tx, events: Sequence[Event]) -> None:
        """Insert one post per event worth posting."""
        self.write(tx, self.prepare(events))

    def prepare(self, events: Sequence[Event]) -> list[tuple[Any, ...]]:
        """Return the page's posts as rows of the posts table (no store access)."""
        rows = []
        for e in events:
            p = e.payload
            found = post(e.type, p)
            if found is not None:
                kind, text, tags = found
                rows.append((e.tenant_id, e.position, p["match_id"], p["minute"], kind, text, tags, ENGAGEMENT[kind]))
        return rows

    def write(self, tx: Tx, prepared: list[tuple[Any, ...]]) -> None:
        """Insert the posts."""
        insert_rows(tx, self.slot(tx)["match_social_posts"], COLUMNS, prepared)

    def feed(
        self, tx: Tx, *, trending: bool = False, match_id: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Return posts latest first, or with `trending` highest engagement first."""
        sql = (
            "SELECT text, hashtags, engagement_score, kind, match_id, minute, position "
            f"FROM {self.slot(tx)['match_social_posts']} WHERE tenant_id = ?"
        )
        params: list[Any] = [current_tenant()]
        if match_id is not None:
            sql += " AND match_id = ?"
            params.append(match_id)
        sql += " ORDER BY engagement_score DESC, position DESC" if trending else " ORDER BY position DESC"
        sql += " LIMIT ?"
        params.append(limit)
        return [
            {
                "text": text,
                "hashtags": tags.split(),
                "engagement_score": score,
                "kind": kind,
                "match_id": m,
                "minute": minute,
                "position": position,
            }
            for text, tags, score, kind, m, minute, position in tx.query(sql, params)
        ]
