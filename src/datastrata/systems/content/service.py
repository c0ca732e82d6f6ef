"""The content platform's service: items through their lifecycle, views and viral upgrades, tier reviews, grants.

Every command is one transaction with its event in the item's stream ``content-<item>`` of the calling studio (the
tenant). An item's footage is one object, ``tenants/<tenant>/content/<stage>/<item>/footage-v<n>``
(:mod:`~datastrata.systems.content.keys`), in its stage's prefix, where the stage's storage policy places it. Reads
of ``content_items`` carry the region rule (:data:`~datastrata.systems.content.schema.REGION_PREDICATE`): an item
restricted to regions is NotFound for a caller from elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from datastrata.core.clock import ensure_utc
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import check_region, region
from datastrata.core.validation import bounded_int
from datastrata.runtime import Runtime, Scope, Work
from datastrata.runtime.jobs import Job, jobs_of
from datastrata.runtime.location import LocationSpec
from datastrata.runtime.tenants import MODELS, TenantPlacement
from datastrata.stores.database import Row, time_from_db, time_to_db
from datastrata.systems.content import domain
from datastrata.systems.content.costs import CostReport, cost_report
from datastrata.systems.content.domain import ARCHIVED, CONTEXT, PLACEMENTS, PRODUCTION, PUBLISHED, RENDITIONS
from datastrata.systems.content.keys import footage_key
from datastrata.systems.content.lifecycle import LIFECYCLE, Lifecycle
from datastrata.systems.content.reviews import Acceptance, TierReviews
from datastrata.systems.content.schema import MIGRATIONS, REGION_PREDICATE
from datastrata.tenancy.catalogue import LOCAL_ACTOR
from datastrata.tenancy.grants import Grant, Grants
from datastrata.tenancy.move import GRACE
from datastrata.tiering.objects import ObjectStore
from datastrata.writes.commands import CommandHandler, CommandResult, Decision

#: Largest footage one upload takes through this path (real masters go by multipart upload, not one request).
MAX_FOOTAGE = 256 * 1024 * 1024
#: How long a restored copy stays readable for a stage change to pick it up.
RESTORE_DAYS = 7
_ITEM_COLUMNS = (
    "item_id, title, stage, budget, expected_views, placement, storage_class, replication, regions, object_key, "
    "bytes, sha256, footage_version, viral_at, pending_stage, restore_ready_at, created_at, stage_changed_at"
)


@dataclass(frozen=True, slots=True)
class Item:
    """A content item as stored."""

    item_id: str
    title: str
    stage: str
    budget: Decimal
    expected_views: int
    placement: str
    storage_class: str
    replication: str
    regions: tuple[str, ...]
    object_key: str
    bytes: int
    sha256: str
    footage_version: int
    viral_at: datetime | None
    pending_stage: str | None
    restore_ready_at: datetime | None
    created_at: datetime
    stage_changed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {
            "item_id": self.item_id,
            "title": self.title,
            "stage": self.stage,
            "budget": str(self.budget),
            "expected_views": self.expected_views,
            "placement": self.placement,
            "storage_class": self.storage_class,
            "replication": self.replication,
            "regions": list(self.regions),
            "object_key": self.object_key,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "footage_version": self.footage_version,
            "viral": self.viral_at is not None,
            "pending_stage": self.pending_stage,
            "restore_ready_at": None if self.restore_ready_at is None else self.restore_ready_at.isoformat(),
            "stage_changed_at": self.stage_changed_at.isoformat(),
        }

    def status(self) -> dict[str, Any]:
        """The status update a ``status:read`` grant shows: the stage and its progress, no footage or money."""
        return {
            "item_id": self.item_id,
            "title": self.title,
            "stage": self.stage,
            "pending_stage": self.pending_stage,
            "footage_version": self.footage_version,
            "stage_changed_at": self.stage_changed_at.isoformat(),
        }


def _item(row: Row) -> Item:
    return Item(
        row[0],
        row[1],
        row[2],
        Decimal(str(row[3])),
        int(row[4]),
        row[5],
        row[6],
        row[7],
        tuple(r for r in str(row[8]).split(",") if r),
        row[9],
        int(row[10]),
        row[11],
        int(row[12]),
        None if row[13] is None else time_from_db(row[13]),
        row[14],
        None if row[15] is None else time_from_db(row[15]),
        time_from_db(row[16]),
        time_from_db(row[17]),
    )


class ContentService:
    """Studios' content items: upload, publish, archive, republish, views, reviews, grants (costs: ``costs``)."""

    def __init__(self, runtime: Runtime) -> None:
        runtime.ensure(MIGRATIONS)
        self.runtime = runtime
        self.clock = runtime.clock
        self.commands = CommandHandler(runtime)
        self.grants = Grants(runtime)
        self._objects: dict[str, ObjectStore] = {}
        self.lifecycle = Lifecycle(self)
        self.tier_reviews = TierReviews(self)
        #: Seconds between the switch of a move an accepted review starts and deleting the studio's old copy.
        self.move_grace = GRACE

    def lifecycle_job(self) -> Job:
        """Run the storage lifecycle now as a recorded job (``content lifecycle run``); the job carries the result."""
        jobs = jobs_of(self.runtime)
        return jobs.run(jobs.create(LIFECYCLE, "content"), lambda report: self.lifecycle.run(), reraise=True)

    def cost(self, tenant: str | None = None) -> CostReport:
        """The monthly cost report of `tenant` (default: the current studio)."""
        return cost_report(self.lifecycle, tenant or self.scope().tenant)

    # ---- where things are ----------------------------------------------------------------------------------

    @staticmethod
    def scope(item_id: str | None = None, *, caller_region: str | None = None, owner: str | None = None) -> Scope:
        """The scope of an item of the current tenant (or of `owner`, for a granted call) seen from `caller_region`."""
        key = None if item_id is None else domain.check_item_id(item_id)
        if caller_region is not None:
            check_region(caller_region)
        if owner is not None:
            return Scope(CONTEXT, key, owner, caller_region)
        return Scope.of(CONTEXT, key, region=caller_region)

    def objects(self, scope: Scope) -> ObjectStore:
        """The object store of the location `scope` lives in."""
        return self.objects_at(self.runtime.placement.locate(scope))

    def objects_at(self, spec: LocationSpec) -> ObjectStore:
        """The object store of the location `spec` names."""
        url = spec.objects or self.runtime.settings.objects
        store = self._objects.get(url)
        if store is None:
            store = self._objects[url] = ObjectStore(url, clock=self.clock)
        return store

    def studio(self, tenant: str) -> TenantPlacement:
        """The studio's tier and model (a single-tenant store places every studio in its shared home)."""
        try:
            return self.runtime.tenants.placement(tenant)
        except NotFound:
            if self.runtime.tenants.multi_tenant():
                raise
            return TenantPlacement(tenant, "indie", "shared")

    # ---- commands ------------------------------------------------------------------------------------------

    def upload(
        self,
        item_id: str,
        title: str,
        footage: bytes,
        *,
        budget: object = 0,
        expected_views: object = 0,
        regions: list[str] | None = None,
        caller_region: str | None = None,
        key: str | None = None,
    ) -> CommandResult:
        """Register a new item in production with its footage, placed by its budget and expected audience."""
        scope = self.scope(item_id, caller_region=caller_region)
        name = domain.check_title(title)
        money = domain.check_budget(budget)
        audience = domain.check_views(expected_views)
        where = domain.check_regions(regions)
        if where and scope.region != "*" and scope.region not in where:
            raise ValidationError(
                f"regions: an item visible only in {', '.join(where)} is invisible from "
                f"{scope.region or 'no region'}; upload it from one of its regions",
                field="regions",
            )
        data = _check_footage(footage)
        placed = domain.place(money, audience)
        sha = hashlib.sha256(data).hexdigest()
        object_key = footage_key(PRODUCTION, scope.tenant, scope.key or "")
        objects = self.objects(scope)
        wrote: list[bool] = []

        def decide(work: Work) -> Decision:
            held = work.scalar(
                "SELECT count(*) FROM content_items WHERE tenant_id = ? AND item_id = ?", (scope.tenant, scope.key)
            )
            if held:
                raise RuleViolation(f"item {scope.key!r} already exists; upload under a new item id", field="item_id")
            now = time_to_db(work.dialect, self.clock())
            work.execute(
                f"INSERT INTO content_items (tenant_id, {_ITEM_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, NULL, NULL, ?, ?)",
                (
                    scope.tenant,
                    scope.key,
                    name,
                    PRODUCTION,
                    str(money) if work.dialect == "sqlite" else money,
                    audience,
                    placed.tier,
                    placed.storage_class,
                    placed.replication,
                    domain.regions_text(where),
                    object_key,
                    len(data),
                    sha,
                    now,
                    now,
                ),
            )
            objects.put(object_key, data, storage_class=placed.storage_class, stage=PRODUCTION)
            wrote.append(True)
            payload = {
                "item_id": scope.key,
                "title": name,
                "budget": str(money),
                "expected_views": audience,
                "placement": placed.tier,
                "storage_class": placed.storage_class,
                "replication": placed.replication,
                "regions": list(where),
                "object_key": object_key,
                "bytes": len(data),
                "sha256": sha,
            }
            return Decision(work.scope, [NewEvent("ContentUploaded", payload)])

        content = {"item_id": scope.key, "title": name, "sha256": sha, "budget": str(money), "regions": list(where)}
        with self.in_region(scope):
            try:
                return self.commands.execute("upload", scope, decide, key=key, content=content)
            except BaseException:
                if wrote and self._orphan(scope, object_key, sha):
                    objects.delete(object_key)
                raise

    def publish(self, item_id: str, *, caller_region: str | None = None, key: str | None = None) -> CommandResult:
        """Publish an item in production: its footage moves to the published prefix and its renditions are recorded."""
        return self._change_stage("publish", item_id, PUBLISHED, caller_region, key)

    def archive(self, item_id: str, *, caller_region: str | None = None, key: str | None = None) -> CommandResult:
        """Archive a published item (its rights lapsed): its footage moves to the archived prefix."""
        return self._change_stage("archive", item_id, ARCHIVED, caller_region, key)

    def republish(self, item_id: str, *, caller_region: str | None = None, key: str | None = None) -> CommandResult:
        """Publish an archived item again (its rights returned); footage in an archive class is restored first."""
        return self._change_stage("republish", item_id, PUBLISHED, caller_region, key)

    def _change_stage(
        self, command: str, item_id: str, to: str, caller_region: str | None, key: str | None
    ) -> CommandResult:
        scope = self.scope(item_id, caller_region=caller_region)
        objects = self.objects(scope)

        def decide(work: Work) -> Decision:
            item = self._get(work, scope.key or "")
            if item.pending_stage is not None:
                raise RuleViolation(
                    f"item {item.item_id!r} is waiting for its footage's restore (ready at "
                    f"{item.restore_ready_at.isoformat() if item.restore_ready_at else '?'}) to become "
                    f"{item.pending_stage}; `content lifecycle run` finishes it then",
                    field="stage",
                )
            if command == "republish" and item.stage != ARCHIVED:
                raise RuleViolation(
                    f"item {item.item_id!r} is {item.stage}; only an archived item is republished", field="stage"
                )
            domain.check_transition(item.item_id, item.stage, to)
            return self._move_footage(work, objects, item, to)

        with self.in_region(scope):
            return self.commands.execute(command, scope, decide, key=key, content={"item_id": scope.key, "to": to})

    def _move_footage(self, work: Work, objects: ObjectStore, item: Item, to: str) -> Decision:
        """Move the item's footage to `to`'s prefix now, or ask for its restore first (finished by the lifecycle)."""
        now = self.clock()
        d = work.dialect
        try:
            info = objects.info(item.object_key)
        except NotFound:
            if item.stage == ARCHIVED:  # only the archived stage's rules expire footage
                raise RuleViolation(
                    f"item {item.item_id!r}'s footage has expired from the archive ({item.object_key}); upload it "
                    "again under a new item id",
                    field="item_id",
                ) from None
            raise RuleViolation(
                f"item {item.item_id!r}'s footage {item.object_key} is not in the object store of the studio's "
                "location; upload it again under a new item id",
                field="item_id",
            ) from None
        if not info.readable(now):
            restore = objects.restore(item.object_key, tier="standard", days=RESTORE_DAYS)
            work.execute(
                "UPDATE content_items SET pending_stage = ?, restore_ready_at = ? WHERE tenant_id = ? AND item_id = ?",
                (to, time_to_db(d, restore.ready_at), work.scope.tenant, item.item_id),
            )
            payload = {"item_id": item.item_id, "to": to, "ready_at": restore.ready_at.isoformat()}
            payload["storage_class"] = info.storage_class
            return Decision(work.scope, [NewEvent("FootageRestoreRequested", payload)])
        target = footage_key(to, work.scope.tenant, item.item_id, item.footage_version)
        storage_class = PLACEMENTS[item.placement].storage_class if to != ARCHIVED else "STANDARD"
        objects.put(target, objects.read(item.object_key), storage_class=storage_class, stage=to)
        old = item.object_key
        work.on_commit(lambda: objects.delete(old) if old != target else None)
        work.execute(
            "UPDATE content_items SET stage = ?, object_key = ?, pending_stage = NULL, restore_ready_at = NULL, "
            "stage_changed_at = ? WHERE tenant_id = ? AND item_id = ?",
            (to, target, time_to_db(d, now), work.scope.tenant, item.item_id),
        )
        events = [NewEvent(_STAGE_EVENT[(item.stage, to)], {"item_id": item.item_id, "from": item.stage, "to": to})]
        if to == PUBLISHED:
            events.append(self._record_renditions(work, item.item_id))
        return Decision(work.scope, events)

    def _record_renditions(self, work: Work, item_id: str) -> NewEvent:
        now = time_to_db(work.dialect, self.clock())
        work.execute("DELETE FROM content_renditions WHERE tenant_id = ? AND item_id = ?", (work.scope.tenant, item_id))
        work.executemany(
            "INSERT INTO content_renditions (tenant_id, item_id, resolution, bitrate_kbps, target, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(work.scope.tenant, item_id, r.resolution, r.bitrate_kbps, r.target, now) for r in RENDITIONS],
        )
        listed = [{"resolution": r.resolution, "bitrate": f"{r.bitrate_kbps}k", "target": r.target} for r in RENDITIONS]
        return NewEvent("RenditionsRecorded", {"item_id": item_id, "renditions": listed})

    def finish_restored(self, tenant: str, item_id: str) -> CommandResult | None:
        """Finish a stage change waiting for a restore whose copy is now readable (the lifecycle job's step)."""
        scope = self.scope(item_id, caller_region="*", owner=tenant)
        objects = self.objects(scope)
        now = self.clock()

        def decide(work: Work) -> Decision:
            item = self._get(work, item_id)
            if item.pending_stage is None or not objects.info(item.object_key).readable(now):
                return Decision(work.scope, [])
            return self._move_footage(work, objects, item, item.pending_stage)

        with self.in_region(scope):
            result = self.commands.execute("finish-restore", scope, decide)
        return result if result.events else None

    def replace_footage(
        self, item_id: str, footage: bytes, *, caller_region: str | None = None, key: str | None = None
    ) -> CommandResult:
        """Store a new version of the item's footage (e.g. the graded cut from post-production)."""
        return self._replace(self.scope(item_id, caller_region=caller_region), footage, key=key, by=None)

    def _replace(self, scope: Scope, footage: bytes, *, key: str | None, by: str | None) -> CommandResult:
        data = _check_footage(footage)
        sha = hashlib.sha256(data).hexdigest()
        objects = self.objects(scope)
        written: list[str] = []

        def decide(work: Work) -> Decision:
            item = self._get(work, scope.key or "")
            if item.stage == ARCHIVED or item.pending_stage is not None:
                raise RuleViolation(
                    f"item {item.item_id!r} is {item.pending_stage or item.stage}; its footage changes in production "
                    "or when published",
                    field="stage",
                )
            version = item.footage_version + 1
            target = footage_key(item.stage, work.scope.tenant, item.item_id, version)
            objects.put(target, data, storage_class=PLACEMENTS[item.placement].storage_class, stage=item.stage)
            written.append(target)
            old = item.object_key
            work.on_commit(lambda: objects.delete(old))
            work.execute(
                "UPDATE content_items SET object_key = ?, bytes = ?, sha256 = ?, footage_version = ? "
                "WHERE tenant_id = ? AND item_id = ?",
                (target, len(data), sha, version, work.scope.tenant, item.item_id),
            )
            payload: dict[str, Any] = {"item_id": item.item_id, "version": version, "bytes": len(data), "sha256": sha}
            if by is not None:
                payload["by"] = by
            return Decision(work.scope, [NewEvent("FootageReplaced", payload)])

        with self.in_region(scope):
            try:
                return self.commands.execute("footage", scope, decide, key=key, content={"sha256": sha})
            except BaseException:
                for target in written:
                    if self._orphan(scope, target, sha):
                        objects.delete(target)
                raise

    def record_views(
        self,
        item_id: str,
        hour: datetime,
        views: Mapping[str, int],
        *,
        caller_region: str | None = None,
        key: str | None = None,
    ) -> CommandResult:
        """Add an hour's views per region; an hour that makes the item viral upgrades it and flags a tier review."""
        scope = self.scope(item_id, caller_region=caller_region)
        at = ensure_utc(hour, field="hour").replace(minute=0, second=0, microsecond=0)
        counts = {
            check_region(r): bounded_int(n, field=f"views.{r}", minimum=1, maximum=10**12) for r, n in views.items()
        }
        if not counts:
            raise ValidationError("views must name at least one region and its views, e.g. eu=1200", field="views")
        if at > self.clock():
            raise ValidationError(f"hour must not be in the future; got {at.isoformat()}", field="hour")

        def decide(work: Work) -> Decision:
            item = self._get(work, scope.key or "")
            d, tenant = work.dialect, work.scope.tenant
            for where, n in sorted(counts.items()):
                work.execute(
                    "INSERT INTO content_views (tenant_id, item_id, hour, region, views) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (tenant_id, item_id, hour, region) DO UPDATE SET views = content_views.views + "
                    "excluded.views",
                    (tenant, item.item_id, time_to_db(d, at), where, n),
                )
            latest: dict[str, int] = dict(
                work.query(
                    "SELECT region, views FROM content_views WHERE tenant_id = ? AND item_id = ? AND hour = ?",
                    (tenant, item.item_id, time_to_db(d, at)),
                )
            )
            before = work.scalar(
                "SELECT COALESCE(SUM(views), 0) FROM content_views WHERE tenant_id = ? AND item_id = ? AND hour = ?",
                (tenant, item.item_id, time_to_db(d, at - timedelta(hours=1))),
            )
            seen = domain.metrics({str(k): int(v) for k, v in latest.items()}, int(before))
            events = [NewEvent("ViewsRecorded", {"item_id": item.item_id, "hour": at.isoformat(), "views": counts})]
            if item.viral_at is None and domain.is_viral(seen):
                events += self._go_viral(work, item, seen)
            return Decision(work.scope, events)

        content = {"item_id": scope.key, "hour": at.isoformat(), "views": counts}
        with self.in_region(scope):
            return self.commands.execute("views", scope, decide, key=key, content=content)

    def _go_viral(self, work: Work, item: Item, seen: domain.ViewMetrics) -> list[NewEvent]:
        premium = domain.PREMIUM
        now = self.clock()
        d, tenant = work.dialect, work.scope.tenant
        work.execute(
            "UPDATE content_items SET viral_at = ?, placement = ?, storage_class = ?, replication = ? "
            "WHERE tenant_id = ? AND item_id = ?",
            (time_to_db(d, now), premium.tier, premium.storage_class, premium.replication, tenant, item.item_id),
        )
        objects = self.objects(work.scope)
        if objects.info(item.object_key).readable(now):  # once committed: a rolled-back upgrade leaves the class
            key = item.object_key

            def upgrade() -> None:
                objects.set_class(key, premium.storage_class)

            work.on_commit(upgrade)
        events = [
            NewEvent(
                "ContentWentViral",
                {"item_id": item.item_id, "metrics": seen.to_dict(), "placement": premium.tier, "from": item.placement},
            )
        ]
        studio = self.studio(tenant)
        at = MODELS.index(studio.model) if studio.model in MODELS else len(MODELS) - 1
        open_review = work.scalar(
            "SELECT count(*) FROM content_reviews WHERE tenant_id = ? AND state = 'open'", (tenant,)
        )
        if at + 1 < len(MODELS) and not open_review:
            review_id = f"{item.item_id}-{now:%Y%m%dT%H%M}"
            work.execute(
                "INSERT INTO content_reviews (tenant_id, review_id, item_id, state, from_model, to_model, metrics, "
                "created_at, decided_at, move) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, NULL, NULL)",
                (
                    tenant,
                    review_id,
                    item.item_id,
                    studio.model,
                    MODELS[at + 1],
                    json.dumps(seen.to_dict(), sort_keys=True),
                    time_to_db(d, now),
                ),
            )
            payload = {"review_id": review_id, "item_id": item.item_id, "from": studio.model, "to": MODELS[at + 1]}
            events.append(NewEvent("TierReviewFlagged", payload))
        return events

    def accept_review(
        self, review_id: str, *, actor: str = LOCAL_ACTOR, key: str | None = None, grace: float | None = None
    ) -> Acceptance:
        """Accept an open tier review: the studio's tier changes and its live move to the next model starts.

        `grace`: seconds between the move's switch and deleting the old copy (default :attr:`move_grace`).
        """
        chosen = self.move_grace if grace is None else grace
        return self.tier_reviews.accept(review_id, actor=actor, key=key, grace=chosen)

    def decline_review(self, review_id: str, *, key: str | None = None) -> CommandResult:
        """Decline an open tier review of the current studio."""
        return self.tier_reviews.decline(review_id, key=key)

    # ---- queries -------------------------------------------------------------------------------------------

    def item(self, item_id: str, *, caller_region: str | None = None) -> Item:
        """The item as the caller's region may see it (NotFound otherwise)."""
        scope = self.scope(item_id, caller_region=caller_region)
        with self.in_region(scope), self.runtime.read(scope) as work:
            return self._get(work, scope.key or "")

    def items(self, *, caller_region: str | None = None, stage: str | None = None) -> list[Item]:
        """The studio's items the caller's region may see, by id (of one `stage`)."""
        if stage is not None and stage not in domain.STAGES:
            raise ValidationError(f"stage must be one of {', '.join(domain.STAGES)}; got {stage!r}", field="stage")
        scope = self.scope(None, caller_region=caller_region)
        where = "" if stage is None else " AND stage = ?"
        with self.in_region(scope), self.runtime.read(scope) as work:
            rows = work.query(
                f"SELECT {_ITEM_COLUMNS} FROM content_items WHERE tenant_id = ? AND {REGION_PREDICATE}{where} "
                "ORDER BY item_id",
                (work.scope.tenant, *_region_params(scope), *(() if stage is None else (stage,))),
            )
        return [_item(r) for r in rows]

    def renditions(self, item_id: str, *, caller_region: str | None = None) -> list[dict[str, Any]]:
        """The renditions recorded for an item the caller may see."""
        scope = self.scope(item_id, caller_region=caller_region)
        with self.in_region(scope), self.runtime.read(scope) as work:
            self._get(work, scope.key or "")
            rows = work.query(
                "SELECT resolution, bitrate_kbps, target FROM content_renditions WHERE tenant_id = ? AND item_id = ? "
                "ORDER BY bitrate_kbps DESC",
                (work.scope.tenant, scope.key),
            )
        return [{"resolution": r[0], "bitrate": f"{r[1]}k", "target": r[2]} for r in rows]

    def footage(self, item_id: str, *, caller_region: str | None = None) -> bytes:
        """The item's footage bytes (an archived copy must be restored first)."""
        scope = self.scope(item_id, caller_region=caller_region)
        return self._read_footage(scope)

    def _read_footage(self, scope: Scope) -> bytes:
        with self.in_region(scope), self.runtime.read(scope) as work:
            item = self._get(work, scope.key or "")
        return self.objects(scope).read(item.object_key)

    def reviews(self) -> list[dict[str, Any]]:
        """The current studio's tier reviews, newest first, with their moves."""
        return self.tier_reviews.list()

    # ---- grants --------------------------------------------------------------------------------------------

    def grant(self, grantee: str, item_id: str, permission: str, expires_at: datetime) -> Grant:
        """Let `grantee` do `permission` on one of the current studio's items until `expires_at`."""
        scope = self.scope(item_id, caller_region="*")
        with self.in_region(scope), self.runtime.read(scope) as work:
            self._get(work, scope.key or "")  # only an item the studio holds is granted
        return self.grants.allow(scope.tenant, grantee, scope.key or "", permission, expires_at)

    def revoke(self, grant_id: str) -> Grant:
        """Revoke one of the current studio's grants."""
        return self.grants.revoke(grant_id, by=self.scope().tenant)

    def granted_status(self, owner: str, item_id: str, *, caller_region: str | None = None) -> dict[str, Any]:
        """The status of another studio's item, through a grant (``status:read`` or wider)."""
        scope = self._granted(owner, item_id, "status:read", caller_region)
        with self.in_region(scope), self.runtime.read(scope) as work:
            return self._get(work, item_id).status()

    def granted_footage(self, owner: str, item_id: str, *, caller_region: str | None = None) -> bytes:
        """Another studio's footage, through a ``footage:read`` (or ``footage:write``) grant."""
        return self._read_footage(self._granted(owner, item_id, "footage:read", caller_region))

    def granted_replace_footage(
        self, owner: str, item_id: str, footage: bytes, *, caller_region: str | None = None, key: str | None = None
    ) -> CommandResult:
        """Store a new footage version of another studio's item, through a ``footage:write`` grant."""
        caller = self.scope().tenant
        scope = self._granted(owner, item_id, "footage:write", caller_region)
        return self._replace(scope, footage, key=key, by=caller)

    def _granted(self, owner: str, item_id: str, permission: str, caller_region: str | None) -> Scope:
        """Check the caller's grant and return the owner's scope the granted call runs in (NotFound without one)."""
        caller = self.scope().tenant
        domain.check_item_id(item_id)
        if owner == caller:
            raise ValidationError(f"tenant {caller!r} owns {item_id!r}; call without an owner", field="owner")
        self.grants.check(caller, owner, item_id, permission)
        return self.scope(item_id, caller_region=caller_region, owner=owner)

    # ---- helpers -------------------------------------------------------------------------------------------

    def _get(self, work: Work, item_id: str) -> Item:
        row = work.one(
            f"SELECT {_ITEM_COLUMNS} FROM content_items WHERE tenant_id = ? AND item_id = ? AND {REGION_PREDICATE}",
            (work.scope.tenant, item_id, *_region_params(work.scope)),
        )
        if row is None:
            raise NotFound(f"no item {item_id!r} of tenant {work.scope.tenant!r}", field="item_id")
        return _item(row)

    @staticmethod
    @contextlib.contextmanager
    def in_region(scope: Scope) -> Iterator[None]:
        """Bind the caller's region to the transactions of `scope` (the store's region rule reads it)."""
        with region(scope.region):
            yield

    def _orphan(self, scope: Scope, object_key: str, sha: str) -> bool:
        """True when no stored item holds the footage at `object_key` (a failed upload's copy is removed)."""
        try:
            with self.in_region(scope), self.runtime.read(scope) as work:
                held = work.scalar(
                    "SELECT count(*) FROM content_items WHERE tenant_id = ? AND object_key = ? AND sha256 = ?",
                    (scope.tenant, object_key, sha),
                )
        except Exception:  # the store failed too: leave the object (a later upload of the id replaces it)
            return False
        return not held


_STAGE_EVENT = {
    (PRODUCTION, PUBLISHED): "ContentPublished",
    (PUBLISHED, ARCHIVED): "ContentArchived",
    (ARCHIVED, PUBLISHED): "ContentRepublished",
}


def _region_params(scope: Scope) -> tuple[str, str]:
    shown = scope.region or ""
    return shown, shown


def _check_footage(footage: bytes) -> bytes:
    if not isinstance(footage, bytes) or not 1 <= len(footage) <= MAX_FOOTAGE:
        raise ValidationError(f"footage must be 1 byte to {MAX_FOOTAGE // 2**20} MiB", field="footage")
    return footage
