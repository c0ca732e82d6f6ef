"""Tour step: the source article's story — A and B ordered at Ichiran, B at Wowprime too: Wowprime is for A."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from datastrata.runtime import Runtime
from datastrata.systems.food.service import SERVICE, FoodService

T0 = datetime(2025, 9, 1, 12, tzinfo=UTC)


def tour_step(runtime: Runtime, say: Callable[[str], None]) -> None:
    """List restaurants, place the source article's orders, recommend through the graph, then let a sponsor go first."""
    svc: FoodService = runtime.service(SERVICE, FoodService)
    svc.add_restaurant("ichiran", name="Ichiran Ramen", address="1-22-7 Jinnan, Shibuya", lat=35.6614, lon=139.7006,
                       cuisines=["Japanese", "Ramen"])  # fmt: skip
    svc.add_restaurant("wowprime", name="Wowprime Steakhouse", address="3-4-1 Shinjuku", lat=35.6905, lon=139.7040,
                       cuisines=["Steak"])  # fmt: skip
    svc.add_menu_item(
        "ichiran", "ichiran-tonkotsu", name="Tonkotsu ramen", price="980", ingredients=["pork", "noodles"]
    )
    svc.add_menu_item("wowprime", "wowprime-sirloin", name="Sirloin", price="2400", ingredients=["beef"])
    svc.add_user("A", lat=35.6580, lon=139.7016)
    svc.add_user("B", lat=35.6900, lon=139.7000)
    say("Listed Ichiran Ramen and Wowprime Steakhouse; registered Xiao Ming (A) and Xiao Zi (B)")

    svc.place_order("A", "ichiran", items=["ichiran-tonkotsu"], rating=5, at=T0)
    svc.place_order("B", "ichiran", items=["ichiran-tonkotsu"], rating=4, at=T0 + timedelta(hours=1))
    placed = svc.place_order("B", "wowprime", items=["wowprime-sirloin"], rating=5, at=T0 + timedelta(hours=2))
    say(f"Orders written to the order store with their OrderPlaced events; last token {placed.token}")
    say(f"  graph behind the log by {svc.lag().behind} events (no worker yet)")

    found = svc.recommend("A", after=placed.token)
    for s in found:
        say(f"  recommended to A: {s.name} ({s.address}), score {s.score}, because of {', '.join(s.reasons)}")
    say(f"  graph behind the log by {svc.lag().behind} events after the read waited for token {placed.token}")

    svc.add_restaurant("domino", name="Domino's Pizza", address="2-1-1 Dogenzaka, Shibuya", lat=35.6590,
                       lon=139.6980, cuisines=["Pizza", "American"])  # fmt: skip
    svc.add_menu_item("domino", "domino-margherita", name="Margherita", price="1500", ingredients=["cheese"])
    svc.set_sponsored("domino", True)
    svc.add_user("C", lat=35.6600, lon=139.7000)
    dishes = {"ichiran": "ichiran-tonkotsu", "wowprime": "wowprime-sirloin", "domino": "domino-margherita"}
    for restaurant, dish in dishes.items():
        placed = svc.place_order("C", restaurant, items=[dish], at=T0 + timedelta(days=1))
    say("Domino's Pizza pays for the push plan; C ordered at Ichiran, Wowprime and Domino's")
    for s in svc.recommend("A", after=placed.token):
        mark = "sponsored, placed first" if s.sponsored else f"score {s.score}"
        say(f"  recommended to A: {s.name} ({mark})")
    nearby = svc.cuisines("A", near_km=3.0)["nearby"]
    say("What A might like nearby (their cuisines, 3 km): " + (", ".join(m["name"] for m in nearby) or "nothing new"))
