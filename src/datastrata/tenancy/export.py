"""``tenants export ID --to DIR``: every fact of a tenant, in open formats a user can read without datastrata.

The folder holds, per location of the tenant: its events as JSON lines (``events/<location>.jsonl``, paged from
the tenant's own part of the log, archived streams read back from their segments and listed in
``events/archived.json``), its state tables as CSV (``tables/<location>/<table>.csv``, described by
``tables/schema.json``), its rows in cold Parquet parts as CSV (``cold/``, with ``cold/manifest.json``), its objects
copied as they are (``objects/<location>/<key>``, listed with SHA-256 and storage class in
``objects/manifest.json``), and a ``README.md`` naming the formats. Personal fields of erased subjects read
``"[erased]"``. The export is written beside DIR and renamed into place, then recorded (``TenantExported``) in the
home log: offboarding needs it.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from datastrata.core.errors import ConfigurationError, RuleViolation, ValidationError
from datastrata.core.events import Event, NewEvent
from datastrata.core.tenancy import DEFAULT_TENANT, check_tenant_id, tenant
from datastrata.runtime.location import Location
from datastrata.runtime.scope import Scope
from datastrata.stores.database import Tx
from datastrata.stores.tables import columns_of, tenant_tables

if TYPE_CHECKING:
    from datastrata.runtime import Runtime

#: The context of the platform's records of a tenant (stream ``tenancy.tenant-<id>`` of the operator, ``default``).
RECORDS: Final = "tenancy.tenant"
TENANT_EXPORTED: Final = "TenantExported"
#: Recorded (in the same stream) when a tenant was offboarded; read models holding its copies fold it.
TENANT_OFFBOARDED: Final = "TenantOffboarded"
#: Tables that are not exported as state: the log's events (exported as events) and snapshots (derived from them),
#: credentials and delivery bookkeeping. The archive records of closed streams are exported as tables.
NOT_STATE: Final = (
    "eventlog_events",
    "eventlog_snapshots",
    "tenancy_subject_keys",
    "security_api_keys",
    "idempotency_keys",
)
_PAGE: Final = 1000
_JSON: Final = orjson.OPT_SORT_KEYS


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export wrote: where, how many events, rows and objects, and each location's last position."""

    tenant: str
    to: str
    events: int
    rows: int
    objects: int
    heads: dict[str, int]
    not_copied: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {
            "tenant": self.tenant,
            "to": self.to,
            "events": self.events,
            "rows": self.rows,
            "objects": self.objects,
            "heads": dict(self.heads),
            "not_copied": list(self.not_copied),
        }


def record_scope(tenant_id: str) -> Scope:
    """The operator's stream of records about `tenant_id` (exports, offboarding), in the home log."""
    return Scope(RECORDS, tenant_id, DEFAULT_TENANT)


def tenant_locations(runtime: Runtime, tenant_id: str) -> list[Location]:
    """Every location holding facts of `tenant_id`, as the placement names them."""
    return runtime.locations(Scope(RECORDS, tenant_id, tenant_id))


def export_tenant(runtime: Runtime, tenant_id: str, to: Path) -> Exported:
    """Write every fact of `tenant_id` under `to` (which must not exist or be empty), then record the export."""
    check_tenant_id(tenant_id)
    target = to.expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValidationError(f"--to {target} exists and is not an empty folder; name a new folder", field="to")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tenant(tenant_id):
            done = _write(runtime, tenant_id, work, runtime.clock())
        if target.exists():
            target.rmdir()
        os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    exported = Exported(tenant_id, str(target), *done)
    with tenant(DEFAULT_TENANT):
        runtime.append(record_scope(tenant_id), [NewEvent(TENANT_EXPORTED, exported.to_dict())])
    return exported


