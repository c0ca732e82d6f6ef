"""Strategy rules: which strategies a context needs, each with the article rule and spec lines behind it."""

from __future__ import annotations

from datastrata.design import modules, rules
from datastrata.design.catalog import Offering
from datastrata.design.choices import INSTANCE_FAMILIES, Draft, SagaLink
from datastrata.design.cross_context import CrossContext
from datastrata.design.profile import DISTRIBUTED_FROM_GB, HEAVY, HORIZONTAL_FROM_GB, ContextProfile
from datastrata.design.units import format_volume


def change_frequency(profile: ContextProfile, draft: Draft) -> None:
    """Change frequency: high → CQRS, medium → CRUD + cache, low master/reference data → master data."""
    frequency = profile.write_frequency
    if frequency is None:
        return
    found = [op.evidence for op in profile.writes if op.frequency == frequency]
    if frequency in HEAVY:
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
            profile.entity_evidence[i]
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


def volume(profile: ContextProfile, offering: Offering, draft: Draft) -> None:
    """Volume scale in 3 years: replicas up to TB, sharding TB to PB or at very high writes, beyond PB tiering."""
    projected = format_volume(profile.projected_gb)
    found = profile.scale_evidence()
    if profile.has_artifacts:
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
    reads = [op.evidence for op in profile.heavy_reads]
    if reads and offering.family in INSTANCE_FAMILIES:
        draft.add(
            "read-replicas",
            rules.VOLUME.because(
                f"about {projected} in 3 years, TB level or below → vertical scaling + read replicas for the reads",
                [profile.volume_evidence, *reads],
            ),
        )


def session_replicas(profile: ContextProfile, offering: Offering, draft: Draft) -> None:
    """Session consistency on a store scaled by instances → a read/write split over read replicas."""
    if profile.consistency == "session" and offering.family in INSTANCE_FAMILIES:
        found = [profile.consistency_evidence] if profile.consistency_evidence else []
        draft.add("read-replicas", rules.CONSISTENCY.because("session consistency → read/write split", found))


def service_boundaries(
    profile: ContextProfile, offering: Offering, links: CrossContext, draft: Draft
) -> list[SagaLink]:
    """Database per service when contexts differ, and saga steps for atomicity across them; the sagas it starts."""
    if links.differs:
        others = ", ".join(links.others)
        found = [e for e in (profile.consistency_evidence, profile.volume_evidence) if e is not None]
        if profile.dominant is not None:
            found.append(profile.dominant.evidence)
        draft.add(
            "database-per-service",
            rules.DATABASE_PER_SERVICE.because(
                f"this context needs {offering.family} storage with {profile.consistency} consistency, unlike "
                f"{others}; it owns a private store and others reach it only through its API or events "
                f"({_see(modules.SERVICES)})",
                found,
            ),
        )
    sagas: list[SagaLink] = []
    for facts, names, inferred in links.partners:
        how = " (inferred from the constraint's detail)" if inferred else ""
        reason = rules.SAGA.because(
            f"atomicity spans {', '.join(names)}{how} → a saga of local transactions with compensating steps, "
            f"not a distributed transaction ({_see(modules.SAGAS)})",
            [facts.evidence],
        )
        sagas.append(SagaLink(tuple(names), facts.constraint.detail, inferred, reason))
        draft.add("database-per-service", reason)
    for initiator, found_evidence in links.incoming:
        draft.add(
            "database-per-service",
            rules.SAGA.because(
                f"takes part in the saga started by {initiator}: a local step plus its compensation", [found_evidence]
            ),
        )
    return sagas


def _see(module: str) -> str:
    ref = modules.module_ref(module)
    pages = modules.docs_for(ref)
    return f"{ref}; see {', '.join(pages)}" if pages else f"{ref}"


def history_and_masters(profile: ContextProfile, links: CrossContext, draft: Draft) -> None:
    """Audit → event sourcing; master data shared with other contexts → master data management here."""
    for facts in profile.of_type("audit"):
        draft.add(
            "event-sourcing",
            rules.EVENT_SOURCING.because(
                "audit/history required → record every change as an immutable event per aggregate stream",
                [facts.evidence],
            ),
        )
    for entity_name, uses in links.masters:
        draft.add(
            "master-data",
            rules.MASTER_DATA.because(
                f"{entity_name} is master data used by {len({u.text for u in uses})} relationships in other contexts "
                "→ this context is its single source of truth; others keep read-only copies",
                uses,
            ),
        )


def graph_queries(profile: ContextProfile, draft: Draft) -> None:
    """Graph traversal among the queries → the graph strategy (a graph store or a graph read model)."""
    traversal = profile.with_pattern("graph-traversal")
    if traversal:
        draft.add(
            "graph",
            rules.QUERY_PATTERN.because("graph traversal → graph database", [op.evidence for op in traversal]),
        )
