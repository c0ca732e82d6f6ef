"""The content lifecycle job: each stage's storage policy run by the tiering engine, on the platform clock.

Two policies, because a policy has one archive (frozen) class and the archived stage needs two (GLACIER, then
DEEP_ARCHIVE): ``policy.yaml`` places the production and published prefixes, ``archived.yaml`` the archived one.
Footage lives under its studio's prefix (:mod:`~datastrata.systems.content.keys`), so each studio of a location runs
both with its prefix in front (the shipped prefixes themselves still place footage recorded before that layout). A
run first finishes the stage changes whose footage restore is ready, then applies the policies' moves in every
location the placement names, each audited in ``tiering_moves``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from datastrata.core.tenancy import platform
from datastrata.runtime.location import Location
from datastrata.stores.database import Dialect, time_to_db
from datastrata.systems.content.keys import tenant_prefix
from datastrata.tiering.moves import Mover
from datastrata.tiering.policy import Policy, parse_policy
from datastrata.tiering.tiers import Tier

if TYPE_CHECKING:
    from datastrata.systems.content.service import ContentService

#: The job kind a lifecycle run is recorded as (``datastrata jobs list``).
LIFECYCLE = "content.lifecycle"
_PACKAGE = resources.files("datastrata.systems.content")


def shipped_policies() -> list[Policy]:
    """The content platform's storage policies (``policy.yaml`` and ``archived.yaml``), validated."""
    return [
        parse_policy(yaml.safe_load(_PACKAGE.joinpath(name).read_text(encoding="utf-8")))
        for name in ("policy.yaml", "archived.yaml")
    ]


class Lifecycle:
    """Runs the content policies over every location's object store."""

    def __init__(self, service: ContentService) -> None:
        self.service = service
        self.runtime = service.runtime
        self.policies = shipped_policies()

    def locations(self) -> list[Location]:
        """Every location the placement names (each has its own objects and its own items)."""
        return [self.runtime.location(spec) for spec in self.runtime.placement.all()]

    def movers(self, location: Location, tenants: Iterable[str] | None = None) -> list[Mover]:
        """The policies' movers on `location`'s objects: per studio there (or of `tenants`), and for older keys."""
        objects = self.service.objects_at(location.spec)
        studios = self._studios(location) if tenants is None else sorted(tenants)
        policies = [*self.policies, *(p for t in studios for p in studio_policies(self.policies, t))]
        return [Mover(location.db, objects, p, clock=self.runtime.clock) for p in policies]

    def run(self) -> dict[str, Any]:
        """Finish ready restores, then move every item its stage's policy says is due; what was done."""
        finished: list[dict[str, str]] = []
        moved: list[dict[str, object]] = []
        for location in self.locations():
            for tenant, item_id in self._waiting(location):
                if self.service.finish_restored(tenant, item_id) is not None:
                    finished.append({"tenant": tenant, "item_id": item_id})
            for mover in self.movers(location):
                planned = mover.plan(self.runtime.clock())
                moved += [
                    {**r.to_dict(), "policy": mover.policy.name, "to_class": _class_of(mover.policy, r.to_tier)}
                    for r in mover.run(planned)
                ]
        return {"restored": finished, "moved": moved}

    def _waiting(self, location: Location) -> list[tuple[str, str]]:
        """Items of every tenant here whose footage restore is ready (a platform read: the job spans tenants)."""
        now = self.runtime.clock()
        rows = self._platform_query(
            location,
            "SELECT tenant_id, item_id FROM content_items WHERE pending_stage IS NOT NULL "
            "AND restore_ready_at <= ? ORDER BY tenant_id, item_id",
            lambda dialect: (time_to_db(dialect, now),),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def _studios(self, location: Location) -> list[str]:
        """The studios with items in `location` (each has its own footage prefix there)."""
        rows = self._platform_query(
            location, "SELECT DISTINCT tenant_id FROM content_items ORDER BY tenant_id", lambda dialect: ()
        )
        return [str(r[0]) for r in rows]

    def _platform_query(self, location: Location, sql: str, params: Callable[[Dialect], tuple[Any, ...]]) -> list[Any]:
        """A read across the tenants of `location`; in the home location through the platform role's pool."""
        db = self.runtime.platform.db if location is self.runtime.home else location.db
        with platform(), db.read() as tx:
            return list(tx.query(sql, params(tx.dialect)))


def studio_policies(policies: Iterable[Policy], tenant: str) -> list[Policy]:
    """The shipped policies with every dataset's prefix under `tenant`'s own prefix (its footage's stages)."""
    prefix = tenant_prefix(tenant)
    return [
        replace(p, datasets={name: replace(ds, prefix=prefix + ds.prefix) for name, ds in p.datasets.items()})
        for p in policies
    ]


def _class_of(policy: Policy, tier: str) -> str | None:
    return None if tier == Tier.EXPIRED.value else policy.storage_class(Tier(tier))
