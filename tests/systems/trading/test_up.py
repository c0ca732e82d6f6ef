"""``trading up``: each region its own OS process, the link a real socket; cuts and kill -9 lose and duplicate nothing.

Both regions run as ``python -m datastrata trading up --region …`` subprocesses on embedded stores. The checks read
the stores the processes wrote (New York's shard logs, Singapore's inbox) and ask the processes for the rest.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from datastrata.core.errors import BackendUnavailable, RuleViolation, ValidationError
from datastrata.systems.trading.domain import BUSINESS_EVENTS
from datastrata.systems.trading.singapore import CONSUMER
from datastrata.systems.trading.topology import NEW_YORK, SINGAPORE
from datastrata.systems.trading.wire import RegionClient, running
from tests.systems.trading.test_surfaces import root, runner

FULL = os.environ.get("DATASTRATA_FULL") == "1"
#: The link's one-way latency in these tests (a Singapore command pays twice this).
LATENCY_MS = 20.0
#: How long the cut lasts: 5 s in the full run, 1.5 s in the bounded one.
CUT_SECONDS = 5.0 if FULL else 1.5
#: Seconds a region has to come up, and Singapore to catch up.
START_WAIT, CATCH_UP_WAIT = 30.0, 30.0


class Regions:
    """The two region processes of one embedded home, and clients of their sockets."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.folder = home / "trading"
        self.env = {**os.environ, "DATASTRATA_STORE": f"sqlite:///{home / 'datastrata.db'}"}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.clients = {region: RegionClient(self.folder, region) for region in (NEW_YORK, SINGAPORE)}

    def cli(self, *args: str) -> Result:
        """Run ``datastrata trading ARGS`` against this home (in this process: it talks to the running regions)."""
        return runner.invoke(root, ["trading", *args], env={"DATASTRATA_STORE": self.env["DATASTRATA_STORE"]})

    def start(self, region: str) -> None:
        """Start `region`'s process and wait until it announced its socket."""
        before = running(self.folder, region)
        command = [sys.executable, "-m", "datastrata", "trading", "up", "--region", region,
                   "--latency-ms", str(LATENCY_MS)]  # fmt: skip
        self.processes[region] = child = subprocess.Popen(command, env=self.env, cwd=self.home)
        deadline = time.monotonic() + START_WAIT
        while (found := running(self.folder, region)) is None or found == before or found.pid != child.pid:
            assert child.poll() is None, f"{region} exited with {child.returncode}"
            assert time.monotonic() < deadline, f"{region} did not come up in {START_WAIT} s"
            time.sleep(0.05)

    def kill(self, region: str) -> None:
        """kill -9 `region`'s process."""
        child = self.processes.pop(region)
        child.send_signal(signal.SIGKILL)
        child.wait(10)

    def stop(self) -> dict[str, int]:
        """SIGTERM every process; their exit statuses."""
        for child in self.processes.values():
            child.terminate()
        codes = {region: child.wait(30) for region, child in self.processes.items()}
        self.processes.clear()
        return codes

    def order(self, region: str, user: str, n: int, *, side: str = "buy") -> dict[str, Any]:
        """Place order number `n` of `user` from `region`, retrying while the link or a region is down."""
        body = {"user": user, "symbol": "AAPL", "quantity": "1", "price": str(100 + n % 37), "side": side,
                "order_id": f"{user}-{n}"}  # fmt: skip
        deadline = time.monotonic() + START_WAIT
        while True:
            try:
                answer: dict[str, Any] = self.clients[region].post("/orders", body)
                return answer
            except BackendUnavailable:
                assert time.monotonic() < deadline, f"order {body['order_id']} did not get through"
                time.sleep(0.05)

    def business_events(self) -> list[str]:
        """Every business event id New York's shards hold."""
        types = ", ".join(f"'{t}'" for t in sorted(BUSINESS_EVENTS))
        ids: list[str] = []
        for shard in sorted((self.folder / NEW_YORK / "shards").rglob("*.db")):
            with sqlite3.connect(shard, timeout=10) as conn:
                ids += [
                    str(r[0])
                    for r in conn.execute(f"SELECT event_id FROM eventlog_events WHERE event_type IN ({types})")
                ]
        return ids

    def singapore_applied(self) -> list[str]:
        """Every event id Singapore's inbox recorded (one row per event applied)."""
        with sqlite3.connect(self.folder / SINGAPORE / "read.db", timeout=10) as conn:
            return [str(r[0]) for r in conn.execute("SELECT event_id FROM messaging_inbox WHERE consumer = ?",
                                                    (CONSUMER,))]  # fmt: skip

    def wait_until_singapore_matches(self, users: list[str]) -> None:
        """Wait until Singapore applied every business event New York holds, then compare each account."""
        deadline = time.monotonic() + CATCH_UP_WAIT
        while sorted(self.singapore_applied()) != sorted(self.business_events()):
            assert time.monotonic() < deadline, "Singapore did not catch up"
            time.sleep(0.1)
        applied = self.singapore_applied()
        assert len(applied) == len(set(applied))  # nothing applied twice
        ny, sg = self.clients[NEW_YORK], self.clients[SINGAPORE]
        for user in users:  # the last update per account is New York's latest: each account's order was kept
            record = ny.get(f"/accounts/{user}")
            assert sg.get(f"/pnl/{user}")["cash"] == record["cash"]
            held = {p["symbol"]: p["quantity"] for p in sg.get(f"/positions/{user}") if float(p["quantity"])}
            assert held == {p["symbol"]: p["quantity"] for p in record["positions"]}


