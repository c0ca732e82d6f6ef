"""A region's socket: its routes served by uvicorn as problem+json, called through HttpTransport via its run file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from datastrata.core.errors import BackendUnavailable, NotFound, RuleViolation, ValidationError
from datastrata.systems.trading.region_app import RegionServer
from datastrata.systems.trading.wire import RegionClient, announce, running, withdraw

REGION = "singapore"


def _refuse(rest: str, body: dict[str, Any]) -> Any:
    if body.get("quantity") == 0:
        raise ValidationError("quantity must be positive; got 0", field="quantity")
    if rest == "short":
        raise RuleViolation("short selling is not allowed")
    return {"user": rest, "echo": body}


def _crash(rest: str, body: dict[str, Any]) -> Any:
    raise RuntimeError("a secret the caller must not see")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RegionServer, RegionClient]]:
    server = RegionServer(REGION, {("POST", "orders"): _refuse, ("GET", "crash"): _crash}, host="127.0.0.1", port=0)
    server.start()
    announce(tmp_path, server.endpoint)
    client = RegionClient(tmp_path, REGION)
    try:
        yield server, client
    finally:
        client.close()
        withdraw(tmp_path, server.endpoint)
        server.stop()


def test_answers_and_errors_cross_as_their_own_kind_with_their_field(
    served: tuple[RegionServer, RegionClient],
) -> None:
    server, client = served
    assert server.endpoint.port != 0  # the system chose the port, and the run file names it
    assert client.post("/orders/alice", {"quantity": 3}) == {"user": "alice", "echo": {"quantity": 3}}
    with pytest.raises(ValidationError, match="quantity must be positive") as bad:
        client.post("/orders/alice", {"quantity": 0})
    assert bad.value.field == "quantity"
    with pytest.raises(RuleViolation, match="short selling"):
        client.post("/orders/short", {})
    with pytest.raises(NotFound):
        client.get("/nowhere")
    with pytest.raises(BackendUnavailable) as crashed:  # a failure stays in its room: a generic 500, no secret
        client.get("/crash")
    assert "secret" not in str(crashed.value) and "correlation id" in str(crashed.value)
    assert client.post("/orders/bob", {}) == {"user": "bob", "echo": {}}  # the server goes on


def test_a_body_that_is_not_a_json_object_is_refused_naming_the_body(
    served: tuple[RegionServer, RegionClient],
) -> None:
    server, _ = served
    where = server.endpoint
    for raw in (b"{not json", b"[1, 2]"):
        answer = httpx.post(f"http://{where.host}:{where.port}/orders/alice", content=raw)
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["field"] == "body"


def test_a_stopped_region_is_unavailable_naming_how_to_start_it(
    served: tuple[RegionServer, RegionClient], tmp_path: Path
) -> None:
    server, client = served
    server.stop()  # the run file still names this live process: the call finds nobody listening
    with pytest.raises(BackendUnavailable, match=r"singapore region at .* did not answer POST /orders"):
        client.post("/orders/alice", {})
    withdraw(tmp_path, server.endpoint)
    assert running(tmp_path, REGION) is None
    with pytest.raises(BackendUnavailable, match="trading up --region singapore"):
        client.post("/orders/alice", {})
