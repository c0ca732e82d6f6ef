"""``erase SUBJECT``: a data subject's personal data made unreadable everywhere, in one audited transaction.

The subject's key is deleted (every sealed field of its events, in the log, cold segments and exports, then reads
``"[erased]"``), the declared state and read-model columns are cleared, a ``SubjectErased`` event records it in
the tenant's log (read models holding copies fold it), and after the commit the declared copies (caches) drop theirs.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

from datastrata.core.errors import DatastrataError, ValidationError
from datastrata.core.events import NewEvent
from datastrata.runtime.scope import Scope
from datastrata.stores.database import Tx
from datastrata.stores.tables import columns_of, table_names
from datastrata.tenancy.personal import ERASED, PersonalColumn, masked, personal_columns, personal_copies, pick
from datastrata.tenancy.subject_keys import erase_key_in

if TYPE_CHECKING:
    from datastrata.runtime import Runtime

log = logging.getLogger(__name__)

#: The context of the erasure records: stream ``tenancy.erasure-<subject>`` of the tenant.
CONTEXT: Final = "tenancy.erasure"
#: The event that records an erasure (read models holding personal copies fold it).
SUBJECT_ERASED: Final = "SubjectErased"
SUBJECT_MAX: Final = 180


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure did: whether a key was deleted, the rows cleared per column, the copies dropped."""

    tenant: str
    subject: str
    key_deleted: bool
    cleared: dict[str, int]
    copies: dict[str, str] = field(default_factory=dict)
    position: int = 0
    log: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (``position`` is the ``SubjectErased`` event's, a token of log ``log``)."""
        return {
            "tenant": self.tenant,
            "subject": self.subject,
            "key_deleted": self.key_deleted,
            "cleared": dict(self.cleared),
            "copies": dict(self.copies),
            "token": self.position,
            "log": self.log,
        }


def check_subject(subject: object) -> str:
    """Refuse a malformed subject id."""
    if not isinstance(subject, str) or not 0 < len(subject) <= SUBJECT_MAX or not subject.isprintable():
        raise ValidationError(
            f"subject must be 1-{SUBJECT_MAX} printable characters, e.g. 'user:u1' or 'customer:C-1'; got {subject!r}",
            field="subject",
        )
    return subject


def erase(runtime: Runtime, subject: str, *, actor: str, reason: str = "") -> Erased:
    """Erase `subject` of the current tenant: delete its key, clear its columns, record it; then drop copies."""
    check_subject(subject)
    scope = Scope.of(CONTEXT, subject)
    with runtime.transaction(scope) as work:
        now = runtime.clock()
        had_key = erase_key_in(work, scope.tenant, subject, now)
        present = set(table_names(work))
        cleared = {
            f"{c.table}.{c.column}": _clear(work, c, scope.tenant, subject)
            for c in personal_columns()
            if c.table in present and subject.startswith(c.prefix)
        }
        payload = {"subject": subject, "key_deleted": had_key, "cleared": cleared, "actor": actor, "reason": reason}
        appended = work.append([NewEvent(SUBJECT_ERASED, payload)])
        identity = work.log.identity
    copies: dict[str, str] = {}
    for name, drop in personal_copies().items():
        try:
            if drop(runtime, subject):
                copies[name] = "dropped"
        except DatastrataError as exc:  # the key is gone and the columns are clear: a stale copy expires with its TTL
            log.warning("erase %s: the copies in %s were not dropped: %s", subject, name, exc)
            copies[name] = f"not dropped: {exc}"
    return Erased(scope.tenant, subject, had_key, cleared, copies, appended.position, identity)


def _clear(tx: Tx, column: PersonalColumn, tenant: str, subject: str) -> int:
    """Clear `column` of the subject's rows in `tx`; return how many rows changed."""
    value = subject[len(column.prefix) :]
    where = f"tenant_id = ? AND {column.subject_column} = ?" + "".join(f" AND {k} = ?" for k, _ in column.where)
    params: tuple[Any, ...] = (tenant, value, *(v for _, v in column.where))
    if not column.fields:
        cursor = tx.execute(
            f"UPDATE {column.table} SET {column.column} = ? WHERE {where} AND {column.column} IS NOT NULL",
            (column.erased, *params),
        )
        return max(cursor.rowcount, 0)
    jsonb = tx.dialect == "postgresql" and dict(columns_of(tx, column.table)).get(column.column) == "jsonb"
    cast = "CAST(? AS JSONB)" if jsonb else "?"
    changed = 0
    rows = tx.query(
        f"SELECT DISTINCT {column.column} FROM {column.table} WHERE {where} AND {column.column} IS NOT NULL", params
    )
    for (raw,) in rows:
        document = orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw
        erased = copy.deepcopy(document)
        for path in column.fields:
            for container, key in pick(erased, path):
                container[key] = masked(container[key], ERASED)
        if erased == document:
            continue
        old = raw if isinstance(raw, str) else orjson.dumps(document).decode()  # jsonb compares by value
        cursor = tx.execute(
            f"UPDATE {column.table} SET {column.column} = {cast} WHERE {where} AND {column.column} = {cast}",
            (orjson.dumps(erased, option=orjson.OPT_SORT_KEYS).decode(), *params, old),
        )
        changed += max(cursor.rowcount, 0)
    return changed
