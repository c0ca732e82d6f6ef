"""Requirements analysis per context: the four steps checked, the Diamond model, and its tensions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from datastrata.design.choices import ContextSelection
from datastrata.design.profile import HEAVY, ContextProfile
from datastrata.design.spec import Spec
from datastrata.design.units import format_percent, format_volume

#: Latency budget (ms) at or below which an operation counts as latency-sensitive.
SENSITIVE_MS = 100


@dataclass(frozen=True, slots=True)
class Analysis:
    """One context's analysis: completeness of the four steps, the Diamond facets, tensions, warnings."""

    steps: dict[str, object]
    diamond: dict[str, object]
    tensions: tuple[str, ...]
    warnings: tuple[str, ...]


def analyse(spec: Spec, selection: ContextSelection) -> Analysis:
    """Analyse one context whose technologies have been selected."""
    profile = selection.profile
    warnings = list(_step_warnings(profile))
    diamond: dict[str, object] = {
        "business_logic": _business_logic(profile),
        "data_characteristics": _data_characteristics(profile),
        "application_pattern": _application_pattern(profile),
        "system_scale": _system_scale(profile),
    }
    tensions = tuple(_tensions(spec, selection))
    diamond["tensions"] = list(tensions)
    context = profile.context
    steps: dict[str, object] = {
        "entities": len(context.entities),
        "relationships": len(context.relationships),
        "operations": len(context.operations),
        "constraints": len(context.constraints),
        "complete": bool(
            context.operations and context.constraints and (context.relationships or len(context.entities) == 1)
        ),
    }
    return Analysis(steps, diamond, tensions, tuple(warnings))


def _step_warnings(profile: ContextProfile) -> list[str]:
    context = profile.context
    name = f"{profile.path} ({profile.name})"
    found: list[str] = []
    if len(context.entities) > 1 and not context.relationships:
        found.append(f"{name}: step 2 missing — no relationships between its {len(context.entities)} entities")
    if not context.operations:
        found.append(f"{name}: step 3 missing — no operations; selection falls back to consistency and structure alone")
    if not context.constraints:
        found.append(f"{name}: step 4 missing — no constraints; strong consistency assumed")
    elif profile.consistency_evidence is None:
        found.append(f"{name}: no consistency constraint; strong consistency assumed (the safe default)")
    return found


def _business_logic(profile: ContextProfile) -> dict[str, object]:
    atomicity = "none"
    if profile.local_atomicity:
        atomicity = "local"
    if profile.cross_context_atomicity:
        atomicity = "cross-context"
    priority = "consistency" if profile.consistency == "strong" or profile.local_atomicity else "availability"
    return {
        "question": "What is the system's core value? (consistency vs availability)",
        "consistency": profile.consistency,
        "consistency_assumed": profile.consistency_evidence is None,
        "priority": priority,
        "atomicity": atomicity,
        "audit": bool(profile.of_type("audit")),
        "rules": [
            facts.evidence.text
            for facts in profile.of_type("exclusivity", "ordering", "geo-restriction", "business-rule")
        ],
    }


def _data_characteristics(profile: ContextProfile) -> dict[str, object]:
    data = profile.context.data
    return {
        "question": "What does the data naturally look like? (structured vs unstructured)",
        "structure": profile.structure,
        "kinds": list(profile.kinds()),
        "volume": format_volume(data.volume),
        "growth_per_year": format_percent(data.growth_per_year),
        "value_decays_with_age": data.value_decays_with_age,
        "retention_years": float(profile.retention_years) if profile.retention_years is not None else None,
    }


def _application_pattern(profile: ContextProfile) -> dict[str, object]:
    reads = profile.read_rate
    writes = profile.write_rate
    ratio: float | None = None
    if reads and writes:
        ratio = float((reads / writes).quantize(Decimal("0.01")))
    if not reads and not writes:
        workload = "unknown"
    elif not writes:
        workload = "read-only"
    elif not reads:
        workload = "write-only"
    elif reads >= 3 * writes:
        workload = "read-heavy"
    elif writes >= 3 * reads:
        workload = "write-heavy"
    else:
        workload = "balanced"
    dominant = profile.dominant
    return {
        "question": "What does the system do with the data most often? (read/write ratio, query patterns)",
        "reads_per_s": float(reads),
        "writes_per_s": float(writes),
        "read_write_ratio": ratio,
        "workload": workload,
        "patterns": list(profile.patterns),
        "dominant_operation": dominant.operation.name if dominant is not None else None,
        "tightest_latency_ms": profile.tightest_latency_ms,
    }


