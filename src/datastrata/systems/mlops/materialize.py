"""Materialisation: the latest value per entity of new offline parts, into the online store, checkpointed.

Parts are taken in sequence after the view's checkpoint (``mlops_materialized``); a few whole parts go per
transaction, each entity's newest value only, and the checkpoint moves in the same transaction. The online store
keeps the newer value, so a run after a crash applies a part again to the same effect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from datastrata.runtime import Runtime, Scope
from datastrata.runtime.location import Work
from datastrata.stores.database import time_to_db
from datastrata.systems.mlops import offline
from datastrata.systems.mlops.domain import EVENT_TIME, FEATURES, FeatureView
from datastrata.systems.mlops.online import Entry, OnlineStore
from datastrata.tiering.objects import ObjectStore

Progress = Callable[[int, int], None]
#: Online values written per materialisation transaction (whole parts; at least one part).
_BATCH_VALUES = 50_000
#: A row is the view's values at its event time: a null is a missing value, not "unchanged".
_KEEP_NULLS = pc.ScalarAggregateOptions(skip_nulls=False)


class Materializer:
    """Moves new offline values of feature views into an online store."""

    def __init__(self, runtime: Runtime, objects: ObjectStore, online: OnlineStore) -> None:
        self.runtime = runtime
        self.objects = objects
        self.online_store = online

    def run(self, views: Sequence[FeatureView], progress: Progress | None = None) -> dict[str, Any]:
        """Materialise every part of `views` after its checkpoint, a few whole parts per transaction."""
        pending: list[tuple[FeatureView, int, str]] = []
        for view in views:
            with self.runtime.read(Scope.of(FEATURES)) as work:
                done = self._checkpoint_in(work, view.name)
                pending += [
                    (view, int(s), str(k))
                    for s, k in work.query(
                        "SELECT seq, object_key FROM mlops_feature_parts WHERE tenant_id = ? AND view = ? AND seq > ? "
                        "ORDER BY seq",
                        (work.scope.tenant, view.name, done),
                    )
                ]
        entities = 0
        batch: list[Entry] = []
        for i, (view, seq, path) in enumerate(pending):
            batch += _latest(view, offline.from_parquet(self.objects.read(path)), seq)
            last_of_view = i + 1 == len(pending) or pending[i + 1][0] != view
            if len(batch) < _BATCH_VALUES and not last_of_view:
                continue  # a few parts per transaction: short transactions, few commits
            with self.runtime.transaction(Scope.of(FEATURES, view.name)) as work:
                done = self._checkpoint_in(work, view.name)  # another run may have applied some meanwhile
                fresh = _newest([entry for entry in batch if entry[2] > done])
                if fresh:
                    self.online_store.write(work, view.name, fresh)
                    self._advance_in(work, view.name, seq)
                    entities += len(fresh)
            batch = []
            if progress is not None:
                progress(i + 1, len(pending))
        return {
            "views": [v.name for v in views],
            "parts": len(pending),
            "entities": entities,
            "online": self.online_store.name,
        }

    @staticmethod
    def _checkpoint_in(work: Work, view: str) -> int:
        seq = work.scalar(
            "SELECT seq FROM mlops_materialized WHERE tenant_id = ? AND view = ?", (work.scope.tenant, view)
        )
        return 0 if seq is None else int(seq)

    def _advance_in(self, work: Work, view: str, seq: int) -> None:
        work.execute(
            "INSERT INTO mlops_materialized (tenant_id, view, seq, materialized_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, view) DO UPDATE SET seq = excluded.seq, "
            "materialized_at = excluded.materialized_at",
            (work.scope.tenant, view, seq, time_to_db(work.dialect, self.runtime.clock())),
        )


def _latest(view: FeatureView, part: pa.Table, seq: int) -> list[Entry]:
    """The latest row per entity of one part (ties of event time: the later row)."""
    order = pa.array(range(part.num_rows), pa.int64())
    ranked = part.append_column("__row", order).sort_by([(EVENT_TIME, "ascending"), ("__row", "ascending")])
    latest = ranked.group_by(view.entity, use_threads=False).aggregate(
        [(c, "last", _KEEP_NULLS) for c in (EVENT_TIME, *view.features)]
    )
    entities = latest.column(view.entity).to_pylist()
    times = latest.column(f"{EVENT_TIME}_last").cast(pa.int64()).to_pylist()
    values = latest.select([f"{f}_last" for f in view.features]).rename_columns(list(view.features)).to_pylist()
    return [(e, t, seq, orjson.dumps(v).decode()) for e, t, v in zip(entities, times, values, strict=True)]


def _newest(entries: list[Entry]) -> list[Entry]:
    """One entry per entity: the newest by (event time, part), as the online store would keep it."""
    kept: dict[str, tuple[str, int, int, str]] = {}
    for entry in entries:
        held = kept.get(entry[0])
        if held is None or (held[1], held[2]) <= (entry[1], entry[2]):
            kept[entry[0]] = entry
    return list(kept.values())
