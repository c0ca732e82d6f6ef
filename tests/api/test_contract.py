"""The HTTP contract on a real server: generic 500s on a kept-alive connection, 405 with Allow, waits off-thread."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import uvicorn
from fastapi import APIRouter, FastAPI

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.security.keys import KeyStore

boom = APIRouter()


@boom.get("/boom")
def explode() -> dict[str, str]:
    """A route failing the way nobody planned."""
    raise RuntimeError("the secret is postgresql://admin:hunter2@db")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int, FastAPI]]:
    """The app under uvicorn on a free loopback port, with its worker."""
    app = create_app(Settings(store=f"sqlite:///{tmp_path / 'db.sqlite'}", graph=f"ladybug:///{tmp_path / 'g'}"))
    app.include_router(boom)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", timeout_keep_alive=30)
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    runtime = app.state.runtime
    _, key = KeyStore(runtime.db, clock=runtime.clock).create(role="admin", note="contract")
    app.state.test_key = key
    yield "127.0.0.1", port, app
    instance.should_exit = True
    thread.join(timeout=15)


def _auth(server: tuple[str, int, FastAPI]) -> dict[str, str]:
    return {"Authorization": f"Bearer {server[2].state.test_key}"}


def test_a_500_is_generic_with_a_correlation_id_and_keeps_the_connection(
    server: tuple[str, int, FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    host, port, _ = server
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/boom", headers=_auth(server))
    failed = conn.getresponse()
    body = json.loads(failed.read())
    sock = conn.sock
    assert failed.status == 500 and failed.getheader("content-type") == "application/problem+json"
    assert body["correlation_id"] and body["correlation_id"] in body["detail"]
    assert "hunter2" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
    assert failed.getheader("connection") != "close"
    conn.request("GET", "/health", headers=_auth(server))
    after = conn.getresponse()
    after.read()
    assert after.status == 200 and conn.sock is sock  # the same keep-alive connection served the next request
    conn.close()


def test_a_405_carries_allow(server: tuple[str, int, FastAPI]) -> None:
    host, port, _ = server
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("DELETE", "/portfolios/p1/deposits", headers=_auth(server))
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 405 and "POST" in (answer.getheader("allow") or "")
    assert answer.getheader("content-type") == "application/problem+json"


def test_waiting_reads_hold_no_server_thread(server: tuple[str, int, FastAPI]) -> None:
    host, port, _ = server

    def wait() -> int:
        conn = http.client.HTTPConnection(host, port, timeout=20)
        conn.request("GET", f"/holders/ACME?after={10**12}&timeout=3", headers=_auth(server))
        status = conn.getresponse().status
        conn.close()
        return status

    with ThreadPoolExecutor(80) as pool:
        waiting = [pool.submit(wait) for _ in range(80)]  # more than the 40 threads of the server's pool
        time.sleep(0.8)
        started = time.perf_counter()
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
        took = time.perf_counter() - started
        assert [w.result() for w in waiting] == [504] * 80
    assert took < 1.0, f"/health took {took:.2f}s behind 80 waiting reads"


def test_openapi_declares_problems_and_bounds(server: tuple[str, int, FastAPI]) -> None:
    _, _, app = server
    spec = app.openapi()
    deposit = spec["paths"]["/portfolios/{portfolio_id}/deposits"]["post"]
    assert {"201", "409", "422", "500"} <= set(deposit["responses"])
    assert "application/problem+json" in deposit["responses"]["409"]["content"]
    amount = spec["components"]["schemas"]["CashIn"]["properties"]["amount"]
    assert amount["pattern"] and amount["maxLength"] == 32
    events = spec["paths"]["/portfolios/{portfolio_id}/events"]["get"]
    limit = next(p for p in events["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
