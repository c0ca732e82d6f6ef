"""The operation registry of the isolation property test: one section per system, each op checked against a model.

An operation runs on behalf of one tenant, with ids drawn from a small pool every tenant shares, and asserts that
what it returns, counts or changes is exactly what that tenant's own history (its :class:`Model`) says: another
tenant's rows, events or counts in an answer fail the assertion. Grants are the one way across: the world keeps
every grant given (:class:`GrantModel`), and a granted call must touch the granted item of the owner and nothing
else, and be refused once revoked.
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
    items: dict[str, ItemModel] = field(default_factory=dict)


@dataclass
class ItemModel:
    """One content item as its studio (and its grantees' writes) made it."""

    stage: str
    footage: bytes
    version: int = 1
    views: int = 0


@dataclass
class GrantModel:
    """One grant given by `owner` to `grantee`, and whether it was revoked since."""

    id: str
    owner: str
    grantee: str
    item: str
    permission: str
    revoked: bool = False


@dataclass
class World:
    """The runtime under test, its tenants and each tenant's model."""

    runtime: Runtime
    tenants: tuple[str, ...]
    #: Ids are shared between tenants once the log is tenant keyed; before that each tenant prefixes them.
    shared_ids: bool = True
    models: dict[str, Model] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    #: Each tenant's catalogued tier, when it has one (the cost report names it).
    tiers: dict[str, str] = field(default_factory=dict)
    #: Every grant any tenant of this world gave, in order.
    grants: list[GrantModel] = field(default_factory=list)

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


# ---- content -------------------------------------------------------------------------------------------------


def _content(world: World) -> Any:
    from datastrata.systems.content.service import ContentService

    return world.service("content", lambda r: r.service("content", ContentService))


#: The lifecycle step each stage takes next: production → published → archived → published again.
_NEXT_STAGE = {
    "production": ("publish", "published"),
    "published": ("archive", "archived"),
    "archived": ("republish", "published"),
}


def _items_are_as_made(world: World, tid: str) -> None:
    """Every item `tid` holds — ids, stages, footage versions and bytes — is what its history made, nothing more."""
    svc, items = _content(world), world.model(tid).items
    with tenant(tid):
        found = {i.item_id: (i.stage, i.footage_version) for i in svc.items()}
        assert found == {k: (v.stage, v.version) for k, v in items.items()}
        for key, item in items.items():
            assert svc.footage(key) == item.footage


@operation("content")
def register_item(world: World, tid: str, n: int) -> None:
    """Register an item in production: refused only if this tenant holds the id (another studio's is no conflict)."""
    key, svc, m = IDS[n % len(IDS)], _content(world), world.model(tid)
    footage = f"{tid} {key} v1".encode()
    budget = 200_000_000 if n % 2 else 1_000
    if key in m.items:
        with pytest.raises(RuleViolation, match="already exists"):
            svc.upload(key, f"{tid} {key}", footage, budget=budget)
    else:
        svc.upload(key, f"{tid} {key}", footage, budget=budget)
        m.items[key] = ItemModel("production", footage)
        assert svc.item(key).placement == ("premium" if n % 2 else "basic")
    _items_are_as_made(world, tid)


@operation("content")
def publish_item(world: World, tid: str, n: int) -> None:
    """Take an item of this tenant one lifecycle step on (publish, archive, republish); publishing adds renditions."""
    key, svc, m = IDS[n % len(IDS)], _content(world), world.model(tid)
    item = m.items.get(key)
    if item is None:
        with pytest.raises(NotFound):
            svc.publish(key)
        return
    command, to = _NEXT_STAGE[item.stage]
    getattr(svc, command)(key)
    item.stage = to
    if to == "published":
        assert {r["resolution"] for r in svc.renditions(key)} == {"4K", "1080p", "720p", "480p"}
    _items_are_as_made(world, tid)


@operation("content")
def record_views(world: World, tid: str, n: int) -> None:
    """Record an hour's views of an item of this tenant (never another studio's item of the same id)."""
    key, svc, m = IDS[n % len(IDS)], _content(world), world.model(tid)
    hour = world.runtime.clock() - timedelta(hours=n % 2)
    item = m.items.get(key)
    if item is None:
        with pytest.raises(NotFound):
            svc.record_views(key, hour, {"eu": 5 + n})
        return
    svc.record_views(key, hour, {"eu": 5 + n})
    item.views += 5 + n


@operation("content")
def cost_report(world: World, tid: str, n: int) -> None:
    """The month's cost counts this tenant's footage objects and views alone, at its own tier."""
    report, items = _content(world).cost(), world.model(tid).items
    assert report.tenant == tid
    if tid in world.tiers:
        assert report.tier == world.tiers[tid]
    assert sum(count for count, _, _ in report.by_class.values()) == len(items)
    assert sum(size for _, size, _ in report.by_class.values()) == sum(len(i.footage) for i in items.values())
    cold = {r.item_id for r in report.recommendations if r.action == "move_to_archive"}
    assert cold == {k for k, i in items.items() if i.views < 30}, "under 1 view a day over 30 days"
    assert all(r.action == "move_to_archive" for r in report.recommendations)


# ---- grants --------------------------------------------------------------------------------------------------

#: The granted calls: a status read, a footage read, a footage write.
_USES = ("status:read", "footage:read", "footage:write")


def _other(world: World, tid: str, n: int) -> str:
    others = [t for t in world.tenants if t != tid]
    return others[(n // 9) % len(others)]


def _covered(world: World, owner: str, grantee: str, item: str, permission: str) -> bool:
    """True when an unrevoked grant of `owner` lets `grantee` do `permission` on `item`."""
    from datastrata.tenancy.grants import PERMISSIONS

    need = PERMISSIONS.index(permission)
    return any(
        g.owner == owner
        and g.grantee == grantee
        and g.item == item
        and not g.revoked
        and need <= PERMISSIONS.index(g.permission)
        for g in world.grants
    )


def _use(world: World, grantee: str, owner: str, item: str, permission: str) -> None:
    """Make the granted call `permission` names as `grantee` on the owner's `item`: served if granted, else NotFound."""
    svc, owned = _content(world), world.model(owner).items.get(item)
    if not _covered(world, owner, grantee, item, permission):
        call: Callable[[], object] = {
            "status:read": lambda: svc.granted_status(owner, item),
            "footage:read": lambda: svc.granted_footage(owner, item),
            "footage:write": lambda: svc.granted_replace_footage(owner, item, b"refused"),
        }[permission]
        with tenant(grantee), pytest.raises(NotFound, match=f"no item {item!r}"):
            call()
        return
    assert owned is not None, "a grant is only ever given on an item its owner holds"
    with tenant(grantee):
        if permission == "status:read":
            status = svc.granted_status(owner, item)
            assert (status["item_id"], status["stage"], status["footage_version"]) == (item, owned.stage, owned.version)
            assert status["title"] == f"{owner} {item}"
        elif permission == "footage:read":
            assert svc.granted_footage(owner, item) == owned.footage
        elif owned.stage == "archived":
            with pytest.raises(RuleViolation, match="archived"):
                svc.granted_replace_footage(owner, item, b"refused")
        else:
            data = f"{grantee} for {owner} {item} v{owned.version + 1}".encode()
            svc.granted_replace_footage(owner, item, data)
            owned.version += 1
            owned.footage = data


@operation("grants")
def grant_item(world: World, tid: str, n: int) -> None:
    """Grant another tenant one permission on one of this tenant's items (an item it does not hold: NotFound)."""
    from datastrata.tenancy.grants import PERMISSIONS

    key, permission, grantee = IDS[n % len(IDS)], PERMISSIONS[(n // 3) % 3], _other(world, tid, n)
    svc, expires = _content(world), world.runtime.clock() + timedelta(days=1)
    if key not in world.model(tid).items:
        with pytest.raises(NotFound):
            svc.grant(grantee, key, permission, expires)
        return
    given = svc.grant(grantee, key, permission, expires)
    assert (given.owner, given.grantee, given.item, given.permission) == (tid, grantee, key, permission)
    world.grants.append(GrantModel(given.id, tid, grantee, key, permission))


@operation("grants")
def use_grant(world: World, tid: str, n: int) -> None:
    """Use a grant of another tenant: served only as granted, touching only the granted item; else NotFound."""
    owner, key, permission = _other(world, tid, n), IDS[n % len(IDS)], _USES[(n // 3) % 3]
    _use(world, tid, owner, key, permission)
    for who in (owner, tid):  # the owner's other items and the caller's own item of that id are untouched
        _items_are_as_made(world, who)


@operation("grants")
def revoke_grant(world: World, tid: str, n: int) -> None:
    """Revoke one of this tenant's grants (another tenant's: NotFound); its use is refused from then on."""
    svc = _content(world)
    theirs = [g for g in world.grants if g.owner != tid]
    mine = [g for g in world.grants if g.owner == tid and not g.revoked]
    if theirs and (n % 2 or not mine):
        with pytest.raises(NotFound, match="no grant"):
            svc.revoke(theirs[n % len(theirs)].id)
        return
    if not mine:
        return
    grant = mine[n % len(mine)]
    assert svc.revoke(grant.id).revoked_at is not None
    grant.revoked = True
    _use(world, grant.grantee, tid, grant.item, grant.permission)  # refused now, unless another grant covers it


@operation("grants")
def list_grants(world: World, tid: str, n: int) -> None:
    """A tenant sees the grants it gave or was given (both sides), with their state, and no one else's."""
    svc, now = _content(world), world.runtime.clock()
    found = {g.id: g.state(now) for g in svc.grants.list_for(tid)}
    mine = [g for g in world.grants if tid in (g.owner, g.grantee)]
    assert found == {g.id: "revoked" if g.revoked else "active" for g in mine}
    assert all(tid in (a["owner"], a["grantee"]) for a in svc.grants.audit(tid))


SYSTEMS = ("portfolio", "masterdata", "mdm", "match", "food", "fab", "mlops", "design", "content", "grants")
