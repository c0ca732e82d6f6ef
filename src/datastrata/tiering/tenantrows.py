"""A tenant's share of the cold row parts of one location: list it, read it, take it out, write it elsewhere.

A rows policy moves old rows into Parquet parts (``tiering/<dataset>/day=<day>/part-<n>.parquet``), recorded in
the location's move audit (``tiering_moves``); on a shared location one part holds the rows of many tenants, each
row carrying ``tenant_id``. Readers find parts only through their records (:func:`moves.online_parts`), so a part
is changed by writing a new object and pointing its record at it: the new part is written and read back, then one
transaction updates the record (location, rows, bytes, checksum) while it still names the old part, then the
Iceberg tables naming the old file name the new one, then the old object is deleted. A part rewritten again after a
crash finds nothing left to take out; the predecessors of a part (``part-0.parquet`` before ``part-0.r1.parquet``)
still stored are deleted by the next pass, so every step may be redone.

A part in an archive class cannot be read until it is restored, so its rows are unknown: whatever must read every
part holding a tenant's rows (offboarding, a move) is refused while one is not readable, naming the days to
restore. A rewritten part keeps its storage class (an archived one that was restored is archived again, without
the restored copy).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datastrata.core.errors import ConcurrencyConflict, RuleViolation, ValidationError
from datastrata.stores.database import Database
from datastrata.tiering import rows as tabular
from datastrata.tiering.iceberg import IcebergTables
from datastrata.tiering.moves import MoveRecord, insert_record, online_parts, read_records
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.schema import MIGRATIONS
from datastrata.tiering.tiers import Tier

#: The column naming the tenant a row belongs to.
TENANT_COLUMN: Final = "tenant_id"
#: The rule recorded on a part a tenant move wrote at its target.
CARRIED: Final = "carried by a tenant move"
_REVISION = re.compile(r"^(?P<base>.+?)(?:\.r(?P<n>\d+))?\.parquet$")


@dataclass(frozen=True, slots=True)
class TenantPart:
    """One recorded part holding rows of the tenant, and those rows (in the part's order)."""

    record: MoveRecord
    rows: pa.Table


@dataclass(frozen=True, slots=True)
class Share:
    """A tenant's share of a location's parts: the readable parts holding its rows, and the unreadable parts."""

    parts: tuple[TenantPart, ...]
    #: Parts in an archive class and not restored: they may hold the tenant's rows.
    archived: tuple[MoveRecord, ...]

    @property
    def rows(self) -> int:
        """The tenant's rows in the readable parts."""
        return sum(p.rows.num_rows for p in self.parts)


class ArchivedParts(RuleViolation):
    """Parts that may hold a tenant's rows are in an archive class: restore them (``datastrata tiering restore``)."""

    def __init__(self, tenant: str, what: str, parts: Sequence[MoveRecord]) -> None:
        self.parts = tuple(parts)
        days = sorted({(p.dataset, p.item) for p in self.parts})
        shown = ", ".join(f"{d} {i}" for d, i in days[:10]) + (" …" if len(days) > 10 else "")
        first = days[0][0]
        super().__init__(
            f"{what} must read every cold part that may hold tenant {tenant}'s rows, but {len(self.parts)} part(s) "
            f"are in an archive class and cannot be read: {shown}; restore them first (datastrata tiering restore "
            f"POLICY {first} {' '.join(i for d, i in days[:10] if d == first)} --tier expedited|standard|bulk), "
            "then run it again once the restore is ready (datastrata tiering restores)",
            field="tenant_id",
        )


class TenantRows:
    """The cold row parts of one location (its store's move audit and its object store), tenant by tenant."""

    def __init__(self, db: Database, objects: ObjectStore) -> None:
        db.ensure(MIGRATIONS)
        self.db = db
        self.objects = objects
        self.iceberg = IcebergTables(db, objects)

    def records(self) -> list[MoveRecord]:
        """Every recorded row part still online, of every rows dataset, oldest first (closed streams' segments are
        events, not rows: not among them)."""
        by_dataset: dict[str, list[MoveRecord]] = {}
        for record in read_records(self.db):
            by_dataset.setdefault(record.dataset, []).append(record)
        return [
            p
            for name, found in by_dataset.items()
            for parts in online_parts(found).values()
            for p in parts
            if p.location.startswith(f"tiering/{name}/day=")
        ]

    def share(self, tenant: str) -> Share:
        """The parts holding `tenant`'s rows, with those rows; and the parts that cannot be read now."""
        now = self.objects.clock()
        parts: list[TenantPart] = []
        archived: list[MoveRecord] = []
        for record in self.records():
            if not self.objects.exists(record.location):
                continue  # a part a crash left recorded but already replaced: finished by `_finish`
            if not self.objects.info(record.location).readable(now):
                archived.append(record)
                continue
            mine = self._read(record.location, tenant)
            if mine is not None and mine.num_rows:
                parts.append(TenantPart(record, mine))
        return Share(tuple(parts), tuple(archived))

    def marks(self) -> str:
        """A SHA-256 over the recorded parts (where, rows, checksum): equal while no part was written or rewritten."""
        sha = hashlib.sha256()
        for r in sorted(self.records(), key=lambda r: r.location):
            sha.update(f"{r.location}\t{r.rows}\t{r.checksum}\t{r.to_tier}\n".encode())
        return sha.hexdigest()

    def unreadable(self) -> list[MoveRecord]:
        """The recorded parts in an archive class and not restored (any of them may hold any tenant's rows)."""
        now = self.objects.clock()
        return [
            r
            for r in self.records()
            if self.objects.exists(r.location) and not self.objects.info(r.location).readable(now)
        ]

    def readable_share(self, tenant: str, what: str) -> Share:
        """`tenant`'s share, refused (:class:`ArchivedParts`) while a part that may hold its rows cannot be read."""
        found = self.share(tenant)
        if found.archived:
            raise ArchivedParts(tenant, what, found.archived)
        return found

    def digest(self, tenant: str, what: str = "a comparison") -> tuple[int, str]:
        """`tenant`'s cold rows and a SHA-256 over them per dataset and day (equal however they are split in parts)."""
        sha = hashlib.sha256()
        rows = 0
        for (dataset, day), table in sorted(_by_day(self.readable_share(tenant, what)).items()):
            sha.update(f"{dataset}\t{day}\t{tabular.checksum(table)}\n".encode())
            rows += table.num_rows
        return rows, sha.hexdigest()

    def remove(self, tenant: str, what: str = "taking a tenant's rows out") -> tuple[int, int]:
        """Rewrite every part holding `tenant`'s rows without them: (parts rewritten, rows taken out)."""
        self._finish()
        share = self.readable_share(tenant, what)
        for part in share.parts:
            self._rewrite(part.record, tenant, None)
        self._finish()
        return len(share.parts), share.rows

    def copy_from(self, source: TenantRows, tenant: str, what: str = "a move") -> tuple[int, int]:
        """Make `tenant`'s share here equal its share at `source`: (parts written here, rows carried).

        Per dataset and day the tenant's rows join the part this location holds for that day (or a new part with
        its own record); parts here holding the tenant's rows of days no longer at the source lose them. A copy
        done again finds the same rows and writes nothing.
        """
        self._finish()
        theirs = source.readable_share(tenant, what)
        incoming = _by_day(theirs)
        first = {(p.record.dataset, p.record.item): p.record for p in reversed(theirs.parts)}
        here = self.share(tenant)
        blocked = [r for r in here.archived if (r.dataset, r.item) in incoming]
        if blocked:  # the tenant's rows of these days would join a part that cannot be read
            raise ArchivedParts(tenant, what, blocked)
        held = {(p.record.dataset, p.record.item): p for p in here.parts}
        unreadable = {r.location for r in here.archived}
        records = [r for r in self.records() if r.location not in unreadable]
        written = rows = 0
        for key, table in sorted(incoming.items()):
            rows += table.num_rows
            mine = held.pop(key, None)
            if mine is not None and _same(mine.rows, table):
                continue  # copied already
            of_day = [r for r in records if (r.dataset, r.item) == key]
            if of_day:
                self._rewrite(of_day[0], tenant, table)
            else:
                self._add(first[key], table)
            written += 1
        for stale in held.values():  # days the source holds no more of the tenant
            self._rewrite(stale.record, tenant, None)
            written += 1
        self._finish()
        return written, rows

    # ---- parts ---------------------------------------------------------------------------------------------

    def _read(self, key: str, tenant: str | None) -> pa.Table | None:
        """The rows of part `key` (only `tenant`'s, when given); None for a part of no tenant's rows."""
        path = self.objects.path(key)
        with self.objects.fs.open_input_file(path) as stream:
            schema = pq.read_schema(stream)
        if TENANT_COLUMN not in schema.names:
            return None
        with self.objects.fs.open_input_file(path) as stream:
            table = pq.read_table(stream)
        if tenant is None:
            return table
        return table.filter(pc.equal(table[TENANT_COLUMN], tenant))

    def _rewrite(self, record: MoveRecord, tenant: str, incoming: pa.Table | None) -> None:
        """Replace part `record` by its rows without `tenant`'s, plus `incoming` (the tenant's new rows) if any."""
        table = self._read(record.location, None)
        assert table is not None
        kept = table.filter(pc.invert(pc.equal(table[TENANT_COLUMN], tenant)))
        if incoming is not None:
            kept = pa.concat_tables([kept, _conformed(incoming, kept.schema, record)])
        new = _ordered(kept)
        storage_class = self.objects.info(record.location).storage_class
        key = _next_revision(record.location)
        data, checksum = self._put(key, new, storage_class)
        with self.db.transaction() as tx:
            changed = tx.execute(
                "UPDATE tiering_moves SET location = ?, rows = ?, bytes = ?, checksum = ? "
                "WHERE id = ? AND location = ?",
                (key, new.num_rows, len(data), checksum, record.id, record.location),
            ).rowcount
        if not changed:
            self.objects.delete(key)
            raise ConcurrencyConflict(
                f"the record of part {record.location} changed while it was rewritten; nothing changed, run again"
            )
        self._retire(record.location, key)

    def _add(self, like: MoveRecord, table: pa.Table) -> None:
        """Write `table` as a new cold part of `like`'s dataset and day, with a record of its own.

        It is written readable (``STANDARD``) even when the day was archived at the source: the location's policy
        archives it again when due, recording that move as its own.
        """
        with self.db.read() as tx:
            same_day = "SELECT count(*) FROM tiering_moves WHERE dataset = ? AND item = ?"
            n = int(tx.scalar(same_day, (like.dataset, like.item)))
        key = f"tiering/{like.dataset}/day={like.item}/part-{n}.parquet"
        data, checksum = self._put(key, table, "STANDARD")
        ident = f"{like.dataset}/{like.item}/{like.from_tier}>{Tier.COLD.value}/{CARRIED}"
        record = replace(
            like,
            id=hashlib.sha256(ident.encode()).hexdigest()[:32],
            to_tier=Tier.COLD.value,
            location=key,
            rows=table.num_rows,
            bytes=len(data),
            checksum=checksum,
            rule=CARRIED,
        )
        with self.db.transaction() as tx:
            insert_record(tx, record)

    def _put(self, key: str, table: pa.Table, storage_class: str) -> tuple[bytes, str]:
        """Write `table` as part `key`, read it back and compare, then keep it in `storage_class`: (its bytes, the
        checksum of its rows)."""
        data = tabular.to_parquet(table)
        self.objects.put(key, data)
        stored = self.objects.read(key)
        checksum = tabular.checksum(table)
        if stored != data or tabular.checksum(tabular.from_parquet(stored)) != checksum:
            self.objects.delete(key)
            raise RuleViolation(f"the new part {key} does not read back as written; nothing changed, run again")
        if storage_class != "STANDARD":
            self.objects.set_class(key, storage_class)
        return data, checksum

    def _retire(self, old: str, new: str) -> None:
        """Name `new` in the Iceberg tables naming `old`, then delete `old`."""
        self.iceberg.replace_file(old, new)
        self.objects.delete(old)

    def _finish(self) -> None:
        """Retire every predecessor a crash left of a recorded part (its record names the newer revision)."""
        for record in self.records():
            for older in _predecessors(record.location):
                if self.objects.exists(older):
                    self._retire(older, record.location)


def _by_day(share: Share) -> dict[tuple[str, str], pa.Table]:
    """The tenant's rows per (dataset, day), every part of a day together, in the canonical order."""
    grouped: dict[tuple[str, str], list[pa.Table]] = {}
    for part in share.parts:
        grouped.setdefault((part.record.dataset, part.record.item), []).append(part.rows)
    return {key: _ordered(pa.concat_tables(tables)) for key, tables in grouped.items()}


def _ordered(table: pa.Table) -> pa.Table:
    """`table` sorted by every column in order (how a day's rows are written: the same rows, the same bytes)."""
    return table.sort_by([(name, "ascending") for name in table.column_names])


def _same(left: pa.Table, right: pa.Table) -> bool:
    return bool(tabular.checksum(_ordered(left)) == tabular.checksum(right))


def _conformed(incoming: pa.Table, schema: pa.Schema, record: MoveRecord) -> pa.Table:
    """`incoming` with the columns and types of the part it joins; refused when they differ."""
    if set(incoming.column_names) != set(schema.names):
        raise ValidationError(
            f"the rows carried into part {record.location} have columns {sorted(incoming.column_names)}, the part "
            f"{sorted(schema.names)}; give the dataset's table the same columns at both ends (migrate), then run again",
            field="dataset",
        )
    return incoming.select(schema.names).cast(schema)


def _next_revision(key: str) -> str:
    """The key of the next revision of part `key`: ``part-0.parquet`` → ``part-0.r1.parquet`` → ``….r2…``."""
    found = _REVISION.match(key)
    assert found is not None
    return f"{found['base']}.r{int(found['n'] or 0) + 1}.parquet"


def _predecessors(key: str) -> list[str]:
    """The keys of the earlier revisions of part `key`."""
    found = _REVISION.match(key)
    if found is None or found["n"] is None:
        return []
    return [found["base"] + ".parquet", *(f"{found['base']}.r{i}.parquet" for i in range(1, int(found["n"])))]
