"""`tenants offboard`: refused without a complete export; afterwards nothing of the tenant remains, others untouched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.cli import app as cli
from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation
from datastrata.core.tenancy import DEFAULT_TENANT, tenant
from datastrata.runtime import Runtime
from datastrata.runtime.tenants import TenantPlacement
from datastrata.systems.food.service import FoodService
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.tenancy.export import export_tenant, record_scope
from datastrata.tenancy.offboard import TENANT_OFFBOARDED, offboard_tenant
from datastrata.tenancy.tables import tenant_tables
from datastrata.tiering.objects import ObjectStore

NOW = datetime(2025, 10, 1, 12, tzinfo=UTC)
TENANTS = ("acme", "globex")


class _Tenants:
    """A directory of three shared tenants (the catalogue's interface, before the catalogue is in this branch)."""

    def multi_tenant(self) -> bool:
        return True

    def placement(self, tenant_id: str) -> TenantPlacement:
        if tenant_id not in (DEFAULT_TENANT, *TENANTS):
            raise NotFound(f"no tenant {tenant_id!r}", field="tenant_id")
        return TenantPlacement(tenant_id, "indie", "shared")

    def tenants(self) -> list[TenantPlacement]:
        return [self.placement(t) for t in (DEFAULT_TENANT, *TENANTS)]

    def invalidate(self) -> None:
        pass


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """Two tenants with food, master data and objects in one shared store."""
    settings = Settings(
        store=store_url, graph=f"ladybug:///{tmp_path / 'graph'}", objects=f"file://{tmp_path / 'objects'}"
    )
    opened = Runtime.open(settings, clock=FrozenClock(NOW))
    opened.tenants = _Tenants()
    food = opened.service("food", FoodService)
    masterdata = opened.service("masterdata", MasterDataService)
    objects = ObjectStore(settings.objects, clock=opened.clock)
    for t in TENANTS:
        with tenant(t):
            food.add_user("aiko", lat=35.5, lon=139.0)
            food.add_restaurant("r1", name="Sushi", address="1 Ginza", lat=35.6, lon=139.7, cuisines=["sushi"])
            food.place_order("aiko", "r1", order_id="o1")
            masterdata.put("customer", "C1", {"name": f"Aiko of {t}", "email": "aiko@example.com"}, actor="t")
        objects.put(f"tenants/{t}/photos/a.jpg", t.encode())
    yield opened
    opened.close()


def _counts(runtime: Runtime, tenant_id: str) -> dict[str, int]:
    with runtime.db.read() as tx:
        return {
            t: int(tx.scalar(f"SELECT COUNT(*) FROM {t} WHERE tenant_id = ?", (tenant_id,))) for t in tenant_tables(tx)
        }


def test_offboarding_is_refused_without_an_export_or_with_events_after_it(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(RuleViolation, match="has no export"):
        offboard_tenant(runtime, "acme", actor="test")
    export_tenant(runtime, "acme", tmp_path / "first")
    with tenant("acme"):
        runtime.service("food", FoodService).add_user("ben", lat=1.0, lon=2.0)
    with pytest.raises(RuleViolation, match="events after its export"):
        offboard_tenant(runtime, "acme", actor="test")
    with pytest.raises(RuleViolation, match="platform's records"):
        offboard_tenant(runtime, DEFAULT_TENANT, actor="test")
    with pytest.raises(NotFound):
        offboard_tenant(runtime, "initech", actor="test")
    assert sum(_counts(runtime, "acme").values()) > 0  # nothing was deleted


def test_after_offboarding_nothing_of_the_tenant_remains_and_the_other_is_untouched(
    runtime: Runtime, tmp_path: Path
) -> None:
    globex_before = _counts(runtime, "globex")
    globex_events = [e.to_dict() for e in runtime.log.read_all() if e.tenant_id == "globex"]
    export_tenant(runtime, "acme", tmp_path / "acme")

    done = offboard_tenant(runtime, "acme", actor="test")

    assert done.events["main"] == 4 and done.rows["main/food_users"] == 1
    assert _counts(runtime, "acme") == dict.fromkeys(globex_before, 0)  # every table carrying tenant_id
    assert [e for e in runtime.log.read_all() if e.tenant_id == "acme"] == []
    objects = ObjectStore(runtime.home.spec.objects)
    assert [o.key for o in objects.list("tenants/")] == ["tenants/globex/photos/a.jpg"]
    assert _counts(runtime, "globex") == globex_before
    assert [e.to_dict() for e in runtime.log.read_all() if e.tenant_id == "globex"] == globex_events
    with tenant("globex"):
        assert runtime.service("masterdata", MasterDataService).get("customer", "C1").attributes["name"] == (
            "Aiko of globex"
        )
    records = runtime.stream(record_scope("acme"))
    assert [r.type for r in records][-1] == TENANT_OFFBOARDED and records[-1].tenant_id == DEFAULT_TENANT
    assert offboard_tenant(runtime, "acme", actor="test").events == {"main": 0}  # again: nothing left, no error


def test_tenants_offboard_on_the_command_line_refuses_without_an_export(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATASTRATA_STORE", store_url)
    answer = CliRunner().invoke(cli, ["tenants", "offboard", "default"])
    assert answer.exit_code != 0 and "cannot be offboarded" in answer.output
