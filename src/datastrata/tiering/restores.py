"""Frozen restores as jobs: "we have your request; we'll tell you when the data is ready".

A restore request asks the object store for a readable copy of archived objects — the Parquet parts of frozen
days of a rows dataset, or objects of an objects dataset — for N days, and is recorded as a job (``jobs``, kind
``restore``, owner ``external``: the object store does the work, so no process holds its lease) with one row per
object in ``tiering_restores`` (its tier, ETA and expiry, from the store's tier model on the platform clock). The
tiering job (:mod:`datastrata.tiering.job`) notices when every object of a job is ready and, in one transaction,
marks the job succeeded and appends a ``RestoreCompleted`` event to the event log (stream
``tiering-restore-<job>``), so followers can react; the conditional update and the event's derived id make it
happen once however often it runs. The restored copy expires after its N days: the data reads as frozen again,
and the listing shows the restore as ``expired``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from datastrata.core.clock import Clock, ensure_utc
from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.validation import bounded_int, bounded_list
from datastrata.eventlog.log import EventLog
from datastrata.runtime.jobs import Jobs
from datastrata.runtime.scope import Scope
from datastrata.stores.database import Database, Tx, time_from_db, time_to_db
from datastrata.tiering import rows as tabular
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ARCHIVE_CLASSES, ObjectInfo, Restore
from datastrata.tiering.policy import Dataset
from datastrata.tiering.schema import RESTORES
from datastrata.tiering.segments import item_key
from datastrata.tiering.tiers import Kind
from datastrata.writes.idempotency import MIGRATIONS as IDEMPOTENCY
from datastrata.writes.idempotency import Claim

if TYPE_CHECKING:
    from datastrata.runtime.runtime import Runtime
    from datastrata.tiering.policy import Policy

#: The restore tiers of the S3 API, fastest (and dearest) first.
TIERS = ("expedited", "standard", "bulk")
#: The job kind of a restore and the event that says its data is readable.
KIND = "restore"
EVENT = "RestoreCompleted"
#: The most days (or object keys) one request names, and the longest a restored copy is kept.
MAX_ITEMS = 1000
MAX_DAYS = 365
DEFAULT_DAYS = 7
_EVENT_IDS = uuid.UUID("72657374-0000-4000-8000-000000000001")


def restore_scope(job_id: str) -> Scope:
    """The scope of a restore's event stream (``tiering-restore-<job>``): where its ``RestoreCompleted`` lands."""
    return Scope.of("tiering", f"restore-{job_id}")


