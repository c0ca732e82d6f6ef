"""Items through production → published → archived → published, each stage's storage policy on a moved clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.tenancy import tenant
from datastrata.runtime import Scope
from datastrata.systems.content.service import ContentService, footage_key

STUDIO = "disney-studio"


def storage(svc: ContentService, item_id: str) -> str:
    """The footage's storage class as the object store holds it ("gone" once expired)."""
    item = svc.item(item_id)
    scope = svc.scope(item_id)
    objects = svc.objects(scope)
    return objects.info(item.object_key).storage_class if objects.exists(item.object_key) else "gone"


def types(svc: ContentService, item_id: str) -> list[str]:
    return [e.type for e in svc.runtime.stream(Scope.of("content", item_id))]


def test_the_lifecycle_moves_footage_between_stage_prefixes_and_refuses_other_steps(svc: ContentService) -> None:
    with tenant(STUDIO):
        svc.upload("s1", "Series one", b"raw 4K footage", budget="5000000", expected_views=20_000_000, key="u1")
        assert svc.upload(
            "s1", "Series one", b"raw 4K footage", budget="5000000", expected_views=20_000_000, key="u1"
        ).duplicate
        with pytest.raises(RuleViolation, match="already exists") as exists:
            svc.upload("s1", "Another", b"other")
        assert exists.value.field == "item_id"
        assert svc.footage("s1") == b"raw 4K footage"  # the refused upload left the first one's footage alone
        with pytest.raises(RuleViolation, match="it can: publish") as early:
            svc.archive("s1")
        assert early.value.field == "stage"
        with pytest.raises(RuleViolation, match="only an archived item is republished"):
            svc.republish("s1")
        svc.publish("s1")
        item = svc.item("s1")
        assert (item.stage, item.object_key) == ("published", footage_key("published", STUDIO, "s1"))
        assert item.object_key.endswith("/s1/footage-v1")
        assert not svc.objects(svc.scope("s1")).exists(footage_key("production", STUDIO, "s1"))
        with pytest.raises(RuleViolation, match="it can: archive"):
            svc.publish("s1")
        svc.archive("s1")
        assert svc.item("s1").stage == "archived"
        svc.republish("s1")  # rights return the same day: the footage is still readable, no restore
        assert svc.item("s1").stage == "published"
        assert svc.footage("s1") == b"raw 4K footage"
        assert types(svc, "s1") == [
            "ContentUploaded",
            "ContentPublished",
            "RenditionsRecorded",
            "ContentArchived",
            "ContentRepublished",
            "RenditionsRecorded",
        ]


def test_refusals_name_their_field_and_store_nothing(lite: ContentService) -> None:
    with tenant(STUDIO):
        for kwargs, field in [
            ({"item_id": "Bad Id"}, "item_id"),
            ({"title": ""}, "title"),
            ({"budget": "-1"}, "budget"),
            ({"budget": "1.001"}, "budget"),
            ({"expected_views": -5}, "expected_views"),
            ({"footage": b""}, "footage"),
            ({"regions": ["Asia!"]}, "regions"),
            ({"regions": ["*"]}, "regions"),
        ]:
            args = {"item_id": "ok", "title": "T", "footage": b"x", "budget": "1", "expected_views": 1, **kwargs}
            with pytest.raises(ValidationError) as refused:
                lite.upload(**args)  # type: ignore[arg-type]
            assert refused.value.field == field
        assert lite.items() == []
        with pytest.raises(NotFound):
            lite.publish("missing")


def test_publishing_records_the_four_renditions(svc: ContentService) -> None:
    with tenant(STUDIO):
        svc.upload("film", "Film", b"master", budget="1")
        assert svc.renditions("film") == []
        svc.publish("film")
        assert svc.renditions("film") == [
            {"resolution": "4K", "bitrate": "15000k", "target": "premium"},
            {"resolution": "1080p", "bitrate": "5000k", "target": "standard"},
            {"resolution": "720p", "bitrate": "2500k", "target": "mobile"},
            {"resolution": "480p", "bitrate": "1000k", "target": "low_bandwidth"},
        ]


def test_the_lifecycle_job_walks_an_item_through_every_storage_class(svc: ContentService, clock: FrozenClock) -> None:
    with tenant(STUDIO):
        svc.upload("doc", "Documentary", b"footage" * 100, budget="200000000")  # premium: STANDARD
        assert storage(svc, "doc") == "STANDARD"

        def run(days: float) -> None:
            clock.advance(timedelta(days=days))
            svc.lifecycle_job()

        run(29)
        assert storage(svc, "doc") == "STANDARD"
        run(1)  # production: 30 days → infrequent access
        assert storage(svc, "doc") == "STANDARD_IA"
        run(60)  # 90 days → archive
        assert storage(svc, "doc") == "GLACIER"
        ask = svc.publish("doc")  # archived footage: a restore first, finished by the lifecycle job
        assert [e.type for e in ask.events] == ["FootageRestoreRequested"]
        assert svc.item("doc").pending_stage == "published"
        with pytest.raises(RuleViolation, match="waiting for its footage's restore"):
            svc.publish("doc")
        clock.advance(timedelta(hours=5))  # GLACIER standard restore: 5 hours
        done = svc.lifecycle_job().result
        assert done["restored"] == [{"tenant": STUDIO, "item_id": "doc"}]
        assert (svc.item("doc").stage, storage(svc, "doc")) == ("published", "STANDARD")
        run(364)
        assert storage(svc, "doc") == "STANDARD"
        run(1)  # published: 365 days → infrequent access
        assert storage(svc, "doc") == "STANDARD_IA"
        run(730)  # 1,095 days → archive
        assert storage(svc, "doc") == "GLACIER"
        svc.archive("doc")
        clock.advance(timedelta(hours=5))
        svc.lifecycle_job()  # finishes the archive: the footage now sits in the archived prefix, STANDARD
        assert (svc.item("doc").stage, storage(svc, "doc")) == ("archived", "STANDARD")
        run(1)  # archived: 1 day → archive
        assert storage(svc, "doc") == "GLACIER"
        run(89)  # 90 days → deep archive
        assert storage(svc, "doc") == "DEEP_ARCHIVE"
        run(2555 - 90 - 1)
        assert storage(svc, "doc") == "DEEP_ARCHIVE"
        run(1)  # expire at 2,555 days
        assert storage(svc, "doc") == "gone"
        with pytest.raises(RuleViolation, match="expired from the archive"):
            svc.republish("doc")
