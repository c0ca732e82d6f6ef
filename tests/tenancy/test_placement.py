"""The by-tenant placement: a tenant with a location of its own lives there, every other scope at home."""

from __future__ import annotations

from pathlib import Path

from datastrata.core.config import Settings
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.placement import ByTenant
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.runtime.tenants import TenantPlacement
from tests.tenancy.directory import Listed

HOME = LocationSpec("main", "sqlite:///home.db", "", "")
BRIDGE = LocationSpec("t_acme", "postgresql://app@db/home", "", "", namespace="t_acme", role="t_acme")
SILO = LocationSpec("t_big", "postgresql://app@other/big", "", "")


def directory() -> Listed:
    listed = Listed()
    listed.placed["acme"] = TenantPlacement("acme", "professional", "dedicated-storage", spec=BRIDGE)
    listed.placed["big"] = TenantPlacement("big", "enterprise", "dedicated-infrastructure", spec=SILO)
    listed.placed["small"] = TenantPlacement("small", "indie", "shared")
    return listed


def test_a_tenant_with_a_location_lives_there_and_every_other_scope_at_home() -> None:
    placement = ByTenant(directory(), HOME)
    assert placement.locate(Scope("portfolio", "P1", "acme")) is BRIDGE
    assert placement.locate(Scope("portfolio", "P1", "big")) is SILO
    assert placement.locate(Scope("portfolio", "P1", "small")) is HOME
    assert placement.locate(Scope("portfolio", "P1", "default")) is HOME
    assert placement.locations(Scope("match", None, "acme")) == [BRIDGE]


def test_an_unknown_tenant_is_placed_at_home_where_the_isolation_rules_refuse_it() -> None:
    assert ByTenant(directory(), HOME).locate(Scope("portfolio", "P1", "nobody")) is HOME


def test_all_names_home_first_then_each_tenant_location_once() -> None:
    listed = directory()
    listed.placed["acme2"] = TenantPlacement("acme2", "professional", "dedicated-storage", spec=BRIDGE)
    assert ByTenant(listed, HOME).all() == [HOME, BRIDGE, SILO]


def test_the_placement_follows_the_directory_as_tenants_are_added() -> None:
    listed = Listed()
    placement = ByTenant(listed, HOME)
    assert placement.all() == [HOME]
    listed.placed["acme"] = TenantPlacement("acme", "professional", "dedicated-storage", spec=BRIDGE)
    assert placement.all() == [HOME, BRIDGE]
    assert placement.locate(Scope("portfolio", "P1", "acme")) is BRIDGE


def test_runtime_open_places_by_tenant_by_default(tmp_path: Path) -> None:
    with Runtime.open(Settings.embedded(tmp_path)) as runtime:
        assert runtime.placement.kind == "by_tenant"
        assert [s.name for s in runtime.placement.all()] == ["main"]
