"""The order store: each command writes its rows and appends its events in one transaction (the log is the outbox)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from datastrata.core.clock import Clock, system_clock
from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import current_tenant
from datastrata.runtime import Scope, Units, Work
from datastrata.stores.database import Row, Tx, time_from_db, time_to_db
from datastrata.systems.food import domain
from datastrata.systems.food.domain import MenuItemSpec, Order, OrderLine, RestaurantProfile, UserProfile
from datastrata.systems.food.schema import MIGRATIONS
from datastrata.writes.commands import CommandHandler

#: Rows per transaction when a bulk command is chunked.
CHUNK = 1000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Written:
    """What a command stored: how many facts were new, how many were already recorded, and the consistency token."""

    written: int
    unchanged: int
    token: int
    log: str | None = None
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape (``token`` is a position of the log ``log``)."""
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "token": self.token,
            "log": self.log,
            "duplicate": self.duplicate,
        }

    @classmethod
    def replayed(cls, stored: dict[str, Any]) -> Written:
        """Return a stored outcome, marked as a replay (``duplicate``)."""
        return cls(int(stored["written"]), int(stored["unchanged"]), int(stored["token"]), stored["log"], True)

    def plus(self, other: Written) -> Written:
        """Return the outcome of this chunk and `other`, the next one."""
        return Written(
            self.written + other.written,
            self.unchanged + other.unchanged,
            max(self.token, other.token),
            other.log or self.log,
            self.duplicate and other.duplicate,
        )


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as a command gives it: the items by id (priced from the menu by the store)."""

    order_id: str
    user_id: str
    restaurant_id: str
    occurred_at: datetime
    rating: int | None = None
    items: tuple[str, ...] = ()


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _ids_query(table: str, column: str, wanted: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """The statement that finds which of `wanted` the tenant's `table` holds in `column`."""
    sql = f"SELECT {column} FROM {table} WHERE tenant_id = ? AND {column} IN ({_marks(wanted)})"
    return sql, (current_tenant(), *wanted)


#: What a missing user or restaurant is told, by field (``{0}``: the id).
_MISSING = {
    "user_id": "user {0!r} is not registered; add them with `food user add {0} --lat … --lon …`",
    "restaurant_id": "restaurant {0!r} is not listed; add it with `food restaurant add {0} …`",
}


def _check_found(field: str, wanted: Sequence[str], rows: Sequence[Row]) -> None:
    """Refuse the first of `wanted` that no row's first column names (NotFound on `field`)."""
    found = {str(r[0]) for r in rows}
    missing = next((i for i in wanted if i not in found), None)
    if missing is not None:
        raise NotFound(_MISSING[field].format(missing), field=field)


