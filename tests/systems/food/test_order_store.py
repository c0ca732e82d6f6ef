"""The transaction path: order rows and their events commit together; retries are recorded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.runtime import Runtime
from datastrata.systems.food import domain
from datastrata.systems.food.service import FoodService

T0 = datetime(2025, 9, 1, 12, tzinfo=UTC)


def _catalogue(svc: FoodService) -> None:
    svc.add_user("A", lat=35.658, lon=139.7016)
    svc.add_restaurant("ichiran", name="Ichiran", address="Jinnan 1-22-7", lat=35.6614, lon=139.7006,
                       cuisines=["Ramen", "Japanese"])  # fmt: skip
    svc.add_menu_item("ichiran", "tonkotsu", name="Tonkotsu", price="980", ingredients=["pork", "noodles"])
    svc.add_menu_item("ichiran", "egg", name="Egg", price="150.5")


def test_order_row_and_event_commit_together(svc: FoodService, runtime: Runtime) -> None:
    _catalogue(svc)
    placed = svc.place_order("A", "ichiran", items=["tonkotsu", "egg"], rating=5, at=T0, order_id="o1")
    assert placed.order.total == Decimal("1130.50") and not placed.duplicate
    (event,) = [e for e in runtime.log.read("food-order-o1")]
    assert (event.type, event.position, event.occurred_at) == (domain.ORDER_PLACED, placed.token, T0)
    assert event.payload == {"order_id": "o1", "user_id": "A", "restaurant_id": "ichiran", "rating": 5,
                             "items": ["tonkotsu", "egg"]}  # fmt: skip
    assert svc.order("o1").to_dict()["items"] == [
        {"item_id": "tonkotsu", "name": "Tonkotsu", "price": "980.00"},
        {"item_id": "egg", "name": "Egg", "price": "150.50"},
    ]
    head = runtime.log.head()
    for bad, error in (
        (dict(items=["gyoza"]), ValidationError),
        (dict(rating=6), ValidationError),
        (dict(order_id="o1"), RuleViolation),  # same id, different order
    ):
        with pytest.raises(error):
            svc.place_order("A", "ichiran", at=T0 + timedelta(hours=1), **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="food restaurant add"):
        svc.place_order("A", "nowhere")
    with pytest.raises(NotFound, match="food user add"):
        svc.place_order("ghost", "ichiran")
    assert runtime.log.head() == head  # refused commands wrote no event
    assert svc.store.counts()["orders"] == 1


def test_retries_are_recorded_once(svc: FoodService, runtime: Runtime) -> None:
    _catalogue(svc)
    first = svc.place_order("A", "ichiran", items=["egg"], at=T0, order_id="o1")
    again = svc.place_order("A", "ichiran", items=["egg"], at=T0, order_id="o1")
    assert again.duplicate and again.token == first.token
    assert svc.add_user("A", lat=35.658, lon=139.7016).written == 0
    moved = svc.add_user("A", lat=35.7, lon=139.7)
    assert moved.written == 1 and runtime.log.read("food-user-A")[-1].type == domain.USER_UPDATED
    assert svc.favorite("A", "ichiran").written == 1
    assert svc.favorite("A", "ichiran").written == 0
    assert svc.set_sponsored("ichiran").written == 1
    assert svc.set_sponsored("ichiran").written == 0
    assert svc.restaurant("ichiran")["sponsored"] is True
    types = [e.type for e in runtime.log.read("food-restaurant-ichiran")]
    assert types == [domain.RESTAURANT_LISTED, domain.MENU_ITEM_ADDED, domain.MENU_ITEM_ADDED,
                     domain.SPONSORSHIP_CHANGED]  # fmt: skip
    assert svc.store.counts() == {"users": 1, "restaurants": 1, "menu_items": 2, "favorites": 1, "orders": 1}


def test_refusals_name_the_field(svc: FoodService) -> None:
    with pytest.raises(ValidationError) as err:
        svc.add_user("A", lat=91, lon=0)
    assert err.value.field == "lat"
    with pytest.raises(ValidationError, match="not a valid id"):
        svc.add_user("bad id", lat=0, lon=0)
    with pytest.raises(ValidationError, match="needs a name"):
        svc.add_restaurant("r", name=" ", lat=0, lon=0)
    with pytest.raises(ValidationError, match="decimal amount"):
        svc.add_restaurant("r", name="R", lat=0, lon=0) and svc.add_menu_item("r", "m", name="M", price="cheap")
    with pytest.raises(NotFound):
        svc.add_menu_item("ghost", "m", name="M", price="1")
    with pytest.raises(NotFound):
        svc.set_sponsored("ghost")
    with pytest.raises(NotFound):
        svc.recommend("ghost")