class Flow:
    """Orders placed in a background thread, round robin over users, until stopped."""

    def __init__(self, regions: Regions, region: str, users: list[str]) -> None:
        self.placed = 0
        self.spent = dict.fromkeys(users, 0)
        self._stop = threading.Event()
        self._failed: list[BaseException] = []

        def run() -> None:
            try:
                while not self._stop.is_set():
                    user = users[self.placed % len(users)]
                    regions.order(region, user, self.placed)
                    self.spent[user] += 100 + self.placed % 37
                    self.placed += 1
            except BaseException as exc:
                self._failed.append(exc)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self, regions: Regions) -> int:
        """Stop placing; check New York executed each order once (the cash says); how many were placed."""
        self._stop.set()
        self._thread.join(60)
        assert not self._failed, self._failed
        for user, spent in self.spent.items():
            assert regions.clients[NEW_YORK].get(f"/accounts/{user}")["cash"] == str(100000 - spent)
        return self.placed


def _deposit(regions: Regions, users: list[str]) -> None:
    for user in users:
        regions.clients[SINGAPORE].post("/deposits", {"user": user, "amount": "100000", "deposit_id": f"d-{user}"})


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Regions]:
    """New York and Singapore running as two processes over one embedded home."""
    up = Regions(tmp_path_factory.mktemp("trading-up"))
    up.start(NEW_YORK)
    up.start(SINGAPORE)
    try:
        yield up
    finally:
        codes = up.stop()
    assert codes == {NEW_YORK: 0, SINGAPORE: 0}  # SIGTERM stops each cleanly…
    assert running(up.folder, NEW_YORK) is None and running(up.folder, SINGAPORE) is None  # …and withdraws it


def test_orders_from_singapore_reach_new_york_and_singapores_view(regions: Regions) -> None:
    users = ["ana", "ben", "chen", "dara"]
    _deposit(regions, users)
    begun = time.perf_counter()
    for n in range(12):
        trade = regions.order(SINGAPORE, users[n % len(users)], n)
        assert trade["order_id"] == f"{users[n % len(users)]}-{n}" and not trade["duplicate"]
    assert time.perf_counter() - begun >= 12 * 2 * LATENCY_MS / 1000  # each paid one round trip at least
    again = regions.order(SINGAPORE, "ana", 0)  # the same order id again: New York answers the stored trade
    assert again["duplicate"]
    with pytest.raises(RuleViolation, match="short selling"):  # New York's refusal, raised as itself in Singapore
        regions.clients[SINGAPORE].post("/orders", {"user": "ana", "symbol": "AAPL", "quantity": "99",
                                                    "price": "1", "side": "sell"})  # fmt: skip
    with pytest.raises(ValidationError) as bad:  # refused in Singapore before crossing
        regions.clients[SINGAPORE].post("/orders", {"user": "ana", "symbol": "AAPL", "quantity": "x",
                                                    "price": "1", "side": "buy"})  # fmt: skip
    assert bad.value.field == "quantity"
    assert regions.clients[NEW_YORK].get("/accounts/ana")["cash"] == str(100000 - (100 + 104 + 108))
    regions.wait_until_singapore_matches(users)
    twice = regions.cli("up", "--region", "new-york")  # a second New York on the same stores is refused
    assert twice.exit_code != 0 and "already running" in twice.stderr
    shown = regions.cli("positions", "ana", "--json")  # the shell reads from the running Singapore process
    assert shown.exit_code == 0, shown.stderr
    assert '"quantity": "3"' in shown.stdout


