"""Moves that lose nothing: copy → verify the checksum → record the move (and delete the source) → done.

Rows leave their table for a Parquet file (zstd) per UTC day in the object store. The copy is written and read
back, its rows' checksum compared with the table's; only then one transaction records the move in
``tiering_moves`` and deletes the day's rows, so the rows are in exactly one readable place at every instant: a
copy that was never recorded is ignored by readers and overwritten by the next run. Objects change class (or
expire) in place: the move is recorded first, then the class is set; a run after a crash plans the same move
again and finishes it, and the record is written once (its id is derived from what moves).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ConcurrencyConflict, RuleViolation, ValidationError
from datastrata.core.redact import describe_error
from datastrata.runtime.jobs import Work
from datastrata.stores.database import Database, Tx, time_from_db, time_to_db
from datastrata.tiering import rows as tabular
from datastrata.tiering.iceberg import IcebergTables
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import Item, Move, Plan, Reader, plan
from datastrata.tiering.policy import Dataset, Policy
from datastrata.tiering.schema import MIGRATIONS
from datastrata.tiering.segments import Segments
from datastrata.tiering.segments import check as check_segments
from datastrata.tiering.tiers import Kind, Tier

#: The steps of a row move, as reported to `on_step` (a crash test kills the process at each).
STEPS = ("started", "copied", "verified", "recorded")
Step = Callable[[str, Move], None]
Progress = Callable[[int, int, Move], None]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """One audited move."""

    id: str
    dataset: str
    item: str
    from_tier: str
    to_tier: str
    location: str
    rows: int
    bytes: int
    checksum: str
    rule: str
    moved_at: datetime

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-friendly dict."""
        return {**dataclasses.asdict(self), "moved_at": self.moved_at.isoformat()}


