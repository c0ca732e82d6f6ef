"""Tier reviews: accepting one changes the studio's tier and moves it live to the next model; who may accept it."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.cli import app as cli
from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.tenancy import region, tenant
from datastrata.runtime import Runtime
from datastrata.security.keys import key_store
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.catalogue import catalogue_of
from datastrata.tenancy.secrets import KEY_VARIABLE
from tests.conftest import finished_job

STUDIO, OTHER = "indie-creator", "other-studio"


@pytest.fixture(autouse=True)
def platform_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform key for this test's own stores (a tenant's own location is kept sealed in the catalogue)."""
    monkeypatch.setenv(KEY_VARIABLE, base64.urlsafe_b64encode(os.urandom(32)).decode())


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return Settings(store=store_url, objects=f"file://{tmp_path / 'objects'}")


@pytest.fixture
def catalogued(settings: Settings, clock: FrozenClock) -> Iterator[ContentService]:
    """The content service on a store whose catalogue holds two indie studios (shared model)."""
    runtime = Runtime.open(settings, clock=clock)
    for studio in (STUDIO, OTHER):
        catalogue_of(runtime).add(studio, "indie")
    yield ContentService(runtime)
    runtime.close()


def flag_review(svc: ContentService, clock: FrozenClock, item_id: str = "hit") -> str:
    """Upload `item_id` for the current studio and give it a viral hour; return the review it flags."""
    hour = clock().replace(minute=0) - timedelta(hours=2)
    svc.upload(item_id, "Hit", b"x" * 1000, expected_views=5)
    svc.record_views(item_id, hour, {"eu": 1})
    viral = svc.record_views(item_id, hour + timedelta(hours=1), {f"r{i:02d}": 20_000 for i in range(11)})
    assert [e.type for e in viral.events] == ["ViewsRecorded", "ContentWentViral", "TierReviewFlagged"]
    return str(viral.events[-1].payload["review_id"])


def test_an_accepted_review_moves_the_studio_to_the_next_model_with_its_items(
    catalogued: ContentService, clock: FrozenClock
) -> None:
    svc, runtime = catalogued, catalogued.runtime
    with tenant(OTHER):
        svc.upload("o1", "Other", b"o" * 10)
    with tenant(STUDIO):
        svc.upload("calm", "Calm", b"c" * 10, regions=["asia"], caller_region="asia")
        review_id = flag_review(svc, clock)
        accepted = svc.accept_review(review_id, actor="ak_test", grace=0)
        assert accepted.job is not None and accepted.job.kind == "tenant-move"
        job = svc.tier_reviews.wait(accepted.job)
        assert job.state == "succeeded", job.error
        placement = runtime.tenants.placement(STUDIO)
        assert (placement.tier, placement.model, placement.state) == ("professional", "dedicated-storage", "active")
        here = runtime.locate(svc.scope("hit"))
        assert here is not runtime.home
        assert [i.item_id for i in svc.items(caller_region="asia")] == ["calm", "hit"]  # read at the new place
        assert svc.item("hit").placement == "premium" and svc.item("calm", caller_region="asia").regions == ("asia",)
        with pytest.raises(NotFound):
            svc.item("calm", caller_region="europe")  # the region rule holds there too
        [shown] = svc.reviews()
        assert shown["state"] == "accepted"
        assert {k: shown["move"][k] for k in ("id", "job", "tier", "to", "state", "step")} == {
            "id": job.target,
            "job": job.id,
            "tier": "professional",
            "to": "dedicated-storage",
            "state": "completed",
            "step": "complete",
        }
        assert [e.type for e in here.log.read("content-hit", tenant=STUDIO)][:2] == ["ContentUploaded", "ViewsRecorded"]
        svc.record_views("calm", clock().replace(minute=0), {"asia": 3}, caller_region="asia")  # works where it lives
        assert svc.footage("hit") == b"x" * 1000  # the footage moved with it
        svc.publish("hit")  # and is moved to the published prefix there
        assert svc.objects(svc.scope("hit")).exists(svc.item("hit").object_key)
    for studio, where, held in ((STUDIO, here, 2), (STUDIO, runtime.home, 0), (OTHER, runtime.home, 1)):
        with tenant(studio), region("asia"), where.db.read() as tx:  # bound as the store binds it (PostgreSQL: RLS)
            assert tx.scalar("SELECT count(*) FROM content_items WHERE tenant_id = ?", (studio,)) == held
    assert [(a.action, a.actor, a.detail) for a in catalogue_of(runtime).audit(STUDIO) if a.action == "set_tier"] == [
        ("set_tier", "ak_test", {"from": "indie", "to": "professional"})
    ]
    with tenant(OTHER):
        assert svc.item("o1").title == "Other" and svc.reviews() == []


