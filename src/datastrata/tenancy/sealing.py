"""The log's payload sealer: personal fields encrypted with their subject's key as they are appended.

A sealed payload keeps its shape: each personal value reads ``"[sealed]"`` in the stored row, and the payload
gains one envelope ``"$personal": {"subject", "paths", "sealed"}`` holding the values, AES-GCM encrypted with
the subject's key. Reads open a batch with one key lookup; where the subject's key is gone (erased), the fields
read ``"[erased]"``, and the event's id, version, position and order stay as they were.
"""

from __future__ import annotations

import base64
import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datastrata.core import codec
from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ValidationError
from datastrata.core.events import Event
from datastrata.stores.database import Database, Tx
from datastrata.tenancy.personal import ERASED, SEALED, load_declarations, masked, personal_event, pick
from datastrata.tenancy.subject_keys import MIGRATIONS, key_for_sealing, stored_keys, unwrap

#: The payload key of the sealed envelope.
ENVELOPE: Final = "$personal"
_SUBJECT_MAX: Final = 180
_CACHE: Final = 65_536

Path = list[str | int]


class SubjectSealer:
    """Seals declared personal fields with each subject's key (in ``tenancy_subject_keys`` of this store)."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        db.ensure(MIGRATIONS)
        load_declarations()
        self.db = db
        self.clock = clock
        self._opened: OrderedDict[str, AESGCM] = OrderedDict()  # stored (wrapped) key -> its cipher: unwrapping costs
        self._pending: dict[tuple[str, str], str] = {}  # keys made in a transaction not yet committed
        self._lock = threading.Lock()

    def seals(self, event_type: str) -> bool:
        """Whether `event_type` has declared personal fields."""
        return personal_event(event_type) is not None

    def seal(self, tx: Tx, tenant: str, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Return `payload` with its personal fields sealed under its subject's key (made in `tx` if new)."""
        declared = personal_event(event_type)
        if declared is None:
            return payload
        subject = declared.subject(payload)
        if subject is None:
            return payload
        if not isinstance(subject, str) or not 0 < len(subject) <= _SUBJECT_MAX or not subject.isprintable():
            raise ValidationError(
                f"the subject of a {event_type} event must be 1-{_SUBJECT_MAX} printable characters; got {subject!r}",
                field="subject",
            )
        sealed = copy.deepcopy(payload)
        paths: list[Path] = []
        values: list[Any] = []
        for field in declared.fields:
            for path, container, at in _reached(sealed, field):
                paths.append(path)
                values.append(container[at])
                container[at] = masked(container[at], SEALED)
        if not paths:
            return payload
        stored = key_for_sealing(tx, tenant, subject, self.clock())
        if tx.dialect == "postgresql":  # a read on another pooled connection cannot see it before the commit
            pair = (tenant, subject)
            self._pending[pair] = stored
            if len(self._pending) > _CACHE:  # an autocommit append or a rollback never calls back: stay bounded
                self._pending.pop(next(iter(self._pending)), None)
            tx.on_commit(lambda: self._committed(pair))
        nonce = os.urandom(12)
        data = self._key(stored).encrypt(nonce, codec.encode({"v": values}).encode(), _aad(tenant, subject))
        sealed[ENVELOPE] = {"subject": subject, "paths": paths, "sealed": base64.b64encode(nonce + data).decode()}
        return sealed

    def _committed(self, pair: tuple[str, str]) -> None:
        self._pending.pop(pair, None)

    def open(self, events: list[Event]) -> list[Event]:
        """Return `events` with sealed fields opened (``"[erased]"`` where the subject's key is gone)."""
        marked = [i for i, e in enumerate(events) if ENVELOPE in e.payload]
        if not marked:
            return events
        pairs = {(events[i].tenant_id, str(events[i].payload[ENVELOPE].get("subject"))) for i in marked}
        with self.db.read() as tx:
            found = stored_keys(tx, pairs)
        for pair in pairs - found.keys():
            pending = self._pending.get(pair)
            if pending is not None:
                found[pair] = pending
        ciphers = {pair: self._key(stored) for pair, stored in found.items()}  # one unwrap per subject and batch
        opened = list(events)
        for i in marked:
            e = events[i]
            envelope = e.payload[ENVELOPE]
            subject = str(envelope.get("subject"))
            cipher = ciphers.get((e.tenant_id, subject))
            values = None if cipher is None else _values(cipher, envelope, e.tenant_id, subject)
            opened[i] = msgspec.structs.replace(e, payload=_restored(e.payload, envelope, values))
        return opened

    def _key(self, stored: str) -> AESGCM:
        with self._lock:
            key = self._opened.get(stored)
            if key is not None:
                self._opened.move_to_end(stored)
                return key
        key = AESGCM(unwrap(stored))
        with self._lock:
            self._opened[stored] = key
            if len(self._opened) > _CACHE:
                self._opened.popitem(last=False)
        return key


def _values(cipher: AESGCM, envelope: dict[str, Any], tenant: str, subject: str) -> list[Any] | None:
    """The sealed values of one event, or None when its subject's key is not the one they were sealed with."""
    data = base64.b64decode(envelope["sealed"])
    try:
        plain = cipher.decrypt(data[:12], data[12:], _aad(tenant, subject))
    except InvalidTag:
        return None  # sealed under an earlier key of the subject, erased since
    values: list[Any] = codec.loads(plain)["v"]
    return values


def _aad(tenant: str, subject: str) -> bytes:
    return f"{tenant}\x1f{subject}".encode()


def _reached(payload: dict[str, Any], field: str) -> list[tuple[Path, Any, str | int]]:
    """The concrete paths `field` reaches in `payload`, with each container and key."""
    if "*" not in field:
        hits = pick(payload, field)
        return [(list(field.split(".")), c, k) for c, k in hits]
    out: list[tuple[Path, Any, str | int]] = []
    _expand(payload, field.split("."), [], out)
    return out


def _expand(node: Any, steps: list[str], at: Path, out: list[tuple[Path, Any, str | int]]) -> None:
    step, rest = steps[0], steps[1:]
    keys: list[str | int]
    if step == "*":
        keys = list(range(len(node))) if isinstance(node, list) else []
    else:
        keys = [step] if isinstance(node, dict) and step in node else []
    for k in keys:
        if rest:
            _expand(node[k], rest, [*at, k], out)
        else:
            out.append(([*at, k], node, k))


def _restored(payload: Mapping[str, Any], envelope: dict[str, Any], values: list[Any] | None) -> dict[str, Any]:
    """`payload` without its envelope, each sealed path holding its value (or erased); containers copied on write."""
    opened = {k: v for k, v in payload.items() if k != ENVELOPE}
    for n, path in enumerate(envelope.get("paths", [])):
        node: Any = opened
        for step in path[:-1]:
            child = node[step]
            child = dict(child) if isinstance(child, dict) else list(child)
            node[step] = child
            node = child
        last = path[-1]
        node[last] = masked(node[last], ERASED) if values is None else values[n]
    return opened
