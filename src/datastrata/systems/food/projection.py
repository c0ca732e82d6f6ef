"""The graph path: the food events folded into the food graph, a page per graph transaction."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from datastrata.core.events import Event
from datastrata.graph.food import (
    MODEL_LABELS,
    FoodGraph,
    MenuItem,
    OrderPlaced,
    Restaurant,
    User,
    tenant_key,
)
from datastrata.stores.graphdb import GraphTx
from datastrata.systems.food import domain
from datastrata.systems.food.personal import SUBJECT_PREFIX
from datastrata.tenancy.erasure import SUBJECT_ERASED
from datastrata.tenancy.export import TENANT_OFFBOARDED
from datastrata.tenancy.personal import ERASED

NAME = "food.graph"


class FoodGraphProjection:
    """Users, restaurants, menus, favourites and ORDERED edges, from the order store's events.

    Reference events are applied in runs of one type, in log order. The page's orders are applied last, as one
    ``apply_orders`` batch: an order only touches its ORDERED edge (creating bare endpoints if missing, which a
    later upsert fills in), so moving it after the page's reference events gives the same graph.

    Every node is keyed by the event's tenant (:func:`~datastrata.graph.food.tenant_key`), cuisines and ingredients
    included: an edge only ever joins two nodes of one tenant, so no traversal reaches another tenant's nodes.
    """

    name = NAME
    event_types: frozenset[str] | None = domain.GRAPH_EVENTS | {SUBJECT_ERASED, TENANT_OFFBOARDED}

    def __init__(self, graph: FoodGraph) -> None:
        self.graph = graph

    def apply_batch(self, tx: GraphTx, events: Sequence[Event]) -> None:
        """Fold one page of events into the graph inside `tx`."""
        self.graph.check_keys_in(tx)
        orders: list[OrderPlaced] = []
        run: list[Event] = []
        for event in events:
            if event.type == domain.ORDER_PLACED:
                p, t = event.payload, event.tenant_id
                orders.append(
                    OrderPlaced(
                        tenant_key(t, str(p["order_id"])),
                        tenant_key(t, str(p["user_id"])),
                        tenant_key(t, str(p["restaurant_id"])),
                        event.occurred_at,
                        p.get("rating"),
                    )
                )
                continue
            if run and (run[-1].type, run[-1].tenant_id) != (event.type, event.tenant_id):
                self._apply_run(tx, run)
                run = []
            run.append(event)
        if run:
            self._apply_run(tx, run)
        if orders:
            self.graph.apply_orders(orders, tx=tx)

    def _apply_run(self, tx: GraphTx, run: list[Event]) -> None:
        """Apply a run of events of one type and one tenant."""
        kind, tenant = run[0].type, run[0].tenant_id
        payloads = [e.payload for e in run]

        def key(value: object) -> str:
            return tenant_key(tenant, str(value))

        if kind in (domain.USER_REGISTERED, domain.USER_UPDATED):
            self.graph.upsert_users(
                (User(key(p["user_id"]), _position(p["lat"]), _position(p["lon"])) for p in payloads), tx=tx
            )
        elif kind == SUBJECT_ERASED:  # an erased user keeps the node and its edges, not the position
            subjects = [str(p["subject"]) for p in payloads]
            users = [s[len(SUBJECT_PREFIX) :] for s in subjects if s.startswith(SUBJECT_PREFIX)]
            self.graph.upsert_users((User(key(u)) for u in users), tx=tx)
        elif kind == TENANT_OFFBOARDED:  # the operator's record: the offboarded tenant's nodes go
            for p in payloads:
                self.graph.forget_tenant(str(p["tenant"]), tx=tx)
        elif kind in (domain.RESTAURANT_LISTED, domain.RESTAURANT_UPDATED):
            self.graph.upsert_restaurants(
                (
                    Restaurant(
                        key(p["restaurant_id"]),
                        str(p["name"]),
                        float(p["lat"]),
                        float(p["lon"]),
                        address=str(p["address"]),
                        sponsored=bool(p["sponsored"]),
                        cuisines=tuple(key(c) for c in p["cuisines"]),
                    )
                    for p in payloads
                ),
                tx=tx,
            )
        elif kind == domain.MENU_ITEM_ADDED:
            self.graph.upsert_menu_items(
                (
                    MenuItem(
                        key(p["item_id"]),
                        key(p["restaurant_id"]),
                        str(p["name"]),
                        Decimal(str(p["price"])),
                        tuple(key(i) for i in p["ingredients"]),
                    )
                    for p in payloads
                ),
                tx=tx,
            )
        elif kind == domain.SPONSORSHIP_CHANGED:
            for p in payloads:
                self.graph.set_sponsored(key(p["restaurant_id"]), bool(p["sponsored"]), tx=tx)
        elif kind == domain.RESTAURANT_FAVORITED:
            self.graph.store.upsert_edges(
                "FAVORITED",
                ({"source": key(p["user_id"]), "target": key(p["restaurant_id"])} for p in payloads),
                tx=tx,
            )

    def clear(self, tx: GraphTx) -> None:
        """Delete every node (and so every edge) of the food model; the checkpoint and key-format nodes stay."""
        for label in MODEL_LABELS:
            tx.execute(f"MATCH (n:{label}) DETACH DELETE n")


def _position(value: Any) -> float | None:
    """A coordinate of a user event (None once the user's personal data is erased)."""
    return None if value == ERASED else float(value)
