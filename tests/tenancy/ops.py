"""The operation registry of the isolation property test: one section per system, each op checked against a model.

An operation runs on behalf of one tenant, with ids drawn from a small pool every tenant shares, and asserts that
what it returns, counts or changes is exactly what that tenant's own history (its :class:`Model`) says: another
tenant's rows, events or counts in an answer fail the assertion. Other packages add their systems' operations with
:func:`operation` (bridge and silo tenants, content, grants).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from datastrata.core.errors import NotFound, RuleViolation
from datastrata.core.tenancy import platform, tenant
from datastrata.runtime import Runtime

#: The ids every tenant draws from: two tenants using one id is the case isolation must get right.
IDS = ("k1", "k2", "k3")


@dataclass
class Model:
    """What one tenant has done so far: every answer it gets must follow from this alone."""

    cash: Counter[str] = field(default_factory=Counter)
    shares: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    records: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    teams: set[str] = field(default_factory=set)
    restaurants: dict[str, str] = field(default_factory=dict)
    sensors: set[str] = field(default_factory=set)
    readings: int = 0
    models: Counter[str] = field(default_factory=Counter)
    designs: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """The runtime under test, its tenants and each tenant's model."""

    runtime: Runtime
    tenants: tuple[str, ...]
    #: Ids are shared between tenants once the log is tenant keyed; before that each tenant prefixes them.
    shared_ids: bool = True
    models: dict[str, Model] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)

    def model(self, tid: str) -> Model:
        """The model of tenant `tid`."""
        return self.models.setdefault(tid, Model())

    def key(self, tid: str, base: str) -> str:
        """The id `base` as tenant `tid` uses it."""
        return base if self.shared_ids else f"{tid}-{base}"

    def service(self, name: str, make: Callable[[Runtime], Any]) -> Any:
        """One instance of a system's service per world."""
        if name not in self.services:
            self.services[name] = make(self.runtime)
        return self.services[name]

    def settle(self) -> None:
        """Run the followers (as the platform) until they are idle."""
        with platform():
            while self.runtime.run_once():
                pass


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a system: `run(world, tenant, n)` performs it for `tenant` and checks the answer."""

    system: str
    name: str
    run: Callable[[World, str, int], None]


OPERATIONS: list[Operation] = []


def operation(system: str) -> Callable[[Callable[[World, str, int], None]], Callable[[World, str, int], None]]:
    """Register the decorated function as an operation of `system`."""

    def register(fn: Callable[[World, str, int], None]) -> Callable[[World, str, int], None]:
        OPERATIONS.append(Operation(system, fn.__name__, fn))
        return fn

    return register


def run(world: World, op: Operation, tid: str, n: int) -> None:
    """Run `op` on behalf of `tid` (its context bound as a caller's key or ``--tenant`` binds it)."""
    with tenant(tid):
        op.run(world, tid, n)


# ---- portfolio ---------------------------------------------------------------------------------------------


def _portfolio(world: World) -> Any:
    from datastrata.systems.portfolio.service import PortfolioService

    return world.service("portfolio", PortfolioService)


@operation("portfolio")
def deposit(world: World, tid: str, n: int) -> None:
    """Deposit cash; the balance is this tenant's deposits alone."""
    pid = world.key(tid, IDS[n % len(IDS)])
    svc, m = _portfolio(world), world.model(tid)
    svc.deposit(pid, str(100 + n))
    m.cash[pid] += 100 + n
    assert svc.state(pid).cash == Decimal(m.cash[pid])


@operation("portfolio")
def buy(world: World, tid: str, n: int) -> None:
    """Buy one share when the tenant's own cash allows; another tenant's cash never makes it possible."""
    pid, symbol = world.key(tid, IDS[n % len(IDS)]), ("AAA", "BBB")[n % 2]
    svc, m = _portfolio(world), world.model(tid)
    if m.cash[pid] < 10:
        with pytest.raises((NotFound, RuleViolation)):
            svc.buy(pid, symbol, "1", "10")
        return
    svc.buy(pid, symbol, "1", "10")
    m.cash[pid] -= 10
    m.shares[symbol][pid] += 1
    state = svc.state(pid)
    assert state.cash == Decimal(m.cash[pid])


@operation("portfolio")
def holders(world: World, tid: str, n: int) -> None:
    """The projection's holders of a symbol are this tenant's portfolios only."""
    symbol = ("AAA", "BBB")[n % 2]
    world.settle()
    found = {h["portfolio_id"]: Decimal(h["quantity"]) for h in _portfolio(world).holders(symbol)}
    expected = {pid: Decimal(q) for pid, q in world.model(tid).shares[symbol].items() if q}
    assert found == expected


# ---- masterdata and mdm ------------------------------------------------------------------------------------


def _masterdata(world: World) -> Any:
    from datastrata.systems.masterdata.service import MasterDataService

    return world.service("masterdata", lambda r: r.service("masterdata", MasterDataService))


@operation("masterdata")
def put_customer(world: World, tid: str, n: int) -> None:
    """Record a customer; the current version is this tenant's last put."""
    key = world.key(tid, IDS[n % len(IDS)])
    name = f"{tid} customer {len(world.model(tid).records[key])}"
    svc = _masterdata(world)
    svc.put("customer", key, {"name": name, "email": f"{key}@{tid}.example"}, actor=tid)
    world.model(tid).records[key].append(name)
    assert svc.get("customer", key).attributes["name"] == name


@operation("masterdata")
def get_customer(world: World, tid: str, n: int) -> None:
    """Read a customer: this tenant's version, or not found if only another tenant has the key."""
    key = world.key(tid, IDS[n % len(IDS)])
    names = world.model(tid).records[key]
    svc = _masterdata(world)
    if not names:
        with pytest.raises(NotFound):
            svc.get("customer", key)
        return
    assert svc.get("customer", key).attributes["name"] == names[-1]


@operation("mdm")
def history_and_audit(world: World, tid: str, n: int) -> None:
    """The temporal store's versions and audit trail of a key count this tenant's changes only."""
    key = world.key(tid, IDS[n % len(IDS)])
    names = world.model(tid).records[key]
    svc = _masterdata(world)
    if not names:
        with pytest.raises(NotFound):
            svc.history("customer", key)
    else:
        assert [v.attributes["name"] for v in svc.history("customer", key)][-1] == names[-1]
    audit = svc.audit(entity_type="customer", key=key)
    assert len(audit) == len(names)
    assert all(a.actor == tid for a in audit)


# ---- match ---------------------------------------------------------------------------------------------------


def _match(world: World) -> Any:
    from datastrata.systems.match.service import MatchService

    return world.service("match", MatchService)


_TEAMS = ("AAA", "BBB", "CCC")


@operation("match")
def register_team(world: World, tid: str, n: int) -> None:
    """Register a team: refused only if this tenant has it already (another tenant's team is no conflict)."""
    code = _TEAMS[n % len(_TEAMS)] if world.shared_ids else f"{'ABC'[world.tenants.index(tid) % 3]}{'XYZ'[n % 3]}Q"
    svc, m = _match(world), world.model(tid)
    if code in m.teams:
        with pytest.raises(RuleViolation, match="already registered"):
            svc.register_team(code, f"{tid} team")
        return
    svc.register_team(code, f"{tid} team")
    m.teams.add(code)


@operation("match")
def list_teams(world: World, tid: str, n: int) -> None:
    """The registered teams are this tenant's."""
    assert _match(world).reference_ids()["teams"] == world.model(tid).teams


# ---- food ----------------------------------------------------------------------------------------------------


def _food(world: World) -> Any:
    from datastrata.systems.food.service import SERVICE, FoodService

    return world.service("food", lambda r: r.service(SERVICE, FoodService))


@operation("food")
def add_restaurant(world: World, tid: str, n: int) -> None:
    """List (or rename) a restaurant; its details are this tenant's."""
    rid = world.key(tid, IDS[n % len(IDS)])
    name = f"{tid} diner {n}"
    _food(world).add_restaurant(rid, name=name, lat=35.68, lon=139.76)
    world.model(tid).restaurants[rid] = name
    assert _food(world).restaurant(rid)["name"] == name


@operation("food")
def read_restaurant(world: World, tid: str, n: int) -> None:
    """Read a restaurant: this tenant's, or not found if only another tenant listed the id."""
    rid = world.key(tid, IDS[n % len(IDS)])
    known = world.model(tid).restaurants.get(rid)
    if known is None:
        with pytest.raises(NotFound):
            _food(world).restaurant(rid)
        return
    assert _food(world).restaurant(rid)["name"] == known


# ---- fab -----------------------------------------------------------------------------------------------------


def _fab(world: World) -> Any:
    from datastrata.systems.fab.service import FabService

    return world.service("fab", FabService)


@operation("fab")
def register_sensor(world: World, tid: str, n: int) -> None:
    """Register a sensor: new unless this tenant has it (another tenant's sensor does not count)."""
    sid = world.key(tid, f"temp-{n % 3}")
    m = world.model(tid)
    assert _fab(world).register_sensors([(sid, "temperature")]) == (0 if sid in m.sensors else 1)
    m.sensors.add(sid)


@operation("fab")
def ingest_and_list(world: World, tid: str, n: int) -> None:
    """Ingest a reading for a sensor of this tenant; the sensor list is this tenant's."""
    from datastrata.systems.fab.domain import Reading

    m = world.model(tid)
    svc = _fab(world)
    if m.sensors:
        sid = sorted(m.sensors)[n % len(m.sensors)]
        at = datetime.now(UTC) - timedelta(seconds=1 + m.readings)
        batch = f"{tid}-b{m.readings}"
        assert svc.ingest(batch, [Reading(sid, at, 20.0)]).readings == 1
        m.readings += 1
    assert {s["sensor_id"] for s in svc.sensors()} == m.sensors


# ---- mlops ---------------------------------------------------------------------------------------------------


def _mlops(world: World) -> Any:
    from datastrata.systems.mlops.service import MlopsService

    return world.service("mlops", MlopsService)


@operation("mlops")
def register_model(world: World, tid: str, n: int) -> None:
    """Register a model version: numbered after this tenant's versions only."""
    name = world.key(tid, f"m{n % 2}")
    m = world.model(tid)
    svc = _mlops(world)
    version = svc.models.register(name, f"{tid} {name} {m.models[name]}".encode()).events[0].payload["version"]
    m.models[name] += 1
    assert version == m.models[name]
    assert svc.models.artifact(name, version) == f"{tid} {name} {m.models[name] - 1}".encode()


@operation("mlops")
def list_models(world: World, tid: str, n: int) -> None:
    """Every version listed is this tenant's."""
    found = Counter(v.model for v in _mlops(world).models.versions())
    assert found == +world.model(tid).models


# ---- design --------------------------------------------------------------------------------------------------


@operation("design")
def advise(world: World, tid: str, n: int) -> None:
    """The design advisor stores nothing: its answer for an example is the same for every tenant."""
    from datastrata.design.advisor import design
    from datastrata.design.loading import example_names, load_spec, spec_source
    from datastrata.design.render_json import report_to_json

    name = example_names()[n % len(example_names())]
    report = report_to_json(design(load_spec(spec_source(name))))
    for other in world.tenants:
        seen = world.model(other).designs.get(name)
        if seen is not None:
            assert report == seen
    world.model(tid).designs[name] = report


SYSTEMS = ("portfolio", "masterdata", "mdm", "match", "food", "fab", "mlops", "design")