class Mover:
    """Carries out a plan's moves on one store and one object store, auditing each."""

    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        policy: Policy,
        *,
        clock: Clock = system_clock,
        on_step: Step | None = None,
        readers: Callable[[], Sequence[Reader]] | None = None,
    ) -> None:
        db.ensure(MIGRATIONS)
        self.db = db
        self.objects = objects
        self.policy = policy
        self.clock = clock
        self._step = on_step or (lambda step, move: None)
        self.iceberg = IcebergTables(db, objects)
        #: Datasets whose Iceberg table refused their parts, with why: their moves wait until it is fixed.
        self.blocked: dict[str, str] = {}
        #: The followers of the event log (a closed stream leaves it once they have passed it); None: none.
        self.readers = readers or (lambda: ())
        self._segments: Segments | None = None

    @property
    def segments(self) -> Segments:
        """The moves of closed event-log streams (opened on first use: it opens the store's event log)."""
        if self._segments is None:
            self._segments = Segments(self)
        return self._segments

    def plan(self, now: datetime) -> Plan:
        """What a run at `now` would do, checked against the log's followers (see :func:`segments.check`)."""
        readers = self.readers()
        check_segments(self.policy, readers)
        return plan(self.policy, self.inventory(), now, readers=readers)

    def inventory(self) -> list[Item]:
        """Every placed item of the policy's datasets: table days, recorded Parquet days, objects."""
        records = self.records()
        items: list[Item] = []
        for ds in self.policy.datasets.values():
            if ds.kind is Kind.ROWS:
                items += self._row_items(ds, [r for r in records if r.dataset == ds.name])
            elif ds.kind is Kind.SEGMENTS:
                items += self.segments.items(ds)
            else:
                items += self._object_items(ds)
        return items

    def run(self, planned: Plan, progress: Progress | None = None) -> list[MoveRecord]:
        """Apply every move of `planned` in order, reporting `progress(done, total, move)` after each.

        A dataset whose Iceberg table refuses its parts is blocked (see :attr:`blocked`): its moves wait, the
        other datasets' go on.
        """
        self.finish_expiries()
        done: list[MoveRecord] = []
        for i, move in enumerate(planned.moves):
            record = self.apply(move)
            if record is not None:
                done.append(record)
            if progress is not None:
                progress(i + 1, len(planned.moves), move)
        return done

    def apply(self, move: Move) -> MoveRecord | None:
        """Carry out one move; None when there was nothing left to move, or its dataset is blocked."""
        if move.item.dataset in self.blocked:
            return None
        ds = self.policy.datasets[move.item.dataset]
        if ds.kind is Kind.OBJECTS:
            return self._move_object(ds, move)
        if ds.kind is Kind.SEGMENTS:
            return self.segments.apply(ds, move)
        if ds.warm_table and move.item.tier is Tier.HOT:
            return self._warm_rows(ds, move)
        if ds.warm_table and move.item.tier is Tier.WARM:
            ds = dataclasses.replace(ds, table=ds.warm_table)  # the warm table's days leave like a table's
        if move.item.tier in (Tier.HOT, Tier.WARM):
            return self._expire_rows(ds, move) if move.to is Tier.EXPIRED else self._copy_rows(ds, move)
        return self._move_parts(ds, move)

    def work(self) -> Work:
        """This policy's run as job work (:mod:`datastrata.runtime.jobs`): plans at its start, reports each move."""

        def work(report: Callable[[int, int], None]) -> dict[str, Any]:
            planned = self.plan(self.clock())
            records = self.run(planned, lambda done, total, move: report(done, total))
            return {
                "moved": [r.to_dict() for r in records],
                "held": [h.to_dict() for h in planned.held],
                "blocked": self.blocked_list(),
            }

        return work

    def finish_expiries(self) -> None:
        """Register parts a crash left unregistered in Iceberg; delete the parts of expired days a crash left behind."""
        self.register()
        for record in self.records():
            if record.dataset in self.blocked:
                continue  # its table may still name these parts: they go once it takes the dataset again
            if record.to_tier == Tier.EXPIRED.value and record.from_tier in (Tier.COLD.value, Tier.FROZEN.value):
                for location in record.location.split(","):
                    self.objects.delete(location)

    def register(self, dataset: str | None = None) -> None:
        """Make each Iceberg table of the policy (or of `dataset`) hold exactly its dataset's online cold parts.

        A table that refuses a dataset's parts blocks that dataset only (recorded in :attr:`blocked`, logged);
        a later call that succeeds lifts the block.
        """
        for ds in self.policy.datasets.values():
            if ds.iceberg and dataset in (None, ds.name):
                try:
                    self.iceberg.sync(ds, self.cold_keys(ds.name))
                except ValidationError as exc:
                    if ds.name not in self.blocked:
                        log.warning("tiering %s: dataset %s is blocked: %s", self.policy.name, ds.name, exc)
                    self.blocked[ds.name] = exc.message
                else:
                    self.blocked.pop(ds.name, None)

    def blocked_list(self) -> list[dict[str, str]]:
        """The blocked datasets and why, as JSON rows (``dataset``, ``reason``)."""
        return [{"dataset": name, "reason": reason} for name, reason in sorted(self.blocked.items())]

    def cold_keys(self, dataset: str) -> list[str]:
        """The object keys of the recorded Parquet parts of `dataset` still online."""
        return [p.location for parts in self.cold_parts(dataset).values() for p in parts]

    def records(
        self,
        dataset: str | None = None,
        *,
        after: tuple[datetime, str] | None = None,
        limit: int | None = None,
        tx: Tx | None = None,
    ) -> list[MoveRecord]:
        """The move audit, oldest first (of one dataset when given; after `after` = (moved_at, id); `limit` of them).

        With `tx`, read in that transaction's snapshot (with other reads that must agree with it).
        """
        return read_records(self.db, dataset, after=after, limit=limit, tx=tx)

    def cold_parts(self, dataset: str, *, tx: Tx | None = None) -> dict[str, list[MoveRecord]]:
        """The recorded Parquet parts of each day of `dataset` still online (not expired), by day (in `tx`)."""
        return online_parts(self.records(dataset, tx=tx))

    def read_range(self, dataset: str, start: datetime, end: datetime) -> pa.Table:
        """Every row of `dataset` with `start` <= time < `end` over all tiers, ordered by every column.

        The same as ``run_query(mover, RangeQuery(dataset, start, end))`` (:mod:`datastrata.tiering.query`), which
        also filters by series and aggregates; frozen days in the range are refused until restored.
        """
        from datastrata.tiering.query import RangeQuery, run_query

        return run_query(self, RangeQuery(dataset, start, end))

    def _row_items(self, ds: Dataset, records: list[MoveRecord]) -> list[Item]:
        warm: list[tuple[str, int, int]] = []
        try:
            with self.db.read() as tx:
                days = tabular.days_in_table(tx, ds, hourly=bool(ds.warm_table))  # with a warm table: hot by the hour
                if ds.warm_table:
                    warm = tabular.days_in_table(tx, dataclasses.replace(ds, table=ds.warm_table))
        except Exception as exc:
            if not _missing_table_or_column(exc):
                raise
            raise ValidationError(
                f"datasets.{ds.name}: the store has no table {ds.table!r} with a time column {ds.time_column!r} "
                f"({describe_error(exc)}); create it, or fix the policy's table and time_column",
                field=f"datasets.{ds.name}.table",
            ) from None
        items = [Item(ds.name, d, ds.online, tabular.item_bounds(d)[1], rows=n, bytes=b) for d, n, b in days]
        if ds.warm_table:
            items += [Item(ds.name, d, Tier.WARM, tabular.day_bounds(d)[1], rows=n, bytes=b) for d, n, b in warm]
        expired = {r.item for r in records if r.to_tier == Tier.EXPIRED.value}
        for day, parts in self.cold_parts(ds.name).items():
            infos = [self.objects.info(p.location) for p in parts]
            frozen = self.policy.storage_class(Tier.FROZEN)
            tier = Tier.FROZEN if all(i.storage_class == frozen for i in infos) else Tier.COLD  # a half move: again
            placed = max(i.placed_at for i in infos)
            items.append(
                Item(
                    ds.name,
                    day,
                    tier,
                    tabular.day_bounds(day)[1],
                    rows=sum(p.rows for p in parts),
                    bytes=sum(i.size for i in infos),
                    placed_at=placed,
                )
            )
        return [i for i in items if i.key not in expired or i.tier in (Tier.HOT, Tier.WARM)]

    def _object_items(self, ds: Dataset) -> list[Item]:
        by_class = {self.policy.storage_class(t): t for t in (Tier.HOT, Tier.WARM, Tier.COLD, Tier.FROZEN)}
        return [
            Item(
                ds.name,
                o.key,
                by_class.get(o.storage_class, Tier.HOT),
                o.created_at,
                bytes=o.size,
                stage=o.stage,
                placed_at=o.placed_at,
            )
            for o in self.objects.list(ds.prefix)
        ]

    def _copy_rows(self, ds: Dataset, move: Move) -> MoveRecord | None:
        day = move.item.key
        with self.db.read() as tx:
            table = tabular.read_day(tx, ds, day)
            n = int(tx.scalar("SELECT count(*) FROM tiering_moves WHERE dataset = ? AND item = ?", (ds.name, day)))
        if table.num_rows == 0:
            return None
        self._step("started", move)
        location = f"tiering/{ds.name}/day={day}/part-{n}.parquet"
        data = tabular.to_parquet(table)
        self.objects.put(location, data)
        self._step("copied", move)
        expected = tabular.checksum(table)
        stored = self.objects.read(location)
        if hashlib.sha256(stored).hexdigest() != hashlib.sha256(data).hexdigest() or (
            tabular.checksum(tabular.from_parquet(stored)) != expected
        ):
            raise RuleViolation(f"the copy of {ds.name} {day} at {location} does not match its rows; nothing moved")
        target_class = self.policy.storage_class(move.to)
        if target_class != "STANDARD":
            self.objects.set_class(location, target_class)
        self._step("verified", move)
        record = self._record_id(move, n, location, table.num_rows, len(data), expected)
        with self.db.transaction() as tx:
            self._insert(tx, record)
            deleted = tabular.delete_day(tx, ds, day)
            if deleted != table.num_rows:
                raise ConcurrencyConflict(
                    f"rows of {ds.name} {day} changed while they were copied ({table.num_rows} copied, {deleted} "
                    "in the table); nothing moved, run again"
                )
        self._step("recorded", move)
        self.register(ds.name)
        return record

    def _warm_rows(self, ds: Dataset, move: Move) -> MoveRecord | None:
        """Hot → warm in one transaction of the same store: INSERT … SELECT into the warm table, then DELETE."""
        key = move.item.key
        with self.db.transaction() as tx:
            table = tabular.read_day(tx, ds, key)
            if table.num_rows == 0:
                return None
            n = int(tx.scalar("SELECT count(*) FROM tiering_moves WHERE dataset = ? AND item = ?", (ds.name, key)))
            copied = tabular.move_to_warm(tx, ds, key)
            deleted = tabular.delete_day(tx, ds, key)
            if not copied == deleted == table.num_rows:
                raise ConcurrencyConflict(
                    f"rows of {ds.name} {key} changed while they moved to {ds.warm_table} ({table.num_rows} read, "
                    f"{copied} copied, {deleted} deleted); nothing moved, run again"
                )
            record = self._record_id(move, n, f"table:{ds.warm_table}", copied, 0, tabular.checksum(table))
            self._insert(tx, record)
        return record

    def _expire_rows(self, ds: Dataset, move: Move) -> MoveRecord | None:
        day = move.item.key
        with self.db.transaction() as tx:
            table = tabular.read_day(tx, ds, day)
            if table.num_rows == 0:
                return None
            record = self._record_id(move, 0, f"table:{ds.table}", table.num_rows, 0, tabular.checksum(table))
            self._insert(tx, record)
            tabular.delete_day(tx, ds, day)
        return record

    def _move_parts(self, ds: Dataset, move: Move) -> MoveRecord | None:
        parts = self.cold_parts(ds.name).get(move.item.key, [])
        if not parts:
            return None
        locations = ",".join(p.location for p in parts)
        checksum = hashlib.sha256("".join(p.checksum for p in parts).encode()).hexdigest()
        record = self._record_id(move, 0, locations, sum(p.rows for p in parts), move.item.bytes, checksum)
        with self.db.transaction() as tx:
            self._insert(tx, record)
        if move.to is Tier.EXPIRED:
            self.register(ds.name)  # out of the Iceberg table before its files go
            if ds.name in self.blocked:
                return record  # the table may still name them: finish_expiries deletes them once it is fixed
        for part in parts:
            if move.to is Tier.EXPIRED:
                self.objects.delete(part.location)
            else:
                self.objects.set_class(part.location, self.policy.storage_class(move.to))
        return record

    def _move_object(self, ds: Dataset, move: Move) -> MoveRecord | None:
        key = move.item.key
        if not self.objects.exists(key):
            return None
        info = self.objects.info(key)
        checksum = self.objects.sha256(key) if info.readable(self.clock()) else ""
        record = self._record_id(move, 0, key, 0, info.size, checksum, version=info.created_at.isoformat())
        with self.db.transaction() as tx:
            self._insert(tx, record)
        if move.to is Tier.EXPIRED:
            self.objects.delete(key)
        else:
            moved = self.objects.set_class(key, self.policy.storage_class(move.to))
            readable = moved.readable(self.clock())  # an archived copy is checked by size until it is restored
            if moved.size != info.size or (checksum and readable and self.objects.sha256(key) != checksum):
                raise RuleViolation(f"object {key!r} changed while its class changed; check it before the next run")
        return record

    def _record_id(
        self, move: Move, n: int, location: str, rows: int, size: int, checksum: str, *, version: str = ""
    ) -> MoveRecord:
        item = move.item
        ident = f"{item.dataset}/{item.key}/{item.tier.value}>{move.to.value}/{version or n}"
        return MoveRecord(
            hashlib.sha256(ident.encode()).hexdigest()[:32],
            item.dataset,
            item.key,
            item.tier.value,
            move.to.value,
            location,
            rows,
            size,
            checksum,
            move.rule.describe(),
            self.clock(),
        )

    def _insert(self, tx: Tx, r: MoveRecord) -> None:
        insert_record(tx, r)


