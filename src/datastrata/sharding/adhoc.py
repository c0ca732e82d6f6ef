"""Ad-hoc read-only SQL on every shard of a map, scattered and merged (``datastrata shards scatter``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

from datastrata.core.errors import ValidationError
from datastrata.runtime.location import Location, LocationSpec
from datastrata.sharding.catalog import ShardCatalog
from datastrata.sharding.maps import ShardMaps
from datastrata.sharding.scatter import (
    Gathered,
    Target,
    check_policy,
    check_timeout,
    merge_count,
    merge_rows,
    merge_sum,
    rows,
    scatter,
)
from datastrata.stores.database import Row

#: How the shards' answers are merged: not at all, the sum of a single column, a count, or the rows in one list.
MERGES = ("none", "sum", "count", "rows")
#: The longest statement accepted.
MAX_SQL = 100_000
_READ = re.compile(r"^\s*(select|with|values|table|explain)\b", re.IGNORECASE)


def check_read_sql(sql: object) -> str:
    """Return `sql` if it is one read statement (SELECT, WITH, VALUES, TABLE or EXPLAIN); the engine checks again."""
    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError('sql must be one SELECT statement, e.g. --sql "SELECT SUM(amount) FROM t"', field="sql")
    if len(sql) > MAX_SQL:
        raise ValidationError(f"sql must be at most {MAX_SQL} characters; got {len(sql)}", field="sql")
    text = sql.strip().rstrip(";").rstrip()
    if ";" in text:
        raise ValidationError("sql must be one statement (no ';' between statements)", field="sql")
    if not _READ.match(text):
        raise ValidationError(
            f"sql must be a read (SELECT, WITH, VALUES, TABLE or EXPLAIN): scatter runs read-only; got "
            f"{text.split()[0][:20]!r}",
            field="sql",
        )
    return text


def check_merge(merge: object) -> str:
    """Return `merge` if it is one of MERGES."""
    if merge not in MERGES:
        raise ValidationError(f"merge must be one of {', '.join(MERGES)}; got {merge!r}", field="merge")
    return str(merge)


@dataclass(frozen=True, slots=True)
class ScatterAnswer:
    """The result of an ad-hoc scatter: the map's epoch, each shard's rows, what merged, what is missing."""

    map_name: str
    epoch: int
    gathered: Gathered[list[Row]]
    merge: str
    merged: Any

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        out: dict[str, Any] = {"map": self.map_name, "epoch": self.epoch, "merge": self.merge}
        if self.merge == "none":
            out["shards"] = {name: [list(r) for r in rs] for name, rs in self.gathered.answers.items()}
        elif self.merge == "rows":
            out["rows"] = [list(r) for r in self.merged]
        else:
            out["value"] = self.merged
            out["shards"] = {name: _first(rs) for name, rs in self.gathered.answers.items()}
        out["missing"] = [m.to_dict() for m in self.gathered.missing]
        return out


def scatter_sql(
    catalog: ShardCatalog,
    maps: ShardMaps,
    map_name: str,
    sql: str,
    *,
    timeout: float = 30.0,
    policy: str = "fail",
    merge: str = "none",
    limit: int | None = None,
    opener: Callable[[LocationSpec], Location] | None = None,
) -> ScatterAnswer:
    """Run read-only `sql` on every shard of map `map_name`'s current epoch and merge the answers as `merge` says."""
    text = check_read_sql(sql)
    merge, policy, seconds = check_merge(merge), check_policy(policy), check_timeout(timeout)
    current = maps.current(map_name)
    specs = catalog.specs(map_name)
    unknown = [s for s in current.shards if s not in specs]
    if unknown:
        raise ValidationError(
            f"map {map_name!r} routes to shard {unknown[0]!r}, which has no store in the catalogue; add it first",
            field="map",
        )
    with ExitStack() as opened:

        def open_shard(spec: LocationSpec) -> Location:
            location = opener(spec) if opener is not None else Location.open(spec, max_size=1)
            if opener is None:
                opened.callback(location.close)
            return location

        targets = [Target(name, partial(open_shard, specs[name])) for name in current.shards]
        gathered = scatter(targets, partial(_rows, text), timeout=seconds, policy=policy)
    merged: Any = None
    if merge == "sum":
        merged = merge_sum(_singles(gathered))
    elif merge == "count":
        merged = merge_count(_singles(gathered))
    elif merge == "rows":
        merged = merge_rows(gathered, key=_row_key, limit=limit)
    return ScatterAnswer(map_name, current.epoch, gathered, merge, merged)


def _rows(sql: str, tx: Any) -> list[Row]:
    return rows(tx, sql)


def _singles(gathered: Gathered[list[Row]]) -> Gathered[Any]:
    """Each shard's single value (sum/count need one row of one column)."""
    for name, answer in gathered.answers.items():
        if len(answer) > 1 or any(len(row) != 1 for row in answer):
            raise ValidationError(
                f"merge sum/count needs one row of one column from each shard; shard {name!r} answered "
                f"{len(answer)} rows of {len(answer[0]) if answer else 0} columns",
                field="merge",
            )
    return Gathered({name: _first(answer) for name, answer in gathered.answers.items()}, gathered.missing)


def _first(answer: list[Row]) -> Any:
    return answer[0][0] if answer and answer[0] else None


def _row_key(row: Row) -> tuple[Any, ...]:
    """Sort rows column by column, NULLs first, numbers and text each in their own order."""
    return tuple((0, 0) if v is None else (1, v) if isinstance(v, (int, float)) else (2, str(v)) for v in row)