def _menus_query(wanted: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    sql = (
        "SELECT item_id, restaurant_id, name, price FROM food_menu_items "
        f"WHERE tenant_id = ? AND restaurant_id IN ({_marks(wanted)})"
    )
    return sql, (current_tenant(), *wanted)


def _menus(rows: Sequence[Row]) -> dict[str, dict[str, tuple[str, Decimal]]]:
    menus: dict[str, dict[str, tuple[str, Decimal]]] = {}
    for item_id, restaurant_id, name, price in rows:
        menus.setdefault(str(restaurant_id), {})[str(item_id)] = (str(name), Decimal(str(price)))
    return menus


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class OrderStore:
    """Users, restaurants, menus, favourites and orders in SQL tables, with their events appended alongside."""

    def __init__(self, units: Units, *, clock: Clock = system_clock) -> None:
        self.units = units
        self.clock = clock
        units.ensure(MIGRATIONS)
        self.commands = CommandHandler(units)

    @staticmethod
    def scope() -> Scope:
        """Return the food context's scope for the current tenant (where its commands and queries run)."""
        return Scope.of(domain.CONTEXT)

    def _chunked(
        self,
        command: str,
        items: Sequence[T],
        write: Callable[..., Written],
        key: str | None,
        content: Mapping[str, Any] | None,
    ) -> Written:
        """Run `write` a chunk per transaction; a keyed command must fit one transaction (one chunk)."""
        chunks = list(_chunks(items))
        if key is not None and len(chunks) > 1:
            raise ValidationError(
                f"an idempotency key covers one transaction, at most {CHUNK} items; got {len(items)}: "
                "split the request or omit the key",
                field="event_id",
            )
        total: Written | None = None
        for chunk in chunks:
            done = self.commands.run(
                command,
                self.scope(),
                functools.partial(write, chunk=chunk),
                encode=Written.to_dict,
                decode=Written.replayed,
                key=key,
                content=content,
            )
            total = done if total is None else total.plus(done)
        return total or Written(0, 0, self.head(), self.log_id())

    def log_id(self) -> str:
        """Return the identity of the food context's log."""
        with self.units.read(self.scope()) as work:
            return work.log.identity

    def head(self) -> int:
        """Return the head of the food context's log (the token of a command that wrote nothing)."""
        with self.units.read(self.scope()) as work:
            return work.head()

    # ---- commands ------------------------------------------------------------------------------------------

    def put_users(
        self, users: Sequence[UserProfile], *, key: str | None = None, content: Mapping[str, Any] | None = None
    ) -> Written:
        """Register users, or move them; re-registering with the same position records nothing."""
        return self._chunked("user", _last_by_id(users), self._put_users_in, key, content)

    def _put_users_in(self, tx: Work, *, chunk: Sequence[UserProfile]) -> Written:
        written = unchanged = token = 0
        tenant = current_tenant()
        known = {
            str(r[0]): (float(r[1]), float(r[2]))
            for r in tx.query(
                f"SELECT user_id, lat, lon FROM food_users WHERE tenant_id = ? AND user_id IN ({_marks(chunk)})",
                (tenant, *(u.id for u in chunk)),
            )
        }
        now = time_to_db(tx.dialect, self.clock())
        for user in chunk:
            before = known.get(user.id)
            if before == (user.lat, user.lon):
                unchanged += 1
                continue
            tx.execute(
                "INSERT INTO food_users (tenant_id, user_id, lat, lon, registered_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, user_id) DO UPDATE SET lat = excluded.lat, lon = excluded.lon",
                (tenant, user.id, user.lat, user.lon, now),
            )
            kind = domain.USER_REGISTERED if before is None else domain.USER_UPDATED
            token = self._append(tx, domain.user_key(user.id), NewEvent(kind, user.to_dict()))
            written += 1
        return Written(written, unchanged, token or tx.head(), tx.log.identity)

    def put_restaurants(
        self,
        restaurants: Sequence[RestaurantProfile],
        *,
        key: str | None = None,
        content: Mapping[str, Any] | None = None,
    ) -> Written:
        """List restaurants, or change their details; re-listing the same details records nothing."""
        return self._chunked("restaurant", _last_by_id(restaurants), self._put_restaurants_in, key, content)

    def _put_restaurants_in(self, tx: Work, *, chunk: Sequence[RestaurantProfile]) -> Written:
        written = unchanged = token = 0
        tenant = current_tenant()
        known = {r.id: r for r in self._restaurants_in(tx, [r.id for r in chunk])}
        now = time_to_db(tx.dialect, self.clock())
        for restaurant in chunk:
            before = known.get(restaurant.id)
            if before == restaurant:
                unchanged += 1
                continue
            tx.execute(
                "INSERT INTO food_restaurants (tenant_id, restaurant_id, name, address, lat, lon, sponsored, "
                "cuisines, listed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, restaurant_id) DO UPDATE SET name = excluded.name, "
                "address = excluded.address, lat = excluded.lat, lon = excluded.lon, "
                "sponsored = excluded.sponsored, cuisines = excluded.cuisines",
                (
                    tenant,
                    restaurant.id,
                    restaurant.name,
                    restaurant.address,
                    restaurant.lat,
                    restaurant.lon,
                    restaurant.sponsored,
                    json.dumps(list(restaurant.cuisines)),
                    now,
                ),
            )
            kind = domain.RESTAURANT_LISTED if before is None else domain.RESTAURANT_UPDATED
            token = self._append(tx, domain.restaurant_key(restaurant.id), NewEvent(kind, restaurant.to_dict()))
            written += 1
        return Written(written, unchanged, token or tx.head(), tx.log.identity)

    def put_menu_items(
        self, items: Sequence[MenuItemSpec], *, key: str | None = None, content: Mapping[str, Any] | None = None
    ) -> Written:
        """Add dishes to restaurants' menus, or change them; the same dish again records nothing."""
        return self._chunked("menu item", _last_by_id(items), self._put_menu_items_in, key, content)

    def _put_menu_items_in(self, tx: Work, *, chunk: Sequence[MenuItemSpec]) -> Written:
        written = unchanged = token = 0
        tenant = current_tenant()
        self._require_restaurants(tx, {i.restaurant_id for i in chunk})
        known = {
            str(r[0]): r
            for r in tx.query(
                "SELECT item_id, restaurant_id, name, price, ingredients FROM food_menu_items "
                f"WHERE tenant_id = ? AND item_id IN ({_marks(chunk)})",
                (tenant, *(i.id for i in chunk)),
            )
        }
        for item in chunk:
            before = known.get(item.id)
            if before is not None:
                if str(before[1]) != item.restaurant_id:
                    raise RuleViolation(
                        f"menu item {item.id!r} belongs to restaurant {before[1]!r}, not "
                        f"{item.restaurant_id!r}; use another item id",
                        field="item_id",
                    )
                if (str(before[2]), Decimal(str(before[3])), tuple(json.loads(before[4]))) == (
                    item.name,
                    item.price,
                    item.ingredients,
                ):
                    unchanged += 1
                    continue
            tx.execute(
                "INSERT INTO food_menu_items (tenant_id, item_id, restaurant_id, name, price, ingredients) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, item_id) DO UPDATE SET "
                "name = excluded.name, price = excluded.price, ingredients = excluded.ingredients",
                (
                    tenant,
                    item.id,
                    item.restaurant_id,
                    item.name,
                    str(item.price),
                    json.dumps(list(item.ingredients)),
                ),
            )
            event = NewEvent(domain.MENU_ITEM_ADDED, item.to_dict())
            token = self._append(tx, domain.restaurant_key(item.restaurant_id), event)
            written += 1
        return Written(written, unchanged, token or tx.head(), tx.log.identity)

    def set_sponsored(
        self, restaurant_id: str, sponsored: bool, *, key: str | None = None, content: Mapping[str, Any] | None = None
    ) -> Written:
        """Start or stop a restaurant's paid promotion."""

        def write(tx: Work, *, chunk: Sequence[str]) -> Written:
            found = self._restaurants_in(tx, [restaurant_id])
            if not found:
                raise NotFound(
                    f"restaurant {restaurant_id!r} is not listed; add it with `food restaurant add`",
                    field="restaurant_id",
                )
            if found[0].sponsored == sponsored:
                return Written(0, 1, tx.head(), tx.log.identity)
            tx.execute(
                "UPDATE food_restaurants SET sponsored = ? WHERE tenant_id = ? AND restaurant_id = ?",
                (sponsored, current_tenant(), restaurant_id),
            )
            event = NewEvent(domain.SPONSORSHIP_CHANGED, {"restaurant_id": restaurant_id, "sponsored": sponsored})
            return Written(1, 0, self._append(tx, domain.restaurant_key(restaurant_id), event), tx.log.identity)

        return self._chunked("sponsorship", [restaurant_id], write, key, content)

    def favorite(
        self, user_id: str, restaurant_id: str, *, key: str | None = None, content: Mapping[str, Any] | None = None
    ) -> Written:
        """Record that a user favourited a restaurant (once)."""

        def write(tx: Work, *, chunk: Sequence[str]) -> Written:
            tenant = current_tenant()
            self._require_users(tx, {user_id})
            self._require_restaurants(tx, {restaurant_id})
            done = tx.execute(
                "INSERT INTO food_favorites (tenant_id, user_id, restaurant_id, favorited_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, user_id, restaurant_id) DO NOTHING",
                (tenant, user_id, restaurant_id, time_to_db(tx.dialect, self.clock())),
            )
            if done.rowcount == 0:
                return Written(0, 1, tx.head(), tx.log.identity)
            event = NewEvent(domain.RESTAURANT_FAVORITED, {"user_id": user_id, "restaurant_id": restaurant_id})
            return Written(1, 0, self._append(tx, domain.user_key(user_id), event), tx.log.identity)

        return self._chunked("favorite", [user_id], write, key, content)

    def place_orders(
        self, requests: Sequence[OrderRequest], *, key: str | None = None, content: Mapping[str, Any] | None = None
    ) -> tuple[list[Order], Written]:
        """Record orders, each with its OrderPlaced event, a chunk per transaction; a retried order is recorded once.

        Returns the orders as stored and the consistency token of the last one.
        """
        if key is not None and len(requests) > CHUNK:
            raise ValidationError(
                f"an idempotency key covers one transaction, at most {CHUNK} orders; got {len(requests)}: "
                "split the request or omit the key",
                field="event_id",
            )
        stored: list[Order] = []
        total: Written | None = None
        for chunk in _chunks(list(requests)):
            orders, written = self.commands.run(
                "order",
                self.scope(),
                functools.partial(self._place_in, chunk=chunk),
                encode=_ordered_to_stored,
                decode=_ordered_replayed,
                key=key,
                content=content,
            )
            stored += orders
            total = written if total is None else total.plus(written)
        return stored, total or Written(0, 0, self.head(), self.log_id())

    def _place_in(self, tx: Work, *, chunk: Sequence[OrderRequest]) -> tuple[list[Order], Written]:
        """Record one chunk of orders inside `tx`."""
        stored: list[Order] = []
        written = unchanged = token = 0
        tenant = current_tenant()
        users, shops = sorted({r.user_id for r in chunk}), sorted({r.restaurant_id for r in chunk})
        menu_shops = sorted({r.restaurant_id for r in chunk if r.items})
        answers = tx.queries(  # one round trip on PostgreSQL
            [
                _ids_query("food_users", "user_id", users),
                _ids_query("food_restaurants", "restaurant_id", shops),
                *([_menus_query(menu_shops)] if menu_shops else []),
            ]
        )
        _check_found("user_id", users, answers[0])
        _check_found("restaurant_id", shops, answers[1])
        menus = _menus(answers[2]) if menu_shops else {}
        existing = {o.id: (o, p) for o, p in self._orders_in(tx, [r.order_id for r in chunk])}
        item_rows: list[tuple[Any, ...]] = []
        for request in chunk:
            lines = domain.order_lines(request.items, menus.get(request.restaurant_id, {}), request.restaurant_id)
            order = Order(
                request.order_id,
                request.user_id,
                request.restaurant_id,
                request.occurred_at,
                request.rating,
                lines,
            )
            if order.id in existing:
                before, position = existing[order.id]
                if not before.same_as(order):
                    raise RuleViolation(
                        f"order id {order.id!r} was already used for a different order; use a new order id",
                        field="order_id",
                    )
                stored.append(before)
                unchanged += 1
                token = max(token, position)
                continue
            event = NewEvent(domain.ORDER_PLACED, order.payload(), occurred_at=order.occurred_at)
            position = self._append(tx, domain.order_key(order.id), event, expected_version=0)
            tx.defer(  # sent with the order's items (PostgreSQL): nothing reads its result
                "INSERT INTO food_orders (tenant_id, order_id, user_id, restaurant_id, occurred_at, rating, "
                "total, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tenant,
                    order.id,
                    order.user_id,
                    order.restaurant_id,
                    time_to_db(tx.dialect, order.occurred_at),
                    order.rating,
                    str(order.total),
                    position,
                ),
            )
            item_rows += [
                (tenant, order.id, n, line.item_id, line.name, str(line.price))
                for n, line in enumerate(order.lines, start=1)
            ]
            existing[order.id] = (order, position)
            stored.append(order)
            written += 1
            token = max(token, position)
        if item_rows:
            tx.defer_many(
                "INSERT INTO food_order_items (tenant_id, order_id, line, item_id, name, price) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                item_rows,
            )
        return stored, Written(written, unchanged, token or tx.head(), tx.log.identity)

    @staticmethod
    def _append(work: Work, key: str, event: NewEvent, *, expected_version: int | None = None) -> int:
        """Append `event` to the stream of `key` in the food context, inside `work`; return its position."""
        return work.append([event], expected_version=expected_version, scope=work.scope.at(key)).position

    # ---- queries -------------------------------------------------------------------------------------------

    def user(self, user_id: str) -> UserProfile:
        """Return a registered user."""
        with self.units.read(self.scope()) as tx:
            row = tx.one(
                "SELECT user_id, lat, lon FROM food_users WHERE tenant_id = ? AND user_id = ?",
                (current_tenant(), user_id),
            )
        if row is None:
            raise NotFound(f"user {user_id!r} is not registered; add them with `food user add`", field="user_id")
        return UserProfile(str(row[0]), float(row[1]), float(row[2]))

    def restaurants(self, ids: Sequence[str]) -> dict[str, RestaurantProfile]:
        """Return the listed restaurants among `ids`, by id (the details recommendations are enriched with)."""
        found: dict[str, RestaurantProfile] = {}
        with self.units.read(self.scope()) as tx:
            for chunk in _chunks(list(dict.fromkeys(ids))):
                found.update((r.id, r) for r in self._restaurants_in(tx, chunk))
        return found

    def restaurant(self, restaurant_id: str) -> RestaurantProfile:
        """Return one listed restaurant."""
        found = self.restaurants([restaurant_id]).get(restaurant_id)
        if found is None:
            raise NotFound(
                f"restaurant {restaurant_id!r} is not listed; add it with `food restaurant add`", field="restaurant_id"
            )
        return found

    def menu(self, restaurant_id: str) -> list[MenuItemSpec]:
        """Return a restaurant's menu, by item id."""
        with self.units.read(self.scope()) as tx:
            rows = tx.query(
                "SELECT item_id, restaurant_id, name, price, ingredients FROM food_menu_items "
                "WHERE tenant_id = ? AND restaurant_id = ? ORDER BY item_id",
                (current_tenant(), restaurant_id),
            )
        return [
            MenuItemSpec(str(r[0]), str(r[1]), str(r[2]), Decimal(str(r[3])), tuple(json.loads(r[4]))) for r in rows
        ]

    def order(self, order_id: str) -> Order:
        """Return one recorded order with its lines."""
        with self.units.read(self.scope()) as tx:
            found = self._orders_in(tx, [order_id])
        if not found:
            raise NotFound(f"order {order_id!r} was never placed", field="order_id")
        return found[0][0]

    def counts(self) -> dict[str, int]:
        """Return how many users, restaurants, menu items, favourites and orders are stored."""
        tenant = current_tenant()
        with self.units.read(self.scope()) as tx:
            return {
                name: int(tx.scalar(f"SELECT count(*) FROM food_{name} WHERE tenant_id = ?", (tenant,)) or 0)
                for name in ("users", "restaurants", "menu_items", "favorites", "orders")
            }

    def _restaurants_in(self, tx: Tx, ids: Sequence[str]) -> list[RestaurantProfile]:
        if not ids:
            return []
        rows = tx.query(
            "SELECT restaurant_id, name, address, lat, lon, cuisines, sponsored FROM food_restaurants "
            f"WHERE tenant_id = ? AND restaurant_id IN ({_marks(ids)})",
            (current_tenant(), *ids),
        )
        return [
            RestaurantProfile(
                str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4]), tuple(json.loads(r[5])), bool(r[6])
            )
            for r in rows
        ]

    def _require_users(self, tx: Tx, ids: set[str]) -> None:
        wanted = sorted(ids)
        _check_found("user_id", wanted, tx.query(*_ids_query("food_users", "user_id", wanted)))

    def _require_restaurants(self, tx: Tx, ids: set[str]) -> None:
        wanted = sorted(ids)
        _check_found("restaurant_id", wanted, tx.query(*_ids_query("food_restaurants", "restaurant_id", wanted)))

    def _orders_in(self, tx: Tx, ids: Sequence[str]) -> list[tuple[Order, int]]:
        if not ids:
            return []
        tenant = current_tenant()
        rows = tx.query(
            "SELECT order_id, user_id, restaurant_id, occurred_at, rating, position FROM food_orders "
            f"WHERE tenant_id = ? AND order_id IN ({_marks(ids)})",
            (tenant, *ids),
        )
        if not rows:
            return []
        lines: dict[str, list[OrderLine]] = {}
        for order_id, item_id, name, price in tx.query(
            "SELECT order_id, item_id, name, price FROM food_order_items "
            f"WHERE tenant_id = ? AND order_id IN ({_marks(rows)}) ORDER BY order_id, line",
            (tenant, *(r[0] for r in rows)),
        ):
            lines.setdefault(str(order_id), []).append(OrderLine(str(item_id), str(name), Decimal(str(price))))
        return [
            (
                Order(
                    str(r[0]),
                    str(r[1]),
                    str(r[2]),
                    time_from_db(r[3]),
                    None if r[4] is None else int(r[4]),
                    tuple(lines.get(str(r[0]), ())),
                ),
                int(r[5]),
            )
            for r in rows
        ]


def _last_by_id(items: Sequence[Any]) -> list[Any]:
    """Keep the last of items sharing an id (a bulk command may name one twice)."""
    return list({item.id: item for item in items}.values())


def _ordered_to_stored(result: tuple[list[Order], Written]) -> dict[str, Any]:
    """Return keyed orders as kept with their idempotency key."""
    return {"orders": [o.to_dict() for o in result[0]], "written": result[1].to_dict()}


def _ordered_replayed(stored: dict[str, Any]) -> tuple[list[Order], Written]:
    """Return stored keyed orders, marked as a replay."""
    return [Order.from_dict(o) for o in stored["orders"]], Written.replayed(stored["written"])
