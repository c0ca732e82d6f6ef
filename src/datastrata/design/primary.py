"""The primary store: the system-of-record technology of a context, decided by its access patterns and data."""

from __future__ import annotations

from datastrata.design import catalog, rules
from datastrata.design.choices import PrimaryChoice
from datastrata.design.profile import ContextProfile
from datastrata.design.reasons import Evidence
from datastrata.design.spec_types import Pattern


def choose_primary(profile: ContextProfile) -> PrimaryChoice:
    """The system-of-record technology for a context, its role name and why.

    The dominant access pattern decides first (geo index, graph, time series, analytics); the entity kind
    (measurements → time series) only when no pattern does; then consistency and structure (OLTP).
    """
    for rule in (_geo_index, _graph, _time_series_queries, _analytics, _measurements):
        found = rule(profile)
        if found is not None:
            return found
    return _oltp_primary(profile)


def _dominant_is(profile: ContextProfile, pattern: Pattern) -> bool:
    dominant = profile.dominant
    return profile.dominant_query == pattern or (dominant is not None and dominant.operation.pattern == pattern)


def _geo_index(profile: ContextProfile) -> PrimaryChoice | None:
    if profile.dominant_query != "geo-spatial":
        return None
    moving = profile.heavy_writes
    if not moving:
        return None  # places that rarely move: a spatial index in the OLTP store serves them
    found = [op.evidence for op in profile.with_pattern("geo-spatial") if op.is_read] + [op.evidence for op in moving]
    says = "positions change constantly and are queried by distance → in-memory geo index"
    if _measurement_evidence(profile):
        says += "; the nearest-neighbour queries, not the measurements' kind, decide the store"
    return PrimaryChoice(
        catalog.GEO_INDEX,
        "geo index (system of record for current positions)",
        (rules.GEO_STREAM.because(says, found),),
    )


def _graph(profile: ContextProfile) -> PrimaryChoice | None:
    if not _dominant_is(profile, "graph-traversal"):
        return None
    found = [op.evidence for op in profile.with_pattern("graph-traversal")]
    return PrimaryChoice(
        catalog.GRAPH,
        "graph store",
        (
            rules.QUERY_PATTERN.because("the main queries traverse relationships → graph database", found),
            rules.GRAPH.because(
                "questions like 'who else is linked to what I am linked to' follow edges; joins would not keep up",
                found,
            ),
            rules.FLOWCHART.because("workload type グラフ関係 (graph relations) → Neptune (+ Redis)", found),
        ),
    )


def _time_series_queries(profile: ContextProfile) -> PrimaryChoice | None:
    if not _dominant_is(profile, "time-series"):
        return None
    return _time_series(profile)


def _measurements(profile: ContextProfile) -> PrimaryChoice | None:
    return _time_series(profile) if _measurement_evidence(profile) else None


def _time_series(profile: ContextProfile) -> PrimaryChoice:
    found = _measurement_evidence(profile) + [op.evidence for op in profile.with_pattern("time-series")]
    return PrimaryChoice(
        catalog.TIME_SERIES_HOT,
        "system of record (time series)",
        (
            rules.TIME_SERIES.because(
                "time-stamped measurements written continuously → a time-series store built for ingest "
                "and time-range queries",
                found,
            ),
            rules.FLOWCHART.because("workload type 時系列 (time series) → Timestream (+ Redis)", found),
        ),
    )


def _measurement_evidence(profile: ContextProfile) -> list[Evidence]:
    entities = profile.context.entities
    return [profile.entity_evidence[i] for i, entity in enumerate(entities) if entity.kind == "measurement"]


def _analytics(profile: ContextProfile) -> PrimaryChoice | None:
    dominant = profile.dominant
    if dominant is None or dominant.operation.pattern != "aggregation":
        return None  # analytics beside a heavier write load get a columnar read model, not the primary
    found = [op.evidence for op in profile.with_pattern("aggregation")]
    return PrimaryChoice(
        catalog.WAREHOUSE,
        "analytical store",
        (
            rules.QUERY_PATTERN.because("the main load is complex analytics → columnar database", found),
            rules.FLOWCHART.because("OLAP → columnar storage → Redshift + Spectrum + S3 data lake", found),
        ),
    )


def _oltp_primary(profile: ContextProfile) -> PrimaryChoice:
    role = "system of record"
    consistency = profile.consistency_evidence
    consistency_found = [consistency] if consistency is not None else []
    structure_found = list(profile.structure_evidence)
    if profile.consistency == "strong":
        assumed = "" if consistency is not None else " (assumed: no consistency constraint given)"
        if profile.structure == "structured":
            return PrimaryChoice(
                catalog.RELATIONAL,
                role,
                (
                    rules.CONSISTENCY.because(f"strong consistency{assumed} → ACID transactions", consistency_found),
                    rules.FLOWCHART.because(
                        "OLTP → strong consistency → relational model → RDS PostgreSQL (+ ElastiCache, Multi-AZ)",
                        consistency_found + structure_found,
                    ),
                ),
            )
        return PrimaryChoice(
            catalog.DOCUMENT,
            role,
            (
                rules.CONSISTENCY.because(f"strong consistency{assumed} → ACID transactions", consistency_found),
                rules.FLOWCHART.because(
                    "OLTP → strong consistency → document model → DocumentDB", consistency_found + structure_found
                ),
            ),
        )
    level = profile.consistency
    if profile.structure != "structured":
        return PrimaryChoice(
            catalog.DOCUMENT,
            role,
            (
                rules.FLOWCHART.because(
                    f"OLTP → {level} consistency → document model: flexible schema for varied attributes",
                    consistency_found + structure_found,
                ),
            ),
        )
    heavy = profile.heavy_writes
    if heavy or profile.horizontal:
        found = consistency_found + [op.evidence for op in heavy] + [profile.volume_evidence]
        reads = profile.reads
        appends_only = all(op.operation.type == "write" for op in profile.writes)
        wide = bool(reads) and appends_only and all(op.operation.pattern == "range-scan" for op in reads)
        if wide:
            return PrimaryChoice(
                catalog.WIDE_COLUMN,
                role,
                (
                    rules.FLOWCHART.because(
                        f"OLTP → {level} consistency, append-only writes read back as ranges per partition "
                        "→ wide-column rows",
                        found,
                    ),
                ),
            )
        return PrimaryChoice(
            catalog.KEY_VALUE,
            role,
            (
                rules.FLOWCHART.because(
                    f"OLTP → {level} consistency, high write throughput, fixed access by key → key-value "
                    "(DynamoDB + DAX + global tables)",
                    found,
                ),
            ),
        )
    simple = [op.evidence for op in profile.with_pattern("key-lookup", "range-scan")]
    return PrimaryChoice(
        catalog.RELATIONAL,
        role,
        (
            rules.QUERY_PATTERN.because(
                "simple queries at moderate load → relational database", simple + structure_found
            ),
        ),
    )
