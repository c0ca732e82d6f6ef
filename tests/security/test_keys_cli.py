"""``datastrata keys`` and ``serve --insecure-local`` from the shell."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from datastrata.cli import app
from datastrata.security.auth import insecure_local_config, is_loopback
from datastrata.security.keys import KeyStore
from datastrata.stores.open import open_database

runner = CliRunner()


def test_create_prints_the_key_once_list_never_shows_it_revoke_ends_it(sqlite_url: str) -> None:
    created = runner.invoke(app, ["--store", sqlite_url, "keys", "create", "--role", "editor", "--json"])
    assert created.exit_code == 0, created.stderr
    data = json.loads(created.stdout)
    key_id, secret = data["key"].split(".")
    assert (data["key_id"], data["role"], data["tenant"], data["state"]) == (key_id, "editor", "default", "active")
    text = runner.invoke(app, ["--store", sqlite_url, "keys", "create", "--role", "viewer", "--expires", "2999-01-01"])
    assert text.exit_code == 0 and "shown only once" in text.stdout and "2999-01-01T00:00:00+00:00" in text.stdout
    listed = runner.invoke(app, ["--store", sqlite_url, "keys", "list", "--json"])
    assert listed.exit_code == 0 and secret not in listed.stdout
    assert [k["role"] for k in json.loads(listed.stdout)] == ["editor", "viewer"]
    revoked = runner.invoke(app, ["--store", sqlite_url, "keys", "revoke", key_id])
    assert revoked.exit_code == 0 and f"revoked {key_id}" in revoked.stdout
    assert key_id in runner.invoke(app, ["--store", sqlite_url, "keys", "list"]).stdout
    db = open_database(sqlite_url)
    try:
        assert KeyStore(db).get(key_id).revoked_at is not None
    finally:
        db.close()


def test_bad_input_is_refused_with_the_fix(sqlite_url: str) -> None:
    for args, says in (
        (["keys", "create", "--role", "root"], "role must be one of admin, editor, viewer"),
        (["keys", "create", "--role", "admin", "--expires", "2001-01-01"], "not in the future"),
        (["keys", "create", "--role", "admin", "--expires", "soon"], "ISO-8601"),
        (["keys", "revoke", "nope"], "ak_"),
        (["keys", "revoke", "ak_000000000000"], "keys list"),
    ):
        result = runner.invoke(app, ["--store", sqlite_url, *args])
        assert result.exit_code == 2 and says in result.stderr, (args, result.stderr)


def test_serve_insecure_local_is_refused_off_loopback(sqlite_url: str) -> None:
    result = runner.invoke(app, ["--store", sqlite_url, "serve", "--insecure-local", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback only" in result.stderr and "keys create" in result.stderr


def test_insecure_local_on_loopback_warns_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""))
    config = insecure_local_config("127.0.0.1")
    assert config.insecure_local
    assert "WARNING: --insecure-local" in capsys.readouterr().err