def _system_scale(profile: ContextProfile) -> dict[str, object]:
    if profile.horizontal:
        why = []
        if profile.projected_gb >= 10_000:
            why.append(f"{format_volume(profile.projected_gb)} in 3 years is past the TB level")
        if profile.write_frequency == "very-high":
            why.append("very high write frequency exceeds one node")
        because = "; ".join(why)
    else:
        because = f"{format_volume(profile.projected_gb)} in 3 years fits one node; scale up and add replicas"
    return {
        "question": "How will the system grow? (vertical vs horizontal)",
        "volume_in_3_years": format_volume(profile.projected_gb),
        "scaling": "horizontal" if profile.horizontal else "vertical",
        "because": because,
    }


def _tensions(spec: Spec, selection: ContextSelection) -> list[str]:
    profile = selection.profile
    found: list[str] = []
    heavy_writes = profile.write_frequency in HEAVY
    if selection.saga_partners:
        volume = "very high write volume" if profile.write_frequency == "very-high" else "writes"
        found.append(
            f"business logic vs system scale: {volume} plus atomicity across contexts "
            f"({', '.join(selection.saga_partners)}) → saga with compensating steps, not a distributed transaction "
            "(7. マイクロサービスデータベースパターン)"
        )
    if profile.consistency == "strong" and selection.has("sharding"):
        found.append(
            "business logic vs system scale: strong consistency while scaling out → keep each transaction inside "
            f"one shard (shard key {selection.shard_key}); cross-shard totals are scatter-gather and eventually "
            "consistent (5. シャーディング戦略)"
        )
    if profile.consistency == "strong" and spec.availability in ("cross-region", "global"):
        found.append(
            f"business logic vs availability: strong consistency with {spec.availability} availability → "
            "replication across regions is asynchronous; strong writes stay in a home region, other regions "
            "read replicas (災害復旧)"
        )
    if heavy_writes and profile.with_pattern("aggregation"):
        found.append(
            "application pattern: heavy ingest and analytical reads compete for the same store → separate "
            "write and read models (CQRS) so analytics never slows ingest (3. CQRS)"
        )
    if profile.consistency != "strong" and profile.of_type("exclusivity"):
        found.append(
            "business logic vs data characteristics: an exclusivity rule inside an eventually consistent context "
            "→ the claim itself is a conditional write on one key (single owner), the rest stays eventual"
        )
    if profile.of_type("ordering") and selection.has("sharding"):
        found.append(
            "business logic vs system scale: ordering must hold while partitioned → order is kept per partition, "
            "so the partition key must be the ordering scope"
        )
    if profile.of_type("durability") and profile.write_frequency == "very-high":
        found.append(
            "business logic vs application pattern: no write may be lost at a very high rate → acknowledge writes "
            "once a replicated stream holds them and load the store in batches"
        )
    if profile.of_type("geo-restriction") and spec.availability == "global":
        found.append(
            "business logic vs availability: geo restrictions with global replication → pin restricted records "
            "to their region and replicate only what may leave it"
        )
    latency = profile.tightest_latency_ms
    if latency is not None and latency <= SENSITIVE_MS and selection.has("tiering"):
        found.append(
            f"application pattern vs system scale: {latency} ms reads over data that keeps growing → keep the "
            "hot set small and move the rest down the tiers (6. データ階層化)"
        )
    if profile.consistency == "strong" and profile.read_frequency == "very-high":
        found.append(
            "business logic vs application pattern: strongly consistent data read at very high rates → cache with "
            "invalidation on write; reads that must be exact go to the primary"
        )
    if selection.tenancy == "shared" and profile.of_type("tenant-isolation"):
        found.append(
            "business logic vs cost: tenant isolation on shared storage → every row carries tenant_id and the "
            "store enforces it (row-level security), checked by tests"
        )
    return found