def read_records(
    db: Database,
    dataset: str | None = None,
    *,
    after: tuple[datetime, str] | None = None,
    limit: int | None = None,
    tx: Tx | None = None,
) -> list[MoveRecord]:
    """The move audit of `db`, oldest first (see :meth:`Mover.records`)."""
    clauses: list[str] = []
    params: list[Any] = []
    if dataset:
        clauses.append("dataset = ?")
        params.append(dataset)
    if after is not None:
        at = time_to_db(db.dialect, after[0])
        clauses.append("(moved_at > ? OR (moved_at = ? AND id > ?))")
        params += [at, at, after[1]]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    cap = f" LIMIT {int(limit)}" if limit is not None else ""
    sql = (
        "SELECT id, dataset, item, from_tier, to_tier, location, rows, bytes, checksum, rule, moved_at "
        f"FROM tiering_moves {where} ORDER BY moved_at, id{cap}"
    )
    if tx is not None:
        found = tx.query(sql, tuple(params))
    else:
        with db.read() as snapshot:
            found = snapshot.query(sql, tuple(params))
    return [
        MoveRecord(
            str(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            str(r[4]),
            str(r[5]),
            int(r[6]),
            int(r[7]),
            str(r[8]),
            str(r[9]),
            time_from_db(r[10]),
        )
        for r in found
    ]


def online_parts(records: Sequence[MoveRecord]) -> dict[str, list[MoveRecord]]:
    """The recorded Parquet parts among `records` (of one dataset) still online (not expired), by day."""
    parts: dict[str, list[MoveRecord]] = {}
    expired = set()
    for r in records:
        if r.to_tier == Tier.EXPIRED.value:
            expired.add(r.item)
        elif r.location.endswith(".parquet") and r.from_tier in (Tier.HOT.value, Tier.WARM.value):
            parts.setdefault(r.item, []).append(r)
    return {day: found for day, found in parts.items() if day not in expired}


def insert_record(tx: Tx, r: MoveRecord) -> None:
    """Write one audit record (once: a record of the same id is kept)."""
    tx.execute(
        "INSERT INTO tiering_moves (id, dataset, item, from_tier, to_tier, location, rows, bytes, checksum, "
        "rule, moved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        (
            r.id,
            r.dataset,
            r.item,
            r.from_tier,
            r.to_tier,
            r.location,
            r.rows,
            r.bytes,
            r.checksum,
            r.rule,
            time_to_db(tx.dialect, r.moved_at),
        ),
    )


def _missing_table_or_column(exc: BaseException) -> bool:
    """True for SQLite's and PostgreSQL's "no such table / column" errors."""
    if getattr(exc, "sqlstate", None) in ("42P01", "42703"):
        return True
    return "no such table" in str(exc) or "no such column" in str(exc)
