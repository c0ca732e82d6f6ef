"""The commerce order saga on Temporal: the orchestrator's definition as a workflow per order, the same outcomes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

if os.environ.get("DATASTRATA_REQUIRE_SERVERS") != "1":  # required: a missing SDK fails the import below
    pytest.importorskip("temporalio", reason="the Temporal runner needs: pip install 'datastrata[temporal]'")

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime
from datastrata.systems.commerce.domain import CANCELLED, CONFIRMED, ORCHESTRATED, TEMPORAL
from datastrata.systems.commerce.service import SERVICE, CommerceService
from tests.conftest import ApiClient
from tests.systems.commerce.conftest import RULE, stocked
from tests.systems.commerce.test_saga import CASES, _outcome


@pytest.fixture
def on_temporal(store_url: str, temporal_server: str) -> Iterator[CommerceService]:
    """The commerce services (SQLite files, or PostgreSQL schemas), the `temporal` setting naming the dev server."""
    with Runtime.open(Settings(store=store_url, temporal=temporal_server)) as runtime:
        yield runtime.service(SERVICE, lambda r: CommerceService(r, decline=RULE))


def test_the_order_saga_on_temporal_ends_as_the_orchestrated_one(on_temporal: CommerceService) -> None:
    svc = on_temporal
    stocked(svc)
    for style in (TEMPORAL, ORCHESTRATED):
        for n, (who, lines) in enumerate(CASES):
            svc.place(who, lines, order_id=f"{style[:5]}-{n}", saga=style)
    svc.settle()  # the orchestrated sagas run; the Temporal ones are started from their OrderCreated
    ends = [svc.temporal().execute(f"tempo-{n}") for n in range(len(CASES))]
    svc.settle()  # the notifications of their ends
    assert [e["state"] for e in ends] == ["completed", "compensated", "compensated"]
    temporal = [_outcome(svc, f"tempo-{n}") for n in range(len(CASES))]
    orchestrated = [_outcome(svc, f"orche-{n}") for n in range(len(CASES))]
    assert temporal == orchestrated
    assert temporal[0] == (CONFIRMED, "CONFIRMED", "CHARGED")
    assert temporal[1][:2] == (CANCELLED, "RELEASED")  # payment declined: the stock released, the order cancelled
    assert temporal[2][:2] == (CANCELLED, "NONE")  # short of stock: nothing held, the order cancelled
    pay = [(c["step"], c["phase"], c["outcome"]) for c in ends[1]["calls"]]
    assert pay == [("order", "action", "succeeded"), ("reserve", "action", "succeeded"), ("pay", "action", "declined"),
                   ("reserve", "compensation", "succeeded"), ("order", "compensation", "succeeded")]  # fmt: skip
    assert "card of bad is declined" in (ends[1]["reason"] or "")
    assert svc.inventory.stock("jacket").available == 2 and svc.inventory.stock("shoe").available == 3
    assert [n.kind for n in svc.notification.sent("tempo-0")] == ["OrderConfirmed"]
    assert svc.temporal().execute("tempo-0") == ends[0]  # again: the workflow's recorded end, nothing charged twice
    assert svc.payment.payment("tempo-0") is not None


def test_saga_temporal_is_refused_naming_the_setting_when_unset(embedded: CommerceService) -> None:
    stocked(embedded)
    with pytest.raises(ConfigurationError, match="set the `temporal` setting"):
        embedded.place("mei", ["shoe:1"], order_id="o-t", saga=TEMPORAL)
    with pytest.raises(Exception, match="no order"):
        embedded.orders.get("o-t")  # nothing written


def test_order_place_saga_temporal_from_the_shell(tmp_path: Path, temporal_server: str) -> None:
    from tests.systems.commerce.test_surfaces import cli, ok

    env = {"DATASTRATA_STORE": f"sqlite:///{tmp_path / 'home.db'}"}
    ok(env, "product", "add", "shoe", "Trail running shoes", "89.90")
    ok(env, "stock", "set", "shoe", "3")
    ok(env, "user", "add", "mei", "Mei")
    code, _, err = cli(env, "order", "place", "mei", "shoe:1", "--order-id", "o-0", "--saga", "temporal")
    assert code != 0 and "DATASTRATA_TEMPORAL" in err  # refused naming the setting, and nothing placed
    assert cli(env, "order", "show", "o-0")[0] != 0
    env["DATASTRATA_TEMPORAL"] = temporal_server
    order = ok(env, "order", "place", "mei", "shoe:2", "--order-id", "o-1", "--saga", "temporal")
    assert (order["status"], order["saga"]) == ("CONFIRMED", "temporal")
    short = ok(env, "order", "place", "mei", "shoe:2", "--order-id", "o-2", "--saga", "temporal")
    assert short["status"] == "CANCELLED" and "1 available" in short["reason"]
    assert ok(env, "stock", "show", "shoe")["available"] == 1


def test_an_order_posted_with_saga_temporal_is_carried_on_by_the_servers_worker(
    tmp_path: Path, temporal_server: str, api_client: ApiClient
) -> None:
    app = create_app(Settings.embedded(tmp_path).with_overrides({"temporal": temporal_server}), worker=False)
    with api_client(app) as http:
        svc: CommerceService = app.state.runtime.service(SERVICE, lambda r: CommerceService(r, decline=RULE))
        stocked(svc)
        posted = http.post("/commerce/orders", json={"customer": "mei", "lines": [{"sku": "shoe", "quantity": 1}],
                                                     "order_id": "o-h", "saga": "temporal"})  # fmt: skip
        assert posted.status_code == 201, posted.text
        assert posted.json()["status"] == "PENDING"
        svc.settle()  # the server's rounds: OrderCreated starts the workflow, the hosted worker runs it
        assert svc.temporal().execute("o-h")["state"] == "completed"
        assert http.get("/commerce/orders/o-h").json()["status"] == CONFIRMED


def test_two_tenants_orders_of_one_id_are_two_workflows(tmp_path: Path, temporal_server: str) -> None:
    from datastrata.tenancy.catalogue import Catalogue

    with Runtime.open(Settings.embedded(tmp_path).with_overrides({"temporal": temporal_server})) as runtime:
        svc: CommerceService = runtime.service(SERVICE, lambda r: CommerceService(r, decline=RULE))
        Catalogue(svc.runtime).add("acme", "indie")
        ends = {}
        for who, lines in (("default", ["shoe:1"]), ("acme", ["shoe:9"])):
            with tenant(who):
                stocked(svc)
                svc.place("mei", lines, order_id="o-same", saga=TEMPORAL)
                svc.settle()
                ends[who] = svc.temporal().execute("o-same")["state"]
        assert ends == {"default": "completed", "acme": "compensated"}  # acme's order is not default's workflow
        with tenant("acme"):
            assert svc.orders.get("o-same").status == CANCELLED
        with tenant("default"):
            assert svc.orders.get("o-same").status == CONFIRMED


def test_saga_temporal_is_refused_when_the_frontend_does_not_answer(tmp_path: Path) -> None:
    from datastrata.core.errors import BackendUnavailable
    from datastrata.testing.servers import free_port

    settings = Settings.embedded(tmp_path).with_overrides({"temporal": f"127.0.0.1:{free_port()}"})
    with Runtime.open(settings) as runtime:
        svc: CommerceService = runtime.service(SERVICE, lambda r: CommerceService(r, decline=RULE))
        stocked(svc)
        with pytest.raises(BackendUnavailable, match="setting `temporal`"):
            svc.place("mei", ["shoe:1"], order_id="o-down", saga=TEMPORAL)
        with pytest.raises(Exception, match="no order"):
            svc.orders.get("o-down")  # nothing written
