"""PostgreSQL transactions in pipeline mode: round trips counted on the wire, failures refused with nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ConcurrencyConflict
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import tenant
from datastrata.runtime import Runtime, Scope
from datastrata.stores.database import Database, is_unique_violation
from datastrata.stores.postgres import PostgresDatabase
from datastrata.systems.food.service import install
from datastrata.systems.masterdata.service import MasterDataService
from datastrata.systems.match import simulate
from datastrata.systems.match.service import MatchService
from datastrata.systems.portfolio.service import PortfolioService
from datastrata.tenancy.secrets import temporary_key
from datastrata.testing.roundtrips import RoundTripProxy, counting
from tests.conftest import through_pooler

TABLE = "CREATE TABLE IF NOT EXISTS pipe (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"


@pytest.fixture
def proxy(pg_url: str) -> Iterator[RoundTripProxy]:
    """A round-trip counting proxy in front of the test's database."""
    with counting(pg_url) as opened:
        yield opened


@pytest.fixture
def counted(pg_url: str, proxy: RoundTripProxy) -> Iterator[Runtime]:
    """A runtime whose store is reached through `proxy` (its NOTIFYs go straight to the server)."""
    with Runtime.open(Settings(store=proxy.url(pg_url), direct_store=pg_url)) as runtime:
        yield runtime


def trips(proxy: RoundTripProxy, call: object, n: int = 5, rounds: int = 3) -> float:
    """Round trips per call of `call` (a callable taking the call's number), after two warm-up calls.

    The fewest of `rounds` rounds of `n` calls: the proxy counts every connection's trips, so a pool connection
    opened in the background during one round (its handshake is several trips) must not count as the command's.
    """
    assert callable(call)
    for i in range(2):
        call(i)
    best = float("inf")
    for r in range(rounds):
        before = proxy.round_trips
        for i in range(2 + r * n, 2 + (r + 1) * n):
            call(i)
        best = min(best, (proxy.round_trips - before) / n)
    return best


def _table(db: Database) -> None:
    with db.transaction() as tx:
        tx.run_script(TABLE)


def test_a_transaction_of_deferred_writes_is_one_round_trip(pg_url: str, proxy: RoundTripProxy) -> None:
    db = PostgresDatabase(proxy.url(pg_url))
    try:
        _table(db)

        def write(i: int) -> None:
            with db.transaction() as tx:
                tx.defer("INSERT INTO pipe (id, body) VALUES (?, ?)", (i, "a"))
                tx.defer("UPDATE pipe SET body = ? WHERE id = ?", ("b", i))

        def read_then_write(i: int) -> None:
            with db.transaction() as tx:
                assert tx.queries([("SELECT count(*) FROM pipe", ()), ("SELECT 1", ())])[1] == [(1,)]
                tx.defer("INSERT INTO pipe (id, body) VALUES (?, ?)", (100 + i, "c"))

        assert trips(proxy, write) <= 1  # BEGIN, both writes and COMMIT leave together
        assert trips(proxy, read_then_write) <= 2  # BEGIN with both reads; the write with the COMMIT
        with db.read() as tx:
            assert tx.scalar("SELECT count(*) FROM pipe WHERE body = 'b'") == 17  # 2 warm-up calls and 3 rounds of 5
            assert tx.scalar("SELECT count(*) FROM pipe WHERE body = 'c'") == 17
    finally:
        db.close()


def test_match_goal_and_portfolio_deposit_stay_within_their_round_trips(
    counted: Runtime, proxy: RoundTripProxy
) -> None:
    match = MatchService(counted)
    simulate.ensure_reference_data(match)
    home, away = simulate.TEAMS[0][0], simulate.TEAMS[1][0]
    match.start("RT-1", home, away, simulate.REFEREES[0][0], list(range(1, 12)), list(range(1, 12)))
    # BEGIN with the facts and the scorer's appearance; the writes with the append; COMMIT (8 before pipelining).
    assert trips(proxy, lambda i: match.goal("RT-1", f"{home}-9", minute=10)) <= 3
    portfolio = PortfolioService(counted)
    # BEGIN with the snapshot read; the stream; the append; COMMIT (5 before pipelining).
    assert trips(proxy, lambda i: portfolio.deposit("p-1", Decimal("1.00"))) <= 4
    assert match.tv("RT-1", catch_up=True)["events"][0]["kind"] == "goal"


def test_food_order_and_master_data_put_stay_within_their_round_trips(
    pg_url: str, proxy: RoundTripProxy, tmp_path: Path
) -> None:
    settings = Settings(store=proxy.url(pg_url), direct_store=pg_url, graph=f"ladybug:///{tmp_path / 'graph'}")
    with temporary_key(), Runtime.open(settings) as runtime:
        food = install(runtime)
        food.add_user("u1", lat=35.658, lon=139.7016)
        food.add_restaurant("r1", name="Ichiran", lat=35.6614, lon=139.7006, cuisines=["Ramen"])
        food.add_menu_item("r1", "dish1", name="Tonkotsu", price="980", ingredients=["pork"])
        # BEGIN with the user, restaurant and menu reads; the existing orders; the append; the rows with COMMIT (9).
        assert trips(proxy, lambda i: food.place_order("u1", "r1", items=["dish1"])) <= 4
        mdm: MasterDataService = runtime.service("masterdata", MasterDataService)
        attributes = {"name": "Alice", "email": "a@example.com", "address": "Tokyo", "credit_tier": "gold"}
        # BEGIN, the key's lock and versions; its latest time; the subject key and its insert; the append; COMMIT (11).
        assert trips(proxy, lambda i: mdm.put("customer", f"C{i}", attributes, actor="t")) <= 6
        assert mdm.get("customer", "C3").attributes["name"] == "Alice"
        food.close()


