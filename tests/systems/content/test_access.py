"""Regional visibility and grants across studios: the owner's scope serves a grant, no grant is NotFound."""

from __future__ import annotations

from datetime import timedelta

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.tenancy import tenant
from datastrata.runtime import Scope
from datastrata.systems.content.service import ContentService

SPAIN, CANADA, FRANCE = "madrid-studio", "toronto-post", "paris-management"


def test_an_item_restricted_to_a_region_is_invisible_from_elsewhere(svc: ContentService) -> None:
    with tenant("hbo-max"):
        svc.upload("asia-only", "Asia", b"a", regions=["asia", "oceania"], caller_region="asia")
        svc.upload("everywhere", "All", b"b")
        assert [i.item_id for i in svc.items(caller_region="asia")] == ["asia-only", "everywhere"]
        assert [i.item_id for i in svc.items(caller_region="oceania")] == ["asia-only", "everywhere"]
        assert [i.item_id for i in svc.items(caller_region="europe")] == ["everywhere"]
        assert [i.item_id for i in svc.items()] == ["everywhere"]  # no region named: restricted items stay hidden
        for step in (svc.item, svc.renditions, svc.footage, svc.publish):
            with pytest.raises(NotFound):
                step("asia-only", caller_region="europe")  # type: ignore[operator]
        assert svc.item("asia-only", caller_region="asia").regions == ("asia", "oceania")
        with pytest.raises(ValidationError, match="from one of its regions") as refused:
            svc.upload("eu-only", "EU", b"c", regions=["europe"], caller_region="asia")
        assert refused.value.field == "regions"
        assert [i.item_id for i in svc.items(caller_region="europe")] == ["everywhere"]
    with tenant("hbo-max"):
        assert [i.item_id for i in svc.items(caller_region="*")] == ["asia-only", "everywhere"]
    with tenant("someone-else"):
        assert svc.items(caller_region="asia") == []


def _setup(svc: ContentService, clock: FrozenClock) -> tuple[str, str]:
    with tenant(SPAIN):
        svc.upload("footage-1", "Rodaje", b"raw footage")
        svc.upload("footage-2", "Other", b"other footage")
        write = svc.grant(CANADA, "footage-1", "footage:write", clock() + timedelta(days=10))
        read = svc.grant(FRANCE, "footage-1", "status:read", clock() + timedelta(days=1))
    return write.id, read.id


def test_grants_allow_exactly_what_they_name_under_the_owners_scope(svc: ContentService, clock: FrozenClock) -> None:
    write_id, read_id = _setup(svc, clock)
    with tenant(CANADA):
        assert svc.granted_footage(SPAIN, "footage-1") == b"raw footage"  # write includes read
        done = svc.granted_replace_footage(SPAIN, "footage-1", b"graded cut")
        assert done.stream_id == "content-footage-1"
        assert done.events[0].payload["by"] == CANADA
        with pytest.raises(NotFound):
            svc.granted_footage(SPAIN, "footage-2")  # another item of the owner
        with pytest.raises(NotFound):
            svc.item("footage-1")  # the grant is no share of the grantee's own items
    events = svc.runtime.stream(Scope("content", "footage-1", SPAIN))
    assert [e.type for e in events] == ["ContentUploaded", "FootageReplaced"]  # in the owner's stream
    assert {e.tenant_id for e in events} == {SPAIN}
    with tenant(SPAIN):
        assert svc.footage("footage-1") == b"graded cut"
        stored = [
            o.key for o in svc.objects(svc.scope("footage-1")).list(f"tenants/{SPAIN}/content/production/footage-1/")
        ]
        assert stored == [f"tenants/{SPAIN}/content/production/footage-1/footage-v2"]  # the replaced version is gone
    with tenant(FRANCE):
        assert svc.granted_status(SPAIN, "footage-1")["footage_version"] == 2
        assert "budget" not in svc.granted_status(SPAIN, "footage-1")
        with pytest.raises(NotFound):
            svc.granted_footage(SPAIN, "footage-1")  # status only: the footage answers 404
        with pytest.raises(NotFound):
            svc.granted_replace_footage(SPAIN, "footage-1", b"x")
    clock.advance(timedelta(days=1))
    with tenant(FRANCE), pytest.raises(NotFound):
        svc.granted_status(SPAIN, "footage-1")  # expired
    with tenant(SPAIN):
        svc.revoke(write_id)
        with pytest.raises(NotFound):
            svc.revoke(read_id[:-1] + "0" if read_id[-1] != "0" else read_id[:-1] + "1")
    with tenant(CANADA):
        with pytest.raises(NotFound):
            svc.granted_footage(SPAIN, "footage-1")  # revoked
        with pytest.raises(NotFound):
            svc.revoke(read_id)  # only the owner revokes


def test_grants_and_their_audit_are_visible_to_both_sides_only(svc: ContentService, clock: FrozenClock) -> None:
    write_id, _ = _setup(svc, clock)
    with tenant(CANADA):
        svc.granted_footage(SPAIN, "footage-1")
    with tenant(SPAIN):
        svc.revoke(write_id)
    now = clock()
    owner_side = {g.id: g.to_dict(now)["state"] for g in svc.grants.list_for(SPAIN)}
    grantee_side = {g.id: g.to_dict(now)["state"] for g in svc.grants.list_for(CANADA)}
    assert owner_side[write_id] == grantee_side[write_id] == "revoked"
    assert len(owner_side) == 2 and list(grantee_side) == [write_id]
    trail = [(a["action"], a["actor"]) for a in svc.grants.audit(CANADA, write_id)]
    assert trail == [("granted", SPAIN), ("used:footage:read", CANADA), ("revoked", SPAIN)]
    assert svc.grants.audit(SPAIN, write_id) == svc.grants.audit(CANADA, write_id)
    assert svc.grants.list_for("bystander") == [] and svc.grants.audit("bystander") == []


def test_grant_refusals_name_their_field(svc: ContentService, clock: FrozenClock) -> None:
    with tenant(SPAIN):
        svc.upload("f", "F", b"x")
        for args, field in [
            ((SPAIN, "f", "status:read", clock() + timedelta(days=1)), "grantee"),
            ((CANADA, "f", "delete", clock() + timedelta(days=1)), "permission"),
            ((CANADA, "f", "status:read", clock()), "expires_at"),
        ]:
            with pytest.raises(ValidationError) as refused:
                svc.grant(*args)
            assert refused.value.field == field
        with pytest.raises(NotFound):
            svc.grant(CANADA, "missing", "status:read", clock() + timedelta(days=1))
        assert svc.grants.list_for(SPAIN) == []
