"""The Redis bus on a real server: trimming keeps what a group needs, a stable bus id, no password anywhere."""

from __future__ import annotations

import logging

import pytest
import redis
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from datastrata.api.app import create_app
from datastrata.catalog import install_all
from datastrata.cli import app as cli
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, ConfigurationError
from datastrata.core.events import Event, NewEvent
from datastrata.eventlog import EventLog
from datastrata.messaging import DeadLetters, OutboxRelay
from datastrata.messaging.redis_streams import RedisStreamsBus
from datastrata.runtime import Runtime, Scope
from datastrata.stores.open import open_database
from tests.messaging.test_several_workers import PASSWORD, with_password


def test_trimming_never_removes_what_a_group_still_needs(sqlite_url: str, redis_url: str) -> None:
    db = open_database(sqlite_url)
    log = EventLog(db)
    for i in range(10):
        log.append("s-1", [NewEvent(type="Thing", payload={"n": i})])
    dead = DeadLetters(db)
    fast = RedisStreamsBus(redis_url, dead, log_id=log.identity, consumer_name="fast-1")
    got: list[Event] = []
    fast.subscribe("fast", got.append)
    slow = fast.client
    slow.xgroup_create(fast.key, "slow", id="0")
    OutboxRelay(log, fast).drain()
    slow.xreadgroup("slow", "s1", {fast.key: ">"}, count=3)  # delivered 1..3, none acknowledged yet

    assert fast.poll() == 10 and len(got) == 10  # fast acknowledged all; the poll trimmed what it could
    assert slow.xlen(fast.key) == 10  # slow still holds 1-1 pending
    slow.xack(fast.key, "slow", "1-1", "2-1")
    assert fast.trim() == 2 and slow.xrange(fast.key, count=1)[0][0] == b"3-1"  # 3 is still pending
    slow.xack(fast.key, "slow", "3-1")
    assert fast.trim() == 1  # slow has read to 3: 4.. are still to be delivered to it
    slow.xgroup_create(fast.key, "fresh", id="0")  # a new group starts at the oldest entry left
    assert fast.trim() == 0
    for group in ("slow", "fresh"):
        fast.subscribe(group, got.append)
    assert [(b.group, b.position, b.head, b.behind) for b in fast.backlog()] == [
        ("fast", 10, 10, 0),
        ("slow", 3, 10, 7),
        ("fresh", 0, 10, 7),
    ]
    fast.poll()
    assert all(b.behind == 0 for b in fast.backlog())
    assert slow.xlen(fast.key) == 0  # every group acknowledged everything

    # Trimming never lowers the stream's last id: a republished page adds nothing, a new event goes on.
    assert fast.publish(log.read_all()) == 0
    log.append("s-1", [NewEvent(type="Thing", payload={"n": 10})])
    assert fast.publish(log.read_all()) == 1
    fast.close()
    db.close()


def test_the_bus_id_survives_a_change_of_url_and_checkpoints_never_hold_one(sqlite_url: str, redis_url: str) -> None:
    aliases = [redis_url, redis_url.replace("127.0.0.1", "localhost"), with_password(redis_url)]
    names: list[str] = []
    for i, url in enumerate(aliases):
        with Runtime.open(Settings(store=sqlite_url, bus=url)) as runtime:
            names.append(runtime.bus.name)
            if i == 0:
                runtime.append(Scope.of("thing", "1"), [NewEvent(type="Thing", payload={})])
                assert runtime.relay.drain() == 1
            else:  # the same bus under another name: the relay's checkpoint is found, nothing is republished
                assert runtime.relay.position() == runtime.log.head() and runtime.relay.run_once() == 0
    assert len(set(names)) == 1 and names[0].startswith("redis:")
    with Runtime.open(Settings(store=sqlite_url, bus=redis_url.rsplit("/", 1)[0] + "/1")) as other_db:
        assert other_db.bus.name != names[0]  # another database is another bus
        with other_db.db.read() as tx:
            checkpoints = [str(n) for (n,) in tx.query("SELECT name FROM projection_checkpoints")]
    assert f"relay:{names[0]}" in checkpoints and not any("//" in n for n in checkpoints)


