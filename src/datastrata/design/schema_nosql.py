"""Key designs for non-relational stores: partition/sort keys, collections, cache and geo keys, search mappings."""

from __future__ import annotations

from datastrata.design.choices import ContextSelection
from datastrata.design.naming import entity_attributes, entity_key, snake, time_attribute
from datastrata.design.profile import OperationFacts
from datastrata.design.spec import Entity

_TTL_BY_CHANGE = {"very-high": 5, "high": 30, "medium": 300, "low": 3600}


def key_value_design(selection: ContextSelection) -> list[dict[str, object]]:
    """One table per entity: partition key from the busiest lookup, sort key for ranges, indexes for the rest."""
    tables: list[dict[str, object]] = []
    wide = selection.primary.family == "wide-column"
    for entity in selection.profile.context.entities:
        ops = sorted(
            (op for op in selection.profile.operations if op.entity.name == entity.name),
            key=lambda op: -op.rate_per_s,
        )
        partition, sort = _keys(entity, ops)
        parent = _parent(selection, entity)
        if not ops and parent is not None:
            partition, sort = parent, entity_key(entity.name, entity.key, entity.attributes)
        indexes: list[dict[str, object]] = []
        patterns: list[str] = []
        for op in ops:
            by = [name.lower() for name in op.operation.by]
            if not by or by[0] == partition:
                how = (
                    "Query"
                    if op.operation.pattern == "range-scan"
                    else ("PutItem" if op.operation.type == "write" else "GetItem/UpdateItem")
                )
                patterns.append(
                    f"{op.operation.name}: {how} on {partition}"
                    + (f" (sorted by {sort})" if sort and how == "Query" else "")
                )
                continue
            index_sort = (
                by[1]
                if len(by) > 1
                else (time_attribute(entity.attributes) if op.operation.pattern == "range-scan" else None)
            )
            name = "by_" + "_".join([by[0], *([index_sort] if index_sort else [])])
            if all(index.get("name") != name for index in indexes):
                indexes.append({"name": name, "partition_key": by[0], "sort_key": index_sort})
            patterns.append(f"{op.operation.name}: Query on index {name}")
        table: dict[str, object] = {
            "table": entity.name,
            "partition_key": partition,
            ("clustering_key" if wide else "sort_key"): sort,
            "attributes": [attr.name for attr in entity_attributes(entity.attributes)],
            ("secondary_indexes" if not wide else "materialized_views"): indexes,
            "access_patterns": patterns,
        }
        exclusive = [f for f in selection.profile.of_type("exclusivity") if f.constraint.entity == entity.name]
        if exclusive:
            table["conditional_writes"] = [
                f"{f.constraint.detail or 'exclusivity'}: write with a condition "
                f"(attribute_not_exists or expected value) on {', '.join(f.constraint.attributes) or partition}"
                for f in exclusive
            ]
        tables.append(table)
    return tables


def document_design(selection: ContextSelection) -> list[dict[str, object]]:
    """One collection per entity that has its own operations; children without operations are embedded."""
    context = selection.profile.context
    used = {op.entity.name for op in selection.profile.operations}
    embedded: dict[str, list[str]] = {}
    for rel in context.relationships:
        if rel.cardinality in ("one-to-many", "one-to-one") and rel.to not in used and rel.from_ in used:
            embedded.setdefault(rel.from_, []).append(rel.to)
    nested = {child for children in embedded.values() for child in children}
    out: list[dict[str, object]] = []
    for entity in context.entities:
        if entity.name in nested:
            continue
        ops = [op for op in selection.profile.operations if op.entity.name == entity.name]
        indexes = sorted(
            {", ".join(op.operation.by) for op in ops if op.operation.by and op.operation.pattern != "full-text"}
        )
        text = sorted({name for op in ops if op.operation.pattern == "full-text" for name in op.operation.by})
        out.append(
            {
                "collection": snake(entity.name),
                "_id": entity_key(entity.name, entity.key, entity.attributes),
                "fields": [attr.name for attr in entity_attributes(entity.attributes)],
                "embeds": [snake(child) for child in embedded.get(entity.name, [])],
                "indexes": indexes,
                "text_index": text,
            }
        )
    return out


