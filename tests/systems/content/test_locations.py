"""A studio in a location of its own: its items, events and footage stay there; a grant is served from there.

The placement here is a test stand-in for the `by_tenant` placement (one studio in its own SQLite file and object
folder, every other scope in the home location): the content service only asks the runtime's placement.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.location import LocationSpec
from datastrata.systems.content.service import ContentService

OWNER, GRANTEE = "madrid-studio", "toronto-post"


class OwnLocation:
    """`OWNER` in its own location, everyone else at home."""

    kind = "by_tenant"

    def __init__(self, home: LocationSpec, own: LocationSpec) -> None:
        self.home, self.own = home, own

    def locate(self, scope: Scope) -> LocationSpec:
        return self.own if scope.tenant == OWNER else self.home

    def locations(self, scope: Scope) -> list[LocationSpec]:
        return [self.locate(scope)]

    def all(self) -> list[LocationSpec]:
        return [self.home, self.own]


@pytest.fixture
def svc(tmp_path: Path, clock: FrozenClock) -> Iterator[ContentService]:
    home = LocationSpec("main", f"sqlite:///{tmp_path / 'home.db'}", "", f"file://{tmp_path / 'objects'}")
    own = LocationSpec("madrid", f"sqlite:///{tmp_path / 'madrid.db'}", "", f"file://{tmp_path / 'madrid'}")
    settings = Settings(store=home.store, objects=home.objects)
    runtime = Runtime.open(settings, clock=clock, placement=OwnLocation(home, own))
    yield ContentService(runtime)
    runtime.close()


def test_a_grant_is_served_by_the_owners_location_and_nothing_lands_at_home(
    svc: ContentService, clock: FrozenClock, tmp_path: Path
) -> None:
    with tenant(OWNER):
        svc.upload("f1", "Rodaje", b"raw footage", budget="200000000")
        svc.grant(GRANTEE, "f1", "footage:write", clock() + timedelta(days=5))
    with tenant(GRANTEE):
        svc.granted_replace_footage(OWNER, "f1", b"graded cut")
        assert svc.granted_footage(OWNER, "f1") == b"graded cut"
    own = svc.runtime.locate(Scope("content", "f1", OWNER))
    home = svc.runtime.home
    assert own is not home
    assert [e.type for e in own.log.read("content-f1", tenant=OWNER)] == ["ContentUploaded", "FootageReplaced"]
    assert home.log.read("content-f1", tenant=OWNER) == []
    with home.db.read() as tx:
        assert tx.scalar("SELECT count(*) FROM content_items") == 0
        assert tx.scalar("SELECT count(*) FROM tenancy_grants") == 1  # grants are the home store's, both sides see them
    assert [o.key for o in svc.objects_at(own.spec).list("tenants/")] == [
        f"tenants/{OWNER}/content/production/f1/footage-v2"
    ]
    assert svc.objects_at(home.spec).list("") == []
    clock.advance(timedelta(days=30))
    moved = svc.lifecycle_job().result["moved"]
    assert [(m["item"], m["to_class"]) for m in moved] == [
        (f"tenants/{OWNER}/content/production/f1/footage-v2", "STANDARD_IA")
    ]
    with tenant(OWNER):
        report = svc.cost()
    assert report.by_class["STANDARD_IA"][0] == 1
