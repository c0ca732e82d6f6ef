"""Scatter-gather: one read on every shard at once, each under a timeout that really stops its query, then a merge.

Each shard's work runs on a thread of its own (SQLite and psycopg release the GIL while the engine works) in a
read-only transaction: PostgreSQL's ``READ ONLY`` snapshot with ``statement_timeout`` set for that transaction
only; SQLite's snapshot with ``PRAGMA query_only`` and ``Connection.interrupt()`` from a timer. A shard that is down,
refuses, fails or does not answer in time is *missing*: policy ``fail`` (the default) raises naming every missing
shard, ``partial`` returns what answered and the list of those missing (MongoDB's ``allowPartialResults``, Vitess's
scatter errors as warnings).
"""

from __future__ import annotations

import contextlib
import heapq
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from datastrata.core.errors import BackendUnavailable, ValidationError
from datastrata.core.redact import describe_error
from datastrata.runtime.location import Location
from datastrata.stores.database import Row, Tx

T = TypeVar("T")

#: What to do when a shard is missing: raise (``fail``) or answer with the others (``partial``).
POLICIES = ("fail", "partial")
#: The most threads one scatter runs at once (more shards wait for a free thread, within their timeout).
MAX_THREADS = 32
#: The longest per-shard timeout, in seconds.
MAX_TIMEOUT = 3600.0
#: How long past its timeout a shard's thread gets to report its cancelled query before it is given up on.
GRACE = 2.0


@dataclass(frozen=True, slots=True)
class Target:
    """A shard to visit: its name and how to open its location (opened on the shard's own thread)."""

    name: str
    open: Callable[[], Location]


@dataclass(frozen=True, slots=True)
class Missing:
    """A shard that gave no answer, and why (down, refused, failed, timed out)."""

    shard: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """Return ``{"shard": …, "reason": …}``."""
        return {"shard": self.shard, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Gathered(Generic[T]):
    """What a scatter gathered: each answering shard's value, and the shards missing."""

    answers: dict[str, T]
    missing: list[Missing] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every shard answered."""
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return {"answers": self.answers, "missing": [m.to_dict() for m in self.missing]}


class ScatterFailed(BackendUnavailable):
    """Some shards gave no answer and the policy is ``fail``."""

    def __init__(self, missing: Sequence[Missing], answered: int) -> None:
        names = ", ".join(f"{m.shard} ({m.reason})" for m in missing)
        super().__init__(
            f"{len(missing)} of {len(missing) + answered} shards gave no answer: {names}; fix or wait for them, "
            "or ask with policy 'partial' (--policy partial) to get the others' answers and the list of the missing"
        )
        self.missing = list(missing)


def check_policy(policy: object) -> str:
    """Return `policy` if it is ``fail`` or ``partial``."""
    if policy not in POLICIES:
        raise ValidationError(f"policy must be one of {', '.join(POLICIES)}; got {policy!r}", field="policy")
    return str(policy)


def check_timeout(timeout: object) -> float:
    """Return `timeout` (seconds) if it is a number above 0 and at most MAX_TIMEOUT."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT:
        raise ValidationError(
            f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}; got {timeout!r}",
            field="timeout",
        )
    return float(timeout)


def scatter(
    locations: Sequence[Location | Target],
    work: Callable[[Tx], T],
    *,
    timeout: float,
    policy: str = "fail",
    threads: int = MAX_THREADS,
) -> Gathered[T]:
    """Run `work(tx)` on every location at once, each in a read-only transaction of that location, within `timeout`.

    `timeout` (seconds) bounds each shard from the moment the scatter starts: its statements are cancelled by the
    engine when it runs out, and a shard whose thread does not report back soon after is given up on (missing).
    """
    seconds = check_timeout(timeout)
    policy = check_policy(policy)
    targets = [_target(item) for item in locations]
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ValidationError("locations must be distinct shards; a shard is named twice", field="locations")
    if not targets:
        return Gathered({})
    deadline = time.monotonic() + seconds
    pool = _pool(max(1, min(threads, MAX_THREADS)))
    futures: dict[Future[T], str] = {pool.submit(_visit, t, work, deadline): t.name for t in targets}
    done, _ = wait(futures, timeout=seconds + GRACE)  # both policies name every shard that failed
    for future in futures:
        future.cancel()  # one still queued behind a stuck shard never starts; a running one ends on its own
    answers: dict[str, T] = {}
    missing: list[Missing] = []
    for future, name in futures.items():
        if future not in done:
            missing.append(Missing(name, f"no answer in {seconds:g}s (given up on)"))
        elif (error := future.exception()) is not None:
            missing.append(Missing(name, _reason(error, seconds)))
        else:
            answers[name] = future.result()
    missing.sort(key=lambda m: names.index(m.shard))
    if missing and policy == "fail":
        raise ScatterFailed(missing, len(answers))
    return Gathered({name: answers[name] for name in names if name in answers}, missing)


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """The process's pool of `threads` scatter threads (kept: each thread keeps its SQLite connections open)."""
    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"scatter{threads}")
        return pool


