"""The schema section of a context's design, chosen by the families selected for it."""

from __future__ import annotations

from collections.abc import Mapping

from datastrata.design.choices import ContextSelection
from datastrata.design.naming import snake
from datastrata.design.schema_graph import graph_design
from datastrata.design.schema_nosql import (
    cache_design,
    document_design,
    in_memory_design,
    key_value_design,
    search_design,
)
from datastrata.design.schema_sql import event_table_ddl, relational_ddl, schema_name
from datastrata.design.schema_timeseries import measurement_ddl, object_lifecycle, store_mapping


def context_schema(selection: ContextSelection, owners: Mapping[str, str]) -> dict[str, object]:
    """Everything generated for one context: DDL where PostgreSQL applies, key designs elsewhere."""
    family = selection.primary.family
    families = {tech.offering.family for tech in selection.technologies}
    schema = schema_name(selection.profile.name)
    out: dict[str, object] = {"namespace": schema}
    ddl: list[str] = []
    if family == "relational":
        ddl.append(relational_ddl(selection, owners))
    elif selection.has("event-sourcing"):
        ddl.append(f'CREATE SCHEMA IF NOT EXISTS "{schema}";\n\n{event_table_ddl(schema)}\n')
    if family == "time-series":
        measurements = [e for e in selection.profile.context.entities if e.kind == "measurement"] or [
            selection.profile.dominant.entity if selection.profile.dominant else selection.profile.context.entities[0]
        ]
        parts = [f'CREATE SCHEMA IF NOT EXISTS "{schema}";']
        parts.extend(measurement_ddl(schema, entity) for entity in measurements)
        ddl.append("\n\n".join(parts) + "\n")
        out["time_series"] = [store_mapping(entity, selection.policy) for entity in measurements]
    if family in ("key-value", "wide-column"):
        out["key_value"] = key_value_design(selection)
    if selection.has("event-sourcing") and family != "relational":
        out["event_store"] = {
            "table": f"{selection.profile.name}-events",
            "partition_key": "stream_id (the aggregate id)",
            "sort_key": "sequence_number",
            "attributes": ["event_id", "event_type", "event_payload", "occurred_at", "recorded_at", "tenant_id"],
            "write": "PutItem with ConditionExpression attribute_not_exists(sequence_number)",
        }
    if family == "document":
        out["document"] = document_design(selection)
    if family == "in-memory":
        out["in_memory"] = in_memory_design(selection)
    if any(tech.role == "read cache" for tech in selection.technologies):
        out["cache"] = cache_design(selection)
    if "search" in families:
        out["search"] = search_design(selection)
    if "graph" in families:
        out["graph"] = graph_design(selection)
    if selection.policy is not None:
        out["tiering_policy"] = selection.policy.as_dict()
        lifecycle = object_lifecycle(selection.policy, f"{snake(selection.profile.name)}/")
        if lifecycle:
            out["object_lifecycle"] = lifecycle
    if selection.tenancy is not None:
        out["tenancy"] = {
            "model": selection.tenancy,
            "isolation": {
                "shared": "tenant_id on every row; PostgreSQL row-level security on "
                "current_setting('datastrata.tenant_id')",
                "dedicated-storage": f"a schema (or bucket prefix/bucket) per tenant: {schema}__<tenant>",
                "dedicated-infrastructure": "a database and infrastructure stack per tenant",
            }[selection.tenancy],
        }
    if selection.shard_key is not None:
        out["shard_key"] = selection.shard_key
    if ddl:
        out["postgresql"] = "\n".join(ddl)
    return out
