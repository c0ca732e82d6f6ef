"""The console's sign-in: sessions in the store (only hashes), cookies, revocation, timeouts, CSRF, redirects, rates."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from datastrata.cli import app as cli
from datastrata.console.access import SESSION_COOKIE
from datastrata.console.sessions import ConsoleSessions, sessions_of
from datastrata.console.signin import SIGNIN_BURST, safe_next
from datastrata.core.clock import FrozenClock
from datastrata.core.errors import Unauthorized
from datastrata.security.keys import KeyStore
from datastrata.stores.open import open_database
from tests.console.conftest import ConsoleServer, new_key, screenshot, sign_in, signed_in


def sessions_in_store(server: ConsoleServer) -> list[tuple[Any, ...]]:
    with sessions_of(server.app.state.runtime).db.read() as tx:
        return [tuple(r) for r in tx.query("SELECT session_sha256, key_id FROM console_sessions")]


def test_signing_in_keeps_only_the_session_ids_hash_and_a_strict_cookie(keyed_console: ConsoleServer) -> None:
    key = new_key(keyed_console, "editor")
    http = httpx.Client(base_url=keyed_console.url, headers={"Origin": keyed_console.url})
    answer = http.post("/console/login", data={"key": key, "next": "/console?from=test"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console?from=test"
    cookie = answer.headers["set-cookie"]
    session_id = http.cookies[SESSION_COOKIE]
    assert key not in cookie and key.split(".")[1] not in cookie and len(session_id) == 43
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite"} <= attributes and "secure" not in attributes  # http: no Secure
    assert "Path=/console" in cookie and "SameSite=strict" in cookie
    ((stored, key_id),) = sessions_in_store(keyed_console)
    assert stored == hashlib.sha256(session_id.encode()).hexdigest() and key_id == key.split(".")[0]
    home = http.get("/console")
    assert home.status_code == 200 and "default · editor" in home.text and "Sign out" in home.text
    assert session_id not in home.text and key not in home.text

    csrf = home.text.split('name="csrf" content="')[1].split('"')[0]
    out = http.post("/console/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert sessions_in_store(keyed_console) == []
    replayed = httpx.get(f"{keyed_console.url}/console", cookies={SESSION_COOKIE: session_id})
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/console/login")


def test_revoking_the_key_ends_its_sessions_at_once(
    keyed_console: ConsoleServer, console_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key(keyed_console, "viewer")
    http = signed_in(keyed_console, key)
    assert http.get("/console").status_code == 200
    monkeypatch.setenv("DATASTRATA_STORE", console_settings.store)
    revoked = CliRunner().invoke(cli, ["keys", "revoke", key.split(".")[0]])  # another process's runtime
    assert revoked.exit_code == 0, revoked.output
    after = http.get("/console")
    assert after.status_code == 303 and after.headers["location"] == "/console/login?next=%2Fconsole"
    assert sessions_in_store(keyed_console) == []  # the ended session is forgotten when next seen


def test_a_wrong_key_is_refused_nothing_is_stored_and_attempts_are_rate_limited(
    keyed_console: ConsoleServer,
) -> None:
    good = new_key(keyed_console, "viewer")
    http = httpx.Client(base_url=keyed_console.url, headers={"Origin": keyed_console.url})
    wrong = http.post("/console/login", data={"key": good[:-4] + "AAAA"})
    assert wrong.status_code == 401 and "unknown or its secret is wrong" in wrong.text
    assert good[:-4] not in wrong.text and SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    empty = http.post("/console/login", data={"key": " "})
    assert empty.status_code == 422 and "key:" in empty.text
    assert sessions_in_store(keyed_console) == []
    for _ in range(SIGNIN_BURST - 2):
        assert http.post("/console/login", data={"key": "ak_000000000000.x"}).status_code == 401
    limited = http.post("/console/login", data={"key": good})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "too many sign-in attempts" in limited.text and sessions_in_store(keyed_console) == []


def test_a_key_never_signs_in_from_a_url_or_another_site(keyed_console: ConsoleServer) -> None:
    key = new_key(keyed_console, "admin")
    by_url = httpx.get(f"{keyed_console.url}/console/login", params={"key": key})
    assert by_url.status_code == 200 and key not in by_url.text and sessions_in_store(keyed_console) == []
    elsewhere = httpx.post(
        f"{keyed_console.url}/console/login", data={"key": key}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403 and sessions_in_store(keyed_console) == []


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/console", "//evil.example/console", "/docs", "/console/../docs", "/\\evil.example",
     "/consolex", "javascript:alert(1)", "/console/\x00"],
)  # fmt: skip
def test_after_sign_in_the_console_goes_only_to_its_own_paths(target: str) -> None:
    assert safe_next(target) == "/console"


def test_after_sign_in_a_console_path_is_kept(keyed_console: ConsoleServer) -> None:
    assert safe_next("/console/overview?x=1") == "/console/overview?x=1"
    http = httpx.Client(base_url=keyed_console.url, headers={"Origin": keyed_console.url})
    key = new_key(keyed_console, "viewer")
    answer = http.post("/console/login", data={"key": key, "next": "https://evil.example/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console"


def test_forms_need_the_sessions_own_csrf_token_and_the_consoles_origin(keyed_console: ConsoleServer) -> None:
    first, second = signed_in(keyed_console, new_key(keyed_console)), signed_in(keyed_console, new_key(keyed_console))
    token_of_second = second.get("/console").text.split('name="csrf" content="')[1].split('"')[0]
    assert first.post("/console/logout", data={}).status_code == 403
    stolen = first.post("/console/logout", data={"csrf": token_of_second})
    assert stolen.status_code == 403 and "CSRF token" in stolen.text
    own = first.get("/console").text.split('name="csrf" content="')[1].split('"')[0]
    other_site = first.post("/console/logout", data={"csrf": own}, headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403 and len(sessions_in_store(keyed_console)) == 2


def test_an_htmx_request_without_a_session_moves_the_whole_page_to_sign_in(keyed_console: ConsoleServer) -> None:
    answer = httpx.get(
        f"{keyed_console.url}/console",
        headers={"HX-Request": "true", "HX-Current-URL": f"{keyed_console.url}/console?tab=1"},
    )
    assert answer.status_code == 200 and answer.headers["hx-redirect"] == "/console/login?next=%2Fconsole%3Ftab%3D1"


def test_sessions_end_after_the_idle_and_the_absolute_timeout(store_url: str) -> None:
    clock = FrozenClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    with open_database(store_url) as db:
        keys = KeyStore(db, clock=clock)
        _, key = keys.create(role="viewer")
        sessions = ConsoleSessions(db, keys, clock=clock, idle=timedelta(minutes=30), absolute=timedelta(hours=2))
        busy = sessions.open(key)
        idle = sessions.open(key)
        assert busy.session_id != idle.session_id and sessions.count(busy.principal.key_id) == 2
        for _ in range(4):  # requests every 25 minutes keep the busy one alive past the idle timeout …
            clock.advance(timedelta(minutes=25))
            assert sessions.find(busy.session_id) == busy.principal
        assert sessions.find(idle.session_id) is None  # … the other one ended after 30 idle minutes
        clock.advance(timedelta(minutes=25))  # 2 h 5 min after sign-in: the absolute timeout, however busy
        assert sessions.find(busy.session_id) is None and sessions.count(busy.principal.key_id) == 0
        with pytest.raises(Unauthorized):
            sessions.open(key.split(".")[0] + ".wrong")
        assert sessions.find("not-a-session-id") is None


def test_sessions_work_as_the_application_role_with_row_level_security(app_role_pg: Any) -> None:
    with open_database(app_role_pg.app) as db:
        keys = KeyStore(db)
        _, key = keys.create(role="viewer")
        sessions = ConsoleSessions(db, keys)
        opened = sessions.open(key)
        assert sessions.find(opened.session_id) == opened.principal
        keys.revoke(opened.principal.key_id)
        assert sessions.find(opened.session_id) is None


def test_signing_in_and_out_in_chromium(keyed_console: ConsoleServer, watched: Any) -> None:
    key = new_key(keyed_console, "viewer")
    sign_in(watched, keyed_console, key)
    assert "default · viewer" in watched.locator(".who").inner_text()
    screenshot(watched, "home-signed-in")
    watched.click("text=Sign out")
    watched.wait_for_url(f"{keyed_console.url}/console/login")
    watched.goto(f"{keyed_console.url}/console")
    assert watched.url.startswith(f"{keyed_console.url}/console/login")
    screenshot(watched, "login")
