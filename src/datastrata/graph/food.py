"""The food-delivery graph (the source article's Uber Eats blueprint): model, schema and idempotent order upserts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from datastrata.core.errors import ConfigurationError, NotFound, ValidationError
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.graph.geo import check_position
from datastrata.graph.schema import GraphSchema, NodeTable, RelTable
from datastrata.graph.store import GraphStore, from_graph_value, to_graph_value
from datastrata.stores.graphdb import GraphReadTx, GraphTx

FOOD_SCHEMA = GraphSchema(
    nodes=(
        NodeTable("User", (("lat", "DOUBLE"), ("lon", "DOUBLE"))),
        NodeTable(
            "Restaurant",
            (("name", "STRING"), ("address", "STRING"), ("lat", "DOUBLE"), ("lon", "DOUBLE"), ("sponsored", "BOOLEAN")),
        ),
        NodeTable("MenuItem", (("name", "STRING"), ("price", "DECIMAL(12,2)"), ("ingredients", "STRING[]"))),
        NodeTable("Cuisine", (), key="name"),
        NodeTable("Ingredient", (), key="name"),
        # One node: the key format of the graph's node keys (see KEY_FORMAT); `clear` keeps it.
        NodeTable("GraphFormat", (("version", "INT64"),)),
    ),
    rels=(
        RelTable(
            "ORDERED",
            "User",
            "Restaurant",
            (
                ("count", "INT64"),
                ("last_date", "TIMESTAMP"),
                ("rating", "INT64"),
                ("rated_at", "TIMESTAMP"),
                ("rated_order", "STRING"),
            ),
        ),
        RelTable("FAVORITED", "User", "Restaurant"),
        RelTable("SERVES", "Restaurant", "Cuisine"),
        RelTable("OFFERS", "Restaurant", "MenuItem"),
        RelTable("CONTAINS", "MenuItem", "Ingredient"),
    ),
)


#: The format of node keys: 1 (before tenants) bare ids of whichever tenant; 2 keys by tenant (:func:`tenant_key`),
#: Cuisine and Ingredient names included, so nodes of two tenants never meet and no traversal crosses tenants.
KEY_FORMAT = 2
_SEP = "\x1f"
#: The node labels that hold the food model (all but the format marker).
MODEL_LABELS = tuple(n.label for n in FOOD_SCHEMA.nodes if n.label != "GraphFormat")


def tenant_key(tenant: str, value: str) -> str:
    """The graph key of a tenant's id or name: ``"<tenant>\x1f<value>"``, the default tenant's bare.

    Ids and names hold no control characters, so a key names one tenant's value and no other.
    """
    return value if tenant == DEFAULT_TENANT else f"{tenant}{_SEP}{value}"


def bare_key(key: str) -> str:
    """The id or name a graph key holds, without its tenant."""
    return key.split(_SEP, 1)[-1]


def key_format_in(tx: GraphTx | GraphReadTx) -> int | None:
    """The graph's key format: as marked, 1 when unmarked with food nodes (an older release's), None when empty."""
    found = tx.execute("MATCH (f:GraphFormat {id: 'keys'}) RETURN f.version")
    if found:
        return int(found[0][0])
    return 1 if any(tx.execute(f"MATCH (n:{label}) RETURN 1 LIMIT 1") for label in MODEL_LABELS) else None


def refuse_old_keys_in(tx: GraphTx | GraphReadTx, where: object) -> bool:
    """Refuse a graph whose keys are not of :data:`KEY_FORMAT`; return whether it is marked as of it (read only)."""
    version = key_format_in(tx)
    if version is None or version == KEY_FORMAT:
        return version is not None
    raise ConfigurationError(
        f"the food graph {where} has node keys of format {version} (before tenant keys) and this release reads "
        f"format {KEY_FORMAT}; rebuild food.graph (`datastrata rebuild food.graph`): the replay keys every node by "
        "its tenant",
        field="graph",
    )


def check_key_format_in(tx: GraphTx, where: object) -> None:
    """Refuse a graph whose keys are not of :data:`KEY_FORMAT`; mark an empty graph as of it (in a write `tx`)."""
    if not refuse_old_keys_in(tx, where):
        tx.execute("CREATE (:GraphFormat {id: 'keys', version: $v})", {"v": KEY_FORMAT})


@dataclass(frozen=True, slots=True)
class User:
    """Someone who orders; the position is where they usually order to."""

    id: str
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class Restaurant:
    """A restaurant with its position, the cuisines it serves and whether it pays for promotion."""

    id: str
    name: str
    lat: float
    lon: float
    address: str = ""
    sponsored: bool = False
    cuisines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MenuItem:
    """A dish a restaurant offers, with its price and ingredients."""

    id: str
    restaurant_id: str
    name: str
    price: Decimal
    ingredients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """The fact the graph learns from: a user ordered at a restaurant (optionally rating it 1-5)."""

    order_id: str
    user_id: str
    restaurant_id: str
    occurred_at: datetime
    rating: int | None = None

    def check(self) -> None:
        """Raise ValidationError naming the first bad field."""
        for name in ("order_id", "user_id", "restaurant_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValidationError(f"OrderPlaced.{name} is {value!r}; give a non-empty string id", field=name)
        if not isinstance(self.occurred_at, datetime) or self.occurred_at.tzinfo is None:
            raise ValidationError(
                f"OrderPlaced.occurred_at is {self.occurred_at!r}; give a timezone-aware UTC datetime",
                field="occurred_at",
            )
        if self.rating is not None and (isinstance(self.rating, bool) or self.rating not in range(1, 6)):
            raise ValidationError(f"OrderPlaced.rating is {self.rating!r}; give an integer 1-5 or None", field="rating")


@dataclass(frozen=True, slots=True)
class OrderedEdge:
    """The state of one (User)-[:ORDERED]->(Restaurant) edge."""

    user_id: str
    restaurant_id: str
    count: int
    last_date: datetime
    rating: int | None
    rated_at: datetime | None
    rated_order: str | None

    def with_orders(self, orders: Sequence[OrderPlaced]) -> OrderedEdge:
        """Return the edge after applying `orders` (each counted: the caller applies every order once)."""
        fresh = orders
        if not fresh:
            return self
        rating, rated_at, rated_order = self.rating, self.rated_at, self.rated_order
        for order in fresh:
            if order.rating is None:
                continue
            # The rating kept is the latest rated order's, by (occurred_at, order_id): replay order does not matter.
            if rated_at is None or (order.occurred_at, order.order_id) > (rated_at, rated_order or ""):
                rating, rated_at, rated_order = order.rating, order.occurred_at, order.order_id
        return OrderedEdge(
            user_id=self.user_id,
            restaurant_id=self.restaurant_id,
            count=self.count + len(fresh),
            last_date=max(self.last_date, *(o.occurred_at for o in fresh)),
            rating=rating,
            rated_at=rated_at,
            rated_order=rated_order,
        )

    @classmethod
    def first(cls, orders: Sequence[OrderPlaced]) -> OrderedEdge:
        """Return a new edge built from the first orders of one (user, restaurant) pair."""
        head = orders[0]
        seed = cls(head.user_id, head.restaurant_id, 0, head.occurred_at, None, None, None)
        return seed.with_orders(orders)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one batch of OrderPlaced events did to the graph."""

    applied: int
    duplicates: int
    edges_created: int
    edges_updated: int