def _target(item: Location | Target) -> Target:
    if isinstance(item, Target):
        return item
    if isinstance(item, Location):
        return Target(item.name, lambda: item)
    raise ValidationError(f"locations must hold Location or Target items; got {type(item).__name__}", field="locations")


def _visit(target: Target, work: Callable[[Tx], T], deadline: float) -> T:
    """One shard: open it, run `work` in a read-only snapshot whose statements stop at `deadline`."""
    location = target.open()
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the timeout ran out before the shard was reached")
    with location.db.read() as tx, _limited(tx, left):
        return work(tx)


@contextlib.contextmanager
def _limited(tx: Tx, seconds: float) -> Iterator[None]:
    """Make `tx` read-only and stop its statements after `seconds` (PostgreSQL: the server; SQLite: a timer)."""
    if tx.dialect == "postgresql":  # the snapshot is READ ONLY already; the timeout ends with the transaction
        tx.execute("SELECT set_config('statement_timeout', ?, true)", (f"{max(1, int(seconds * 1000))}ms",))
        yield
        return
    conn = getattr(tx, "conn", None)
    if not isinstance(conn, sqlite3.Connection):
        raise ValidationError(f"scatter cannot limit a {tx.dialect} transaction's time", field="locations")
    conn.execute("PRAGMA query_only = ON")
    timer = threading.Timer(seconds, conn.interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        conn.execute("PRAGMA query_only = OFF")


def _reason(error: BaseException, seconds: float) -> str:
    """Why a shard gave no answer, in one line without secrets."""
    text = str(error).lower()
    if isinstance(error, TimeoutError) or "interrupted" in text or "statement timeout" in text:
        return f"timed out after {seconds:g}s (its query was cancelled)"
    return describe_error(error)


# ---- merging -------------------------------------------------------------------------------------------------


def merge_sum(gathered: Gathered[Any]) -> int | float:
    """The article's *Total/Sum*: the sum of each shard's sum (a shard's ``NULL``, no rows, counts as 0)."""
    return sum(_number(value) for value in gathered.answers.values())


def merge_count(gathered: Gathered[Any]) -> int:
    """The sum of each shard's count."""
    return int(sum(_number(value) for value in gathered.answers.values()))


def merge_rows(
    gathered: Gathered[list[Row]],
    *,
    key: Callable[[Row], Any] | None = None,
    limit: int | None = None,
    reverse: bool = False,
) -> list[Row]:
    """The article's *All*: every shard's rows in one list, sorted by `key` (each shard's rows already sorted so,
    merged lazily) and cut at `limit`."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError(f"limit must be a whole number ≥ 0; got {limit!r}", field="limit")
    lists = [list(rows) for rows in gathered.answers.values()]
    if key is None:
        merged = [row for rows in lists for row in rows]
        return merged if limit is None else merged[:limit]
    ordered = heapq.merge(*(sorted(rows, key=key, reverse=reverse) for rows in lists), key=key, reverse=reverse)
    out: list[Row] = []
    for row in ordered:
        if limit is not None and len(out) >= limit:
            break
        out.append(row)
    return out


def scalar(tx: Tx, sql: str, params: Sequence[Any] = ()) -> Any:
    """Work for a scatter: the first column of the first row of `sql` (``None`` with no rows)."""
    return tx.scalar(sql, tuple(params))


def rows(tx: Tx, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    """Work for a scatter: every row of `sql`, as tuples."""
    return [tuple(row) for row in tx.query(sql, tuple(params))]


def _number(value: Any) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        from decimal import Decimal

        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        raise ValidationError(
            f"a shard answered {value!r}, not a number; merge sum/count needs one numeric column", field="merge"
        )
    return value
