"""Technology roles: the primary store and what surrounds it (event store, caches, read models, streams, tiers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from datastrata.design import catalog, modules, rules
from datastrata.design.catalog import Offering
from datastrata.design.choices import Draft, Load, PrimaryChoice, TechnologyChoice
from datastrata.design.lifecycle import TieringPolicy, tier_volumes
from datastrata.design.modules import module_ref
from datastrata.design.profile import ContextProfile, OperationFacts
from datastrata.design.reasons import Reason
from datastrata.design.units import NOMINAL_ANALYTIC_QUERIES_PER_DAY

#: Share of a context's volume that is metadata when it also holds large artifacts.
METADATA_SHARE = Decimal("0.0001")
#: Share of the primary store a read cache holds (the hot set).
CACHE_SHARE = Decimal("0.05")
#: Share of the primary store a relationship graph derived from it holds.
GRAPH_SHARE = Decimal("0.2")


def technologies(
    profile: ContextProfile,
    primary: PrimaryChoice,
    draft: Draft,
    policy: TieringPolicy | None,
    starts_sagas: bool,
) -> tuple[TechnologyChoice, ...]:
    """Every technology a context uses, by role, with its load; modules that do not exist yet are named planned."""
    chosen = draft.strategies
    offering, role, primary_reasons = primary.offering, primary.role, primary.because
    volume = profile.volume_gb
    artifacts = profile.has_artifacts
    bulk_gb = volume * (1 - METADATA_SHARE) if artifacts else Decimal(0)
    primary_gb = volume - bulk_gb
    tiers: dict[str, Decimal] = {}
    if policy is not None:
        tiered_gb = bulk_gb if artifacts else volume
        tiers = tier_volumes(policy, tiered_gb, profile.context.data.growth_per_year, profile.retention_years)
        if not artifacts:
            primary_gb = tiers.get("hot", Decimal(0))
            if offering.family != "time-series":
                primary_gb += tiers.get("warm", Decimal(0))
    out: list[TechnologyChoice] = []
    served = ("stream", "aggregation") if offering.family != "columnar" else ("stream",)
    reads = sum((op.rate_per_s for op in profile.reads if op.operation.pattern not in served), Decimal(0))
    writes = profile.write_rate
    replicas = 0
    if "read-replicas" in chosen:
        replicas = -1  # sized by the budget tier in the cost model
    time_series_tiered = policy is not None and offering.family == "time-series"
    primary_role = "hot tier (system of record)" if time_series_tiered else role
    out.append(
        TechnologyChoice(
            primary_role,
            offering,
            _primary_module(offering, chosen),
            primary_reasons,
            Load(
                storage_gb=primary_gb,
                reads_per_s=reads,
                writes_per_s=writes,
                read_replicas=replicas,
                shards="sharding" in chosen,
                strong_reads=profile.consistency == "strong",
            ),
        )
    )
    if time_series_tiered and "warm" in tiers:
        out.append(
            TechnologyChoice(
                "warm tier",
                catalog.TIME_SERIES_WARM,
                modules.TIERING,
                (
                    rules.TIME_SERIES.because(
                        "older data moves to the disk tier; queries span hot and warm unchanged",
                        [profile.volume_evidence],
                    ),
                ),
                Load(storage_gb=tiers["warm"]),
            )
        )
    if "event-sourcing" in chosen:
        out.append(_event_store(profile, offering, primary_gb, writes, tuple(chosen["event-sourcing"])))
    out.extend(_read_side(profile, offering, draft, primary_gb, policy))
    stream = _stream(profile, offering, chosen)
    if stream is not None:
        out.append(stream)
    if starts_sagas:
        out.append(
            TechnologyChoice(
                "saga steps",
                catalog.QUEUE,
                modules.SAGAS,
                tuple(r for r in chosen.get("database-per-service", []) if r.rule == rules.SAGA.id),
                Load(
                    writes_per_s=sum(
                        (op.rate_per_s for op in profile.writes if op.operation.type == "write"), Decimal(0)
                    )
                    or writes
                ),
            )
        )
    if artifacts:
        found = [
            profile.entity_evidence[i]
            for i, e in enumerate(profile.context.entities)
            if e.kind == "artifact" or e.structure == "unstructured"
        ]
        artifact_gb = bulk_gb - tiers.get("cold", Decimal(0)) - tiers.get("frozen", Decimal(0)) if tiers else bulk_gb
        out.append(
            TechnologyChoice(
                "artifact store",
                catalog.OBJECTS,
                modules.TENANCY if profile.context.tenants > 1 else None,
                (
                    rules.ARTIFACTS.because(
                        "large unstructured files → object storage; metadata keeps their keys", found
                    ),
                ),
                Load(storage_gb=artifact_gb, writes_per_s=writes),
            )
        )
    if policy is not None:
        out.extend(_tier_stores(profile, policy, tiers, artifacts, tuple(chosen["tiering"])))
    return tuple(replace(choice, datastrata=module_ref(choice.datastrata)) for choice in out)


def _primary_module(offering: Offering, chosen: dict[str, list[Reason]]) -> str | None:
    if offering.family == "graph":
        return modules.GRAPH
    if offering.family == "time-series" and "tiering" in chosen:
        return modules.TIERING
    for strategy, module in (
        ("master-data", modules.MDM),
        ("multi-tenancy", modules.TENANCY),
        ("sharding", modules.SHARDING),
        ("database-per-service", modules.SERVICES),
    ):
        if strategy in chosen and offering.family in ("relational", "key-value", "document"):
            return module
    return None


def _event_store(
    profile: ContextProfile, offering: Offering, primary_gb: Decimal, writes: Decimal, because: tuple[Reason, ...]
) -> TechnologyChoice:
    if offering.family == "relational":
        return TechnologyChoice(
            "event store (events table in the context's database)",
            offering,
            modules.EVENTLOG,
            because,
            Load(storage_gb=primary_gb, writes_per_s=writes, shares_primary=True),
        )
    return TechnologyChoice(
        "event store (TradingEvents-shaped table)",
        catalog.KEY_VALUE,
        modules.EVENTLOG,
        because,
        Load(storage_gb=primary_gb, writes_per_s=writes, reads_per_s=profile.read_rate / 10),
    )


def _read_side(
    profile: ContextProfile, offering: Offering, draft: Draft, primary_gb: Decimal, policy: TieringPolicy | None
) -> list[TechnologyChoice]:
    out: list[TechnologyChoice] = []
    chosen = draft.strategies
    heavy_reads = profile.heavy_reads
    read_heavy = bool(heavy_reads) and profile.read_rate > profile.write_rate
    if offering.family != "in-memory" and (read_heavy or "crud-cache" in chosen):
        cache = catalog.DAX if offering.family == "key-value" else catalog.CACHE
        reasons: list[Reason] = []
        if read_heavy:
            reasons.append(
                rules.READ_CACHE.because(
                    "reads far exceed writes → cache the hot entries in memory in front of the authoritative store",
                    [op.evidence for op in heavy_reads],
                )
            )
        if "crud-cache" in chosen:
            reasons.extend(chosen["crud-cache"])
        out.append(
            TechnologyChoice(
                "read cache",
                cache,
                None,
                tuple(reasons),
                Load(storage_gb=max(Decimal(1), primary_gb * CACHE_SHARE), reads_per_s=profile.read_rate),
            )
        )
    text = profile.with_pattern("full-text")
    if text:
        found = [op.evidence for op in text]
        out.append(
            TechnologyChoice(
                "search index",
                catalog.SEARCH,
                modules.PROJECTIONS,
                (
                    rules.QUERY_PATTERN.because("full-text search → search engine", found),
                    rules.FLOWCHART.because("workload type 検索 (search) → OpenSearch (+ CloudFront)", found),
                ),
                Load(
                    storage_gb=max(Decimal(1), primary_gb), reads_per_s=sum((op.rate_per_s for op in text), Decimal(0))
                ),
            )
        )
    traversal = profile.with_pattern("graph-traversal")
    if traversal and offering.family != "graph":
        found = [op.evidence for op in traversal]
        out.append(
            TechnologyChoice(
                "relationship graph (read model)",
                catalog.GRAPH,
                modules.GRAPH,
                (rules.QUERY_PATTERN.because("graph traversal → graph database, fed by this context's events", found),),
                Load(
                    storage_gb=max(Decimal(1), primary_gb * GRAPH_SHARE),
                    reads_per_s=sum((op.rate_per_s for op in traversal), Decimal(0)),
                ),
            )
        )
    analytics = profile.with_pattern("aggregation")
    if analytics and offering.family not in ("columnar", "time-series") and policy is None:
        found = [op.evidence for op in analytics]
        out.append(
            TechnologyChoice(
                "analytics (read model)",
                catalog.WAREHOUSE,
                modules.PROJECTIONS,
                (
                    rules.QUERY_PATTERN.because(
                        "complex analytics → columnar database, apart from the OLTP store", found
                    ),
                    rules.FLOWCHART.because("OLAP → columnar storage → Redshift + Spectrum + S3 data lake", found),
                ),
                Load(storage_gb=max(Decimal(1), primary_gb), queries_per_day=_queries_per_day(analytics)),
            )
        )
    return out


def _stream(profile: ContextProfile, offering: Offering, chosen: dict[str, list[Reason]]) -> TechnologyChoice | None:
    streams = profile.with_pattern("stream")
    geo_index = offering == catalog.GEO_INDEX
    reasons: list[Reason] = []
    module: str | None = None
    if streams or geo_index:
        found = [op.evidence for op in streams] or [op.evidence for op in profile.writes]
        if geo_index:
            reasons.append(
                rules.GEO_STREAM.because("a stream receives and buffers the flood of position updates", found)
            )
        else:
            reasons.append(
                rules.QUERY_PATTERN.because("continuous processing of incoming data → a durable stream", found)
            )
        module = modules.MESSAGING
    durable = profile.of_type("durability")
    if durable and profile.write_frequency == "very-high":
        reasons.append(
            rules.DIAMOND.because(
                "no write may be lost at a very high rate → acknowledge once a replicated stream holds it",
                [facts.evidence for facts in durable],
            )
        )
        module = module or modules.MESSAGING
    if "cqrs" in chosen:
        reasons.append(
            rules.CHANGE_FREQUENCY.because(
                "event-driven: the write side publishes events that update the read models",
                [e for r in chosen["cqrs"] for e in r.evidence],
            )
        )
        module = modules.PROJECTIONS if module is None else module
    if not reasons:
        return None
    return TechnologyChoice(
        "event stream", catalog.STREAM, module, tuple(reasons), Load(writes_per_s=profile.write_rate)
    )


def _tier_stores(
    profile: ContextProfile,
    policy: TieringPolicy,
    tiers: dict[str, Decimal],
    artifacts: bool,
    because: tuple[Reason, ...],
) -> list[TechnologyChoice]:
    out: list[TechnologyChoice] = []
    says = {tier.name: tier for tier in policy.tiers}
    if "cold" in says:
        cold = says["cold"]
        window = f"days {cold.from_days}-{cold.to_days if cold.to_days is not None else '…'}"
        if artifacts:
            out.append(
                TechnologyChoice(
                    f"cold tier ({window})",
                    catalog.OBJECTS_IA,
                    modules.TIERING,
                    because,
                    Load(storage_gb=tiers.get("cold", Decimal(0))),
                )
            )
        else:
            lake_reason = rules.TIME_SERIES.because(
                "cold data goes to a data lake as Parquet (Glue) and is queried with standard SQL (Athena)",
                [profile.volume_evidence],
            )
            out.append(
                TechnologyChoice(
                    f"cold tier ({window})",
                    catalog.OBJECTS,
                    modules.TIERING,
                    (*because, lake_reason),
                    Load(storage_gb=tiers.get("cold", Decimal(0))),
                )
            )
            analytics = profile.with_pattern("aggregation")
            out.append(
                TechnologyChoice(
                    "cold-tier query (SQL over Parquet)",
                    catalog.LAKE_QUERY,
                    modules.TIERING,
                    (
                        lake_reason,
                        rules.QUERY_PATTERN.because(
                            "analytics over history → columnar (Parquet) scanned by SQL",
                            [op.evidence for op in analytics] or [profile.volume_evidence],
                        ),
                    ),
                    Load(queries_per_day=_queries_per_day(analytics) if analytics else Decimal(10)),
                )
            )
    if "frozen" in says:
        out.append(
            TechnologyChoice(
                f"frozen tier (from day {says['frozen'].from_days})",
                catalog.ARCHIVE,
                modules.TIERING,
                because,
                Load(storage_gb=tiers.get("frozen", Decimal(0))),
            )
        )
    return out


def _queries_per_day(ops: Sequence[OperationFacts]) -> Decimal:
    total = Decimal(0)
    for op in ops:
        rate = op.operation.rate_per_s
        total += rate * 86400 if rate is not None else NOMINAL_ANALYTIC_QUERIES_PER_DAY[op.frequency]
    return total
