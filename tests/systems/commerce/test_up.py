"""``commerce up``: each service and the orchestrator its own OS process; kill -9 of any of them mid-saga loses nothing.

The seven processes run as ``python -m datastrata commerce up --service …`` on embedded stores with the bus on
Redis Streams (the fixture's server). Orders of both styles (choreographed, orchestrated) and all three outcomes
(confirmed, payment declined, short of stock) are placed while one process is killed with SIGKILL and started
again; then every order has ended and the invariants hold, asked of the services' own APIs: stock never negative
and nothing left reserved; no charge without a confirmed order; every confirmed order charged exactly once with
its stock sold; every cancelled order's stock released; one message per order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import Result

from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.services.processes import running
from datastrata.systems.commerce.domain import CANCELLED, CHOREOGRAPHED, CONFIRMED, ORCHESTRATED
from datastrata.systems.commerce.orders import Order
from datastrata.systems.commerce.processes import PROCESSES
from datastrata.systems.commerce.remote import Remote
from datastrata.systems.commerce.up import serve_service
from tests.systems.commerce.test_surfaces import root, runner

#: Seconds the processes have to come up, and the orders to end after the restart.
START_WAIT, END_WAIT = 60.0, 60.0
#: The orders each kill test places: (lines, saga style), cycled; the kill comes after the KILL_AFTER-th.
MIX = [
    (["shoe:1"], CHOREOGRAPHED),
    (["shoe:1"], ORCHESTRATED),
    (["watch:2"], ORCHESTRATED),  # 12,000.00 is over the default card limit: declined, stock released
    (["watch:2"], CHOREOGRAPHED),
    (["shoe:1", "watch:1"], ORCHESTRATED),
    (["shoe:900"], CHOREOGRAPHED),  # short of stock: cancelled, nothing held
    (["shoe:2"], ORCHESTRATED),
    (["shoe:900"], ORCHESTRATED),
]
ORDERS, KILL_AFTER = 10, 4
#: Units of each SKU on hand at the start of the module.
STOCK = 200


class Shop:
    """The seven processes of one embedded home, and clients of their sockets."""

    def __init__(self, home: Path, bus: str) -> None:
        self.home = home
        self.store = f"sqlite:///{home / 'datastrata.db'}"
        self.env = {**os.environ, "DATASTRATA_STORE": self.store, "DATASTRATA_BUS": bus}
        self.remote = Remote(Settings(store=self.store, bus=bus))
        self.folder = self.remote.folder
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def cli(self, *args: str) -> Result:
        """Run ``datastrata commerce ARGS`` against this home (in this process: it talks to the running ones)."""
        env = {k: self.env[k] for k in ("DATASTRATA_STORE", "DATASTRATA_BUS")}
        return runner.invoke(root, ["commerce", *args], env=env)

    def start(self, *names: str) -> None:
        """Start the processes `names` together and wait until each announced its socket."""
        for name in names:
            command = [sys.executable, "-m", "datastrata", "commerce", "up", "--service", name]
            self.processes[name] = subprocess.Popen(command, env=self.env, cwd=self.home, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_WAIT
        for name in names:
            child = self.processes[name]
            while (found := running(self.folder, name)) is None or found.pid != child.pid:
                assert child.poll() is None, f"{name} exited with {child.returncode}"
                assert time.monotonic() < deadline, f"{name} did not come up in {START_WAIT} s"
                time.sleep(0.05)

    def kill(self, name: str) -> None:
        """kill -9 process `name`."""
        child = self.processes.pop(name)
        child.send_signal(signal.SIGKILL)
        child.wait(10)

    def stop(self) -> dict[str, int]:
        """SIGTERM every process; their exit statuses."""
        for child in self.processes.values():
            child.terminate()
        codes = {name: child.wait(60) for name, child in self.processes.items()}
        self.processes.clear()
        return codes

    def place(self, order_id: str, lines: list[str], saga: str) -> Order:
        """Place an order, retrying while the order service is down (the same id: the same order)."""
        deadline = time.monotonic() + START_WAIT
        while True:
            try:
                return self.remote.orders.place("mei", lines, order_id=order_id, saga=saga)
            except BackendUnavailable:
                assert time.monotonic() < deadline, f"order {order_id} could not be placed"
                time.sleep(0.05)

    def ended(self, order_ids: list[str]) -> list[Order]:
        """Every order once none is PENDING (asked of the order service)."""
        deadline = time.monotonic() + END_WAIT
        while True:
            orders = [self.remote.orders.get(o) for o in order_ids]
            if all(o.status != "PENDING" for o in orders):
                return orders
            assert time.monotonic() < deadline, [o.order_id for o in orders if o.status == "PENDING"]
            time.sleep(0.1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[Shop]:
    """The seven processes on one embedded home and a flushed Redis, stocked; stopped with SIGTERM at the end."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    up = Shop(tmp_path_factory.mktemp("commerce-up"), redis_server)
    try:
        up.start(*PROCESSES)
        up.remote.catalogue.add("shoe", "Trail running shoes", "80.00")
        up.remote.catalogue.add("watch", "Gold watch", "6000.00")
        up.remote.users.register("mei", "Mei")
        up.remote.inventory.set_stock("shoe", STOCK)
        up.remote.inventory.set_stock("watch", STOCK)
        yield up
    finally:
        codes = up.stop()
    assert codes == dict.fromkeys(codes, 0), codes  # SIGTERM is a clean stop
    assert all(running(up.folder, name) is None for name in PROCESSES)  # …and each withdrew its run file


