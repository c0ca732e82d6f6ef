"""Food commands and queries: orders to the SQL store with their events, recommendations from the graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from datastrata.core.errors import NotFound, ValidationError
from datastrata.core.ids import new_id
from datastrata.core.validation import bounded_float, bounded_int
from datastrata.eventlog import EventLog
from datastrata.eventlog.checkpoints import Lag
from datastrata.graph import shared
from datastrata.graph.food import FOOD_SCHEMA, FoodGraph, bare_key, tenant_key
from datastrata.graph.projection import GraphProjectionRunner, Progress
from datastrata.graph.recommend import Weighting, favourite_cuisines, nearby_for_cuisines, recommend_restaurants
from datastrata.graph.recommend import related_cuisines as graph_related_cuisines
from datastrata.graph.store import GraphStore
from datastrata.projections.consistency import Freshness, ensure_fresh
from datastrata.runtime import LocationSpec, Runtime
from datastrata.stores.graphdb import GraphDatabase
from datastrata.systems.food import synthetic
from datastrata.systems.food.domain import (
    MAX_LIMIT,
    MAX_NEAR_KM,
    MenuItemSpec,
    Order,
    RestaurantProfile,
    UserProfile,
    check_order_items,
    check_seed,
    parse_price,
)
from datastrata.systems.food.projection import NAME, FoodGraphProjection
from datastrata.systems.food.store import OrderRequest, OrderStore, Written

#: The name the service is registered under on a runtime.
SERVICE = "food"
#: How long a read waits for the graph to reach a consistency token, in seconds.
WAIT_TIMEOUT = 10.0
#: The default window of the `recency` weighting.
RECENCY_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A recommended restaurant, enriched with its details from the order store."""

    restaurant_id: str
    name: str
    address: str
    score: int
    sponsored: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape."""
        return {
            "restaurant_id": self.restaurant_id,
            "name": self.name,
            "address": self.address,
            "score": self.score,
            "sponsored": self.sponsored,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class Placed:
    """An order as stored, whether it was stored before (a retry), and the consistency token to read after."""

    order: Order
    duplicate: bool
    token: int
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (``token`` is a position of the log ``log``)."""
        return {**self.order.to_dict(), "duplicate": self.duplicate, "token": self.token, "log": self.log}


@dataclass(frozen=True, slots=True)
class _Graph:
    """One location's recommendation graph and the database it is in."""

    db: GraphDatabase
    graph: FoodGraph


