"""The runtime: scopes, the single placement, scoped transactions, bounded open locations, ordered close."""

from __future__ import annotations

from pathlib import Path

import pytest

from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import tenant
from datastrata.runtime import HOME, LocationSpec, Runtime, Scope, Single


def test_scope_names_the_stream_and_refuses_bad_parts() -> None:
    assert Scope("portfolio", "user123-portfolio-A").stream_id == "portfolio-user123-portfolio-A"
    assert Scope("match", "M1").within("match.team", "ENG").stream_id == "match.team-ENG"
    with pytest.raises(ValidationError, match="context"):
        Scope("Bad Context")
    with pytest.raises(ValidationError, match="tenant_id"):
        Scope("portfolio", "p", tenant="UPPER")
    with pytest.raises(ValidationError, match="key"):
        Scope("portfolio").stream_id  # noqa: B018
    with tenant("acme"):
        assert Scope.of("portfolio", "p").tenant == "acme"


def test_a_transaction_appends_to_the_scope_stream_under_its_tenant(store_url: str, tmp_path: Path) -> None:
    settings = Settings(store=store_url, graph=f"ladybug:///{tmp_path}/graph")
    with Runtime.open(settings) as runtime:
        scope = Scope("portfolio", "p1", tenant="acme")
        with runtime.transaction(scope) as work:
            work.append([NewEvent("Opened", {"by": "test"})], expected_version=0)
            assert work.location.name == HOME
        with pytest.raises(RuntimeError), runtime.transaction(scope) as work:
            work.append([NewEvent("Lost", {})], expected_version=1)
            raise RuntimeError("roll back")
        events = runtime.stream(scope)
        assert [(e.type, e.version, e.tenant_id) for e in events] == [("Opened", 1, "acme")]
        assert runtime.version(scope) == 1
        assert runtime.head(scope) == events[0].position


class _PerKeyFile:
    """A test placement: one SQLite file per key, to exercise opening, pinning and closing many locations."""

    kind = "per_key"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _spec(self, key: str) -> LocationSpec:
        return LocationSpec(key, f"sqlite:///{self.folder / key}.db", f"ladybug:///{self.folder}/g-{key}", "")

    def locate(self, scope: Scope) -> LocationSpec:
        return self._spec(scope.key or HOME)

    def locations(self, scope: Scope) -> list[LocationSpec]:
        return [self.locate(scope)]

    def all(self) -> list[LocationSpec]:
        return [self._spec(HOME)]


def test_locations_open_lazily_and_the_least_recently_used_idle_one_closes(tmp_path: Path) -> None:
    placement = _PerKeyFile(tmp_path)
    with Runtime.open(Settings(store=f"sqlite:///{tmp_path}/main.db"), placement=placement, max_open=3) as runtime:
        for key in ("a", "b", "c", "d"):
            runtime.append(Scope("ctx", key), [NewEvent("Made", {"key": key})])
        assert list(runtime._open) == [HOME, "c", "d"]  # home is pinned; a and b were closed in turn
        assert [e.payload["key"] for e in runtime.stream(Scope("ctx", "a"))] == ["a"]  # reopened on demand
        with runtime.transaction(Scope("ctx", "b")) as work:  # in use: never closed under a running command
            for key in ("e", "f", "g"):
                runtime.append(Scope("ctx", key), [NewEvent("Made", {"key": key})])
            assert "b" in runtime._open
            work.append([NewEvent("Made", {"key": "b2"})])
        assert len(runtime._open) <= 4


def test_close_runs_closers_in_reverse_order_then_closes_the_stores(tmp_path: Path) -> None:
    closed: list[str] = []
    runtime = Runtime.open(Settings.embedded(tmp_path))
    runtime.on_close(lambda: closed.append("first"))
    runtime.on_close(lambda: closed.append("second"))
    runtime.close()
    assert closed == ["second", "first"]
    assert not runtime._open
    assert isinstance(Single.from_settings(Settings.embedded(tmp_path)).locate(Scope("x")), LocationSpec)
