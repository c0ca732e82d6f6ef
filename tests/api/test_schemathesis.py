"""The OpenAPI is fuzzed (schemathesis), positive and negative, on SQLite and PostgreSQL: no 5xx, no body off-schema.

The app runs under uvicorn on a loopback port with its worker, as ``serve`` runs it. Examples are bounded so the
run stays around a minute in ``make test``; ``make test-full`` adds a slow-marked run with ten times the examples.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from datastrata.api import create_app
from datastrata.core.config import Settings
from datastrata.security.keys import KeyStore
from datastrata.testing.servers import create_database

with contextlib.suppress(ImportError):  # imported lazily by the graph; two threads importing it at once can fail
    import numpy  # noqa: F401

EXAMPLES = 6
#: The fuller run of ``make test-full`` (slow-marked, skipped unless DATASTRATA_FULL=1).
FULL_EXAMPLES = int(os.environ.get("DATASTRATA_FUZZ_EXAMPLES", "60"))
FULL = os.environ.get("DATASTRATA_FULL") == "1"
#: Bulk bodies are shrunk to a small valid size: the bounds are tested in test_bounds, not by loading 1M orders.
SMALL = {"users": 3, "restaurants": 2, "orders": 5, "matches": 1}
#: The bulk operations and the sizes they take (a size left out takes its large default).
BULK = {"/food/seed": ("users", "restaurants", "orders"), "/match/simulate": ("matches",)}
_counter = iter(range(10**6))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The app under uvicorn, once per backend for the module: its URL and an admin key."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        store = f"sqlite:///{folder / 'db.sqlite'}"
    else:
        server, template = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_template")
        store = create_database(server, f"fuzz{os.getpid()}_{next(_counter)}", template=template)
    app = create_app(Settings(store=store, graph=f"ladybug:///{folder / 'graph'}"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    runtime = app.state.runtime
    _, key = KeyStore(runtime.db, clock=runtime.clock).create(role="admin", note="fuzz")
    yield f"http://127.0.0.1:{port}", key
    server.should_exit = True
    thread.join(timeout=15)


def _bounded(case: Any) -> None:
    """Keep waits and bulk loads short (their bounds have their own tests)."""
    query = case.query if isinstance(case.query, dict) else None
    if query is not None and "after" in query:
        query["timeout"] = 0.05
    if isinstance(case.body, dict):
        for name, small in SMALL.items():
            if case.path in BULK and name in BULK[case.path]:
                case.body.setdefault(name, small)  # a left-out size means the default: 20k orders, not a fuzz case
            value = case.body.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > small:
                case.body[name] = small


@schemathesis.check
def no_unplanned_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx but the declared 503 (a store is down) and 504 (a wait for a token ran out)."""
    if response.status_code >= 500 and response.status_code not in (503, 504):
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")
    return None


@schemathesis.check
def a_started_job_ends(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 202 names its job: poll it to its end, as a client would (so jobs do not pile up behind the fuzzer)."""
    if response.status_code != 202:
        return None
    location = next(iter(v[0] for k, v in response.headers.items() if k.lower() == "location"), None)
    assert location, "a 202 without Location"
    url = urljoin(response.request.url, location)
    auth = {"Authorization": response.request.headers["Authorization"]}
    deadline = time.monotonic() + 120
    while True:
        found = requests.get(url, headers=auth, timeout=30)
        assert found.status_code == 200, found.text
        if found.json()["state"] in ("succeeded", "failed", "interrupted"):
            return None
        assert time.monotonic() < deadline, f"job {url} did not end"
        time.sleep(0.05)


CHECKS = [
    no_unplanned_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    a_started_job_ends,
]


def test_the_api_answers_within_its_contract(served: tuple[str, str]) -> None:
    _fuzz(*served, EXAMPLES)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the fuller fuzzing run is `make test-full` (DATASTRATA_FULL=1)")
# Its own time limit: it runs 6-16 minutes per backend, and the suite's 300 s timeout interrupted whichever case was
# running then, which Hypothesis reported as that operation's "unreliable results" (it passed when replayed).
@pytest.mark.timeout(3600)
def test_the_api_answers_within_its_contract_fuller_run(served: tuple[str, str]) -> None:
    _fuzz(*served, FULL_EXAMPLES)


def _fuzz(base_url: str, key: str, examples: int) -> None:
    """Every operation, positive and negative, `examples` cases each; every failure reported together."""
    api = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                _bounded(case)
                case.call_and_validate(
                    base_url=base_url, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS, timeout=30
                )

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid: the operation takes no input
                pass
            except BaseException as exc:  # collect every operation's failure (a group), then report them together
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{mode.value} {operation.label}: {str(exc)[:1200]}")
    assert not failures, "\n\n".join(failures)
