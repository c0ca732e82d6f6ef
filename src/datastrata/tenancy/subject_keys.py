"""Each data subject's own AES-GCM key, wrapped with the platform key, in ``tenancy_subject_keys``.

The platform key is the one of :mod:`datastrata.tenancy.secrets` (``DATASTRATA_TENANT_SECRET_KEY``); without it
nothing personal is sealed: the append is refused and writes nothing. The keys live in the location holding the
tenant's events. Erasing a subject deletes its key (the row stays, with ``erased_at``), so every sealed copy of its
personal fields, in the log, in cold segments and in exports, is unreadable from then on: crypto-shredding.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from datastrata.core.errors import ConfigurationError
from datastrata.stores.database import Dialect, Tx, time_to_db
from datastrata.stores.migrations import Component, Migration
from datastrata.tenancy.secrets import KEY_VARIABLE, platform_cipher

_PURPOSE: Final = (
    "personal fields are sealed with per-subject keys wrapped with it (erasure deletes a subject's key), "
    "and nothing personal is stored without it"
)
_WRAPPED: Final = "v1:"
_UNWRAPPED: Final = "raw:"
_CHUNK: Final = 400


def _ddl(dialect: Dialect) -> str:
    time = "TEXT" if dialect == "sqlite" else "TIMESTAMPTZ"
    return f"""
CREATE TABLE IF NOT EXISTS tenancy_subject_keys (
    tenant_id  TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    key_enc    TEXT,
    created_at {time} NOT NULL,
    erased_at  {time},
    PRIMARY KEY (tenant_id, subject)
);
"""


def _epoch_ddl(dialect: Dialect) -> str:
    return """
CREATE TABLE IF NOT EXISTS tenancy_subject_keys_epoch (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    epoch     TEXT NOT NULL
);
"""


MIGRATIONS = Component(
    "tenancy.subjects",
    (Migration.from_ddl(1, "baseline", _ddl), Migration.from_ddl(2, "erasure_epoch", _epoch_ddl)),
)


def _cipher() -> AESGCM:
    return platform_cipher(_PURPOSE)


def wrap(key: bytes) -> str:
    """Encrypt a subject key with the platform key (refused, naming the variable, when it is not set)."""
    nonce = os.urandom(12)
    return _WRAPPED + base64.b64encode(nonce + _cipher().encrypt(nonce, key, b"subject-key")).decode()


def unwrap(stored: str) -> bytes:
    """Decrypt a stored subject key (ConfigurationError when the platform key is missing or another one).

    A key stored unwrapped (``raw:``, by a release that allowed it without a platform key) is read as it is.
    """
    if stored.startswith(_UNWRAPPED):
        return base64.b64decode(stored[len(_UNWRAPPED) :])
    data = base64.b64decode(stored[len(_WRAPPED) :])
    try:
        return _cipher().decrypt(data[:12], data[12:], b"subject-key")
    except InvalidTag:
        raise ConfigurationError(
            f"{KEY_VARIABLE} is not the key this store's subject keys were wrapped with; set the original key",
            field=KEY_VARIABLE,
        ) from None


def key_for_sealing(tx: Tx, tenant: str, subject: str, now: datetime) -> str:
    """The subject's stored (wrapped) key, made in `tx` if it has none (or was erased)."""
    row = tx.execute(
        "SELECT key_enc FROM tenancy_subject_keys WHERE tenant_id = ? AND subject = ?", (tenant, subject)
    ).fetchone()
    if row is not None and row[0] is not None:
        return str(row[0])
    stored = wrap(AESGCM.generate_key(bit_length=256))
    at = time_to_db(tx.dialect, now)
    if row is None:
        made = tx.execute(
            "INSERT INTO tenancy_subject_keys (tenant_id, subject, key_enc, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, subject) DO NOTHING",
            (tenant, subject, stored, at),
        )
    else:  # erased before: a new key for what is recorded from now on; the old fields stay unreadable
        made = tx.execute(
            "UPDATE tenancy_subject_keys SET key_enc = ?, created_at = ? "
            "WHERE tenant_id = ? AND subject = ? AND key_enc IS NULL",
            (stored, at, tenant, subject),
        )
    if made.rowcount == 1:
        return stored
    won = tx.execute(  # a concurrent transaction made it first: use that one
        "SELECT key_enc FROM tenancy_subject_keys WHERE tenant_id = ? AND subject = ?", (tenant, subject)
    ).fetchone()
    if won is None or won[0] is None:
        raise ConfigurationError(f"the key of subject {subject!r} could not be stored; retry", field="subject")
    return str(won[0])


def stored_keys(tx: Tx, pairs: Collection[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The stored (wrapped) keys of the `(tenant, subject)` pairs that still have one: one query per 400 pairs."""
    found: dict[tuple[str, str], str] = {}
    ordered = sorted(pairs)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        tenants = sorted({t for t, _ in chunk})
        subjects = sorted({s for _, s in chunk})
        rows = tx.execute(
            "SELECT tenant_id, subject, key_enc FROM tenancy_subject_keys "
            f"WHERE tenant_id IN ({_marks(tenants)}) AND subject IN ({_marks(subjects)}) AND key_enc IS NOT NULL",
            (*tenants, *subjects),
        ).fetchall()
        found.update({(str(t), str(s)): str(k) for t, s, k in rows})
    return found


def erase_key_in(tx: Tx, tenant: str, subject: str, now: datetime) -> bool:
    """Delete the subject's key in `tx` (recording when); True when it had one."""
    at = time_to_db(tx.dialect, now)
    had = tx.execute(
        "SELECT 1 FROM tenancy_subject_keys WHERE tenant_id = ? AND subject = ? AND key_enc IS NOT NULL",
        (tenant, subject),
    ).fetchone()
    tx.execute(
        "INSERT INTO tenancy_subject_keys (tenant_id, subject, key_enc, created_at, erased_at) "
        "VALUES (?, ?, NULL, ?, ?) ON CONFLICT (tenant_id, subject) DO UPDATE SET key_enc = NULL, erased_at = ?",
        (tenant, subject, at, at, at),
    )
    tx.execute(  # a new epoch: every process drops the tenant's keys it holds before its next read
        "INSERT INTO tenancy_subject_keys_epoch (tenant_id, epoch) VALUES (?, ?) "
        "ON CONFLICT (tenant_id) DO UPDATE SET epoch = excluded.epoch",
        (tenant, secrets.token_hex(8)),
    )
    return had is not None


def erasure_epochs(tx: Tx, tenants: Collection[str]) -> dict[str, str]:
    """Each tenant's erasure epoch (changed by every erasure; absent until its first): keys held from before it are
    not to be used."""
    ordered = sorted(tenants)
    rows = tx.execute(
        f"SELECT tenant_id, epoch FROM tenancy_subject_keys_epoch WHERE tenant_id IN ({_marks(ordered)})", ordered
    ).fetchall()
    return {str(t): str(e) for t, e in rows}


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))