@dataclass(frozen=True, slots=True)
class RestoreJob:
    """One restore request as recorded: its job, what it restores, its tier, when it is ready and until when."""

    job: str
    policy: str
    dataset: str
    items: tuple[str, ...]
    locations: tuple[str, ...]
    tier: str
    days: int
    requested_at: datetime
    #: When the last of its objects is readable (the ETA) and when the first restored copy expires.
    ready_at: datetime
    expires_at: datetime
    #: True once the tiering job noticed it was ready and appended ``RestoreCompleted``.
    completed: bool
    #: When its job was recorded (the listing's sort key, with the job id).
    created_at: datetime

    def state(self, now: datetime) -> str:
        """``restoring`` before the ETA, ``ready`` while the copy is readable, ``expired`` after it is gone."""
        if now < self.ready_at:
            return "restoring"
        return "ready" if now < self.expires_at else "expired"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """Return a JSON-friendly dict, with its state at `now` and where to poll its job."""
        return {
            "job": self.job,
            "location": f"/jobs/{self.job}",
            "policy": self.policy,
            "dataset": self.dataset,
            "items": list(self.items),
            "objects": len(self.locations),
            "tier": self.tier,
            "days": self.days,
            "state": self.state(now),
            "completed": self.completed,
            "created_at": self.created_at.isoformat(),
            "requested_at": self.requested_at.isoformat(),
            "ready_at": self.ready_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


class Restores:
    """Restore requests of one policy's datasets on one store and object store, and their completion."""

    def __init__(self, mover: Mover, *, jobs: Jobs | None = None, log: EventLog | None = None) -> None:
        mover.db.ensure(RESTORES)
        mover.db.ensure(IDEMPOTENCY)  # a request may carry an idempotency key
        self.mover = mover
        self.jobs = jobs or Jobs(mover.db, clock=mover.clock)
        self.log = log or EventLog(mover.db, clock=mover.clock)

    @property
    def clock(self) -> Clock:
        """The platform clock ETAs and expiries are measured on."""
        return self.mover.clock

    def request(
        self,
        dataset: str,
        items: Sequence[str] = (),
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        tier: str = "standard",
        days: int = DEFAULT_DAYS,
        claim: Claim | None = None,
    ) -> RestoreJob:
        """Ask for a readable copy of `items` (days or object keys) or of everything frozen in `start`..`end`.

        Answers with the recorded job and its ETA. Asking again while the same objects' restore stands returns
        that job; with a `claim` (an idempotency key) a retry returns the first answer.
        """
        tier = _tier(tier)
        days = bounded_int(days, field="days", minimum=1, maximum=MAX_DAYS)
        if claim is not None:
            with self.mover.db.read() as tx:
                stored = claim.stored_in(tx)
            if stored is not None:
                return get_restore(self.mover.db, str(stored["job"]))
        ds = self._dataset(dataset)
        wanted = self._wanted(ds, items, start, end, tier)
        locations = [loc for _, loc in wanted]
        standing = self._standing(locations)
        if standing is not None and claim is None:
            return standing
        restored = [(item, loc, self.mover.objects.restore(loc, tier=tier, days=days)) for item, loc in wanted]
        with self.mover.db.transaction() as tx:
            if claim is not None and (stored := claim.stored_in(tx)) is not None:
                job_id = str(stored["job"])
            else:
                job_id = standing.job if standing is not None else self._record(tx, ds, restored, days)
                if claim is not None:
                    claim.remember_in(tx, {"job": job_id}, self.clock())
        return get_restore(self.mover.db, job_id)

    def complete_ready(self) -> list[RestoreJob]:
        """Finish every running restore job of this policy whose objects are all readable, appending its event."""
        now = self.clock()
        with self.mover.db.read() as tx:
            running = [
                str(r[0])
                for r in tx.query(
                    "SELECT id FROM jobs WHERE kind = ? AND state = 'running' AND id IN "
                    "(SELECT job_id FROM tiering_restores WHERE policy = ?) ORDER BY created_at, id",
                    (KIND, self.mover.policy.name),
                )
            ]
        done: list[RestoreJob] = []
        for job_id in running:
            found = get_restore(self.mover.db, job_id)
            gone = [loc for loc in found.locations if not self.mover.objects.exists(loc)]
            if gone:  # expired (deleted) by the policy before its copy was ready: nothing will become readable
                error = f"object {gone[0]!r} was deleted (expired) before its restore completed; nothing to read"
                with self.mover.db.transaction() as tx:
                    self.jobs.finish_in(tx, job_id, None, error=error)
                continue
            if not all(_ready(self.mover.objects.info(loc), now) for loc in found.locations):
                continue
            with self.mover.db.transaction() as tx:
                if self.jobs.finish_in(tx, job_id, _result(found)):
                    event = NewEvent(EVENT, _result(found), event_id=str(uuid.uuid5(_EVENT_IDS, job_id)))
                    self.log.append_in(tx, restore_scope(job_id).stream_id, [event])
                    done.append(found)
        return done

    def _dataset(self, name: str) -> Dataset:
        ds = self.mover.policy.datasets.get(name)
        if ds is None:
            known = sorted(self.mover.policy.datasets)
            raise NotFound(
                f"dataset {name!r} is not in policy {self.mover.policy.name!r}; known: {known}", field="dataset"
            )
        return ds

    def _wanted(
        self, ds: Dataset, items: Sequence[str], start: datetime | None, end: datetime | None, tier: str
    ) -> list[tuple[str, str]]:
        """The (item, object key) pairs to restore: the archived parts of the days, or the archived objects.

        Each is checked against `tier` first (DEEP_ARCHIVE has no expedited), so a refusal asks for nothing.
        """
        ranged = start is not None or end is not None
        if bool(items) == ranged:
            what = "name the items or give --from and --to, not both" if ranged else "nothing to restore named"
            raise ValidationError(
                f"{what}: restore days YYYY-MM-DD or object keys, or every frozen item from --from to --to",
                field="items",
            )
        bounded_list(list(items), field="items", max_items=MAX_ITEMS)
        if items:
            found = self._candidates(ds, None, None)
            unknown = [i for i in items if i not in found]
            if unknown:
                raise NotFound(
                    f"{ds.name} has no {_what(ds)} {unknown[0]!r} in object storage; known: {sorted(found)[:10]}",
                    field="items",
                )
            chosen = {i: found[i] for i in items}
        else:
            if start is None or end is None:
                missing = "from" if start is None else "to"
                raise ValidationError("give both --from and --to (or name the items)", field=missing)
            start, end = ensure_utc(start, field="from"), ensure_utc(end, field="to")
            if end <= start:
                raise ValidationError(f"to ({end.isoformat()}) must be after from ({start.isoformat()})", field="to")
            chosen = self._candidates(ds, start, end)
        pairs: list[tuple[str, str]] = []
        for item, infos in sorted(chosen.items()):
            archived = [i for i in infos if i.storage_class in ARCHIVE_CLASSES]
            if not archived and items:
                raise ValidationError(
                    f"{ds.name} {item} is in {infos[0].storage_class} and readable as it is; only frozen data "
                    f"({' or '.join(ARCHIVE_CLASSES)}) is restored",
                    field="items",
                )
            for info in archived:
                self.mover.objects.prices.restore(info.storage_class, tier)
                pairs.append((item, info.key))
        if not pairs:
            raise ValidationError(
                f"nothing of {ds.name} between {start} and {end} is frozen; nothing to restore", field="from"
            )
        return pairs

    def _candidates(self, ds: Dataset, start: datetime | None, end: datetime | None) -> dict[str, list[ObjectInfo]]:
        """The dataset's items in object storage (overlapping `start`..`end` when given) with their objects."""
        objects = self.mover.objects
        if ds.kind is Kind.ROWS:
            found: dict[str, list[ObjectInfo]] = {}
            for day, parts in self.mover.cold_parts(ds.name).items():
                day_start, day_end = tabular.day_bounds(day)
                if start is None or end is None or (day_end > start and day_start < end):
                    found[day] = [objects.info(p.location) for p in parts]
            return found
        if ds.kind is Kind.SEGMENTS:  # closed streams: one segment each, as old as its last event
            return {
                item_key(s.tenant_id, s.stream_id): [objects.info(s.location)]
                for s in self.mover.segments.archived(ds)
                if start is None or end is None or start <= s.newest < end
            }
        return {
            o.key: [o] for o in objects.list(ds.prefix) if start is None or end is None or start <= o.created_at < end
        }

    def _standing(self, locations: list[str]) -> RestoreJob | None:
        """The one job whose copies of all `locations` stand (not expired), if there is one."""
        now = time_to_db(self.mover.db.dialect, self.clock())
        marks = ", ".join("?" for _ in locations)
        with self.mover.db.read() as tx:
            jobs = {
                str(r[0])
                for r in tx.query(
                    f"SELECT job_id FROM tiering_restores WHERE location IN ({marks}) AND expires_at > ?",
                    (*locations, now),
                )
            }
        for job_id in sorted(jobs):
            found = get_restore(self.mover.db, job_id)
            if set(locations) <= set(found.locations):
                return found
        return None

    def _record(self, tx: Tx, ds: Dataset, restored: list[tuple[str, str, Restore]], days: int) -> str:
        job_id = self.jobs.create_external_in(tx, KIND, f"{self.mover.policy.name}/{ds.name}", goal=len(restored))
        for item, location, answer in restored:
            tx.execute(
                "INSERT INTO tiering_restores (job_id, location, policy, dataset, item, tier, days, requested_at, "
                "ready_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    location,
                    self.mover.policy.name,
                    ds.name,
                    item,
                    answer.tier,
                    days,
                    time_to_db(tx.dialect, answer.requested_at),
                    time_to_db(tx.dialect, answer.ready_at),
                    time_to_db(tx.dialect, answer.expires_at),
                ),
            )
        return job_id