def test_the_password_never_appears_in_health_lag_logs_or_errors(
    sqlite_url: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = with_password(redis_url)
    settings = Settings(store=sqlite_url, bus=url)
    with Runtime.open(settings) as runtime:
        install_all(runtime)
        runtime.append(Scope.of("thing", "1"), [NewEvent(type="Thing", payload={})])
        runtime.run_once()
        shown = {s.name for s in runtime.statuses(fresh=True)}
        assert f"relay:{runtime.bus.name}" in shown and f"bus:{runtime.bus.name}:masterdata.customer-service" in shown
        # The bus fails under the worker (its user is gone): the failure is reported, the password is not.
        admin = redis.Redis.from_url(redis_url)
        admin.acl_deluser("alice")
        runtime.append(Scope.of("thing", "1"), [NewEvent(type="Thing", payload={})])
        runtime.run_once()
        failed = [s for s in runtime.statuses(fresh=True) if s.state != "running"]  # measuring does not raise
        assert failed and all(PASSWORD not in (s.last_error or "") for s in failed)
        admin.close()
    url = with_password(redis_url)

    runner = CliRunner()
    for args in (["lag"], ["lag", "--json"], ["worker", "--once"]):
        done = runner.invoke(cli, ["--store", sqlite_url, "--bus", url, *args])
        assert done.exit_code == 0, done.output
        assert PASSWORD not in done.output
        assert "relay:redis:" in done.output or args[0] == "worker"

    with TestClient(create_app(settings, worker=False)) as client:
        for path in ("/health", "/ready", "/metrics"):
            answer = client.get(path)
            assert answer.status_code == 200 and PASSWORD not in answer.text, path
        assert "relay:redis:" in client.get("/health").text

    wrong = url.replace(PASSWORD, "wrong-pw-77")
    unreachable = url.rsplit(":", 1)[0] + ":1/0"  # nothing listens on port 1
    for bad, secret in ((wrong, "wrong-pw-77"), (unreachable, PASSWORD)):
        with pytest.raises(BackendUnavailable) as refused:
            Runtime.open(Settings(store=sqlite_url, bus=bad))
        assert secret not in refused.value.message and "alice:***@" in refused.value.message
    assert PASSWORD not in caplog.text and "wrong-pw-77" not in caplog.text


def test_a_relay_checkpoint_named_by_the_old_url_is_deleted_and_the_log_is_read_once_again(
    sqlite_url: str, redis_url: str
) -> None:
    url = with_password(redis_url)
    with Runtime.open(Settings(store=sqlite_url, bus=url)) as runtime:
        runtime.append(Scope.of("thing", "1"), [NewEvent(type="Thing", payload={})])
        with runtime.db.transaction() as tx:  # what an older release kept: the URL, password and all
            runtime.relay.checkpoints.set_in(tx, f"relay:{url}", 1, None, runtime.log.identity)
        assert runtime.relay.drain() == 1
        names = runtime.relay.checkpoints.all()
        assert f"relay:{runtime.bus.name}" in names and not any(PASSWORD in n for n in names)


def test_a_poll_whose_stream_was_reset_makes_its_group_again_and_a_bad_option_is_refused(
    sqlite_url: str, redis_url: str
) -> None:
    db = open_database(sqlite_url)
    log = EventLog(db)
    dead = DeadLetters(db)
    bus = RedisStreamsBus(f"{redis_url}?claim_idle_ms=5", dead, log_id=log.identity)
    assert bus.claim_idle_ms == 5
    got: list[Event] = []
    bus.subscribe("billing", got.append)
    bus.client.delete(bus.key)  # what a restore does to the stream (its groups go with it)
    assert bus.poll() == 0
    log.append("s-1", [NewEvent(type="Thing", payload={})])
    OutboxRelay(log, bus).drain()
    assert bus.poll() == 1 and len(got) == 1
    bus.close()
    with pytest.raises(ConfigurationError, match="claim_idle_ms='soon' is not a whole number"):
        RedisStreamsBus(f"{redis_url}?claim_idle_ms=soon", dead, log_id=log.identity)
    db.close()


def test_a_redis_user_without_the_buss_commands_is_refused_in_one_line(sqlite_url: str, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.acl_setuser("bob", enabled=True, passwords=["+bob-pw-31"], keys=["*"], commands=["+@all", "-@scripting"])
    client.close()
    with pytest.raises(BackendUnavailable) as refused:
        Runtime.open(Settings(store=sqlite_url, bus=redis_url.replace("redis://", "redis://bob:bob-pw-31@")))
    message = refused.value.message
    assert "refused the bus's set-up" in message and "+@scripting" in message
    assert "bob-pw-31" not in message and "\n" not in message