_ORDERED_PROPS = ("count", "last_date", "rating", "rated_at", "rated_order")


class FoodGraph:
    """The food-delivery graph: users, restaurants, menus, cuisines and the ORDERED edges built from orders."""

    #: How changed ORDERED edges are written: "recreate" (delete and create again, the default) or "set" (in place).
    update_strategy: Literal["recreate", "set"] = "recreate"

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    @classmethod
    def open(cls, url: str | Path, *, read_only: bool = False) -> FoodGraph:
        """Open (creating if missing) the food graph at a ``ladybug:///path`` URL or path."""
        return cls(GraphStore.open(url, FOOD_SCHEMA, read_only=read_only))

    def ensure_schema(self) -> None:
        """Create the food tables that do not exist yet (safe to call again); mark an empty graph's key format."""
        self.store.ensure_schema()
        if not self.store.db.read_only:
            with self.store.transaction() as tx:
                if key_format_in(tx) is None:  # an older graph stays unmarked: reads refuse it until rebuilt
                    tx.execute("CREATE (:GraphFormat {id: 'keys', version: $v})", {"v": KEY_FORMAT})

    def check_keys_in(self, tx: GraphTx) -> None:
        """Refuse to write into a graph of an older key format; mark an empty one (inside the write `tx`)."""
        check_key_format_in(tx, self.store.db.path)

    def refuse_old_keys(self) -> None:
        """Refuse to read a graph of an older key format: it must be rebuilt first (a read-only check)."""
        with self.store.db.reading() as tx:
            refuse_old_keys_in(tx, self.store.db.path)

    @contextmanager
    def transaction(self) -> Iterator[GraphTx]:
        """One atomic graph write transaction; pass the tx to writes as ``tx=``."""
        with self.store.transaction() as tx:
            yield tx

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database (call after a bulk load of orders)."""
        self.store.db.checkpoint()

    def close(self) -> None:
        """Close the graph database."""
        self.store.close()

    def __enter__(self) -> FoodGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reference data -------------------------------------------------------------------------------------

    def forget_tenant(self, tenant: str, *, tx: GraphTx) -> None:
        """Delete every node of `tenant` (its edges with them): what an offboarded tenant leaves in a shared graph."""
        prefix = tenant_key(tenant, "")
        for table in FOOD_SCHEMA.nodes:
            if table.label in MODEL_LABELS and prefix:
                tx.execute(
                    f"MATCH (n:{table.label}) WHERE starts_with(n.{table.key}, $prefix) DETACH DELETE n",
                    {"prefix": prefix},
                )

    def upsert_users(self, users: Iterable[User], *, tx: GraphTx | None = None) -> int:
        """Create or update users (id, position)."""
        rows = []
        for user in users:
            if user.lat is not None and user.lon is not None:
                check_position(user.lat, user.lon)
            rows.append({"id": user.id, "lat": user.lat, "lon": user.lon})
        return self.store.upsert_nodes("User", rows, tx=tx)

    def upsert_restaurants(self, restaurants: Iterable[Restaurant], *, tx: GraphTx | None = None) -> int:
        """Create or update restaurants and the cuisines they SERVE; a non-empty `cuisines` replaces the old set."""
        items = list(restaurants)
        for r in items:
            check_position(r.lat, r.lon)
        with self._tx(tx) as own:
            self.store.upsert_nodes(
                "Restaurant",
                (
                    {
                        "id": r.id,
                        "name": r.name,
                        "address": r.address,
                        "lat": r.lat,
                        "lon": r.lon,
                        "sponsored": r.sponsored,
                    }
                    for r in items
                ),
                tx=own,
            )
            cuisines = sorted({c for r in items for c in r.cuisines})
            self.store.upsert_nodes("Cuisine", ({"name": c} for c in cuisines), tx=own)
            ids = [r.id for r in items if r.cuisines]
            if ids:  # the restaurant's cuisine list is authoritative: drop cuisines it no longer serves
                own.execute(
                    "UNWIND $rows AS row MATCH (r:Restaurant {id: row.id})-[s:SERVES]->(c:Cuisine) "
                    "WHERE NOT c.name IN row.cuisines DELETE s",
                    {"rows": [{"id": r.id, "cuisines": list(r.cuisines)} for r in items if r.cuisines]},
                )
            self.store.upsert_edges(
                "SERVES", ({"source": r.id, "target": c} for r in items for c in r.cuisines), tx=own
            )
        return len(items)

    def set_sponsored(self, restaurant_id: str, sponsored: bool, *, tx: GraphTx | None = None) -> None:
        """Mark a restaurant as paying for promotion (its recommendations go first) or not."""
        with self._tx(tx) as own:
            found = own.execute(
                "MATCH (r:Restaurant {id: $id}) SET r.sponsored = $sponsored RETURN r.id",
                {"id": restaurant_id, "sponsored": sponsored},
            )
        if not found:
            raise NotFound(f"restaurant {restaurant_id!r} is not in the graph; upsert it first", field="restaurant_id")

    def upsert_menu_items(self, items: Iterable[MenuItem], *, tx: GraphTx | None = None) -> int:
        """Create or update menu items, the restaurant OFFERS edge and the ingredients each CONTAINS."""
        dishes = list(items)
        with self._tx(tx) as own:
            self.store.upsert_nodes(
                "MenuItem",
                (
                    # No ingredients is stored as null: LadybugDB cannot type a batch whose lists are all empty.
                    {"id": d.id, "name": d.name, "price": Decimal(d.price), "ingredients": list(d.ingredients) or None}
                    for d in dishes
                ),
                tx=own,
            )
            ingredients = sorted({i for d in dishes for i in d.ingredients})
            self.store.upsert_nodes("Ingredient", ({"name": i} for i in ingredients), tx=own)
            self.store.upsert_edges("OFFERS", ({"source": d.restaurant_id, "target": d.id} for d in dishes), tx=own)
            self.store.upsert_edges(
                "CONTAINS", ({"source": d.id, "target": i} for d in dishes for i in d.ingredients), tx=own
            )
        return len(dishes)

    def favorite(self, user_id: str, restaurant_id: str, *, tx: GraphTx | None = None) -> None:
        """Record that a user FAVORITED a restaurant (idempotent)."""
        self.store.upsert_edges("FAVORITED", [{"source": user_id, "target": restaurant_id}], tx=tx)

    # -- orders ---------------------------------------------------------------------------------------------

    def record_order(
        self,
        user_id: str,
        restaurant_id: str,
        occurred_at: datetime,
        rating: int | None,
        order_id: str,
        *,
        tx: GraphTx | None = None,
    ) -> None:
        """Apply one order to its ORDERED edge (once: see `apply_orders` on idempotency)."""
        self.apply_orders([OrderPlaced(order_id, user_id, restaurant_id, occurred_at, rating)], tx=tx)

    def apply_orders(self, batch: Iterable[OrderPlaced], *, tx: GraphTx | None = None) -> ApplyResult:
        """Apply OrderPlaced events atomically: count, last_date and rating per edge, one write per changed edge.

        Idempotency is the caller's: an edge does not remember which orders it counts (a growing id list made
        every update slower), so apply each order once. The graph projection does: its checkpoint node moves in
        the same transaction as the edges, so a page is applied exactly once, and a replay starts from a cleared
        graph. A repeated order id *within* `batch` is counted once (``ApplyResult.duplicates``). Users and
        restaurants an order names are created bare if missing, so orders may arrive before the catalogue.
        """
        events: dict[str, OrderPlaced] = {}
        total = 0
        for event in batch:
            event.check()
            total += 1
            events.setdefault(event.order_id, event)
        pairs: dict[tuple[str, str], list[OrderPlaced]] = {}
        for event in events.values():
            pairs.setdefault((event.user_id, event.restaurant_id), []).append(event)
        if not pairs:
            return ApplyResult(0, total, 0, 0)
        recreate = self.update_strategy == "recreate"
        with self._tx(tx) as own:
            # Recreate: one traversal reads the batch's existing edges and deletes them; all are created again below.
            existing = self._read_edges(own, list(pairs), delete=recreate)
            updates: list[OrderedEdge] = []
            creates: list[OrderedEdge] = []
            applied = 0
            for key, orders in pairs.items():
                before = existing.get(key)
                after = OrderedEdge.first(orders) if before is None else before.with_orders(orders)
                applied += after.count - (0 if before is None else before.count)
                (creates if before is None else updates).append(after)
            self._write_creates(own, creates, also=updates if recreate else ())
            if not recreate:
                self._write_updates(own, updates)
        return ApplyResult(applied, total - applied, len(creates), len(updates))

    def ordered_edge(self, user_id: str, restaurant_id: str) -> OrderedEdge | None:
        """Return the ORDERED edge between a user and a restaurant, or None."""
        with self.store.transaction() as tx:
            return self._read_edges(tx, [(user_id, restaurant_id)]).get((user_id, restaurant_id))

    def _read_edges(
        self, tx: GraphTx, keys: Sequence[tuple[str, str]], *, delete: bool = False
    ) -> dict[tuple[str, str], OrderedEdge]:
        import pyarrow as pa

        pairs = pa.table(
            {
                "pair_user": pa.array([u for u, _ in keys], pa.string()),
                "pair_rest": pa.array([r for _, r in keys], pa.string()),
            }
        )
        # LOAD FROM an Arrow table is LadybugDB's fast batch input (5x UNWIND $rows); Neo4j: UNWIND $pairs AS p.
        # With `delete`, the same traversal deletes the edges it read (measured: 30% less than reading, then
        # deleting in a second LOAD FROM): LadybugDB updates relationship properties in place at ~15 µs per
        # property per edge, so changed edges are deleted and created again.
        match = (
            "LOAD FROM $pairs MATCH (u:User {id: pair_user}) MATCH (u)-[o:ORDERED]->(r:Restaurant) "
            "WHERE r.id = pair_rest "
        )
        if delete:
            cypher = (
                match + "WITH u, r, o, o.count AS n, o.last_date AS ld, o.rating AS rt, o.rated_at AS ra, "
                "o.rated_order AS ro DELETE o RETURN u.id, r.id, n, ld, rt, ra, ro"
            )
        else:
            cypher = match + "RETURN u.id, r.id, o.count, o.last_date, o.rating, o.rated_at, o.rated_order"
        rows = tx.execute(cypher, {"pairs": pairs})
        edges: dict[tuple[str, str], OrderedEdge] = {}
        for u, r, count, last_date, rating, rated_at, rated_order in rows:
            edges[(u, r)] = OrderedEdge(
                user_id=u,
                restaurant_id=r,
                count=int(count or 0),
                last_date=from_graph_value(last_date),
                rating=rating,
                rated_at=from_graph_value(rated_at),
                rated_order=rated_order,
            )
        return edges

    def _write_updates(self, tx: GraphTx, edges: Sequence[OrderedEdge]) -> None:
        """SET the changed edges' properties in place (the "set" strategy; "recreate" deletes them on read)."""
        if not edges:
            return
        table = _arrow_edges(edges)
        # Neo4j: UNWIND $rows AS row MATCH (:User {id: row.from})-[o:ORDERED]->(:Restaurant {id: row.to}) SET o += row.
        assignments = ", ".join(f"o.{name} = new_{name}" for name in _ORDERED_PROPS)
        tx.execute(
            "LOAD FROM $edges MATCH (u:User {id: new_from}) MATCH (u)-[o:ORDERED]->(r:Restaurant) "
            f"WHERE r.id = new_to SET {assignments}",
            {"edges": table.rename_columns([f"new_{name}" for name in table.column_names])},
        )

    def _write_creates(self, tx: GraphTx, edges: Sequence[OrderedEdge], *, also: Sequence[OrderedEdge] = ()) -> None:
        """Create the new edges (and their bare endpoints if missing) plus `also` (deleted ones, recreated)."""
        if edges:
            users = sorted({e.user_id for e in edges})
            restaurants = sorted({e.restaurant_id for e in edges})
            tx.execute("UNWIND $ids AS x MERGE (:User {id: x})", {"ids": users})
            tx.execute("UNWIND $ids AS x MERGE (:Restaurant {id: x})", {"ids": restaurants})
        if edges or also:
            self._create_edges(tx, _arrow_edges([*edges, *also]))

    def _create_edges(self, tx: GraphTx, table: Any) -> None:
        # Not COPY: at 100k users, COPY ORDERED inside a transaction failed to find user keys ("Unable to find
        # primary key value") that MATCH finds. Neo4j: UNWIND $rows AS row MATCH (u:User {id: row.from}),
        # (r:Restaurant {id: row.to}) CREATE (u)-[:ORDERED {count: row.count, …}]->(r).
        props = ", ".join(f"{name}: new_{name}" for name in _ORDERED_PROPS)
        tx.execute(
            "LOAD FROM $edges MATCH (u:User {id: new_from}) MATCH (r:Restaurant {id: new_to}) "
            f"CREATE (u)-[:ORDERED {{{props}}}]->(r)",
            {"edges": table.rename_columns([f"new_{name}" for name in table.column_names])},
        )

    @contextmanager
    def _tx(self, tx: GraphTx | None) -> Iterator[GraphTx]:
        if tx is not None:
            yield tx
            return
        with self.store.transaction() as own:
            yield own


def _arrow_edges(edges: Sequence[OrderedEdge]) -> Any:
    """Return the edges as a pyarrow table in LadybugDB's COPY layout (from, to, properties…)."""
    import pyarrow as pa

    return pa.table(
        {
            "from": pa.array([e.user_id for e in edges], pa.string()),
            "to": pa.array([e.restaurant_id for e in edges], pa.string()),
            "count": pa.array([e.count for e in edges], pa.int64()),
            "last_date": pa.array([to_graph_value(e.last_date) for e in edges], pa.timestamp("us")),
            "rating": pa.array([e.rating for e in edges], pa.int64()),
            "rated_at": pa.array(
                [None if e.rated_at is None else to_graph_value(e.rated_at) for e in edges], pa.timestamp("us")
            ),
            "rated_order": pa.array([e.rated_order for e in edges], pa.string()),
        }
    )