def request_restore(
    runtime: Runtime,
    policy: Policy,
    dataset: str,
    keys: Sequence[str],
    *,
    tier: str = "standard",
    days: int = DEFAULT_DAYS,
    claim: Claim | None = None,
) -> RestoreJob:
    """Restore objects `keys` of `dataset` (e.g. archived model files) on `runtime`'s store and object store.

    The restore is a job like any other (``GET /jobs/{id}``); ``RestoreCompleted`` is appended once the tiering job
    of `policy` (``serve``/``worker --tiering``) notices the copies are readable. Returns the job with its ETA.
    """
    from datastrata.runtime.jobs import jobs_of
    from datastrata.tiering.objects import ObjectStore

    objects = ObjectStore(runtime.settings.objects, clock=runtime.clock)
    mover = Mover(runtime.db, objects, policy, clock=runtime.clock)
    restores = Restores(mover, jobs=jobs_of(runtime), log=runtime.log)
    return restores.request(dataset, keys, tier=tier, days=days, claim=claim)


def list_restores(db: Database, *, limit: int = 100, before: tuple[datetime, str] | None = None) -> list[RestoreJob]:
    """Restore requests of every policy, newest first, `limit` at a time after `before` (created_at, job id)."""
    limit = bounded_int(limit, field="limit", minimum=1, maximum=10_000)
    db.ensure(RESTORES)
    where, params = "", cast(tuple[Any, ...], ())
    if before is not None:
        at = time_to_db(db.dialect, before[0])
        where, params = "AND (created_at < ? OR (created_at = ? AND id > ?)) ", (at, at, before[1])
    with db.read() as tx:
        ids = [
            str(r[0])
            for r in tx.query(
                f"SELECT id FROM jobs WHERE kind = ? {where}ORDER BY created_at DESC, id LIMIT ?",
                (KIND, *params, limit),
            )
        ]
    return [get_restore(db, job_id) for job_id in ids]