def test_the_shell_talks_to_the_running_processes(shop: Shop) -> None:
    placed = shop.cli("order", "place", "mei", "shoe:1", "--order-id", "cli-1", "--saga", ORCHESTRATED)
    assert placed.exit_code == 0, placed.output
    assert "order cli-1 for mei: CONFIRMED, total 80.00" in placed.output  # carried on by the processes
    shown = shop.cli("order", "show", "cli-1")
    assert "stock CONFIRMED; payment CHARGED" in shown.output, shown.output
    assert "sent: Dear mei, your order cli-1 (80.00) is confirmed." in shown.output
    saga = shop.cli("saga", "show", "cli-1")
    assert "saga cli-1 (order): completed" in saga.output, saga.output
    steps = [line.split(" ms ", 1)[1].split()[0] for line in saga.output.splitlines()[1:]]
    assert steps == ["order", "reserve", "pay", "confirm", "sell"]
    stock = shop.cli("stock", "show", "shoe", "--json")
    assert '"reserved": 0' in stock.output
    refused = shop.cli("stock", "set", "shoe", "-1")
    assert refused.exit_code != 0 and "on_hand" in refused.output  # the far side's refusal, named by its field
    assert shop.remote.inventory.stock("shoe").on_hand == STOCK - 1


def test_a_second_process_of_one_service_is_refused(shop: Shop) -> None:
    settings = Settings(store=shop.store, bus=shop.env["DATASTRATA_BUS"])
    with pytest.raises(ConfigurationError, match="orders is already running here"):
        serve_service(settings, "orders", stop=threading.Event())


def test_up_needs_the_bus_on_redis(tmp_path: Path) -> None:
    refused = runner.invoke(root, ["commerce", "--store", f"sqlite:///{tmp_path / 'x.db'}", "up"])
    assert refused.exit_code != 0 and "redis://" in refused.output and "bus" in refused.output


@pytest.mark.sample("sagas", "orders", "payment")  # the other four processes: make test-full
@pytest.mark.parametrize("victim", PROCESSES)
def test_a_kill_9_of_any_process_mid_saga_leaves_every_saga_finished_once(shop: Shop, victim: str) -> None:
    before = {sku: shop.remote.inventory.stock(sku) for sku in ("shoe", "watch")}
    ids = [f"{victim}-{n}" for n in range(ORDERS)]
    for n, order_id in enumerate(ids):
        lines, style = MIX[n % len(MIX)]
        shop.place(order_id, lines, style)
        if n + 1 == KILL_AFTER:  # sagas in flight: the last one was placed a moment ago
            assert shop.remote.orders.get(order_id).status == "PENDING"
            shop.kill(victim)
            restart = threading.Thread(target=shop.start, args=(victim,))
            restart.start()
    restart.join()
    sold = dict.fromkeys(before, 0)
    for order in shop.ended(ids):
        held = shop.remote.inventory.reservation(order.order_id)
        paid = shop.remote.payment.payment(order.order_id)
        if order.status == CONFIRMED:
            assert paid is not None and paid.state == "CHARGED" and paid.amount == order.total, order
            assert held.state == "CONFIRMED", order
            for line in held.lines:
                sold[line.sku] += line.quantity
        else:
            assert order.status == CANCELLED, order
            assert paid is None or paid.state != "CHARGED", (order, paid)
            assert held.state in ("NONE", "RELEASED", "FAILED"), (order, held)
        wanted = {"CONFIRMED": "OrderConfirmed", "CANCELLED": "OrderCancelled"}[order.status]
        deadline = time.monotonic() + END_WAIT
        while not (sent := shop.remote.notification.sent(order.order_id)):
            assert time.monotonic() < deadline, f"no message about {order.order_id}"
            time.sleep(0.1)
        assert [n.kind for n in sent] == [wanted], (order, sent)  # written once, not again after the restart
    # (an orchestrated order whose step found its service down past the step's retries compensates: also an end)
    for sku, was in before.items():
        now = shop.remote.inventory.stock(sku)
        assert now.reserved == 0 and now.on_hand == was.on_hand - sold[sku] >= 0, (sku, now)
