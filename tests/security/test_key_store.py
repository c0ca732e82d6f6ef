"""The key store on SQLite and PostgreSQL: a key is shown once, stored as a hash, listed without it, revoked."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from datastrata.core.errors import NotFound, Unauthorized, ValidationError
from datastrata.security.keys import KeyStore
from datastrata.stores.database import Database

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_key_gives_its_principal_and_only_its_hash_is_stored(db: Database) -> None:
    store = KeyStore(db)
    key, text = store.create(role="editor", note="ci")
    key_id, secret = text.split(".")
    assert key_id == key.key_id and key_id.startswith("ak_") and len(secret) == 43
    principal = store.authenticate(text)
    assert (principal.key_id, principal.tenant, principal.role) == (key_id, "default", "editor")
    assert principal.roles == {"editor", "viewer"} and principal.actor == key_id
    with db.read() as tx:
        rows = tx.query("SELECT * FROM security_api_keys")
    assert len(rows) == 1
    stored = [str(v) for v in rows[0]]
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert not any(secret in v for v in stored)  # the secret itself is nowhere in the row


def test_list_never_shows_the_secret_and_revoke_refuses_the_next_use(db: Database) -> None:
    clock = Clock()
    store = KeyStore(db, clock=clock)
    old, old_text = store.create(role="admin")
    clock.now += timedelta(seconds=1)
    new, new_text = store.create(role="admin")  # rotation: the new key first, then revoke the old one
    listed = [k.to_dict(clock()) for k in store.list()]
    assert [k["key_id"] for k in listed] == [old.key_id, new.key_id]
    for row in listed:
        assert set(row) == {"key_id", "tenant", "role", "note", "created_at", "expires_at", "revoked_at", "state"}
    assert not any(text.split(".")[1] in repr(listed) for text in (old_text, new_text))
    clock.now += timedelta(seconds=1)
    assert store.revoke(old.key_id).state(clock()) == "revoked"
    with pytest.raises(Unauthorized, match="revoked"):
        store.authenticate(old_text)
    assert store.authenticate(new_text).key_id == new.key_id
    assert store.list(tenant="other") == []
    with pytest.raises(NotFound):
        store.revoke("ak_000000000000")


def test_expired_wrong_and_malformed_keys_are_refused_without_echoing_the_secret(db: Database) -> None:
    clock = Clock()
    store = KeyStore(db, clock=clock)
    key, text = store.create(role="viewer", expires_at=T0 + timedelta(hours=1))
    assert store.authenticate(text).role == "viewer"
    clock.now = T0 + timedelta(hours=1)
    with pytest.raises(Unauthorized, match="expired"):
        store.authenticate(text)
    wrong = f"{key.key_id}.{'A' * 43}"
    for token in (wrong, "ak_123456789abc." + "B" * 43, "not-a-key", text + "x"):
        with pytest.raises(Unauthorized) as refused:
            store.authenticate(token)
        assert token.split(".")[-1] not in refused.value.message
    with pytest.raises(ValidationError, match="future"):
        store.create(role="viewer", expires_at=T0)
    with pytest.raises(ValidationError, match="role"):
        store.create(role="root")
