"""Time-series design: a measurement table partitioned by time, the store's dimensions/measures, lifecycle rules."""

from __future__ import annotations

from datastrata.design.lifecycle import TieringPolicy
from datastrata.design.naming import SQL_TYPES, entity_attributes, quote, snake, time_attribute
from datastrata.design.spec import Entity

_NUMERIC = ("int", "bigint", "decimal", "float")


def measurement_ddl(schema: str, entity: Entity) -> str:
    """PostgreSQL DDL for a measurement table: (series…, time) key, range partitions on time, BRIN index."""
    attributes = entity_attributes(entity.attributes)
    moment = time_attribute(entity.attributes) or "recorded_at"
    dimensions = [attr.name for attr in attributes if attr.name.endswith("_id")]
    body: list[str] = []
    for attr in attributes:
        required = " NOT NULL" if attr.name in dimensions or attr.name == moment else ""
        body.append(f"    {quote(attr.name)} {SQL_TYPES[attr.type]}{required}")
    if moment not in {attr.name for attr in attributes}:
        body.append(f"    {quote(moment)} timestamptz NOT NULL")
    key = [*dimensions, moment]
    body.append(f"    PRIMARY KEY ({', '.join(quote(c) for c in key)})")
    name = snake(entity.name)
    table = f"{quote(schema)}.{quote(name)}"
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(body) + f"\n) PARTITION BY RANGE ({quote(moment)});\n"
        f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{quote(name + '_default')} PARTITION OF {table} DEFAULT;\n"
        f"CREATE INDEX IF NOT EXISTS {quote('brin_' + name + '_' + moment)} ON {table} USING brin ({quote(moment)});"
    )


def store_mapping(entity: Entity, policy: TieringPolicy | None) -> dict[str, object]:
    """How a measurement maps to a time-series store: dimensions, measures, time, memory/disk retention."""
    attributes = entity_attributes(entity.attributes)
    moment = time_attribute(entity.attributes) or "recorded_at"
    mapping: dict[str, object] = {
        "table": entity.name,
        "time": moment,
        "dimensions": [a.name for a in attributes if a.name != moment and a.type not in _NUMERIC],
        "measures": [a.name for a in attributes if a.type in _NUMERIC],
    }
    if policy is not None:
        tiers = {tier.name: tier for tier in policy.tiers}
        if "hot" in tiers and tiers["hot"].to_days is not None:
            mapping["memory_store_retention_hours"] = tiers["hot"].to_days * 24
        if "warm" in tiers and tiers["warm"].to_days is not None:
            mapping["magnetic_store_retention_days"] = tiers["warm"].to_days
    return mapping


def object_lifecycle(policy: TieringPolicy, prefix: str) -> list[dict[str, object]]:
    """Object-store lifecycle rules for the tiers below the live store, days counted from export."""
    tiers = {tier.name: tier for tier in policy.tiers}
    if "cold" not in tiers:
        return []
    exported = tiers["cold"].from_days
    rules: list[dict[str, object]] = []
    if "frozen" in tiers:
        rules.append(
            {
                "id": "archive-frozen",
                "prefix": prefix,
                "transition_after_days": tiers["frozen"].from_days - exported,
                "storage_class": "DEEP_ARCHIVE",
                "at_age_days": tiers["frozen"].from_days,
            }
        )
    if policy.expire_after_days is not None:
        rules.append(
            {
                "id": "expire",
                "prefix": prefix,
                "expire_after_days": policy.expire_after_days - exported,
                "at_age_days": policy.expire_after_days,
            }
        )
    return rules
