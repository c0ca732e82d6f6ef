"""The log's payload sealer: personal fields encrypted with their subject's key as they are appended.

A sealed payload keeps its shape: each personal value reads ``"[sealed]"`` in the stored row, and the payload
gains one envelope ``"$personal": {"subject", "paths", "sealed"}`` holding the values, AES-GCM encrypted with
the subject's key. Reads open a batch with one query of its tenants' erasure epochs and one lookup of the keys the
process does not hold; where the subject's key is gone (erased), the fields read ``"[erased]"``, and the event's id,
version, position and order stay as they were.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
import threading
from typing import Any, Final, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datastrata.core import codec
from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import ValidationError
from datastrata.core.events import Event
from datastrata.stores.database import Database, Tx
from datastrata.tenancy.personal import ERASED, SEALED, load_declarations, masked, personal_event, pick
from datastrata.tenancy.subject_keys import MIGRATIONS, erasure_epochs, key_for_sealing, stored_keys, unwrap

#: The payload key of the sealed envelope.
ENVELOPE: Final = "$personal"
_SUBJECT_MAX: Final = 180
_CACHE: Final = 65_536

Path = list[str | int]
#: A data subject of a tenant: ``(tenant, subject)``.
Pair = tuple[str, str]
#: A subject's key as a read uses it: its cipher and the associated data of its tenant and subject.
Held = tuple[AESGCM, bytes]
_UNSEEN: Final = object()


class SubjectSealer:
    """Seals declared personal fields with each subject's key (in ``tenancy_subject_keys`` of this store)."""

    def __init__(self, db: Database, *, clock: Clock = system_clock) -> None:
        db.ensure(MIGRATIONS)
        load_declarations()
        self.db = db
        self.clock = clock
        self._opened: dict[str, AESGCM] = {}  # stored (wrapped) key -> its cipher: unwrapping costs
        self._pending: dict[Pair, str] = {}  # keys made in a transaction not yet committed
        self._held: dict[Pair, Held] = {}  # keys read, valid while their tenant's erasure epoch is unchanged
        self._epochs: dict[str, object] = {}  # tenant -> the erasure epoch its held keys were read under
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
        data = self._opener(stored).encrypt(nonce, codec.encode({"v": values}).encode(), _aad(tenant, subject))
        sealed[ENVELOPE] = {"subject": subject, "paths": paths, "sealed": base64.b64encode(nonce + data).decode()}
        return sealed

    def _committed(self, pair: tuple[str, str]) -> None:
        self._pending.pop(pair, None)

    def open(self, events: list[Event]) -> list[Event]:
        """Open the sealed fields of `events` fresh from the store, in their payloads (``"[erased]"`` where the
        subject's key is gone); return them."""
        marked = [
            (payload, envelope, (e.tenant_id, str(envelope.get("subject"))))
            for e in events
            if (envelope := (payload := e.payload).get(ENVELOPE)) is not None
        ]
        if not marked:
            return events
        keys = self._keys({pair for *_, pair in marked}, held=True)
        unopened = []
        for payload, envelope, pair in marked:  # the read hot path: one AES-GCM open and one JSON decode per event
            key = keys.get(pair)
            values = None if key is None else _values(key, envelope)
            if values is None and key is not None:
                unopened.append((payload, envelope, pair))
                continue
            _restore(cast(dict[str, Any], payload), envelope, values)
        if unopened:  # sealed under another key than the one held: erased and made again, or the held one is stale
            keys = self._keys({pair for *_, pair in unopened}, held=False)
            for payload, envelope, pair in unopened:
                key = keys.get(pair)
                _restore(cast(dict[str, Any], payload), envelope, None if key is None else _values(key, envelope))
        return events

    def _keys(self, pairs: set[Pair], *, held: bool) -> dict[Pair, Held]:
        """The cipher and associated data of each pair that has a key, in one read: the tenants' erasure epochs
        first (a tenant whose epoch changed has its held keys dropped), then the keys not held (with `held`
        false: every key, read again)."""
        tenants = {t for t, _ in pairs}
        with self.db.read() as tx:
            epochs = erasure_epochs(tx, tenants)  # before the keys: a key read after it is at least as new
            with self._lock:
                for tenant in tenants:
                    if self._epochs.get(tenant, _UNSEEN) != epochs.get(tenant):
                        self._held = {p: k for p, k in self._held.items() if p[0] != tenant}
                        self._epochs[tenant] = epochs.get(tenant)
                known = self._held
                keys = {p: known[p] for p in pairs if p in known} if held else {}
            missing = pairs - keys.keys()
            found = stored_keys(tx, missing) if missing else {}
        for pair, stored in found.items():
            keys[pair] = (self._opener(stored), _aad(*pair))
        with self._lock:
            for pair in missing:  # kept only while the tenant's epoch is the one read with them
                self._held.pop(pair, None)
                if pair in found and self._epochs.get(pair[0], _UNSEEN) == epochs.get(pair[0]):
                    self._held[pair] = keys[pair]
            while len(self._held) > _CACHE:  # oldest first: insertion order
                self._held.pop(next(iter(self._held)))
        for pair in missing - found.keys():
            pending = self._pending.get(pair)
            if pending is not None:  # made by a transaction of this process not yet committed: never held
                keys[pair] = (self._opener(pending), _aad(*pair))
        return keys

    def _opener(self, stored: str) -> AESGCM:
        """The cipher of a stored key, unwrapped once per process (a plain dict read on the hot path)."""
        cipher = self._opened.get(stored)
        if cipher is not None:
            return cipher
        cipher = AESGCM(unwrap(stored))
        with self._lock:
            self._opened[stored] = cipher
            if len(self._opened) > _CACHE:  # oldest first: insertion order
                self._opened.pop(next(iter(self._opened)), None)
        return cipher


def _values(key: Held, envelope: dict[str, Any]) -> list[Any] | None:
    """The sealed values of one event, or None when `key` is not the one they were sealed with."""
    data = binascii.a2b_base64(envelope["sealed"])
    try:
        values: list[Any] = codec.loads(key[0].decrypt(data[:12], data[12:], key[1]))["v"]
    except InvalidTag:
        return None
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


def _restore(payload: dict[str, Any], envelope: dict[str, Any], values: list[Any] | None) -> None:
    """Put each sealed value back at its path in `payload` (or mark it erased) and drop the envelope."""
    del payload[ENVELOPE]
    paths = envelope.get("paths", ())
    if values is not None and all(len(path) == 1 for path in paths):  # top-level fields: most declarations
        payload.update(zip((path[0] for path in paths), values, strict=True))
        return
    for n, path in enumerate(paths):
        node: Any = payload
        for step in path[:-1]:
            node = node[step]
        last = path[-1]
        node[last] = masked(node[last], ERASED) if values is None else values[n]
