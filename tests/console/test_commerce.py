"""The commerce page: recent orders from the order service, an order's saga timeline, placing one from the form."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from datastrata.systems.commerce.orders import Order
from datastrata.systems.commerce.service import SERVICE, CommerceService
from tests.console.conftest import ConsoleServer, screenshot


def _shop(server: ConsoleServer) -> CommerceService:
    """The server's commerce services with a catalogue, a customer and stock (seeded through the services)."""
    svc: CommerceService = server.app.state.runtime.service(SERVICE, CommerceService)
    svc.catalogue.add("shoe-1", "Trail running shoes", "89.90")
    svc.catalogue.add("car-1", "A small car", "6000.00")  # two of them are over the default card limit
    svc.users.register("mei", "Mei")
    svc.inventory.set_stock("shoe-1", 5)
    svc.inventory.set_stock("car-1", 4)
    return svc


def _ended(svc: CommerceService, order_id: str, seconds: float = 20.0) -> Order:
    """The order once the server's worker has confirmed or cancelled it."""
    deadline = time.monotonic() + seconds
    while (order := svc.orders.get(order_id)).status == "PENDING":
        assert time.monotonic() < deadline, f"order {order_id} is still PENDING: the worker did not carry it on"
        time.sleep(0.05)
    return order


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf" content="([0-9a-f]+)">', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def test_orders_and_their_sagas_come_from_the_services(local_console: ConsoleServer) -> None:
    svc = _shop(local_console)
    svc.place("mei", ["shoe-1:1"], order_id="ok-1", saga="orchestrated")
    svc.place("mei", ["car-1:2"], order_id="no-1", saga="orchestrated")
    svc.place("mei", ["shoe-1:9"], order_id="short-1", saga="choreographed")
    assert _ended(svc, "ok-1").status == "CONFIRMED" and _ended(svc, "no-1").status == "CANCELLED"
    assert _ended(svc, "short-1").status == "CANCELLED"

    listing = httpx.get(f"{local_console.url}/console/commerce")
    assert listing.status_code == 200
    rows = re.findall(r'/console/commerce/orders/([\w.:-]+)"', listing.text)
    assert rows[:3] == ["short-1", "no-1", "ok-1"]  # newest first
    assert "12000.00" in listing.text and "CANCELLED" in listing.text and 'id="place-order"' in listing.text

    confirmed = httpx.get(f"{local_console.url}/console/commerce/orders/ok-1").text
    assert 'id="saga-state">completed' in confirmed and "hx-trigger" not in confirmed  # finished: no polling
    steps = re.findall(r"<tr class=\"\">\s*<td class=\"num\">[\d.]+</td><td>(\w+)</td>", confirmed)
    assert steps == ["order", "reserve", "pay", "confirm", "sell"]

    declined = httpx.get(f"{local_console.url}/console/commerce/orders/no-1").text
    assert 'id="saga-state">compensated' in declined and "declined" in declined
    undone = re.findall(r"<td>(undo \w+)</td>", declined)
    assert undone == ["undo reserve", "undo order"]  # compensations in reverse order, after the declined pivot
    assert 'id="reservation">RELEASED' in declined

    short = httpx.get(f"{local_console.url}/console/commerce/orders/short-1").text
    assert "inventory: InventoryFailed" in short and "orders: OrderCancelled" in short

    missing = httpx.get(f"{local_console.url}/console/commerce/orders/nobody")
    assert missing.status_code == 404 and "no order" in missing.text


def test_the_form_places_an_order_and_refuses_bad_input(local_console: ConsoleServer) -> None:
    svc = _shop(local_console)
    with httpx.Client(base_url=local_console.url) as client:
        token = _csrf(client.get("/console/commerce").text)
        form = {"csrf": token, "customer": "mei", "lines": "shoe-1:2", "saga": "choreographed"}
        placed = client.post("/console/commerce/orders", data=form)
        assert placed.status_code == 303
        order_id = placed.headers["location"].rsplit("/", 1)[1]
        assert _ended(svc, order_id).status == "CONFIRMED" and svc.orders.get(order_id).saga == "choreographed"

        bad = client.post("/console/commerce/orders", data={**form, "lines": "shoe-1"})
        assert bad.status_code == 422 and "SKU:QTY" in bad.text
        stale = client.post("/console/commerce/orders", data={**form, "csrf": "0" * 64})
        assert stale.status_code == 403
    assert svc.inventory.stock("shoe-1").on_hand == 3  # the refused forms wrote nothing


def test_an_order_placed_in_the_browser_shows_its_timeline(local_console: ConsoleServer, watched: Any) -> None:
    _shop(local_console)
    watched.goto(f"{local_console.url}/console/commerce")
    watched.fill("input[name=customer]", "mei")
    watched.fill("input[name=lines]", "car-1:1 shoe-1:1")
    watched.check("input[value=orchestrated]")
    watched.click("#place-order button")
    watched.wait_for_url(re.compile(r"/console/commerce/orders/[\w.:-]+$"))
    watched.locator("#saga-state", has_text="completed").wait_for(timeout=20_000)  # the htmx poll followed it
    assert watched.locator("#order-status").inner_text() == "CONFIRMED"
    steps = watched.locator("table.timeline tbody td:nth-child(2)").all_inner_texts()
    assert steps == ["order", "reserve", "pay", "confirm", "sell"]
    assert watched.locator("svg.chart rect.mark").count() == 5
    screenshot(watched, "commerce")
