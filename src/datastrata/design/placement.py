"""Placement of a context's data: tiering and its lifecycle policy, the tenancy model, and the shard key."""

from __future__ import annotations

from decimal import Decimal

from datastrata.design import rules
from datastrata.design.catalog import Offering
from datastrata.design.choices import Draft
from datastrata.design.lifecycle import TieringPolicy, artifact_policy, general_policy, time_series_policy
from datastrata.design.naming import entity_key
from datastrata.design.profile import ContextProfile, evidence
from datastrata.design.spec import Spec
from datastrata.design.tenancy_model import DESCRIPTIONS, TenancyModel, by_budget, by_size, cheaper
from datastrata.design.units import format_volume

#: Retention (years) from which long-lived data of at least TIERING_MIN_GB is tiered.
LONG_RETENTION_YEARS = Decimal(2)
TIERING_MIN_GB = Decimal(1000)


def tiering(profile: ContextProfile, draft: Draft) -> None:
    """Tiering when value decays with age, or for long retention over a large volume."""
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


def tenancy(spec: Spec, profile: ContextProfile, draft: Draft) -> TenancyModel | None:
    """The multi-tenancy model by per-tenant size, capped by the per-tenant budget; None for one tenant."""
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


def shard_key(profile: ContextProfile, draft: Draft) -> str | None:
    """The shard key of a sharded context — the key its busiest operation addresses — and why; else None."""
    if "sharding" not in draft.strategies:
        return None
    key = _busiest_key(profile)
    draft.add(
        "sharding",
        rules.SHARD_KEY.because(
            f"shard key {key}: the key the busiest operation addresses, so each request stays in one shard; "
            "totals across shards are scatter-gather and eventually consistent",
            [profile.dominant.evidence] if profile.dominant is not None else [],
        ),
    )
    return key


def _busiest_key(profile: ContextProfile) -> str:
    dominant = profile.dominant
    if dominant is None:
        entity = profile.context.entities[0]
        return entity_key(entity.name, entity.key, entity.attributes)
    if dominant.operation.by:
        return dominant.operation.by[0].lower()
    entity = dominant.entity
    return entity_key(entity.name, entity.key, entity.attributes)


def tiering_policy(profile: ContextProfile, offering: Offering) -> TieringPolicy:
    """The lifecycle policy for the primary store's family: time series, artifacts or general data."""
    years = profile.retention_years
    if offering.family == "time-series":
        return time_series_policy(years)
    if profile.has_artifacts:
        return artifact_policy(years)
    return general_policy(offering.aws, years)