def test_a_cut_link_while_orders_flow_loses_and_duplicates_nothing(regions: Regions) -> None:
    users = ["eve", "fay", "gus"]
    _deposit(regions, users)
    flow = Flow(regions, NEW_YORK, users)  # New York keeps trading through the cut
    time.sleep(0.5)
    cut = regions.cli("link", "cut", "--json")
    assert cut.exit_code == 0, cut.stderr
    assert '"cut": true' in cut.stdout
    time.sleep(4 * LATENCY_MS / 1000)  # what was on the way when the line went down is lost or landed by now
    before = len(regions.singapore_applied())
    with pytest.raises(BackendUnavailable, match=r"cut.*again with order_id"):
        regions.clients[SINGAPORE].post("/orders", {"user": "eve", "symbol": "AAPL", "quantity": "1",
                                                    "price": "1", "side": "buy"})  # fmt: skip
    time.sleep(CUT_SECONDS)
    assert len(regions.singapore_applied()) == before  # nothing crossed
    assert regions.clients[SINGAPORE].get("/positions/eve")  # Singapore reads on, locally
    status = regions.cli("link", "status", "--json")
    assert '"pending": 0' not in status.stdout  # business events wait in New York
    restored = regions.cli("link", "restore")
    assert restored.exit_code == 0, restored.stderr
    assert flow.stop(regions) > 0
    regions.wait_until_singapore_matches(users)


def test_singapore_killed_mid_stream_restarts_and_misses_nothing(regions: Regions) -> None:
    users = ["hal", "ida", "jon"]
    _deposit(regions, users)
    flow = Flow(regions, NEW_YORK, users)
    time.sleep(0.5)
    regions.kill(SINGAPORE)  # kill -9 while pages are on their way
    time.sleep(0.5)
    regions.start(SINGAPORE)
    time.sleep(0.3)
    assert flow.stop(regions) > 0
    regions.wait_until_singapore_matches(users)


@pytest.mark.skipif(not FULL, reason="kill -9 of New York under a Singapore order flow: DATASTRATA_FULL=1")
def test_new_york_killed_mid_stream_restarts_and_misses_nothing(regions: Regions) -> None:
    users = ["kim", "lou"]
    _deposit(regions, users)
    flow = Flow(regions, SINGAPORE, users)  # orders retried with their ids: executed once each
    time.sleep(0.5)
    regions.kill(NEW_YORK)
    time.sleep(0.5)
    regions.start(NEW_YORK)
    assert flow.stop(regions) > 0
    regions.wait_until_singapore_matches(users)


def test_up_all_runs_both_regions_as_children_and_sigterm_stops_them(tmp_path: Path) -> None:
    up = Regions(tmp_path)
    command = [sys.executable, "-m", "datastrata", "trading", "up", "--latency-ms", str(LATENCY_MS)]
    parent = subprocess.Popen(command, env=up.env, cwd=up.home)
    try:
        deadline = time.monotonic() + START_WAIT
        while running(up.folder, NEW_YORK) is None or running(up.folder, SINGAPORE) is None:
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert up.clients[SINGAPORE].get("/status")["link"]["latency_ms"] == LATENCY_MS
    finally:
        parent.terminate()
        assert parent.wait(30) == 0
    assert running(up.folder, NEW_YORK) is None and running(up.folder, SINGAPORE) is None
    bad = up.cli("up", "--region", "tokyo")
    assert bad.exit_code != 0 and "region must be all, new-york or singapore" in bad.stderr


@pytest.mark.skipif(not FULL, reason="the region processes on PostgreSQL stores: DATASTRATA_FULL=1")
def test_the_region_processes_on_postgresql_stores(tmp_path: Path, pg_url: str) -> None:
    up = Regions(tmp_path)
    up.env["DATASTRATA_STORE"] = pg_url
    up.folder = tmp_path / ".datastrata" / "trading"  # where a PostgreSQL topology keeps the run and link files
    up.clients = {region: RegionClient(up.folder, region) for region in (NEW_YORK, SINGAPORE)}
    up.start(NEW_YORK)
    up.start(SINGAPORE)
    try:
        users = ["pam", "quin"]
        _deposit(up, users)
        for n in range(6):
            up.order(SINGAPORE, users[n % 2], n)
        deadline = time.monotonic() + CATCH_UP_WAIT
        while not ((status := up.clients[NEW_YORK].get("/status"))["enriched"] and status["pending"] == 0):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        for user in users:
            record = up.clients[NEW_YORK].get(f"/accounts/{user}")
            assert record["cash"] == up.clients[SINGAPORE].get(f"/pnl/{user}")["cash"]
            assert record["positions"] == [{"symbol": "AAPL", "quantity": "3"}]
    finally:
        assert up.stop() == {NEW_YORK: 0, SINGAPORE: 0}
