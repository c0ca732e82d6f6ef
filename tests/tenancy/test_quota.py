"""Tier quotas: payload bytes counted in the command's transaction; past the quota refused, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import RuleViolation
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime, Scope
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.tiers import TB, TIERS, upgrade_of


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a fresh store of each engine, with the portfolio system and tenant acme (indie)."""
    with Runtime.open(Settings(store=store_url, graph=f"ladybug:///{tmp_path}/graph")) as opened:
        catalogue_of(opened).add("acme", "indie")
        yield opened


def _fill(runtime: Runtime, who: str, nbytes: int) -> None:
    """Record that `who` already holds `nbytes` (what a terabyte of earlier writes would have left)."""
    with runtime.db.transaction() as tx:
        tx.execute("UPDATE tenancy_usage SET bytes = ? WHERE tenant_id = ?", (nbytes, who))


def _events(runtime: Runtime) -> int:
    with runtime.db.read() as tx:
        return int(tx.scalar("SELECT COUNT(*) FROM eventlog_events"))


def test_a_command_charges_its_payload_bytes_to_the_tenant(runtime: Runtime) -> None:
    portfolio = PortfolioService(runtime)
    with tenant("acme"):
        portfolio.deposit("p1", "100")
        portfolio.deposit("p1", "5")
    stored = runtime.stream(Scope("portfolio", "p1", tenant="acme"))
    used = catalogue_of(runtime).usage("acme")
    assert len(stored) == 2 and used == sum(len(msgspec.json.encode(e.payload)) for e in stored)
    with tenant("default"):
        portfolio.deposit("p2", "1")  # the platform's own tenant, uncatalogued: counted nowhere
    assert catalogue_of(runtime).usage("default") == 0 and catalogue_of(runtime).usage("acme") == used


def test_a_write_past_the_quota_is_refused_naming_it_and_the_upgrade_and_writes_nothing(runtime: Runtime) -> None:
    portfolio = PortfolioService(runtime)
    with tenant("acme"):
        portfolio.deposit("p1", "100")
    before = catalogue_of(runtime).usage("acme")
    _fill(runtime, "acme", TB - 5)
    with tenant("acme"), pytest.raises(RuleViolation) as refused:
        portfolio.deposit("p1", "5")
    message = refused.value.message
    assert "tenant acme (indie) holds 1.00 TB of 1 TB" in message
    assert "upgrade: datastrata tenants move acme --to dedicated-storage (tier professional)" in message
    assert refused.value.field == "quota"
    assert _events(runtime) == 1 and catalogue_of(runtime).usage("acme") == TB - 5  # nothing written
    catalogue_of(runtime).set_tier("acme", "enterprise")  # unlimited: the same write now goes through
    with tenant("acme"):
        portfolio.deposit("p1", "5")
    assert _events(runtime) == 2 and catalogue_of(runtime).usage("acme") > TB - 5 > before


def test_every_tier_has_its_model_quota_fee_sla_and_rate() -> None:
    assert [(t.name, t.model, t.quota_bytes, t.monthly_usd, t.sla_percent) for t in TIERS.values()] == [
        ("indie", "shared", TB, 500, 99.5),
        ("professional", "dedicated-storage", 10 * TB, 5_000, 99.9),
        ("enterprise", "dedicated-infrastructure", None, 50_000, 99.99),
    ]
    rates = [t.rate for t in TIERS.values()]
    assert rates == sorted(rates) and all(t.burst >= t.rate for t in TIERS.values())
    assert upgrade_of("indie") == TIERS["professional"] and upgrade_of("enterprise") is None
