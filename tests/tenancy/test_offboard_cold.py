"""Offboarding takes a tenant's rows out of every shared cold Parquet part; the other tenants' rows all stay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from datastrata.catalog import migrate as migrate_all
from datastrata.core.config import Settings
from datastrata.core.errors import RuleViolation
from datastrata.runtime import Runtime
from datastrata.runtime.roles import Roles, grant
from datastrata.stores.open import open_database
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.export import export_tenant
from datastrata.tenancy.offboard import STEP, offboard_tenant
from datastrata.testing.servers import RoleUrls
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.tenantrows import ArchivedParts, TenantRows
from tests.tenancy.coldrows import (
    cold_days,
    expected,
    fill,
    iceberg_rows,
    kill_child,
    part_rows,
    queried,
    share_rows,
    stored_parts,
    tier,
    tier_mover,
)


@pytest.fixture
def settings(home_url: str, tmp_path: Path) -> Settings:
    """A migrated home store of each engine with an objects folder."""
    settings = Settings(store=home_url, graph=f"ladybug:///{tmp_path / 'graph'}", objects=f"file://{tmp_path / 'o'}")
    if home_url.startswith("sqlite"):
        migrate_all(settings)
    return settings


@pytest.fixture
def runtime(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The home runtime with acme and globex catalogued (shared) and their old readings in shared cold parts."""
    with Runtime.open(settings) as opened:
        monkeypatch.setattr(opened.tenants, "ttl", 0.01)
        for who in ("acme", "globex"):
            catalogue_of(opened).add(who, "indie")
        fill(opened.db, ("acme", "globex"))
        tier(opened.db, settings.objects)
        yield opened


def _mover(runtime: Runtime) -> Mover:
    return tier_mover(runtime.db, runtime.settings.objects)


def test_offboarding_takes_the_tenants_rows_out_of_every_shared_part_and_leaves_the_others(
    runtime: Runtime, tmp_path: Path
) -> None:
    mover = _mover(runtime)
    before = part_rows(mover)
    assert len(before) == cold_days() and all({r[0] for r in rows} == {"acme", "globex"} for rows in before.values())
    globex = queried(mover, "globex")
    assert globex == expected("globex")
    export_tenant(runtime, "acme", tmp_path / "acme")

    done = offboard_tenant(runtime, "acme")

    assert done.cold == {"main": len(expected("acme", cold=True))} and done.to_dict()["cold_rows"] == done.cold
    after = part_rows(mover)
    assert len(after) == cold_days() and set(after).isdisjoint(before)  # each part a new object, its record moved
    assert all(r[0] == "globex" for rows in after.values() for r in rows)  # acme is gone from every part
    assert sorted(r for rows in after.values() for r in rows) == expected("globex", cold=True)  # globex all there
    assert stored_parts(mover.objects) == sorted(after)  # the old parts were deleted
    assert iceberg_rows(mover) == expected("globex", cold=True)  # the Iceberg table names the new files only
    assert queried(mover, "globex") == globex and queried(mover, "acme") == []
    steps = [e.detail for e in catalogue_of(runtime).audit("acme") if e.action == STEP]
    assert [(d["location"], d["step"]) for d in steps] == [("main", "deleted"), ("main", "cold")]
    assert steps[-1]["parts"] == cold_days()
    assert offboard_tenant(runtime, "acme").cold == done.cold  # finished: the recorded result


def test_an_archived_part_refuses_offboarding_until_it_is_restored(runtime: Runtime, tmp_path: Path) -> None:
    mover = _mover(runtime)
    day, parts = sorted(mover.cold_parts("readings").items())[0]
    frozen = parts[0].location
    mover.objects.set_class(frozen, "GLACIER")
    export_tenant(runtime, "acme", tmp_path / "acme")
    with pytest.raises(ArchivedParts, match=rf"readings {day}.*datastrata tiering restore POLICY readings {day}"):
        offboard_tenant(runtime, "acme")
    assert catalogue_of(runtime).get("acme").state == "active"  # refused before anything changed
    assert len(share_rows(TenantRows(runtime.db, mover.objects), "acme")) == len(expected("acme", cold=True)) - 3

    ready = mover.objects.restore(frozen, tier="expedited", days=1).ready_at
    with pytest.raises(RuleViolation, match="archive class"):  # being restored: not readable yet
        TenantRows(runtime.db, mover.objects).remove("acme")
    objects = ObjectStore(runtime.settings.objects, clock=lambda: ready + timedelta(seconds=1))
    rows = TenantRows(runtime.db, objects)
    assert rows.remove("acme") == (cold_days(), len(expected("acme", cold=True)))
    rewritten = next(r for r in rows.records() if r.item == day)
    assert objects.info(rewritten.location).storage_class == "GLACIER"  # the part keeps its class (archived again)
    assert [r.location for r in rows.share("globex").archived] == [rewritten.location]
    held = pq.read_table(objects.path(rewritten.location)).column("tenant_id").to_pylist()
    assert set(held) == {"globex"} and len(held) == 3
    assert share_rows(rows, "acme") == [] and rows.share("acme").archived == rows.share("globex").archived


