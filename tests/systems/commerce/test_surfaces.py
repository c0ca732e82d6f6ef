"""The commerce services through the shell, HTTP (and the typed HTTP clients), migrate, readiness and the tour."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from datastrata.api import create_app
from datastrata.catalog import migrate
from datastrata.core.config import Settings
from datastrata.core.errors import ConfigurationError, NotFound, RuleViolation, ValidationError
from datastrata.runtime import Runtime
from datastrata.services.client import HttpTransport
from datastrata.shell import ShellGroup
from datastrata.systems.commerce.cli import app as commerce_app
from datastrata.systems.commerce.clients import CatalogueHttp, InventoryHttp, OrdersHttp, PaymentHttp, UsersHttp
from datastrata.systems.commerce.orders import OrdersService
from datastrata.systems.commerce.service import SERVICE, CommerceService, install, require_migrated
from datastrata.systems.commerce.tour import tour_step
from tests.conftest import ApiClient

root = typer.Typer(cls=ShellGroup, no_args_is_help=True, pretty_exceptions_enable=False)
root.add_typer(commerce_app, name="commerce")
runner = CliRunner()


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(root, ["commerce", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def ok(env: dict[str, str], *args: str) -> Any:
    code, out, err = cli(env, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_story_via_cli(tmp_path: Path) -> None:
    env = {"DATASTRATA_STORE": f"sqlite:///{tmp_path / 'home.db'}"}
    ok(env, "product", "add", "shoe", "Trail running shoes", "89.90", "--description", "for muddy trails")
    assert [p["sku"] for p in ok(env, "product", "search", "muddy")] == ["shoe"]
    assert ok(env, "stock", "set", "shoe", "3")["available"] == 3
    ok(env, "user", "add", "mei", "Mei")
    order = ok(env, "order", "place", "mei", "shoe:2", "--order-id", "o-1")  # choreographed: carried on at once
    assert (order["status"], order["total"], order["saga"]) == ("CONFIRMED", "179.80", "choreographed")
    again = ok(env, "order", "place", "mei", "shoe:2", "--order-id", "o-1")  # another process, the same order
    assert again == order
    shown = ok(env, "order", "show", "o-1")
    assert shown["reservation"]["state"] == "CONFIRMED" and shown["payment"]["state"] == "CHARGED"
    assert [n["kind"] for n in shown["notifications"]] == ["OrderConfirmed"]
    assert ok(env, "stock", "show", "shoe")["on_hand"] == 1
    short = ok(env, "order", "place", "mei", "shoe:2", "--order-id", "o-2")
    assert short["status"] == "CANCELLED" and "1 available" in short["reason"]
    manual = ok(env, "order", "place", "mei", "shoe:1", "--order-id", "o-3", "--saga", "manual")
    assert manual["status"] == "PENDING"
    ok(env, "stock", "set", "shoe", "5")
    orchestrated = ok(env, "order", "place", "mei", "shoe:1", "--order-id", "o-4", "--saga", "orchestrated")
    assert orchestrated["status"] == "CONFIRMED"
    timeline = ok(env, "saga", "show", "o-4")
    assert timeline["state"] == "completed"
    assert [c["step"] for c in timeline["timeline"]] == ["order", "reserve", "pay", "confirm", "sell"]
    code, out, _ = cli(env, "saga", "show", "o-4")
    assert code == 0 and out.startswith("saga o-4 (order): completed")
    code, _, err = cli(env, "saga", "show", "o-1")  # a choreographed order has no saga in the log
    assert code != 0 and "no saga" in err
    services = ok(env, "services")["services"]
    assert [s["service"] for s in services] == ["catalogue", "users", "inventory", "payment", "orders", "notification"]
    assert len({s["store"] for s in services}) == 6
    for args, field in (
        (("order", "place", "mei", "shoe"), "lines"),
        (("order", "place", "ghost", "shoe:1"), "customer"),
        (("stock", "set", "shoe", "1.5"), "on_hand"),
        (("order", "place", "mei", "shoe:1", "--saga", "sometimes"), "saga"),
        (("product", "add", "bad sku", "x", "1"), "sku"),
        (("product", "add", "p", "x", "1.999"), "price"),
    ):
        code, _, err = cli(env, *args)
        assert code != 0 and field in err and "Traceback" not in err, (args, err)


def test_every_command_has_help() -> None:
    for args in (["--help"], ["order", "place", "--help"], ["stock", "--help"], ["saga", "--help"]):
        code, out, _ = cli({}, *args)
        assert code == 0 and out.strip()
    for group in (commerce_app, *(g.typer_instance for g in commerce_app.registered_groups)):
        for command in group.registered_commands:  # type: ignore[union-attr]
            assert command.callback is not None and command.callback.__doc__


def test_the_http_clients_answer_as_the_services_do(tmp_path: Path, api_client: ApiClient) -> None:
    app = create_app(Settings.embedded(tmp_path), worker=False)
    with api_client(app) as http:
        remote = HttpTransport(http=http)
        catalogue, users = CatalogueHttp(remote), UsersHttp(remote)
        inventory, payment, orders = InventoryHttp(remote), PaymentHttp(remote), OrdersHttp(remote)
        local: CommerceService = app.state.runtime.service(SERVICE, CommerceService)
        product = catalogue.add("shoe", "Trail shoes", "89.90", description="for mud")
        assert product == local.catalogue.get("shoe") == catalogue.get("shoe")
        assert catalogue.search("mud") == local.catalogue.search("mud") == [product]
        assert catalogue.prices(["shoe", "nothing"]) == {"shoe": product}
        assert users.register("mei", "Mei") == local.users.get("mei")
        assert inventory.set_stock("shoe", 4) == local.inventory.stock("shoe")
        order = orders.place("mei", ["shoe:2"], order_id="o-1")
        assert order == local.orders.get("o-1") == orders.get("o-1")
        # the order service with its peers over HTTP: priced and checked through their routes, not their stores
        remote_peers = OrdersService(local.runtime, catalogue=catalogue, users=users)
        assert remote_peers.place("mei", ["shoe:1"], order_id="o-peers").total == product.price
        with pytest.raises(NotFound) as unknown:
            remote_peers.place("mei", ["ghost-sku:1"])
        assert unknown.value.field == "lines"
        held = inventory.reserve("o-1", ["shoe:2"], key="reserve-o-1")
        assert held == inventory.reserve("o-1", ["shoe:2"], key="reserve-o-1") == local.inventory.reservation("o-1")
        charge = payment.charge("o-1", "mei", order.total, key="pay-o-1")
        assert charge == local.payment.payment("o-1") == payment.payment("o-1")
        assert inventory.confirm("o-1").state == "CONFIRMED"
        assert orders.confirm("o-1").status == "CONFIRMED"
        refund = payment.refund("o-1", key="refund-o-1")
        assert refund is not None and refund.state == "REFUNDED"
        assert payment.payment("never") is None
        assert payment.refund("never") is None  # nothing charged; a late charge now charges nothing
        assert payment.payment("never") == local.payment.payment("never")
        assert inventory.release("never").state == "NONE"
        with pytest.raises(NotFound) as missing:  # the far side's problem, raised as the same error
            users.get("ghost")
        assert missing.value.field == "customer"
        with pytest.raises(RuleViolation):
            orders.cancel("o-1", reason="too late")
        with pytest.raises(ValidationError) as invalid:
            catalogue.add("shoe", "Trail shoes", "-1")
        assert invalid.value.field
        local.settle()
        saga = http.post("/commerce/orders", json={"customer": "mei", "lines": [{"sku": "shoe", "quantity": 1}],
                                                   "order_id": "o-saga", "saga": "orchestrated"})  # fmt: skip
        assert saga.status_code == 201 and saga.json()["status"] == "PENDING"
        local.settle()
        assert http.get("/commerce/orders/o-saga").json()["status"] == "CONFIRMED"
        assert http.get("/commerce/sagas/o-saga").json()["state"] == "completed"
        assert http.get("/commerce/sagas/o-1").status_code == 404  # o-1 was carried on by hand
        notes = http.get("/commerce/notification/o-1").json()
        assert [n["kind"] for n in notes] == ["OrderConfirmed"]
        problem = http.get("/commerce/orders/nope")
        assert problem.status_code == 404 and problem.headers["content-type"] == "application/problem+json"
        assert http.get("/commerce/catalogue/search", params={"q": "x" * 201}).status_code == 422
        assert http.put("/commerce/inventory/stock/shoe", json={"on_hand": -1}).status_code == 422
    with api_client(create_app(Settings.embedded(tmp_path), worker=False), role="viewer") as viewer:
        assert viewer.get("/commerce/orders/o-1").json()["status"] == "CONFIRMED"
        assert viewer.post("/commerce/orders", json={"customer": "mei", "lines": []}).status_code == 403


def test_migrate_upgrades_every_services_store_and_readiness_checks_them(pg_url: str) -> None:
    settings = Settings(store=pg_url)
    assert not any(m.location == "orders" for m in migrate(settings))  # never used: no schema or role made
    with Runtime.open(settings) as runtime:
        require_migrated(runtime)  # the services not opened: nothing of theirs to be ready for
        svc: CommerceService = runtime.service(SERVICE, CommerceService)  # first use: made and migrated
        require_migrated(runtime)
        orders = svc.placement.service("orders").namespace
        with psycopg.connect(pg_url, autocommit=True) as conn:  # as if a newer release added a migration
            conn.execute(f"DELETE FROM \"{orders}\".schema_migrations WHERE component = 'commerce.orders'")
        with pytest.raises(ConfigurationError, match="datastrata migrate"):
            require_migrated(runtime)
        done = {m.location: m for m in migrate(settings)}
        assert {"catalogue", "users", "inventory", "payment", "orders", "notification"} <= set(done)
        assert [p.component for p in done["orders"].migrations] == ["commerce.orders"]  # its own component only
        assert done["payment"].migrations == ()
        require_migrated(runtime)  # ready again


def test_tour_step_and_worker_job(tmp_path: Path) -> None:
    lines: list[str] = []
    with Runtime.open(Settings.embedded(tmp_path)) as runtime:
        install(runtime)
        tour_step(runtime, lines.append)
        svc: CommerceService = runtime.services[SERVICE]
        svc.orders.place("mei", ["shoe-1:1"], order_id="after-tour", saga="choreographed")
        while runtime.run_once():  # the worker's job drives the services' relays and their reactions
            pass
        assert svc.orders.get("after-tour").status == "CONFIRMED"
        assert svc.notification.sent("after-tour")
    text = "\n".join(lines)
    assert "tour-1 (shoe-1:1, 89.90): CONFIRMED" in text and "its own store" in text
    assert "saga-1 (shoe-1:1, 89.90): CONFIRMED" in text and "undo reserve" in text
    assert "stock RELEASED, payment DECLINED" in text and "3 available, 9 wanted" in text
