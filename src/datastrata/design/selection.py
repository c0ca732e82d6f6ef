"""Strategy and technology selection per context, by the article's rules; every choice carries its reasons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from datastrata.design import catalog, rules
from datastrata.design.catalog import Offering
from datastrata.design.lifecycle import (
    TieringPolicy,
    artifact_policy,
    general_policy,
    tier_volumes,
    time_series_policy,
)
from datastrata.design.naming import entity_key, snake
from datastrata.design.profile import (
    DISTRIBUTED_FROM_GB,
    HORIZONTAL_FROM_GB,
    ConstraintFacts,
    ContextProfile,
    OperationFacts,
    evidence,
)
from datastrata.design.reasons import Evidence, Reason
from datastrata.design.spec import Spec
from datastrata.design.tenancy_model import DESCRIPTIONS, TenancyModel, by_budget, by_size, cheaper
from datastrata.design.units import NOMINAL_ANALYTIC_QUERIES_PER_DAY, format_volume

#: Strategy ids in the order reports list them.
STRATEGY_ORDER = (
    "master-data",
    "event-sourcing",
    "cqrs",
    "multi-tenancy",
    "sharding",
    "tiering",
    "database-per-service",
    "graph",
    "crud-cache",
    "read-replicas",
)
#: Families that scale reads by adding replica instances.
_INSTANCE_FAMILIES = ("relational", "document", "graph")
#: Share of a context's volume that is metadata when it also holds large artifacts.
METADATA_SHARE = Decimal("0.0001")
#: Share of the primary store a read cache holds (the hot set).
CACHE_SHARE = Decimal("0.05")
#: Share of the primary store a relationship graph derived from it holds.
GRAPH_SHARE = Decimal("0.2")
#: Retention (years) from which long-lived data of at least TIERING_MIN_GB is tiered.
LONG_RETENTION_YEARS = Decimal(2)
TIERING_MIN_GB = Decimal(1000)


@dataclass(frozen=True, slots=True)
class Load:
    """What a technology must hold and serve, for the cost model."""

    storage_gb: Decimal = Decimal(0)
    reads_per_s: Decimal = Decimal(0)
    writes_per_s: Decimal = Decimal(0)
    queries_per_day: Decimal = Decimal(0)
    read_replicas: int = 0
    shards: bool = False
    shares_primary: bool = False
    strong_reads: bool = False


@dataclass(frozen=True, slots=True)
class TechnologyChoice:
    """A technology chosen for a role in a context."""

    role: str
    offering: Offering
    datastrata: str | None
    because: tuple[Reason, ...]
    load: Load


@dataclass(frozen=True, slots=True)
class StrategyChoice:
    """A strategy chosen for a context, with every rule that asked for it."""

    id: str
    because: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class ContextSelection:
    """Everything selected for one context."""

    profile: ContextProfile
    primary: Offering
    strategies: tuple[StrategyChoice, ...]
    technologies: tuple[TechnologyChoice, ...]
    tenancy: TenancyModel | None
    policy: TieringPolicy | None
    shard_key: str | None
    saga_partners: tuple[str, ...]
    warnings: tuple[str, ...]

    def has(self, strategy: str) -> bool:
        """True when the strategy was selected."""
        return any(choice.id == strategy for choice in self.strategies)


@dataclass
class _Draft:
    strategies: dict[str, list[Reason]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, strategy: str, reason: Reason) -> None:
        self.strategies.setdefault(strategy, []).append(reason)


def select(spec: Spec, profiles: Sequence[ContextProfile]) -> tuple[ContextSelection, ...]:
    """Select strategies and technologies for every context of a spec."""
    primaries = [choose_primary(profile) for profile in profiles]
    signatures = {
        (offering.family, profile.consistency) for profile, (offering, _, _) in zip(profiles, primaries, strict=True)
    }
    partners = [atomic_partners(spec, profile) for profile in profiles]
    incoming: dict[str, list[tuple[str, Evidence]]] = {}
    for profile, found in zip(profiles, partners, strict=True):
        for facts, names, _ in found:
            for name in names:
                incoming.setdefault(snake(name), []).append((profile.name, facts.evidence))
    masters = shared_masters(spec, profiles)
    return tuple(
        _select_one(
            spec,
            profile,
            primaries[i],
            differ=len(signatures) > 1 and len(profiles) > 1,
            all_profiles=profiles,
            partners=partners[i],
            incoming=incoming.get(snake(profile.name), []),
            masters=masters.get(i, []),
        )
        for i, profile in enumerate(profiles)
    )


def choose_primary(profile: ContextProfile) -> tuple[Offering, str, tuple[Reason, ...]]:
    """The system-of-record technology for a context, its role name and why."""
    dominant = profile.dominant
    measurements = [
        evidence_for_entity(profile, i)
        for i, entity in enumerate(profile.context.entities)
        if entity.kind == "measurement"
    ]
    if measurements or (dominant is not None and dominant.operation.pattern == "time-series"):
        found = measurements + [op.evidence for op in profile.with_pattern("time-series")]
        return (
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
    reads = profile.reads
    traversal = profile.with_pattern("graph-traversal")
    if traversal and (
        (dominant is not None and dominant.operation.pattern == "graph-traversal")
        or all(op.operation.pattern == "graph-traversal" for op in reads)
    ):
        found = [op.evidence for op in traversal]
        return (
            catalog.GRAPH,
            "graph store",
            (
                rules.QUERY_PATTERN.because("the main queries traverse relationships → graph database", found),
                rules.GRAPH.because(
                    "questions like 'who ordered this also ordered…' follow edges; joins would not keep up", found
                ),
                rules.FLOWCHART.because("workload type グラフ関係 (graph relations) → Neptune (+ Redis)", found),
            ),
        )
    geo_reads = [op for op in reads if op.operation.pattern == "geo-spatial"]
    moving = [op for op in profile.writes if op.frequency in ("very-high", "high")]
    if geo_reads and moving:
        found = [op.evidence for op in geo_reads + moving]
        return (
            catalog.GEO_INDEX,
            "geo index (system of record for current positions)",
            (
                rules.GEO_STREAM.because(
                    "positions change constantly and are queried by distance → in-memory geo index", found
                ),
            ),
        )
    if dominant is not None and dominant.operation.pattern == "aggregation":
        found = [op.evidence for op in profile.with_pattern("aggregation")]
        return (
            catalog.WAREHOUSE,
            "analytical store",
            (
                rules.QUERY_PATTERN.because("the main load is complex analytics → columnar database", found),
                rules.FLOWCHART.because("OLAP → columnar storage → Redshift + Spectrum + S3 data lake", found),
            ),
        )
    return _oltp_primary(profile)


def _oltp_primary(profile: ContextProfile) -> tuple[Offering, str, tuple[Reason, ...]]:
    role = "system of record"
    consistency = profile.consistency_evidence
    consistency_found = [consistency] if consistency is not None else []
    structure_found = list(profile.structure_evidence)
    if profile.consistency == "strong":
        assumed = "" if consistency is not None else " (assumed: no consistency constraint given)"
        if profile.structure == "structured":
            return (
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
        return (
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
        return (
            catalog.DOCUMENT,
            role,
            (
                rules.FLOWCHART.because(
                    f"OLTP → {level} consistency → document model: flexible schema for varied attributes",
                    consistency_found + structure_found,
                ),
            ),
        )
    heavy = [op for op in profile.writes if op.frequency in ("very-high", "high")]
    if heavy or profile.horizontal:
        found = consistency_found + [op.evidence for op in heavy] + [profile.volume_evidence]
        reads = profile.reads
        appends_only = all(op.operation.type == "write" for op in profile.writes)
        wide = bool(reads) and appends_only and all(op.operation.pattern == "range-scan" for op in reads)
        if wide:
            return (
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
        return (
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
    return (
        catalog.RELATIONAL,
        role,
        (
            rules.QUERY_PATTERN.because(
                "simple queries at moderate load → relational database", simple + structure_found
            ),
        ),
    )


def atomic_partners(spec: Spec, profile: ContextProfile) -> list[tuple[ConstraintFacts, tuple[str, ...], bool]]:
    """Atomicity constraints that reach other contexts: named, or inferred from the detail text."""
    others = {snake(c.name): c.name for c in spec.contexts if snake(c.name) != snake(profile.name)}
    owners: dict[str, str] = {}
    for context in spec.contexts:
        if snake(context.name) == snake(profile.name):
            continue
        for entity in context.entities:
            owners.setdefault(snake(entity.name), context.name)
    local = {snake(entity.name) for entity in profile.context.entities}
    found: list[tuple[ConstraintFacts, tuple[str, ...], bool]] = []
    for facts in profile.of_type("atomicity"):
        constraint = facts.constraint
        if constraint.contexts:
            found.append((facts, tuple(constraint.contexts), False))
            continue
        words = {_singular(word) for word in snake(constraint.detail or "").split("_")}
        named: list[str] = []
        for key, name in others.items():
            if _singular(key) in words and name not in named:
                named.append(name)
        for entity_key_, owner in owners.items():
            if entity_key_ not in local and _singular(entity_key_) in words and owner not in named:
                named.append(owner)
        if named:
            found.append((facts, tuple(named), True))
    return found


def shared_masters(spec: Spec, profiles: Sequence[ContextProfile]) -> dict[int, list[tuple[str, list[Evidence]]]]:
    """Master entities owned by one context and referred to by relationships in two or more others."""
    found: dict[int, list[tuple[str, list[Evidence]]]] = {}
    for owner in profiles:
        for entity in owner.context.entities:
            if entity.kind != "master":
                continue
            uses: list[Evidence] = []
            for other in profiles:
                if other.index == owner.index:
                    continue
                for r_index, rel in enumerate(other.context.relationships):
                    if entity.name in (rel.from_, rel.to):
                        path = f"{other.path}.relationships[{r_index}]"
                        uses.append(evidence(spec, path, f"{rel.from_} {rel.verb} {rel.to} (context {other.name})"))
            contexts = {use.text.rsplit("(context ", 1)[1] for use in uses}
            if len(contexts) >= 2:
                found.setdefault(owner.index, []).append((entity.name, uses))
    return found


def evidence_for_entity(profile: ContextProfile, index: int) -> Evidence:
    """Evidence naming one entity of a context."""
    return profile.entity_evidence[index]


def _select_one(
    spec: Spec,
    profile: ContextProfile,
    primary: tuple[Offering, str, tuple[Reason, ...]],
    *,
    differ: bool,
    all_profiles: Sequence[ContextProfile],
    partners: list[tuple[ConstraintFacts, tuple[str, ...], bool]],
    incoming: list[tuple[str, Evidence]],
    masters: list[tuple[str, list[Evidence]]],
) -> ContextSelection:
    offering, role, primary_reasons = primary
    draft = _Draft()
    _change_frequency(profile, draft)
    _volume(profile, offering, draft)
    if profile.consistency == "session" and offering.family in _INSTANCE_FAMILIES:
        found = [profile.consistency_evidence] if profile.consistency_evidence else []
        draft.add("read-replicas", rules.CONSISTENCY.because("session consistency → read/write split", found))
    _tiering(profile, draft)
    tenancy = _tenancy(spec, profile, draft)
    if differ:
        others = ", ".join(p.name for p in all_profiles if p.index != profile.index)
        found = [e for e in (profile.consistency_evidence, profile.volume_evidence) if e is not None]
        if profile.dominant is not None:
            found.append(profile.dominant.evidence)
        draft.add(
            "database-per-service",
            rules.DATABASE_PER_SERVICE.because(
                f"this context needs {offering.family} storage with {profile.consistency} consistency, unlike "
                f"{others}; it owns a private store and others reach it only through its API or events",
                found,
            ),
        )
    saga_partners: list[str] = []
    for facts, names, inferred in partners:
        how = " (inferred from the constraint's detail)" if inferred else ""
        saga_partners.extend(name for name in names if name not in saga_partners)
        draft.add(
            "database-per-service",
            rules.SAGA.because(
                f"atomicity spans {', '.join(names)}{how} → a saga of local transactions with compensating steps, "
                "not a distributed transaction",
                [facts.evidence],
            ),
        )
    for initiator, found_evidence in incoming:
        draft.add(
            "database-per-service",
            rules.SAGA.because(
                f"takes part in the saga started by {initiator}: a local step plus its compensation", [found_evidence]
            ),
        )
    for facts in profile.of_type("audit"):
        draft.add(
            "event-sourcing",
            rules.EVENT_SOURCING.because(
                "audit/history required → record every change as an immutable event per aggregate stream",
                [facts.evidence],
            ),
        )
    for entity_name, uses in masters:
        draft.add(
            "master-data",
            rules.MASTER_DATA.because(
                f"{entity_name} is master data used by {len({u.text for u in uses})} relationships in other contexts "
                "→ this context is its single source of truth; others keep read-only copies",
                uses,
            ),
        )
    traversal = profile.with_pattern("graph-traversal")
    if traversal:
        draft.add(
            "graph",
            rules.QUERY_PATTERN.because("graph traversal → graph database", [op.evidence for op in traversal]),
        )
    shard_key = _shard_key(profile) if "sharding" in draft.strategies else None
    if shard_key is not None:
        draft.add(
            "sharding",
            rules.SHARD_KEY.because(
                f"shard key {shard_key}: the key the busiest operation addresses, so each request stays in one shard; "
                "totals across shards are scatter-gather and eventually consistent",
                [profile.dominant.evidence] if profile.dominant is not None else [],
            ),
        )
    strategies = tuple(
        StrategyChoice(sid, tuple(draft.strategies[sid])) for sid in STRATEGY_ORDER if sid in draft.strategies
    )
    selection_policy = _policy(profile, offering) if "tiering" in draft.strategies else None
    technologies = _technologies(profile, offering, role, primary_reasons, draft, selection_policy, saga_partners)
    return ContextSelection(
        profile=profile,
        primary=offering,
        strategies=strategies,
        technologies=technologies,
        tenancy=tenancy,
        policy=selection_policy,
        shard_key=shard_key,
        saga_partners=tuple(saga_partners),
        warnings=tuple(draft.warnings),
    )


def _change_frequency(profile: ContextProfile, draft: _Draft) -> None:
    frequency = profile.write_frequency
    if frequency is None:
        return
    found = [op.evidence for op in profile.writes if op.frequency == frequency]
    if frequency in ("very-high", "high"):
        draft.add(
            "cqrs",
            rules.CHANGE_FREQUENCY.because(
                f"changes are {frequency} → event-driven + CQRS: commands go to a write-optimised model, "
                "events feed read models built for each query",
                found,
            ),
        )
    elif frequency == "medium":
        draft.add("crud-cache", rules.CHANGE_FREQUENCY.because("changes are medium → traditional CRUD + cache", found))
    else:
        masters = [
            evidence_for_entity(profile, i)
            for i, entity in enumerate(profile.context.entities)
            if entity.kind in ("master", "reference")
        ]
        if masters:
            draft.add(
                "master-data",
                rules.CHANGE_FREQUENCY.because(
                    "master data that changes rarely → master data management: one authoritative version",
                    found + masters,
                ),
            )


def _volume(profile: ContextProfile, offering: Offering, draft: _Draft) -> None:
    projected = format_volume(profile.projected_gb)
    found = profile.scale_evidence()
    if _has_artifacts(profile):
        if profile.projected_gb >= DISTRIBUTED_FROM_GB:
            draft.add(
                "tiering",
                rules.VOLUME.because(
                    f"about {projected} in 3 years, beyond PB level, held as files → object storage (distributed by "
                    "design) + hot/cold tiering; the metadata store stays small",
                    found,
                ),
            )
        return
    if profile.projected_gb >= DISTRIBUTED_FROM_GB:
        says = f"about {projected} in 3 years, beyond PB level → distributed storage + hot/cold tiering"
        draft.add("sharding", rules.VOLUME.because(says, found))
        draft.add("tiering", rules.VOLUME.because(says, found))
        return
    if profile.horizontal:
        if profile.projected_gb >= HORIZONTAL_FROM_GB:
            says = f"about {projected} in 3 years, TB to PB level → horizontal sharding"
        else:
            says = "very high write rate exceeds one node → horizontal sharding (scale out)"
        if offering.family in ("key-value", "wide-column", "time-series", "in-memory", "stream"):
            says += f"; {offering.aws} partitions by the partition key"
        draft.add("sharding", rules.VOLUME.because(says, found))
        return
    reads = [op.evidence for op in profile.reads if op.frequency in ("very-high", "high")]
    if reads and offering.family in _INSTANCE_FAMILIES:
        draft.add(
            "read-replicas",
            rules.VOLUME.because(
                f"about {projected} in 3 years, TB level or below → vertical scaling + read replicas for the reads",
                [profile.volume_evidence, *reads],
            ),
        )


def _tiering(profile: ContextProfile, draft: _Draft) -> None:
    data = profile.context.data
    if data.value_decays_with_age:
        draft.add(
            "tiering",
            rules.TIERING.because(
                "value decays with age → move data hot → warm → cold → frozen by a lifecycle policy",
                [profile.volume_evidence],
            ),
        )
    years = profile.retention_years
    if years is not None and years >= LONG_RETENTION_YEARS and profile.projected_gb >= TIERING_MIN_GB:
        found = [facts.evidence for facts in profile.of_type("retention")]
        draft.add(
            "tiering",
            rules.TIERING.because(
                f"{years} years of retention over {format_volume(profile.projected_gb)} → archive old data cheaply",
                [*found, profile.volume_evidence],
            ),
        )


def _tenancy(spec: Spec, profile: ContextProfile, draft: _Draft) -> TenancyModel | None:
    tenants = profile.context.tenants
    if tenants <= 1:
        return None
    per_tenant_gb = profile.volume_gb / tenants
    model = by_size(per_tenant_gb)
    path = f"{profile.path}.tenants"
    found = [evidence(spec, path, f"{tenants} tenants"), profile.volume_evidence]
    says = f"{tenants} tenants, about {format_volume(per_tenant_gb)} each → {model} ({DESCRIPTIONS[model]})"
    if spec.budget_usd_per_month is not None:
        per_tenant_usd = (spec.budget_usd_per_month / tenants).quantize(Decimal("0.01"))
        affordable = by_budget(per_tenant_usd)
        found.append(evidence(spec, "budget_usd_per_month", f"budget ${spec.budget_usd_per_month}/month"))
        if cheaper(model, affordable) != model:
            draft.warnings.append(
                f"{profile.name}: tenants' size suggests {model} but ${per_tenant_usd}/month per tenant pays for "
                f"{affordable}; chose {affordable}"
            )
            model = affordable
            says += f"; budget ${per_tenant_usd}/month per tenant caps it at {model}"
        else:
            says += f"; budget ${per_tenant_usd}/month per tenant allows it"
    isolation = profile.of_type("tenant-isolation")
    if isolation:
        found.extend(facts.evidence for facts in isolation)
        if model == "shared":
            says += "; isolation enforced per row (tenant_id + row-level security)"
    draft.add("multi-tenancy", rules.MULTI_TENANCY.because(says, found))
    return model


def _shard_key(profile: ContextProfile) -> str | None:
    dominant = profile.dominant
    if dominant is None:
        entity = profile.context.entities[0]
        return entity_key(entity.name, entity.key, entity.attributes)
    if dominant.operation.by:
        return dominant.operation.by[0].lower()
    entity = dominant.entity
    return entity_key(entity.name, entity.key, entity.attributes)


def _policy(profile: ContextProfile, offering: Offering) -> TieringPolicy:
    years = profile.retention_years
    if offering.family == "time-series":
        return time_series_policy(years)
    if _has_artifacts(profile):
        return artifact_policy(years)
    return general_policy(offering.aws, years)


def _has_artifacts(profile: ContextProfile) -> bool:
    return any(entity.kind == "artifact" or entity.structure == "unstructured" for entity in profile.context.entities)


def _technologies(
    profile: ContextProfile,
    offering: Offering,
    role: str,
    primary_reasons: tuple[Reason, ...],
    draft: _Draft,
    policy: TieringPolicy | None,
    saga_partners: list[str],
) -> tuple[TechnologyChoice, ...]:
    chosen = draft.strategies
    volume = profile.volume_gb
    artifacts = _has_artifacts(profile)
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
                "datastrata.tiering",
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
    stream = _stream(profile, chosen)
    if stream is not None:
        out.append(stream)
    if saga_partners:
        out.append(
            TechnologyChoice(
                "saga steps",
                catalog.QUEUE,
                "datastrata.services",
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
            evidence_for_entity(profile, i)
            for i, e in enumerate(profile.context.entities)
            if e.kind == "artifact" or e.structure == "unstructured"
        ]
        artifact_gb = bulk_gb - tiers.get("cold", Decimal(0)) - tiers.get("frozen", Decimal(0)) if tiers else bulk_gb
        out.append(
            TechnologyChoice(
                "artifact store",
                catalog.OBJECTS,
                "datastrata.tenancy" if profile.context.tenants > 1 else None,
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
    return tuple(out)


def _primary_module(offering: Offering, chosen: dict[str, list[Reason]]) -> str | None:
    if offering.family == "graph":
        return "datastrata.graph"
    if offering.family == "time-series" and "tiering" in chosen:
        return "datastrata.tiering"
    for strategy, module in (
        ("master-data", "datastrata.mdm"),
        ("multi-tenancy", "datastrata.tenancy"),
        ("sharding", "datastrata.sharding"),
        ("database-per-service", "datastrata.services"),
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
            "datastrata.eventlog",
            because,
            Load(storage_gb=primary_gb, writes_per_s=writes, shares_primary=True),
        )
    return TechnologyChoice(
        "event store (TradingEvents-shaped table)",
        catalog.KEY_VALUE,
        "datastrata.eventlog",
        because,
        Load(storage_gb=primary_gb, writes_per_s=writes, reads_per_s=profile.read_rate / 10),
    )


def _read_side(
    profile: ContextProfile, offering: Offering, draft: _Draft, primary_gb: Decimal, policy: TieringPolicy | None
) -> list[TechnologyChoice]:
    out: list[TechnologyChoice] = []
    chosen = draft.strategies
    heavy_reads = [op for op in profile.reads if op.frequency in ("very-high", "high")]
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
                "datastrata.projections",
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
                "datastrata.graph",
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
                "datastrata.projections",
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


def _stream(profile: ContextProfile, chosen: dict[str, list[Reason]]) -> TechnologyChoice | None:
    streams = profile.with_pattern("stream")
    reasons: list[Reason] = []
    module: str | None = None
    if streams:
        found = [op.evidence for op in streams]
        if profile.with_pattern("geo-spatial"):
            reasons.append(
                rules.GEO_STREAM.because("a stream receives and buffers the flood of position updates", found)
            )
        else:
            reasons.append(
                rules.QUERY_PATTERN.because("continuous processing of incoming data → a durable stream", found)
            )
        module = "datastrata.messaging"
    durable = profile.of_type("durability")
    if durable and profile.write_frequency == "very-high":
        reasons.append(
            rules.DIAMOND.because(
                "no write may be lost at a very high rate → acknowledge once a replicated stream holds it",
                [facts.evidence for facts in durable],
            )
        )
        module = module or "datastrata.messaging"
    if "cqrs" in chosen:
        reasons.append(
            rules.CHANGE_FREQUENCY.because(
                "event-driven: the write side publishes events that update the read models",
                [e for r in chosen["cqrs"] for e in r.evidence],
            )
        )
        module = "datastrata.projections" if module is None else module
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
                    "datastrata.tiering",
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
                    "datastrata.tiering",
                    (*because, lake_reason),
                    Load(storage_gb=tiers.get("cold", Decimal(0))),
                )
            )
            analytics = profile.with_pattern("aggregation")
            out.append(
                TechnologyChoice(
                    "cold-tier query (SQL over Parquet)",
                    catalog.LAKE_QUERY,
                    "datastrata.tiering",
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
                "datastrata.tiering",
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


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