class FoodService:
    """Users, restaurants and orders (transaction path) and the recommendation graph fed from their events."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.clock = runtime.clock
        self.store = OrderStore(runtime, clock=runtime.clock)
        #: Each location's graph (by location name): the home one, and a tenant location's own file.
        self._graphs: dict[str, _Graph] = {}
        self._runner: GraphProjectionRunner | None = None
        # The graph file is opened only by what needs it: a graph query, or the worker driving its follower.
        runtime.defer(NAME, lambda: self.runner)
        runtime.on_close(self.close)

    @property
    def graph(self) -> FoodGraph:
        """The recommendation graph of the caller's tenant's location, opened on first use (one process owns a
        graph file at a time); a tenant in a location of its own has a graph file of its own there."""
        return self._opened(self.runtime.placement.locate(self.store.scope())).graph

    @property
    def runner(self) -> GraphProjectionRunner:
        """The home graph's follower of the home log; worker rounds, ``lag`` and ``rebuild`` drive it, and every
        tenant location gets its own (``food.graph@<location>``, into that location's graph)."""
        if self._runner is None:
            self._runner = self.runtime.follow(NAME, self._follower_of)
        return self._runner

    def follower(self) -> GraphProjectionRunner:
        """The follower of the graph the caller's tenant reads (its location's own, or the home one)."""
        home = self.runner  # registered first: with it, how a tenant location's follower is built
        found = self.runtime.runner_for(home.name, self.store.scope())
        assert isinstance(found, GraphProjectionRunner)
        return found

    def close(self) -> None:
        """Release the graph databases this service opened (the last user closes each); safe to repeat."""
        graphs, self._graphs, self._runner = list(self._graphs.values()), {}, None
        for held in graphs:
            shared.release(held.db)

    def _follower_of(self, log: EventLog) -> GraphProjectionRunner:
        """Build the follower of `log` into the graph of the location that log belongs to."""
        held = self._opened(self.runtime.location_of(log).spec)
        return GraphProjectionRunner(log, FoodGraphProjection(held.graph), held.db, clock=self.clock)

    def _opened(self, spec: LocationSpec) -> _Graph:
        held = self._graphs.get(spec.name)
        if held is None:
            db = shared.acquire(spec.graph, auto_checkpoint=False)  # the runner folds the WAL itself
            try:
                graph = FoodGraph(GraphStore(db, FOOD_SCHEMA))
                graph.ensure_schema()
            except BaseException:
                shared.release(db)
                raise
            held = self._graphs[spec.name] = _Graph(db, graph)
        return held

    # ---- commands ------------------------------------------------------------------------------------------

    def add_user(self, user_id: str, *, lat: float, lon: float, event_id: str | None = None) -> Written:
        """Register a user at a position (or move them there)."""
        user = UserProfile(user_id, lat, lon)
        return self.store.put_users([user], key=event_id, content=user.to_dict())

    def add_restaurant(
        self,
        restaurant_id: str,
        *,
        name: str,
        address: str = "",
        lat: float,
        lon: float,
        cuisines: Sequence[str] = (),
        sponsored: bool = False,
        event_id: str | None = None,
    ) -> Written:
        """List a restaurant (or change its details)."""
        profile = RestaurantProfile(restaurant_id, name, address, lat, lon, tuple(dict.fromkeys(cuisines)), sponsored)
        return self.store.put_restaurants([profile], key=event_id, content=profile.to_dict())

    def add_menu_item(
        self,
        restaurant_id: str,
        item_id: str,
        *,
        name: str,
        price: Any,
        ingredients: Sequence[str] = (),
        event_id: str | None = None,
    ) -> Written:
        """Add a dish to a restaurant's menu (or change it)."""
        item = MenuItemSpec(item_id, restaurant_id, name, parse_price(price), tuple(dict.fromkeys(ingredients)))
        return self.store.put_menu_items([item], key=event_id, content=item.to_dict())

    def set_sponsored(self, restaurant_id: str, sponsored: bool = True, *, event_id: str | None = None) -> Written:
        """Start (or stop) a restaurant's paid promotion: sponsored recommendations come first."""
        content = {"restaurant_id": restaurant_id, "sponsored": sponsored}
        return self.store.set_sponsored(restaurant_id, sponsored, key=event_id, content=content)

    def favorite(self, user_id: str, restaurant_id: str, *, event_id: str | None = None) -> Written:
        """Record that a user favourited a restaurant."""
        content = {"user_id": user_id, "restaurant_id": restaurant_id}
        return self.store.favorite(user_id, restaurant_id, key=event_id, content=content)

    def place_order(
        self,
        user_id: str,
        restaurant_id: str,
        *,
        items: Sequence[str] = (),
        rating: int | None = None,
        at: datetime | None = None,
        order_id: str | None = None,
        event_id: str | None = None,
    ) -> Placed:
        """Record an order (and its OrderPlaced event, in the same transaction); a retried order id is kept once.

        With `event_id` (the idempotency key) a retry returns the stored order, even without an order id.
        """
        items = check_order_items(items)
        content: dict[str, Any] = {"user_id": user_id, "restaurant_id": restaurant_id, "items": list(items)}
        content |= {"rating": rating, "at": at, "order_id": order_id}
        request = OrderRequest(order_id or new_id(), user_id, restaurant_id, at or self.clock(), rating, tuple(items))
        (order,), written = self.store.place_orders([request], key=event_id, content=content)
        return Placed(order, written.duplicate or written.written == 0, written.token, written.log)

    def place_orders(self, requests: Sequence[OrderRequest]) -> Written:
        """Record many orders in bulk (a chunk per transaction)."""
        return self.store.place_orders(requests)[1]

    def seed(self, *, users: int, restaurants: int, orders: int, seed: int = 42) -> dict[str, Any]:
        """Load a synthetic dataset through the command side; returns the counts and the consistency token."""
        check_seed(users, restaurants, orders, seed)
        data = synthetic.generate(users, restaurants, orders, seed=seed)
        self.store.put_users(data.users)
        self.store.put_restaurants(data.restaurants)
        self.store.put_menu_items(data.menu)
        written = self.place_orders(data.orders)
        return {
            "users": len(data.users),
            "restaurants": len(data.restaurants),
            "menu_items": len(data.menu),
            "orders": written.written,
            "orders_already_recorded": written.unchanged,
            "token": self.store.head(),
        }

    # ---- queries -------------------------------------------------------------------------------------------

    def recommend(
        self,
        user_id: str,
        *,
        limit: int = 10,
        weighting: Weighting | str = Weighting.PAIRS,
        since: datetime | None = None,
        after: int | None = None,
        log: str | None = None,
        catch_up: bool = False,
    ) -> list[Suggestion]:
        """People who ordered where you ordered also ordered at…: sponsored first, enriched with name and address.

        With `after` (a command's token) the read waits until the graph has applied it; with `catch_up` it
        applies what is waiting first (a CLI with no worker).
        """
        limit = bounded_int(limit, field="limit", minimum=1, maximum=MAX_LIMIT)
        self.store.user(user_id)
        self._fresh(after, catch_up, log)
        if Weighting(_weighting(weighting)) is Weighting.RECENCY and since is None:
            since = self.clock() - RECENCY_WINDOW
        try:
            found = recommend_restaurants(self.graph, self._key(user_id), limit=limit, weighting=weighting, since=since)
        except NotFound:
            return []  # registered, but the graph has not seen the user yet
        ids = [bare_key(r.restaurant_id) for r in found]
        details = self.store.restaurants(ids)
        return [
            Suggestion(
                rid,
                details[rid].name if rid in details else "",
                details[rid].address if rid in details else "",
                r.score,
                r.sponsored,
                tuple(bare_key(x) for x in r.reasons),
            )
            for rid, r in zip(ids, found, strict=True)
        ]

    def cuisines(
        self,
        user_id: str,
        *,
        near_km: float = 5.0,
        limit: int = 10,
        after: int | None = None,
        log: str | None = None,
        catch_up: bool = False,
    ) -> dict[str, Any]:
        """What might you like: your favourite cuisines, nearby restaurants serving them, and related cuisines."""
        limit = bounded_int(limit, field="limit", minimum=1, maximum=MAX_LIMIT)
        near_km = bounded_float(near_km, field="near_km", minimum=0.001, maximum=MAX_NEAR_KM)
        self.store.user(user_id)
        self._fresh(after, catch_up, log)
        me = self._key(user_id)
        try:
            favourites = favourite_cuisines(self.graph, me)
            nearby = nearby_for_cuisines(self.graph, me, radius_km=near_km, limit=limit)
            related = graph_related_cuisines(self.graph, me)
        except NotFound:
            favourites, nearby, related = [], [], []
        details = self.store.restaurants([bare_key(m.restaurant_id) for m in nearby])
        return {
            "user_id": user_id,
            "favourites": [{"cuisine": bare_key(c), "orders": n} for c, n in favourites],
            "nearby": [
                {
                    "restaurant_id": (rid := bare_key(m.restaurant_id)),
                    "name": m.name,
                    "address": details[rid].address if rid in details else "",
                    "cuisines": sorted(bare_key(c) for c in m.cuisines),
                    "distance_km": round(m.distance_km, 3),
                    "sponsored": m.sponsored,
                }
                for m in nearby
            ],
            "related": [
                {"cuisine": bare_key(a.cuisine), "users": a.users, "via": sorted(bare_key(v) for v in a.via)}
                for a in related
            ],
        }

    def restaurant(self, restaurant_id: str) -> dict[str, Any]:
        """Return a restaurant's details and menu from the order store."""
        profile = self.store.restaurant(restaurant_id)
        return {**profile.to_dict(), "menu": [i.to_dict() for i in self.store.menu(restaurant_id)]}

    def order(self, order_id: str) -> Order:
        """Return one recorded order."""
        return self.store.order(order_id)

    # ---- the graph projection ------------------------------------------------------------------------------

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply every waiting event to the caller's graph; return how many."""
        return self.follower().catch_up(progress)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Replay the log into a new graph beside the live one, then switch to it; return the events applied."""
        return self.follower().rebuild(progress)

    def lag(self) -> Lag:
        """Return how far the graph projection is behind the log."""
        return self.follower().lag()

    def _fresh(self, after: int | None, catch_up: bool, log: str | None = None) -> Freshness:
        # A halted graph answers from what it has (the freshness says so); a graph of another log is refused, and so
        # is one whose nodes are not keyed by tenant (made by an older release): it must be rebuilt first.
        self.graph.refuse_old_keys()
        return ensure_fresh(self.follower(), after=after, catch_up=catch_up, timeout=WAIT_TIMEOUT, log=log)

    def _key(self, user_id: str) -> str:
        """The graph key of the caller's tenant's user (graph nodes are keyed by tenant)."""
        return tenant_key(self.store.scope().tenant, user_id)


def _weighting(value: Weighting | str) -> str:
    try:
        return Weighting(value).value
    except ValueError:
        raise ValidationError(
            f"weighting {value!r} is unknown; use one of {[w.value for w in Weighting]}", field="weighting"
        ) from None


def install(runtime: Runtime) -> FoodService:
    """Return the runtime's food service, building it (and naming its deferred graph follower) the first time."""
    factory: Callable[[Runtime], FoodService] = FoodService
    service: FoodService = runtime.service(SERVICE, factory)
    return service