def test_a_failing_deferred_write_refuses_the_transaction_with_its_own_error_and_writes_nothing(pg_url: str) -> None:
    db = PostgresDatabase(pg_url)
    try:
        _table(db)
        with db.transaction() as tx:
            tx.execute("INSERT INTO pipe (id, body) VALUES (1, 'kept')")
        with pytest.raises(psycopg.Error) as at_once, db.transaction() as tx:
            tx.execute("INSERT INTO pipe (id, body) VALUES (1, 'twin')")
        with pytest.raises(psycopg.Error) as deferred, db.transaction() as tx:
            tx.defer("INSERT INTO pipe (id, body) VALUES (2, 'before')")
            tx.defer("INSERT INTO pipe (id, body) VALUES (1, 'twin')")
            tx.defer("INSERT INTO pipe (id, body) VALUES (3, 'after')")
        assert type(deferred.value) is type(at_once.value) and is_unique_violation(deferred.value)
        with pytest.raises(psycopg.Error) as read_after, db.transaction() as tx:
            tx.defer("INSERT INTO pipe (id, body) VALUES (4, 'before')")
            tx.defer("INSERT INTO pipe (id, body) VALUES (1, 'twin')")
            tx.query("SELECT body FROM pipe")  # the failure surfaces at the next statement that waits
        assert type(read_after.value) is type(at_once.value)
        with db.read() as tx:
            assert tx.query("SELECT id, body FROM pipe ORDER BY id") == [(1, "kept")]
        with db.transaction() as tx:  # the pooled connection is clean afterwards
            tx.run_script("CREATE TABLE pipe2 (n INTEGER); INSERT INTO pipe2 VALUES (1); INSERT INTO pipe2 VALUES (2)")
            tx.defer("INSERT INTO pipe2 VALUES (3)")
        with db.read() as tx:
            assert tx.scalar("SELECT sum(n) FROM pipe2") == 6
    finally:
        db.close()


def test_a_connection_whose_pipeline_failed_is_replaced_and_a_prepared_statement_still_runs(pg_url: str) -> None:
    db = PostgresDatabase(pg_url, max_size=1)  # one pooled connection: the next transaction shows if it was replaced
    try:
        _table(db)
        with db.transaction() as tx:
            tx.execute("INSERT INTO pipe (id, body) VALUES (1, 'kept')")
        for _ in range(6):  # past psycopg's prepare threshold: the statement is prepared on the server
            with db.read() as tx:
                assert tx.scalar("SELECT body FROM pipe WHERE id = ?", (1,)) == "kept"
        with db.read() as tx:
            before = tx.scalar("SELECT pg_backend_pid()")
        with pytest.raises(psycopg.Error), db.transaction() as tx:
            tx.defer("INSERT INTO pipe (id, body) VALUES (1, 'twin')")
            tx.scalar("SELECT body FROM pipe WHERE id = ?", (1,))  # queued behind the failure: never run
        with db.read() as tx:
            after = tx.scalar("SELECT pg_backend_pid()")
            assert after != before  # a new connection, its prepared cache empty on both sides
            assert tx.scalar("SELECT body FROM pipe WHERE id = ?", (1,)) == "kept"
        with db.read() as tx:  # a transaction that did not fail keeps its connection
            assert tx.scalar("SELECT pg_backend_pid()") == after
    finally:
        db.close()


def test_an_expected_version_conflict_in_a_pipelined_command_is_refused_with_nothing_written(pg_url: str) -> None:
    with Runtime.open(Settings(store=pg_url)) as runtime:
        runtime.locate(Scope.of("pipe")).db.ensure_schema("pipe", lambda dialect: TABLE)
        scope = Scope.of("pipe", "s1")
        runtime.append(scope, [NewEvent("Made", {"n": 1})])
        with pytest.raises(ConcurrencyConflict), runtime.transaction(scope) as work:
            work.defer("INSERT INTO pipe (id, body) VALUES (1, 'effect')")
            work.append([NewEvent("Made", {"n": 2})], expected_version=0)
        with runtime.read(scope) as work:
            assert work.scalar("SELECT count(*) FROM pipe") == 0
            assert [e.version for e in work.stream()] == [1]


def test_pipelined_transactions_work_through_pgbouncer(pg_url: str, pgbouncer_url: str) -> None:
    first = PostgresDatabase(through_pooler(pg_url, pgbouncer_url))
    second = PostgresDatabase(through_pooler(pg_url, pgbouncer_url))  # the pool has one server connection
    try:
        _table(first)
        with tenant("acme"), first.transaction() as tx:
            assert tx.queries([("SELECT current_setting('datastrata.tenant')", ()), ("SELECT 2", ())]) == [
                [("acme",)],
                [(2,)],
            ]
            tx.defer("INSERT INTO pipe (id, body) VALUES (1, 'a')")
        with pytest.raises(psycopg.Error) as refused, first.transaction() as tx:
            tx.defer("INSERT INTO pipe (id, body) VALUES (2, 'b')")
            tx.defer("INSERT INTO pipe (id, body) VALUES (1, 'twin')")
        assert is_unique_violation(refused.value)
        with second.read() as tx:  # the server connection was handed back at once, each time
            assert tx.query("SELECT id FROM pipe ORDER BY id") == [(1,)]
            assert tx.scalar("SELECT current_setting('datastrata.tenant', true)") == ""
    finally:
        first.close()
        second.close()