def test_acceptance_is_refused_before_anything_changes(lite: ContentService, clock: FrozenClock) -> None:
    with tenant(STUDIO):
        review_id = flag_review(lite, clock)  # a single-tenant store: the studio is in no catalogue
        with pytest.raises(RuleViolation, match=f"tenants add {STUDIO} --tier indie"):
            lite.accept_review(review_id)
        with pytest.raises(NotFound, match="no tier review 'nope'"):
            lite.accept_review("nope")
        [review] = lite.reviews()
        assert review["state"] == "open" and review["move"] is None
        assert lite.runtime.log.read("content-reviews", tenant=STUDIO) == []  # no TierReviewDecided
        declined = lite.decline_review(review_id)
        assert declined.events[0].payload["state"] == "declined"
        with pytest.raises(RuleViolation, match="already declined"):
            lite.accept_review(review_id)
        with pytest.raises(ValidationError, match="item_id 'reviews' is reserved"):
            lite.upload("reviews", "Reviews", b"r")  # its stream would be the review decisions'


def test_accepting_over_http_takes_an_admin_of_the_studio(sqlite_url: str, tmp_path: Path, clock: FrozenClock) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(store=sqlite_url, objects=f"file://{tmp_path / 'objects'}")
    with TestClient(create_app(settings, worker=False)) as http:
        runtime: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
        catalogue_of(runtime).add(STUDIO, "indie")
        svc = runtime.service("content", ContentService)  # the service the routes call
        svc.move_grace = 0  # the old copy goes at once: nothing else reads this test's store
        with tenant(STUDIO):
            review_id = flag_review(svc, FrozenClock(runtime.clock()))
        keys = key_store(runtime)
        editor = {"Authorization": f"Bearer {keys.create(role='editor', tenant=STUDIO)[1]}"}
        admin = {"Authorization": f"Bearer {keys.create(role='admin', tenant=STUDIO)[1]}"}
        refused = http.post(f"/content/reviews/{review_id}/accept", json={}, headers=editor)
        assert refused.status_code == 403 and "needs the admin role" in refused.json()["detail"]
        assert http.get("/content/reviews", headers=editor).json()[0]["state"] == "open"
        http.headers.update(admin)
        answer = http.post(f"/content/reviews/{review_id}/accept", json={})
        assert answer.json()["events"][0]["payload"]["move"]["tier"] == "professional"
        job = finished_job(http, answer)
        assert job["state"] == "succeeded", job["error"]
        [shown] = http.get("/content/reviews").json()
        assert shown["move"]["state"] == "completed" and shown["move"]["id"] == job["target"]
        assert http.get("/content/items/hit").json()["placement"] == "premium"
        assert runtime.tenants.placement(STUDIO).model == "dedicated-storage"


def test_accepting_from_the_shell_runs_the_move_in_the_foreground(
    sqlite_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    settings = Settings(store=sqlite_url, objects=f"file://{tmp_path / 'objects'}")
    with Runtime.open(settings, clock=clock) as runtime:
        catalogue_of(runtime).add(STUDIO, "indie")
        with tenant(STUDIO):
            review_id = flag_review(ContentService(runtime), clock)
    base = ["content", "--store", sqlite_url, "--objects", settings.objects, "--tenant", STUDIO]
    runner = CliRunner()
    done = runner.invoke(cli, [*base, "reviews", "accept", review_id, "--grace", "0", "--json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["job"]["state"] == "succeeded" and answer["job"]["result"]["state"] == "completed"
    listed = runner.invoke(cli, [*base, "reviews", "list", "--json"])
    [shown] = json.loads(listed.output)
    assert shown["move"]["state"] == "completed" and shown["move"]["id"] == answer["job"]["target"]
    again = runner.invoke(cli, [*base, "reviews", "accept", review_id])
    assert again.exit_code != 0 and "already accepted" in again.output