def _write(
    runtime: Runtime, tenant_id: str, folder: Path, now: datetime
) -> tuple[int, int, int, dict[str, int], tuple[str, ...]]:
    events = rows = copied = 0
    heads: dict[str, int] = {}
    schema: dict[str, Any] = {}
    objects: list[dict[str, Any]] = []
    archived: list[dict[str, Any]] = []
    cold: list[dict[str, Any]] = []
    not_copied: list[str] = []
    for location in tenant_locations(runtime, tenant_id):
        scope = Scope(RECORDS, tenant_id, tenant_id)
        with location.read(scope) as tx:
            head = int(tx.scalar("SELECT MAX(position) FROM eventlog_events WHERE tenant_id = ?", (tenant_id,)) or 0)
            heads[location.name] = head
            for table in tenant_tables(tx):
                if table.startswith(NOT_STATE):
                    continue
                n = _table(tx, table, tenant_id, folder / "tables" / location.name / f"{table}.csv")
                schema[f"{location.name}/{table}"] = {
                    "location": location.name,
                    "table": table,
                    "file": f"tables/{location.name}/{table}.csv",
                    "rows": n,
                    "columns": [{"name": c, "type": t} for c, t in columns_of(tx, table)],
                }
                rows += n
        written, streams = _events(location, tenant_id, head, folder / "events" / f"{location.name}.jsonl")
        events += written
        archived += streams
        not_copied += [f"{location.name}/{s['stream_id']}" for s in streams if not s["exported"]]
        for entry in _cold(location, tenant_id, folder):
            cold.append(entry)
            if entry["copied"]:
                rows += int(entry["rows"])
            else:
                not_copied.append(f"{location.name}/{entry['object']}")
        for entry in _objects(location, tenant_id, folder / "objects" / location.name, now):
            objects.append(entry)
            if entry["copied"]:
                copied += 1
            else:
                not_copied.append(f"{location.name}/{entry['key']}")
    _json(folder / "tables" / "schema.json", {"tenant": tenant_id, "tables": schema})
    _json(folder / "objects" / "manifest.json", {"tenant": tenant_id, "objects": objects})
    _json(folder / "events" / "archived.json", {"tenant": tenant_id, "streams": archived})
    _json(folder / "cold" / "manifest.json", {"tenant": tenant_id, "parts": cold})
    (folder / "README.md").write_text(_readme(tenant_id, now, heads), encoding="utf-8")
    return events, rows, copied, heads, tuple(not_copied)


def _events(location: Location, tenant_id: str, head: int, path: Path) -> tuple[int, list[dict[str, Any]]]:
    """Write the tenant's events of `location` as JSON lines in log order: online up to `head`, and archived streams.

    Return how many, and an entry per archived stream (``exported: false`` with the reason when it cannot be read).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    archived, streams = _archived(location, tenant_id)
    written = 0
    with path.open("wb") as out:
        for event in heapq.merge(_online(location, tenant_id, head), archived, key=lambda e: e.position):
            out.write(orjson.dumps(event.to_dict(), option=_JSON) + b"\n")
            written += 1
    return written, streams


def _online(location: Location, tenant_id: str, head: int) -> Iterator[Event]:
    """The tenant's online events up to `head`, in order: its own pages of the log, read as every reader sees them."""
    after = 0
    while after < head:
        page = location.log.tenant_page(tenant_id, after=after, limit=_PAGE)
        yield from (e for e in location.log.opened(page.events) if e.position <= head)
        if page.next_after <= after:
            return
        after = page.next_after


def _archived(location: Location, tenant_id: str) -> tuple[list[Event], list[dict[str, Any]]]:
    """The events of the tenant's archived streams (read back from their segments), and an entry per stream."""
    events: list[Event] = []
    streams: list[dict[str, Any]] = []
    for segment in location.log.archived(tenant=tenant_id):
        entry: dict[str, Any] = {**segment.to_dict(), "location": location.name, "object": segment.location}
        entry.update(checksum=segment.checksum, exported=False)
        try:
            found = location.log.read(segment.stream_id, tenant=tenant_id)
        except (RuleViolation, ConfigurationError) as exc:  # expired, frozen (not restored), or no object store
            entry["reason"] = exc.message
        else:
            events.extend(found)
            entry["exported"] = True
        streams.append(entry)
    return sorted(events, key=lambda e: e.position), streams


def _table(tx: Tx, table: str, tenant_id: str, path: Path) -> int:
    """Write the tenant's rows of `table` as RFC 4180 CSV with a header; return how many."""
    names = [c for c, _ in columns_of(tx, table)]
    found = tx.query(f"SELECT * FROM {table} WHERE tenant_id = ? ORDER BY 1", (tenant_id,))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(_cell(n) for n in names) + "\r\n")
        for row in found:
            out.write(",".join(_cell(v) for v in row) + "\r\n")
    return len(found)


def _cell(value: Any) -> str:
    """A CSV field: NULL is an empty unquoted field, every value is quoted (so an empty string is ``""``)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, (dict, list)):
        text = orjson.dumps(value, option=_JSON).decode()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (bytes, memoryview)):
        text = bytes(value).hex()
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'


def _objects(location: Location, tenant_id: str, folder: Path, now: datetime) -> Iterator[dict[str, Any]]:
    """Copy the tenant's objects (under ``tenants/<id>/``) of the location; archived ones are listed, not copied."""
    if not location.spec.objects:
        return
    from datastrata.tiering.objects import ObjectStore

    store = ObjectStore(location.spec.objects)
    for info in store.list(f"tenants/{tenant_id}/"):
        entry: dict[str, Any] = {
            "location": location.name,
            "key": info.key,
            "size": info.size,
            "class": info.storage_class,
            "sha256": None,
            "copied": False,
        }
        if info.readable(now):
            data = store.read(info.key)
            target = folder / info.key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            entry.update(
                sha256=hashlib.sha256(data).hexdigest(), copied=True, file=f"objects/{location.name}/{info.key}"
            )
        yield entry