@pytest.mark.parametrize("kill_at", ["written", "recorded"])
def test_a_kill_during_the_rewrite_resumes_and_finishes(
    runtime: Runtime, settings: Settings, tmp_path: Path, kill_at: str
) -> None:
    """SIGKILL after a new part is written (not yet recorded), or after its record moved (the old part not yet gone)."""
    export_tenant(runtime, "acme", tmp_path / "acme")
    kill_child("offboard", settings, kill_at, 2)  # the second part, mid-way
    runtime.tenants.invalidate()
    assert catalogue_of(runtime).get("acme").state == "offboarding"

    done = offboard_tenant(runtime, "acme")

    mover = _mover(runtime)
    after = part_rows(mover)
    assert all(r[0] == "globex" for rows in after.values() for r in rows)
    assert sorted(r for rows in after.values() for r in rows) == expected("globex", cold=True)
    assert stored_parts(mover.objects) == sorted(after)  # no part left over: a redone write replaced its copy
    assert iceberg_rows(mover) == expected("globex", cold=True)
    assert catalogue_of(runtime).get("acme").state == "offboarded" and done.cold["main"] > 0


def test_offboarding_as_the_platform_role_while_the_application_connects_without_rights_over_rls(
    app_role_pg: RoleUrls, tmp_path: Path
) -> None:
    """The application connects as the non-owner role (row-level security on), the platform role offboards."""
    objects = f"file://{tmp_path / 'o'}"
    settings = Settings(
        store=app_role_pg.app,
        platform_store=app_role_pg.platform,
        graph=f"ladybug:///{tmp_path / 'graph'}",
        objects=objects,
    )
    with open_database(app_role_pg.owner) as owner:
        fill(owner, ("acme", "globex"))
        grant(owner, Roles(app_role_pg.app_role, app_role_pg.platform_role))
    with open_database(app_role_pg.platform) as platform_db:
        tier(platform_db, objects)  # the tiering job runs as the platform
    with Runtime.open(settings) as runtime:
        runtime.tenants.ttl = 0.01  # type: ignore[attr-defined]
        catalogue = catalogue_of(runtime)
        for who in ("acme", "globex"):
            catalogue.add(who, "indie")
        export_tenant(runtime, "acme", tmp_path / "acme")
        done = offboard_tenant(runtime, "acme")
        assert done.cold == {"main": len(expected("acme", cold=True))}
        assert catalogue.get("acme").state == "offboarded"
    with open_database(app_role_pg.owner) as owner:
        mover = tier_mover(owner, objects)
        assert sorted(r for rows in part_rows(mover).values() for r in rows) == expected("globex", cold=True)
    with psycopg.connect(app_role_pg.owner) as conn:
        left = conn.execute("SELECT tenant_id, count(*) FROM fab_readings GROUP BY 1 ORDER BY 1").fetchall()
    assert left == [("globex", len(expected("globex", cold=False)))]


def test_on_an_s3_object_store_the_shared_parts_are_rewritten_too(
    s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same offboarding with the parts in an S3 bucket (moto's server) and their Iceberg table beside them."""
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'home.db'}", graph=f"ladybug:///{tmp_path / 'graph'}", objects=s3_url
    )
    migrate_all(settings)
    with Runtime.open(settings) as runtime:
        monkeypatch.setattr(runtime.tenants, "ttl", 0.01)
        for who in ("acme", "globex"):
            catalogue_of(runtime).add(who, "indie")
        fill(runtime.db, ("acme", "globex"))
        mover = tier(runtime.db, s3_url)
        before = part_rows(mover)
        export_tenant(runtime, "acme", tmp_path / "acme")
        done = offboard_tenant(runtime, "acme")
        after = part_rows(mover)
    assert done.cold == {"main": len(expected("acme", cold=True))} and set(after).isdisjoint(before)
    assert sorted(r for rows in after.values() for r in rows) == expected("globex", cold=True)
    assert stored_parts(mover.objects) == sorted(after) and iceberg_rows(mover) == expected("globex", cold=True)
