"""The content platform's tables, prefixed ``content_``: items, their renditions, hourly views and tier reviews.

Every table is led by ``tenant_id`` (a studio is a tenant). ``content_items.regions`` lists the regions an item is
visible in (comma-separated, sorted; empty: everywhere): :data:`REGION_RULE` is the predicate every read of the
table carries, and on PostgreSQL the restrictive row policy of the same text.
"""

from __future__ import annotations

from datastrata.runtime.roles import restrict
from datastrata.runtime.tenantdata import register_objects
from datastrata.stores.database import Dialect
from datastrata.stores.migrations import Component
from datastrata.systems.content.domain import STAGES

_DDL = """
CREATE TABLE IF NOT EXISTS content_items (
    tenant_id        TEXT    NOT NULL,
    item_id          TEXT    NOT NULL,
    title            TEXT    NOT NULL,
    stage            TEXT    NOT NULL CHECK (stage IN ('production', 'published', 'archived')),
    budget           {money} NOT NULL,
    expected_views   BIGINT  NOT NULL,
    placement        TEXT    NOT NULL CHECK (placement IN ('premium', 'standard', 'basic')),
    storage_class    TEXT    NOT NULL,
    replication      TEXT    NOT NULL,
    regions          TEXT    NOT NULL DEFAULT '',
    object_key       TEXT    NOT NULL,
    bytes            BIGINT  NOT NULL,
    sha256           TEXT    NOT NULL,
    footage_version  BIGINT  NOT NULL,
    viral_at         {time},
    pending_stage    TEXT,
    restore_ready_at {time},
    created_at       {time}  NOT NULL,
    stage_changed_at {time}  NOT NULL,
    PRIMARY KEY (tenant_id, item_id)
);
CREATE TABLE IF NOT EXISTS content_renditions (
    tenant_id    TEXT   NOT NULL,
    item_id      TEXT   NOT NULL,
    resolution   TEXT   NOT NULL,
    bitrate_kbps BIGINT NOT NULL,
    target       TEXT   NOT NULL,
    created_at   {time} NOT NULL,
    PRIMARY KEY (tenant_id, item_id, resolution)
);
CREATE TABLE IF NOT EXISTS content_views (
    tenant_id TEXT   NOT NULL,
    item_id   TEXT   NOT NULL,
    hour      {time} NOT NULL,
    region    TEXT   NOT NULL,
    views     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, item_id, hour, region)
);
CREATE TABLE IF NOT EXISTS content_reviews (
    tenant_id   TEXT   NOT NULL,
    review_id   TEXT   NOT NULL,
    item_id     TEXT   NOT NULL,
    state       TEXT   NOT NULL CHECK (state IN ('open', 'accepted', 'declined')),
    from_model  TEXT   NOT NULL,
    to_model    TEXT   NOT NULL,
    metrics     TEXT   NOT NULL,
    created_at  {time} NOT NULL,
    decided_at  {time},
    move        TEXT,
    PRIMARY KEY (tenant_id, review_id)
);
"""

#: Whether the caller's region may see an item: the item names no regions, names the caller's, or the caller is the
#: platform (``*``). `region` is the bound region (PostgreSQL: ``current_setting('datastrata.region', true)``).
REGION_RULE = "(regions = '' OR ',' || regions || ',' LIKE '%,' || {region} || ',%' OR {region} = '*')"
#: The rule as the restrictive row policy of ``content_items`` on PostgreSQL. The table's owner passes too: its
#: backups (``pg_dump --enable-row-security``) and restores must carry every region's rows.
REGION_POLICY = (
    "("
    + REGION_RULE.format(region="current_setting('datastrata.region', true)")
    + " OR pg_has_role((SELECT relowner FROM pg_class WHERE oid = 'content_items'::regclass), 'MEMBER'))"
)
#: The rule as a data-access predicate, its region a parameter.
REGION_PREDICATE = REGION_RULE.format(region="?")
restrict("content_items", "ds_region", REGION_POLICY)  # applied with the tenant policies by every `migrate`


def ddl(dialect: Dialect) -> str:
    """Return the content platform's DDL for `dialect`."""
    if dialect == "sqlite":
        return _DDL.format(time="TEXT", money="TEXT")
    return _DDL.format(time="TIMESTAMPTZ", money="NUMERIC(18, 2)")


#: The content platform's schema.
MIGRATIONS = Component.baseline("content", ddl)

#: A studio's footage lives under each stage's prefix (``content.service.footage_key``): a move carries it.
register_objects("content", lambda tenant: tuple(f"content/{stage}/{tenant}/" for stage in STAGES))