def _cold(location: Location, tenant_id: str, folder: Path) -> Iterator[dict[str, Any]]:
    """Copy the tenant's rows out of the Parquet parts a rows policy moved out of its tables (to cold storage)."""
    if not location.spec.objects:
        return
    from datastrata.tiering.objects import ObjectStore
    from datastrata.tiering.tenantrows import TenantRows

    cold = TenantRows(location.db, ObjectStore(location.spec.objects, clock=location.clock))
    share = cold.share(tenant_id)
    for record in share.archived:  # may hold the tenant's rows: listed, to restore first
        entry = {"location": location.name, "dataset": record.dataset, "object": record.location}
        yield {**entry, "copied": False, "rows": None, "sha256": None}
    for part in share.parts:
        key, mine = part.record.location, part.rows
        file = f"cold/{location.name}/{key.removeprefix('tiering/').removesuffix('.parquet')}.csv"
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        with (folder / file).open("w", encoding="utf-8", newline="") as out:
            out.write(",".join(_cell(n) for n in mine.column_names) + "\r\n")
            for row in mine.to_pylist():
                out.write(",".join(_cell(v) for v in row.values()) + "\r\n")
        yield {
            "location": location.name,
            "dataset": part.record.dataset,
            "object": key,
            "copied": True,
            "file": file,
            "rows": mine.num_rows,
            "sha256": cold.objects.sha256(key),
            "columns": [{"name": f.name, "type": str(f.type)} for f in mine.schema],
        }


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=_JSON | orjson.OPT_INDENT_2) + b"\n")


def refuse_default(tenant_id: str, what: str) -> None:
    """Refuse `what` for the operator's own tenant ``default`` (it keeps the platform's records)."""
    if tenant_id == DEFAULT_TENANT:
        raise RuleViolation(f"the tenant {DEFAULT_TENANT!r} keeps the platform's records and cannot be {what}")


def _readme(tenant_id: str, now: datetime, heads: dict[str, int]) -> str:
    positions = ", ".join(f"{name} up to position {head}" for name, head in heads.items()) or "no locations"
    return f"""# Export of tenant `{tenant_id}`

Written by datastrata at {now.isoformat()} ({positions}). Every file is UTF-8; nothing here needs datastrata to read.

- `events/<location>.jsonl` — the tenant's events in that location's log, in log order, one JSON object (RFC 8259) per
  line (JSON Lines): `event_id`, `stream_id`, `version`, `position`, `type`, `schema_version`, `payload`, `metadata`,
  `occurred_at` and `recorded_at` (ISO 8601, UTC), `tenant_id`. A personal field of an erased data subject reads
  `"[erased]"`.
  Events of archived (closed) streams are read back from their segments and appear in the same file, in order.
- `events/archived.json` — each archived stream of the tenant: its versions, positions, event count, tier, the
  segment object it lives in (`object`) and its checksum; `exported: false` with a `reason` when its events could not
  be read (expired under its policy, or frozen in an archive class: restore it and export again).
- `tables/<location>/<table>.csv` — the tenant's rows of each state table, CSV (RFC 4180) with a header row, CRLF line
  ends, every value double-quoted; NULL is an empty unquoted field (`""` is an empty string). Times are ISO 8601,
  JSON columns JSON text, booleans `true`/`false`, bytes hex. PostgreSQL reads them with
  `COPY t FROM 'file' (FORMAT csv, HEADER true)`.
- `tables/schema.json` — each table's file, row count and columns (name and declared type, in table order).
- `objects/<location>/<key>` — the tenant's objects, byte for byte. `objects/manifest.json` lists each with its size,
  storage class and SHA-256; an archived object (GLACIER, DEEP_ARCHIVE) not restored is listed with `copied: false`:
  restore it (`datastrata tiering restore`) and export again to copy it.

- `cold/<location>/<dataset>/day=<day>/part-<n>.csv` + `cold/manifest.json` — the tenant's rows that a tiering
  policy moved out of a table into cold Parquet parts, in the same CSV format; the manifest names each part's object,
  its SHA-256, the rows and columns taken from it (`copied: false`: the part is in an archive class; restore it).

Read models (the graph, the CQRS views) are not exported: they are derived from the events and rebuilt from them.
"""