def in_memory_design(selection: ContextSelection) -> list[dict[str, object]]:
    """Redis keys: geo sets for moving positions, cached entries with a TTL set by change frequency."""
    profile = selection.profile
    context = snake(profile.name)
    out: list[dict[str, object]] = []
    for op in profile.with_pattern("geo-spatial"):
        entity = op.entity
        member = _member(entity)
        out.append(
            {
                "key": f"{context}:{snake(entity.name)}:geo",
                "type": "geo set",
                "member": member,
                "write": f"GEOADD {context}:{snake(entity.name)}:geo <lng> <lat> <{member}>",
                "query": f"GEOSEARCH {context}:{snake(entity.name)}:geo FROMLONLAT <lng> <lat> "
                "BYRADIUS 3 km ASC COUNT 5",
                "serves": op.operation.name,
            }
        )
    if selection.primary.family == "in-memory":
        for entity in profile.context.entities:
            out.append(
                {
                    "key": f"{context}:{snake(entity.name)}:{{{_member(entity)}}}",
                    "type": "hash",
                    "fields": [attr.name for attr in entity_attributes(entity.attributes)],
                    "ttl_s": _TTL_BY_CHANGE[profile.write_frequency or "low"],
                }
            )
    return out


def cache_design(selection: ContextSelection) -> list[dict[str, object]]:
    """Cache-aside entries for the entities read most often."""
    profile = selection.profile
    context = snake(profile.name)
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    for op in sorted(profile.reads, key=lambda op: -op.rate_per_s):
        if op.operation.pattern not in ("key-lookup", "range-scan", "geo-spatial") or op.entity.name in seen:
            continue
        seen.add(op.entity.name)
        by = op.operation.by[0].lower() if op.operation.by else _member(op.entity)
        out.append(
            {
                "key": f"{context}:{snake(op.entity.name)}:{{{by}}}",
                "value": "JSON of the entry (or the list for range reads)",
                "ttl_s": _TTL_BY_CHANGE[profile.write_frequency or "low"],
                "invalidate": "on the entity's change event",
                "serves": op.operation.name,
            }
        )
    return out


def search_design(selection: ContextSelection) -> list[dict[str, object]]:
    """Search index mappings for full-text operations."""
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    for op in selection.profile.with_pattern("full-text"):
        entity = op.entity
        if entity.name in seen:
            continue
        seen.add(entity.name)
        text = {
            name.lower()
            for o in selection.profile.with_pattern("full-text")
            if o.entity.name == entity.name
            for name in o.operation.by
        }
        mapping: dict[str, str] = {}
        for attr in entity_attributes(entity.attributes):
            if attr.name in text or (not text and attr.type == "text" and not attr.name.endswith("_id")):
                mapping[attr.name] = "text"
            elif attr.type in ("text", "uuid"):
                mapping[attr.name] = "keyword"
            elif attr.type in ("int", "bigint"):
                mapping[attr.name] = "long"
            elif attr.type in ("decimal", "float"):
                mapping[attr.name] = "double"
            elif attr.type in ("timestamp", "date"):
                mapping[attr.name] = "date"
            elif attr.type == "bool":
                mapping[attr.name] = "boolean"
        out.append(
            {
                "index": f"{snake(selection.profile.name)}-{snake(entity.name)}",
                "mappings": mapping,
                "fed_by": "change events (projection)",
            }
        )
    return out


def _keys(entity: Entity, ops: list[OperationFacts]) -> tuple[str, str | None]:
    partition = entity_key(entity.name, entity.key, entity.attributes)
    for op in ops:
        if op.operation.by and op.operation.pattern in ("key-lookup", "range-scan", "stream", "geo-spatial"):
            partition = op.operation.by[0].lower()
            break
    sort: str | None = None
    for op in ops:
        by = [name.lower() for name in op.operation.by]
        if op.operation.pattern == "range-scan" and by and by[0] == partition:
            sort = by[1] if len(by) > 1 else time_attribute(entity.attributes)
            break
    if sort is None and entity.kind in ("event", "measurement"):
        sort = time_attribute(entity.attributes)
    if sort is None:
        for op in ops:
            by = [name.lower() for name in op.operation.by]
            if by and by[0] == partition and len(by) > 1:
                sort = by[1]
                break
    return partition, sort


def _parent(selection: ContextSelection, entity: Entity) -> str | None:
    """The key of the entity this one belongs to (one-to-many inside the context), to co-locate them."""
    entities = {e.name: e for e in selection.profile.context.entities}
    for rel in selection.profile.context.relationships:
        if rel.to == entity.name and rel.cardinality == "one-to-many" and rel.from_ in entities:
            owner = entities[rel.from_]
            return entity_key(owner.name, owner.key, owner.attributes)
    return None


def _member(entity: Entity) -> str:
    names = [attr.name for attr in entity_attributes(entity.attributes)]
    own = entity_key(entity.name, entity.key, entity.attributes)
    if own in names:
        return own
    ids = [name for name in names if name.endswith("_id")]
    return ids[0] if ids else own