def get_restore(db: Database, job_id: str) -> RestoreJob:
    """The restore request of job `job_id` (NotFound when it is no restore)."""
    with db.read() as tx:
        job = tx.one("SELECT state, created_at FROM jobs WHERE id = ? AND kind = ?", (job_id, KIND))
        rows = tx.query(
            "SELECT location, policy, dataset, item, tier, days, requested_at, ready_at, expires_at "
            "FROM tiering_restores WHERE job_id = ? ORDER BY item, location",
            (job_id,),
        )
    if job is None or not rows:
        raise NotFound(f"no restore job {job_id!r}; list them with datastrata tiering restores", field="job")
    items = tuple(dict.fromkeys(str(r[3]) for r in rows))
    return RestoreJob(
        job_id,
        str(rows[0][1]),
        str(rows[0][2]),
        items,
        tuple(str(r[0]) for r in rows),
        str(rows[0][4]),
        int(rows[0][5]),
        min(time_from_db(r[6]) for r in rows),
        max(time_from_db(r[7]) for r in rows),
        min(time_from_db(r[8]) for r in rows),
        str(job[0]) == "succeeded",
        time_from_db(job[1]),
    )


def _ready(info: ObjectInfo, now: datetime) -> bool:
    return info.restore is not None and info.restore.ready_at <= now


def _result(found: RestoreJob) -> dict[str, Any]:
    return {
        "policy": found.policy,
        "dataset": found.dataset,
        "items": list(found.items),
        "tier": found.tier,
        "ready_at": found.ready_at.isoformat(),
        "expires_at": found.expires_at.isoformat(),
    }


def _tier(value: str) -> str:
    if value not in TIERS:
        raise ValidationError(f"tier must be one of {', '.join(TIERS)}; got {value!r}", field="tier")
    return value


def _what(ds: Dataset) -> str:
    return {Kind.ROWS: "day", Kind.SEGMENTS: "stream"}.get(ds.kind, "object")
