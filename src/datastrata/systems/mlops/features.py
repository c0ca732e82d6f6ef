"""The feature store: views, ingestion into the offline store (Parquet by day), materialisation, online reads,
point-in-time training sets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datastrata.core.errors import NotFound, RuleViolation
from datastrata.core.events import NewEvent
from datastrata.core.ids import new_id
from datastrata.core.validation import bounded_list
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.location import Work
from datastrata.stores.database import time_to_db
from datastrata.systems.mlops import offline
from datastrata.systems.mlops.domain import (
    EVENT_TIME,
    FEATURES,
    LABEL_TIME,
    FeatureView,
    check_entity_id,
    check_name,
    feature_view,
)
from datastrata.systems.mlops.materialize import Materializer
from datastrata.systems.mlops.online import OnlineStore
from datastrata.systems.mlops.training import checked_labels, labels_table, point_in_time
from datastrata.tiering.objects import ObjectStore
from datastrata.writes.commands import CommandHandler, CommandResult, Decision

#: Where the offline store keeps a tenant's parts (the policy's ``features`` dataset covers the prefix).
PREFIX = "mlops/features/"
TRAINING_PREFIX = "mlops/training/"
_MICRO = timedelta(microseconds=1)
Progress = Callable[[int, int], None]


class FeatureStore:
    """Feature views of one runtime: offline history in the object store, latest values in the online store."""

    def __init__(self, runtime: Runtime, commands: CommandHandler, objects: ObjectStore, online: OnlineStore) -> None:
        self.runtime = runtime
        self.commands = commands
        self.objects = objects
        self.online_store = online

    # ---- definitions -----------------------------------------------------------------------------------------

    def define(
        self, name: str, entity: str, features: Mapping[str, str], *, ttl: str | None = None, key: str | None = None
    ) -> CommandResult:
        """Define a feature view; defining the same view again is refused unless it is identical (nothing changes)."""
        view = feature_view(name, entity, features, ttl)
        content = view.to_dict()

        def body(work: Work) -> CommandResult:
            held = self._view_in(work, view.name)
            if held is not None and held != view:
                raise RuleViolation(
                    f"feature view {view.name!r} is already defined as {held.to_dict()}; a view's definition does "
                    "not change (its history is typed by it): define a view with a new name",
                    field="name",
                )
            if held is not None:  # defined as asked already: answer with its definition's event, write nothing
                first = tuple(work.stream(limit=1))
                return CommandResult("define", work.scope.stream_id, first, work.log.identity, duplicate=True)
            work.execute(
                "INSERT INTO mlops_feature_views (tenant_id, name, entity, features, ttl_seconds, defined_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    work.scope.tenant,
                    view.name,
                    view.entity,
                    json.dumps(dict(view.features)),
                    None if view.ttl is None else int(view.ttl.total_seconds()),
                    time_to_db(work.dialect, self.runtime.clock()),
                ),
            )
            appended = work.append([NewEvent("FeatureViewDefined", content)])
            return CommandResult("define", work.scope.stream_id, appended.events, work.log.identity)

        return self.commands.run(
            "define",
            self._scope(view.name),
            body,
            encode=CommandResult.to_stored,
            decode=CommandResult.replayed,
            key=key,
            content=content,
        )

    def view(self, name: str) -> FeatureView:
        """Return a view's definition; NotFound names the views there are."""
        check_name(name, field="view")
        with self.runtime.read(Scope.of(FEATURES)) as work:
            found = self._view_in(work, name)
        if found is None:
            raise NotFound(f"no feature view {name!r}; define it first (mlops features define)")
        return found

    def views(self) -> list[FeatureView]:
        """Every view of the tenant, by name."""
        with self.runtime.read(Scope.of(FEATURES)) as work:
            rows = work.query(
                "SELECT name, entity, features, ttl_seconds FROM mlops_feature_views WHERE tenant_id = ? ORDER BY name",
                (work.scope.tenant,),
            )
        return [_view(row) for row in rows]

    # ---- ingestion -------------------------------------------------------------------------------------------

    def ingest(
        self, name: str, rows: Sequence[Mapping[str, object]] | pa.Table, *, key: str | None = None
    ) -> CommandResult:
        """Append feature values (rows or an Arrow table) to the view's offline history: a Parquet part per day."""
        view = self.view(name)
        table = offline.checked_table(view, rows) if isinstance(rows, pa.Table) else offline.rows_table(view, rows)
        batch = new_id()
        written = [
            (day, f"{PREFIX}{self._tenant()}/{view.name}/day={day}/part-{batch}.parquet", part)
            for day, part in offline.by_day(table)
        ]
        parts = []
        try:
            for day, path, part in written:
                data = offline.to_parquet(part)
                info = self.objects.put(path, data)
                times = offline.micros(part)
                parts.append(
                    (path, day, part.num_rows, info.size, _sha(data), pc.min(times).as_py(), pc.max(times).as_py())
                )

            def decide(work: Work) -> Decision:
                seq = int(
                    work.scalar(
                        "SELECT COALESCE(MAX(seq), 0) FROM mlops_feature_parts WHERE tenant_id = ? AND view = ?",
                        (work.scope.tenant, view.name),
                    )
                )
                now = time_to_db(work.dialect, self.runtime.clock())
                work.executemany(
                    "INSERT INTO mlops_feature_parts (tenant_id, view, seq, object_key, day, rows, bytes, sha256, "
                    "min_us, max_us, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(work.scope.tenant, view.name, seq + i + 1, *p, now) for i, p in enumerate(parts)],
                )
                payload = {
                    "view": view.name,
                    "rows": table.num_rows,
                    "parts": len(parts),
                    "days": [p[1] for p in parts],
                    "first_seq": seq + 1,
                    "last_seq": seq + len(parts),
                }
                return Decision(work.scope, [NewEvent("FeaturesIngested", payload)])

            content = {"view": view.name, "sha256": offline.digest(table)}
            result = self.commands.execute("ingest", self._scope(view.name), decide, key=key, content=content)
        except BaseException:
            self._forget(written)
            raise
        if result.duplicate:
            self._forget(written)  # the key's first run recorded its own parts; these were never recorded
        return result

    def history(self, name: str, *, since_us: int | None = None, until_us: int | None = None) -> pa.Table:
        """The view's recorded offline values (with :data:`offline.SEQ`), parts overlapping the µs range only."""
        view = self.view(name)
        with self.runtime.read(Scope.of(FEATURES)) as work:
            parts = work.query(
                "SELECT seq, object_key FROM mlops_feature_parts WHERE tenant_id = ? AND view = ? "
                "AND max_us >= ? AND min_us <= ? ORDER BY seq",
                (
                    work.scope.tenant,
                    view.name,
                    -(2**62) if since_us is None else since_us,
                    2**62 if until_us is None else until_us,
                ),
            )
        tables = []
        for seq, path in parts:
            part = offline.from_parquet(self.objects.read(str(path)))
            tables.append(part.append_column(offline.SEQ, pa.array([int(seq)] * part.num_rows, pa.int64())))
        if not tables:
            empty = offline.arrow_schema(view).append(pa.field(offline.SEQ, pa.int64()))
            return empty.empty_table()
        return pa.concat_tables(tables)

    # ---- materialisation and online reads ----------------------------------------------------------------------

    def materialize(self, name: str | None = None, progress: Progress | None = None) -> dict[str, Any]:
        """Copy the latest value per entity of parts not yet materialised into the online store; resumable."""
        views = [self.view(name)] if name is not None else self.views()
        return Materializer(self.runtime, self.objects, self.online_store).run(views, progress)

    def online(self, name: str, entity_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The latest materialised values of each entity (missing, or expired past the view's TTL, as null)."""
        view = self.view(name)
        ids = [
            check_entity_id(e, field=f"entities[{i}]")
            for i, e in enumerate(bounded_list(list(entity_ids), field="entities", min_items=1, max_items=1000))
        ]
        with self.runtime.read(self._scope(view.name)) as work:
            found = self.online_store.read(work, view.name, ids)
        now = self.runtime.clock()
        out = []
        for entity, held in zip(ids, found, strict=True):
            if held is None:
                out.append({view.entity: entity, "status": "missing", EVENT_TIME: None, "features": None})
                continue
            at = offline.from_micros(held[0])
            expired = view.ttl is not None and now - at > view.ttl
            out.append(
                {
                    view.entity: entity,
                    "status": "expired" if expired else "found",
                    EVENT_TIME: at.isoformat(),
                    "features": None if expired else json.loads(held[1]),
                }
            )
        return out

    # ---- training sets ---------------------------------------------------------------------------------------

    def training_set(
        self,
        views: Sequence[str],
        labels: Sequence[Mapping[str, object]] | pa.Table,
        *,
        save_as: str | None = None,
        key: str | None = None,
    ) -> pa.Table:
        """Join each label with the views' values as of its own time (no leakage); optionally save it by name."""
        names = bounded_list(list(dict.fromkeys(views)), field="views", min_items=1, max_items=20)
        defined = [self.view(n) for n in names]
        entities = [v.entity for v in defined]
        table = checked_labels(labels, entities) if isinstance(labels, pa.Table) else labels_table(labels, entities)
        times = offline.micros(table, LABEL_TIME)
        first, last = pc.min(times).as_py(), pc.max(times).as_py()
        history = []
        for view in defined:
            since = None if view.ttl is None else first - view.ttl // _MICRO
            history.append((view, self.history(view.name, since_us=since, until_us=last)))
        result = point_in_time(table, history)
        if save_as is not None:
            self._save(check_name(save_as, field="save_as"), result, names, key)
        return result

    def saved(self, name: str) -> pa.Table:
        """A training set saved earlier (the baseline of a drift check)."""
        check_name(name, field="training_set")
        with self.runtime.read(Scope.of(FEATURES)) as work:
            path = work.scalar(
                "SELECT object_key FROM mlops_training_sets WHERE tenant_id = ? AND name = ?",
                (work.scope.tenant, name),
            )
        if path is None:
            raise NotFound(f"no saved training set {name!r}; build one with training-set --save {name}")
        return offline.from_parquet(self.objects.read(str(path)))

    def _save(self, name: str, table: pa.Table, views: list[str], key: str | None) -> CommandResult:
        data = offline.to_parquet(table)
        path = f"{TRAINING_PREFIX}{self._tenant()}/{name}-{new_id()}.parquet"
        self.objects.put(path, data)

        def decide(work: Work) -> Decision:
            if (
                work.scalar(
                    "SELECT 1 FROM mlops_training_sets WHERE tenant_id = ? AND name = ?", (work.scope.tenant, name)
                )
                is not None
            ):
                raise RuleViolation(
                    f"a training set named {name!r} is saved already; choose another name", field="save_as"
                )
            work.execute(
                "INSERT INTO mlops_training_sets (tenant_id, name, object_key, rows, columns, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    work.scope.tenant,
                    name,
                    path,
                    table.num_rows,
                    json.dumps(table.column_names),
                    time_to_db(work.dialect, self.runtime.clock()),
                ),
            )
            payload = {"name": name, "views": views, "rows": table.num_rows, "object": path}
            return Decision(work.scope, [NewEvent("TrainingSetSaved", payload)])

        content = {"name": name, "sha256": _sha(data)}
        try:
            result = self.commands.execute("save_training_set", self._scope(name), decide, key=key, content=content)
        except BaseException:
            self.objects.delete(path)
            raise
        if result.duplicate:
            self.objects.delete(path)
        return result

    # ---- helpers ---------------------------------------------------------------------------------------------

    @staticmethod
    def _scope(name: str) -> Scope:
        return Scope.of(FEATURES, name)

    @staticmethod
    def _tenant() -> str:
        return Scope.of(FEATURES).tenant

    def _forget(self, written: list[tuple[str, str, pa.Table]]) -> None:
        for _, path, _ in written:
            self.objects.delete(path)

    @staticmethod
    def _view_in(work: Work, name: str) -> FeatureView | None:
        row = work.one(
            "SELECT name, entity, features, ttl_seconds FROM mlops_feature_views WHERE tenant_id = ? AND name = ?",
            (work.scope.tenant, name),
        )
        return None if row is None else _view(row)


def _view(row: Sequence[Any]) -> FeatureView:
    ttl = None if row[3] is None else timedelta(seconds=int(row[3]))
    return FeatureView(str(row[0]), str(row[1]), json.loads(str(row[2])), ttl)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
