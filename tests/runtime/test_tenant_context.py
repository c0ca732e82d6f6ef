"""The tenant context: unset is not ``default``, what a store binds, and the fail-closed scope rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, TenantIsolationError, ValidationError
from datastrata.core.tenancy import Namespace, bound, current_tenant, namespace, platform, region, tenant, tenant_is_set
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.tenants import SingleTenant, TenantPlacement


class _TwoTenants(SingleTenant):
    """A directory that already holds a second tenant (what a catalogue with ``acme`` answers)."""

    def multi_tenant(self) -> bool:
        return True

    def placement(self, tenant: str) -> TenantPlacement:
        if tenant not in ("default", "acme"):
            raise NotFound(f"no tenant {tenant!r}", field="tenant_id")
        return TenantPlacement(tenant, "indie", "shared")


def test_an_unset_tenant_reads_as_default_but_is_not_set() -> None:
    assert current_tenant() == "default" and not tenant_is_set()
    assert bound().empty
    with tenant("default"):
        assert tenant_is_set() and bound().tenant == "default"
    assert not Scope.of("portfolio", "p").explicit
    assert Scope("portfolio", "p").explicit and Scope("portfolio", "p", tenant="acme").explicit
    with tenant("acme"):
        assert Scope.of("portfolio", "p").explicit


def test_bound_names_tenant_region_platform_and_namespace_and_refuses_bad_names() -> None:
    with tenant("acme"), region("asia"), namespace(Namespace("t_acme_1a2b3c4d", "t_acme_1a2b3c4d")):
        b = bound()
        assert (b.tenant, b.region, b.platform, b.namespace) == (
            "acme",
            "asia",
            False,
            Namespace("t_acme_1a2b3c4d", "t_acme_1a2b3c4d"),
        )
    with platform():
        assert bound().platform and not bound().empty
    assert bound().empty
    with pytest.raises(ValidationError, match="region"), region("Asia Pacific"):
        pass
    with pytest.raises(ValidationError, match="schema"):
        Namespace("bad; drop table x", None)


def test_once_several_tenants_exist_a_scope_with_no_tenant_is_refused(tmp_path: Path) -> None:
    settings = Settings(store=f"sqlite:///{tmp_path}/s.db", graph=f"ladybug:///{tmp_path}/graph")
    with Runtime.open(settings) as runtime:
        assert runtime.stream(Scope.of("portfolio", "p")) == []  # one tenant: the default is fine
        runtime.tenants = _TwoTenants()
        with pytest.raises(TenantIsolationError, match="--tenant"):
            runtime.stream(Scope.of("portfolio", "p"))
        with pytest.raises(TenantIsolationError), runtime.transaction(Scope.of("portfolio", "p")):
            pass
        assert runtime.stream(Scope("portfolio", "p", tenant="acme")) == []
        with tenant("acme"):
            assert runtime.stream(Scope.of("portfolio", "p")) == []
