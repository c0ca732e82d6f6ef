"""The shards page: load per shard, hot keys, a reshard plan made and applied as a job, followed to the new epoch."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from datastrata.runtime.location import LocationSpec
from datastrata.sharding.maps import ShardMaps
from datastrata.systems.trading.newyork import MAP, NewYork
from datastrata.systems.trading.topology import Topology
from tests.console.backends import stored_console_fixture  # noqa: F401 - the fixture stored_console
from tests.console.conftest import ConsoleServer, screenshot

HOT = "user-7"


def _seed(console: ConsoleServer, folder: Path) -> None:
    """New York's accounts sharded over two shards of the app's own home store; one account much busier."""
    runtime = console.app.state.runtime
    singapore = LocationSpec("singapore", f"sqlite:///{folder / 'singapore.db'}", "", "")
    region = NewYork(Topology(runtime.home.spec, {}, singapore, folder, shard_count=2), settings=runtime.settings)
    try:
        for n in range(30):
            region.deposit(f"user-{n}", Decimal(1000))
        for _ in range(20):
            region.deposit(HOT, Decimal(5))
    finally:
        region.close()  # its load is flushed to the home store as it closes


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf" content="([0-9a-f]+)">', html)
    assert found is not None
    return found.group(1)


def test_the_shards_page_shows_load_hot_keys_and_plans_a_reshard(stored_console: ConsoleServer, tmp_path: Path) -> None:
    _seed(stored_console, tmp_path)
    shown = httpx.get(f"{stored_console.url}/console/shards", params={"map": MAP})
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert "shard-0" in html and "shard-1" in html and 'class="epoch">1<' in html
    assert f"<code>{HOT}</code>" in html  # the busiest key, as the load meter counted it
    token = _csrf(html)
    url = f"{stored_console.url}/console/shards/{MAP}/plan"
    planned = httpx.post(url, data={"csrf": token, "action": "add", "count": "1"})
    assert planned.status_code == 200 and "Plan <code>" in planned.text and "Apply the plan" in planned.text
    assert "shard-0, shard-1 →" in planned.text
    refused = httpx.post(url, data={"csrf": token, "action": "split", "shard": ""})
    assert 'role="alert"' in refused.text and "<code>add</code>" in refused.text  # names the field, plans nothing
    stale = httpx.post(
        f"{stored_console.url}/console/shards/{MAP}/reshard",
        data={"csrf": token, "action": "add", "count": "1", "base_epoch": "7"},
    )
    assert stale.status_code == 409 and "plan it again" in stale.text
    assert ShardMaps(stored_console.app.state.runtime.db).current(MAP).epoch == 1  # nothing applied
    missing = httpx.get(f"{stored_console.url}/console/shards", params={"map": "nosuchmap"})
    assert missing.status_code == 404


def test_a_reshard_plan_applied_in_the_browser_is_followed_to_the_new_epoch(
    local_console: ConsoleServer, watched: Any, tmp_path: Path
) -> None:
    _seed(local_console, tmp_path)
    watched.goto(f"{local_console.url}/console/shards?map={MAP}")
    watched.click("button[name=plan]")
    watched.locator("#plan .plan").wait_for()
    expected = str(1 + watched.locator("#plan table.moves tbody tr").count())  # each move switches one epoch
    watched.fill("#plan input[name=grace]", "0")
    watched.click("button[name=apply]")
    watched.locator("#reshard .job-state").filter(has_text="succeeded").wait_for(timeout=45_000)
    assert watched.locator("#reshard .map-epoch").inner_text() == expected
    watched.reload()
    assert watched.locator("h2 .epoch").inner_text() == expected
    assert watched.locator("#reshard .job-state").inner_text() == "succeeded"
    assert ShardMaps(local_console.app.state.runtime.db).current(MAP).epoch == int(expected) > 1
    screenshot(watched, "shards")


def test_the_shards_page_of_a_store_with_no_map_says_how_to_make_one(local_console: ConsoleServer) -> None:
    shown = httpx.get(f"{local_console.url}/console/shards")
    assert shown.status_code == 200 and "No shard map yet" in shown.text and "Plan it" not in shown.text


def test_the_hot_key_shown_is_relieved_by_a_job_started_from_the_page(
    local_console: ConsoleServer, tmp_path: Path
) -> None:
    import time

    from datastrata.runtime.jobs import jobs_of
    from datastrata.sharding.placement import route_key

    _seed(local_console, tmp_path)
    params = {"map": MAP, "key_qps": "0.2", "range_qps": "1000000"}
    html = httpx.get(f"{local_console.url}/console/shards", params=params).text
    found = re.search(rf"<code>{HOT}</code> on shard-\d \([0-9.]+/s\):\s*pin to (\S+)</li>", html)
    assert found is not None, html
    target = found.group(1)
    form = {"csrf": _csrf(html), "window": "60", "key_qps": "0.2", "range_qps": "1000000", "grace": "0"}
    answer = httpx.post(f"{local_console.url}/console/shards/{MAP}/relieve", data=form)
    assert answer.status_code == 303 and "key_qps=0.2" in answer.headers["location"]
    jobs = jobs_of(local_console.app.state.runtime)
    deadline = time.monotonic() + 40
    while not (job := jobs.list(limit=1)[0]).finished:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert (job.kind, job.state) == ("relieve", "succeeded"), job
    assert route_key(ShardMaps(local_console.app.state.runtime.db).current(MAP), HOT).shard == target
    shown = httpx.get(f"{local_console.url}/console/shards", params={"map": MAP}).text
    assert "Relief job" in shown and f"pin {HOT} to {target} (completed)" in shown
