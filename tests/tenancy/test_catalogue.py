"""The tenant catalogue: add, get, list, tier and state changes (audited), the stored directory, fail-closed scopes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import (
    ConcurrencyConflict,
    ConfigurationError,
    NotFound,
    TenantIsolationError,
    ValidationError,
)
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import tenant
from datastrata.runtime import LocationSpec, Runtime, Scope
from datastrata.runtime.tenants import StoredDirectory
from datastrata.tenancy import models
from datastrata.tenancy.catalogue import Catalogue, catalogue_of
from datastrata.tenancy.secrets import KEY_VARIABLE, open_sealed, seal

SILO_URL = "postgresql://acme_owner:s3cret-pw@db.acme.example:5432/acme"


@pytest.fixture
def runtime(store_url: str, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a fresh store of each engine."""
    with Runtime.open(Settings(store=store_url, graph=f"ladybug:///{tmp_path}/graph")) as opened:
        yield opened


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A catalogue key in the environment."""
    key = base64.urlsafe_b64encode(bytes(range(32))).decode()
    monkeypatch.setenv(KEY_VARIABLE, key)
    return key


class _SiloAt:
    """A dedicated-infrastructure provisioner that only names an existing server (what `--store URL` gives)."""

    def __init__(self) -> None:
        self.destroyed: list[str] = []

    def provision(self, runtime: Runtime, tenant: str, *, store: str | None = None) -> LocationSpec | None:
        if store is None:
            raise ValidationError("store: give --store URL", field="store")
        return LocationSpec(f"{tenant}-silo", store, "", "")

    def destroy(self, runtime: Runtime, tenant: str, spec: LocationSpec | None) -> None:
        self.destroyed.append(tenant)


def test_add_catalogues_an_indie_tenant_audited_and_the_store_turns_multi_tenant(runtime: Runtime) -> None:
    catalogue = Catalogue(runtime)
    assert not runtime.tenants.multi_tenant() and catalogue.list() == []
    added = catalogue.add("acme", "indie", actor="ak_000000000001")
    data = added.to_dict()
    assert (data["tenant"], data["tier"], data["model"], data["state"], data["epoch"]) == (
        "acme",
        "indie",
        "shared",
        "active",
        1,
    )
    assert data["location"] is None and data["usage"] == {"bytes": 0, "quota_bytes": 10**12, "quota": "1 TB"}
    assert (data["monthly_usd"], data["sla_percent"]) == (500, 99.5)
    assert runtime.tenants.multi_tenant()
    placement = runtime.tenants.placement("acme")
    assert (placement.tier, placement.model, placement.spec, placement.catalogued) == ("indie", "shared", None, True)
    assert not runtime.tenants.placement("default").catalogued  # the platform's own tenant, uncatalogued
    assert [t.tenant for t in runtime.tenants.tenants()] == ["acme", "default"]
    (entry,) = catalogue.audit("acme")
    assert (entry.actor, entry.action, entry.detail) == ("ak_000000000001", "add", {"model": "shared", "tier": "indie"})


def test_bad_or_repeated_adds_are_refused_and_write_nothing(runtime: Runtime) -> None:
    catalogue = catalogue_of(runtime)
    catalogue.add("acme", "indie")
    for args, error, says in (
        (("acme", "indie"), ConcurrencyConflict, "already catalogued"),
        (("beta", "gold"), ValidationError, "tier must be one of indie, professional, enterprise"),
        (("Bad Id", "indie"), ValidationError, "tenant_id must be"),
    ):
        with pytest.raises(error, match=says):
            catalogue.add(*args)
    with pytest.raises(ValidationError, match="drop --store"):
        catalogue.add("beta", "indie", store="sqlite:///elsewhere.db")
    assert [t.tenant for t in catalogue.list()] == ["acme"] and len(catalogue.audit()) == 1
    with pytest.raises(NotFound, match="no tenant 'beta'"):
        catalogue.get("beta")
    with pytest.raises(NotFound, match="tenants list"):
        runtime.tenants.placement("beta")


def test_tier_and_state_changes_are_audited_and_seen_by_the_directory(runtime: Runtime) -> None:
    catalogue = catalogue_of(runtime)
    catalogue.add("acme", "indie")
    assert catalogue.set_tier("acme", "professional", actor="ops").tier == "professional"
    assert runtime.tenants.placement("acme").tier == "professional"  # invalidated in this process
    assert catalogue.set_state("acme", "moving").state == "moving"
    with pytest.raises(ValidationError, match="state must be one of"):
        catalogue.set_state("acme", "asleep")
    with pytest.raises(ValidationError, match="tier must be"):
        catalogue.set_tier("acme", "platinum")
    with pytest.raises(NotFound):
        catalogue.set_tier("nobody", "indie")
    assert [(e.action, e.detail) for e in catalogue.audit("acme")] == [
        ("add", {"model": "shared", "tier": "indie"}),
        ("set_tier", {"from": "indie", "to": "professional"}),
        ("set_state", {"from": "active", "to": "moving"}),
    ]


def test_multi_tenant_is_re_read_at_most_every_ttl_and_then_stays_true(runtime: Runtime) -> None:
    now = [100.0]
    directory = StoredDirectory(runtime.db, ttl=1.0, clock=lambda: now[0])
    assert not directory.multi_tenant()
    Catalogue(runtime).add("acme", "indie")  # another directory (another process) changes the catalogue
    assert not directory.multi_tenant()  # within the TTL: the cached answer
    now[0] += 1.0
    assert directory.multi_tenant()
    with runtime.db.transaction() as tx:
        tx.execute("DELETE FROM tenancy_tenants")
    now[0] += 5.0
    directory.invalidate()
    assert directory.multi_tenant()  # monotonic: once several tenants were seen, a scope must name one


def test_after_a_second_tenant_a_scope_with_no_tenant_is_refused(runtime: Runtime) -> None:
    runtime.append(Scope.of("portfolio", "p1"), [NewEvent("Opened", {})])  # one tenant: fine as before
    catalogue_of(runtime).add("acme", "indie")
    with pytest.raises(TenantIsolationError, match="--tenant"):
        runtime.append(Scope.of("portfolio", "p1"), [NewEvent("Opened", {})])
    with pytest.raises(TenantIsolationError, match="DATASTRATA_TENANT"), runtime.read(Scope.of("portfolio", "p1")):
        pass
    with tenant("acme"):
        runtime.append(Scope.of("portfolio", "p2"), [NewEvent("Opened", {})])
    runtime.append(Scope("portfolio", "p3", tenant="default"), [NewEvent("Opened", {})])  # named: fine


def test_a_platform_scope_needs_the_platform_context_and_cannot_append(runtime: Runtime) -> None:
    scope = Scope.platform("fab")
    with pytest.raises(TenantIsolationError, match="platform"), runtime.read(scope):
        pass
    with runtime.as_platform(), runtime.read(scope) as work:
        assert work.scalar("SELECT COUNT(*) FROM eventlog_events") == 0
        with pytest.raises(ValidationError, match="spans every tenant"):
            work.append([NewEvent("X", {})], scope=scope.at("k"))
        with pytest.raises(ValidationError, match="no aggregate key"):
            work.append([NewEvent("X", {})])


def test_a_silo_store_is_kept_sealed_and_shown_without_its_password(
    runtime: Runtime, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    silo = _SiloAt()
    monkeypatch.setitem(models.PROVISIONERS, "dedicated-infrastructure", silo)
    shown = catalogue_of(runtime).add("acme", "enterprise", store=SILO_URL).to_dict()
    assert shown["location"]["store"] == "postgresql://acme_owner:***@db.acme.example:5432/acme"
    assert "s3cret" not in str(shown) and shown["usage"]["quota"] == "unlimited"
    assert shown["usage"]["bytes"] is None  # its server is unreachable: usage unknown, the rest still shown
    with runtime.db.read() as tx:
        (sealed,) = tx.one("SELECT store_enc FROM tenancy_tenants WHERE tenant_id = 'acme'") or ()
        rows = str(tx.query("SELECT * FROM tenancy_tenants")) + str(tx.query("SELECT * FROM tenancy_audit"))
    assert "s3cret" not in rows and "acme_owner" not in rows and str(sealed).startswith("v1:")
    assert runtime.tenants.placement("acme").spec == LocationSpec("acme-silo", SILO_URL, "", "")
    with pytest.raises(ConfigurationError, match="do not open"):
        open_sealed("other", str(sealed))  # a ciphertext copied onto another tenant's row does not open
    monkeypatch.delenv(KEY_VARIABLE)
    with pytest.raises(ConfigurationError, match=KEY_VARIABLE):
        catalogue_of(runtime).get("acme")
    monkeypatch.setenv(KEY_VARIABLE, "too-short")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        seal("acme", "x")


def test_a_failed_catalogue_write_destroys_what_was_provisioned(
    runtime: Runtime, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    silo = _SiloAt()
    monkeypatch.setitem(models.PROVISIONERS, "dedicated-infrastructure", silo)
    catalogue = catalogue_of(runtime)
    monkeypatch.setattr("datastrata.tenancy.catalogue._audit", _failing_audit)
    with pytest.raises(RuntimeError, match="audit down"):
        catalogue.add("acme", "enterprise", store=SILO_URL)
    assert silo.destroyed == ["acme"] and catalogue.list() == []


def _failing_audit(*args: object) -> None:
    raise RuntimeError("audit down")
