"""The model registry: stages and aliases as commands with events, the archive policy, restores with an ETA."""

from __future__ import annotations

from datetime import timedelta

import pytest

from datastrata.core.clock import FrozenClock
from datastrata.core.config import Settings
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.jobs import jobs_of
from datastrata.systems.mlops.domain import MODELS
from datastrata.systems.mlops.registry import shipped_policy
from datastrata.systems.mlops.service import MlopsService
from datastrata.tiering.job import install
from datastrata.tiering.tiers import Tier


def stream(svc: MlopsService, model: str) -> list[str]:
    return [e.type for e in svc.runtime.stream(Scope.of(MODELS, model))]


def test_a_version_moves_through_its_stages_and_aliases_follow_the_rules(svc: MlopsService) -> None:
    v1 = svc.models.register("churn", b"one", metrics={"auc": 0.8}, key="reg-1")
    assert v1.events[0].payload["version"] == 1
    assert svc.models.register("churn", b"one", metrics={"auc": 0.8}, key="reg-1").duplicate
    with pytest.raises(RuleViolation, match="already has this artifact"):
        svc.models.register("churn", b"one")
    svc.models.register("churn", b"two")
    with pytest.raises(RuleViolation, match="approve it first"):
        svc.models.move_alias("churn", "champion", 1)
    svc.models.set_stage("churn", 1, "approved")
    svc.models.move_alias("churn", "champion", 1)
    with pytest.raises(RuleViolation, match="move the alias"):
        svc.models.set_stage("churn", 1, "archived")
    with pytest.raises(RuleViolation, match="can move to approved, rejected, not archived"):
        svc.models.set_stage("churn", 2, "archived")
    svc.models.set_stage("churn", 2, "approved")
    moved = svc.models.move_alias("churn", "champion", 2)
    assert moved.events[0].payload == {"model": "churn", "alias": "champion", "from": 1, "to": 2}
    svc.models.set_stage("churn", 1, "archived")
    assert svc.models.artifact("churn", "champion") == b"two"
    assert [(v.version, v.stage, v.aliases) for v in svc.models.versions("churn")] == [
        (1, "archived", ()),
        (2, "approved", ("champion",)),
    ]
    assert stream(svc, "churn") == [
        "ModelRegistered",
        "ModelRegistered",
        "ModelStageChanged",
        "ModelAliasMoved",
        "ModelStageChanged",
        "ModelAliasMoved",
        "ModelStageChanged",
    ]
    assert svc.objects.info(svc.models.version("churn", 1).artifact).stage == "archived"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.models.register("Churn!", b"x"), "model"),
        (lambda s: s.models.register("churn", b""), "artifact"),
        (lambda s: s.models.register("churn", b"x", metrics={"auc": float("nan")}), "metrics.auc"),
        (lambda s: s.models.set_stage("churn", 1, "live"), "stage"),
        (lambda s: s.models.restore("churn", 1, tier="fast"), "tier"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(lite: MlopsService, call, field: str) -> None:
    svc = lite
    if field in ("stage", "tier"):
        svc.models.register("churn", b"x")
    before = len(svc.models.versions())
    with pytest.raises(ValidationError) as caught:
        call(svc)
    assert caught.value.field == field
    assert len(svc.models.versions()) == before
    assert svc.models.versions() == [] or svc.models.versions()[0].stage == "pending"


def test_unknown_models_and_aliases_are_not_found(lite: MlopsService) -> None:
    svc = lite
    with pytest.raises(NotFound, match="no version 3"):
        svc.models.set_stage("churn", 3, "approved")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        svc.models.version("churn", "champion")


def test_the_shipped_policy_freezes_only_unapproved_versions_after_a_year(
    svc: MlopsService, clock: FrozenClock
) -> None:
    rule = shipped_policy().datasets["models"].rules[0]
    assert (rule.to, rule.after, rule.stages) == (
        Tier.FROZEN,
        timedelta(days=365),
        frozenset({"pending", "rejected", "archived"}),
    )
    for n, stage in enumerate(["approved", "rejected", "pending"], start=1):
        svc.models.register("churn", f"model {n}".encode())
        if stage != "pending":
            svc.models.set_stage("churn", n, stage)
    clock.advance(timedelta(days=364))
    assert [m["key"] for m in svc.models.archive(dry_run=True)["moves"]] == []
    clock.advance(timedelta(days=2))
    job = svc.archive_job()
    frozen = sorted(m["item"] for m in job.result["moved"])
    assert frozen == sorted(svc.models.version("churn", n).artifact for n in (2, 3))
    status = {s["version"]: (s["tier"], s["storage_class"], s["readable"]) for s in svc.models.archive_status()}
    assert status == {
        1: ("hot", "STANDARD", True),
        2: ("frozen", "DEEP_ARCHIVE", False),
        3: ("frozen", "DEEP_ARCHIVE", False),
    }
    assert svc.archive_job().result["moved"] == []  # nothing left to move: a second run changes nothing
    with pytest.raises(RuleViolation, match="mlops models restore churn 3"):
        svc.models.artifact("churn", 3)
    supervised = install(svc.runtime, shipped_policy())  # serve/worker --tiering "$(datastrata mlops policy)"
    ask = svc.models.restore("churn", 3, tier="bulk", days=2, key="get-3-back")
    assert ask["ready_at"] == (clock() + timedelta(hours=48)).isoformat()  # DEEP_ARCHIVE bulk: 48 hours
    assert (ask["state"], ask["location"]) == ("restoring", f"/jobs/{ask['job']}")
    assert svc.models.restore("churn", 3, tier="bulk", days=2, key="get-3-back") == ask  # the key's first answer
    assert svc.models.restore("churn", 3, tier="standard", days=2)["job"] == ask["job"]  # the standing request
    clock.advance(timedelta(hours=47))
    with pytest.raises(RuleViolation, match="being restored"):
        svc.models.artifact("churn", 3)
    clock.advance(timedelta(hours=1))
    assert svc.models.artifact("churn", 3) == b"model 3"
    supervised()
    job = jobs_of(svc.runtime).get(ask["job"])
    assert job.state == "succeeded"
    completed = [e for e in svc.runtime.log.read_all() if e.type == "RestoreCompleted"]
    assert [(e.stream_id, e.payload["items"]) for e in completed] == [
        (f"tiering-restore-{ask['job']}", [svc.models.version("churn", 3).artifact])
    ]
    clock.advance(timedelta(days=2))
    with pytest.raises(RuleViolation):
        svc.models.artifact("churn", 3)  # the restored copy expired


def test_archiving_works_on_the_s3_api_server(objects_url: str, sqlite_url: str, clock: FrozenClock) -> None:
    runtime = Runtime.open(Settings(store=sqlite_url, objects=objects_url), clock=clock)
    try:
        svc = MlopsService(runtime)
        svc.models.register("churn", b"old and unapproved")
        clock.advance(timedelta(days=400))
        svc.archive_job()
        assert svc.objects.info(svc.models.version("churn", 1).artifact).storage_class == "DEEP_ARCHIVE"
        svc.models.restore("churn", 1, tier="standard")
        clock.advance(timedelta(hours=12))
        assert svc.models.artifact("churn", 1) == b"old and unapproved"
    finally:
        runtime.close()


def test_another_tenant_sees_none_of_this_ones_pipeline(svc: MlopsService) -> None:
    from datastrata.core.tenancy import tenant

    svc.features.define("customer", "customer_id", {"spend": "float64"})
    svc.features.ingest("customer", [{"customer_id": "a", "event_time": "2026-03-01T00:00:00Z", "spend": 1.0}])
    svc.materialize_job()
    svc.models.register("churn", b"ours")
    with tenant("acme"):
        assert svc.features.views() == [] and svc.models.versions() == []
        with pytest.raises(NotFound):
            svc.features.online("customer", ["a"])
        svc.features.define("customer", "customer_id", {"spend": "float64"})
        assert svc.features.online("customer", ["a"])[0]["status"] == "missing"
        assert svc.models.register("churn", b"ours").events[0].payload["version"] == 1  # its own registry
        assert svc.materialize_job().result["parts"] == 0
    assert [v.artifact.split("/")[2] for v in svc.models.versions()] == ["default"]
