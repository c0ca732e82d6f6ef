"""The catalog of reference systems: what the CLI, the API, the worker and the tour are built from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import import_module
from typing import TYPE_CHECKING, Any

import typer

from datastrata.core.config import Settings
from datastrata.core.errors import ValidationError
from datastrata.runtime import Runtime
from datastrata.runtime.migrations import SPINE, LocationMigrations, migrate_placement
from datastrata.runtime.placement import ByTenant
from datastrata.runtime.roles import Roles
from datastrata.runtime.tenants import SingleTenant, TenantDirectory
from datastrata.stores.migrations import Component, unique

if TYPE_CHECKING:
    from fastapi import APIRouter

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class SystemEntry:
    """One reference system: its shell, its routes, its tour step and how to build its service."""

    name: str
    help: str
    cli: typer.Typer
    #: Builds the system's HTTP routes on first call (the shell never imports them: it starts faster).
    router: Callable[[], APIRouter]
    tour: Callable[[Runtime, Say], None]
    install: Callable[[Runtime], Any]
    #: The schema components the system's service opens (its tables, its read models, the strategy it wires).
    migrations: tuple[Component, ...] = ()
    #: Migrates the locations of the system's own (its services' stores, each with its own components): `migrate`.
    locations: Callable[[Settings, bool], list[LocationMigrations]] | None = None


def _routes(system: str) -> Callable[[], APIRouter]:
    """The `system`'s router, imported when the API is built (``datastrata.systems.<system>.api``)."""
    return lambda: import_module(f"datastrata.systems.{system}.api").router


def systems() -> list[SystemEntry]:
    """Return every reference system, in tour order."""
    from datastrata.mdm.schema import MIGRATIONS as MDM
    from datastrata.services.sagas import MIGRATIONS as SAGAS
    from datastrata.systems.commerce import cli as commerce_cli
    from datastrata.systems.commerce import tour as commerce_tour
    from datastrata.systems.commerce.service import install as install_commerce
    from datastrata.systems.commerce.service import migrate_services as migrate_commerce
    from datastrata.systems.content import cli as content_cli
    from datastrata.systems.content import tour as content_tour
    from datastrata.systems.content.schema import MIGRATIONS as CONTENT
    from datastrata.systems.content.service import ContentService
    from datastrata.systems.fab import cli as fab_cli
    from datastrata.systems.fab import tour as fab_tour
    from datastrata.systems.fab.schema import MIGRATIONS as FAB
    from datastrata.systems.fab.service import FabService
    from datastrata.systems.food import cli as food_cli
    from datastrata.systems.food import tour as food_tour
    from datastrata.systems.food.schema import MIGRATIONS as FOOD
    from datastrata.systems.food.service import FoodService
    from datastrata.systems.masterdata import cli as masterdata_cli
    from datastrata.systems.masterdata import tour as masterdata_tour
    from datastrata.systems.masterdata.alerts import MIGRATIONS as ALERTS
    from datastrata.systems.masterdata.downstream import SYSTEMS as DOWNSTREAMS
    from datastrata.systems.masterdata.service import MasterDataService
    from datastrata.systems.match import cli as match_cli
    from datastrata.systems.match import tour as match_tour
    from datastrata.systems.match.analytics import AnalyticsProjection
    from datastrata.systems.match.news import NewsProjection
    from datastrata.systems.match.schema import MIGRATIONS as MATCH
    from datastrata.systems.match.service import MatchService
    from datastrata.systems.match.social import SocialProjection
    from datastrata.systems.match.tv import TvProjection
    from datastrata.systems.mlops import cli as mlops_cli
    from datastrata.systems.mlops import tour as mlops_tour
    from datastrata.systems.mlops.schema import MIGRATIONS as MLOPS
    from datastrata.systems.mlops.service import MlopsService
    from datastrata.systems.portfolio import cli as portfolio_cli
    from datastrata.systems.portfolio import tour as portfolio_tour
    from datastrata.systems.portfolio.holders import MIGRATIONS as HOLDERS
    from datastrata.systems.portfolio.service import PortfolioService
    from datastrata.systems.trading import cli as trading_cli
    from datastrata.systems.trading import tour as trading_tour
    from datastrata.systems.trading.schema import NEW_YORK as TRADING
    from datastrata.systems.trading.schema import SINGAPORE as TRADING_SINGAPORE
    from datastrata.systems.trading.service import install as install_trading
    from datastrata.tenancy.grants import MIGRATIONS as GRANTS

    return [
        SystemEntry(
            name="portfolio",
            help="Event sourcing: an investment portfolio rebuilt from trade events.",
            cli=portfolio_cli.app,
            router=_routes("portfolio"),
            tour=portfolio_tour.tour_step,
            install=lambda p: p.service("portfolio", PortfolioService),
            migrations=(HOLDERS,),
        ),
        SystemEntry(
            name="masterdata",
            help="Master data management: customers, products, suppliers with time travel.",
            cli=masterdata_cli.app,
            router=_routes("masterdata"),
            tour=masterdata_tour.tour_step,
            install=lambda p: p.service("masterdata", MasterDataService),
            migrations=(MDM, ALERTS, *(c for d in DOWNSTREAMS for c in d.spec.migrations())),
        ),
        SystemEntry(
            name="match",
            help="CQRS: a football match recorded once by the referee, read four ways.",
            cli=match_cli.app,
            router=_routes("match"),
            tour=match_tour.tour_step,
            install=lambda p: p.service("match", MatchService),
            migrations=(
                MATCH,
                *(p.migrations for p in (TvProjection, NewsProjection, SocialProjection, AnalyticsProjection)),
            ),
        ),
        SystemEntry(
            name="food",
            help="Graph: food-delivery recommendations from order events.",
            cli=food_cli.app,
            router=_routes("food"),
            tour=food_tour.tour_step,
            install=lambda p: p.service("food", FoodService),
            migrations=(FOOD,),
        ),
        SystemEntry(
            name="fab",
            help="Tiering: a wafer fab's sensor readings with threshold alerts, hot → warm → cold → frozen.",
            cli=fab_cli.app,
            router=_routes("fab"),
            tour=fab_tour.tour_step,
            install=lambda p: p.service("fab", FabService),
            migrations=(FAB,),
        ),
        SystemEntry(
            name="mlops",
            help="Tiering by process stage: a feature store, a model registry and inference capture.",
            cli=mlops_cli.app,
            router=_routes("mlops"),
            tour=mlops_tour.tour_step,
            install=lambda p: p.service("mlops", MlopsService),
            migrations=(MLOPS,),
        ),
        SystemEntry(
            name="content",
            help="Multi-tenancy: a studio content platform with lifecycle storage, grants and costs per studio.",
            cli=content_cli.app,
            router=_routes("content"),
            tour=content_tour.tour_step,
            install=lambda p: p.service("content", ContentService),
            migrations=(CONTENT, GRANTS),
        ),
        SystemEntry(
            name="trading",
            help="Sharding: orders recorded in New York (accounts sharded by user), read locally in Singapore.",
            cli=trading_cli.app,
            router=_routes("trading"),
            tour=trading_tour.tour_step,
            install=install_trading,
            migrations=(TRADING, TRADING_SINGAPORE),
        ),
        SystemEntry(
            name="commerce",
            help="Database per service: six commerce services (orders, inventory, payment…), each its own store.",
            cli=commerce_cli.app,
            router=_routes("commerce"),
            tour=commerce_tour.tour_step,
            install=install_commerce,
            migrations=(SAGAS,),
            locations=migrate_commerce,
        ),
    ]


def install_all(runtime: Runtime) -> None:
    """Build every system's service on `runtime`, registering all projections."""
    install(runtime)


def install(runtime: Runtime, names: Sequence[str] | None = None) -> None:
    """Build the services of the systems `names` (default: every system) on `runtime`."""
    entries = systems()
    known = [e.name for e in entries]
    unknown = sorted(set(names or ()) - set(known))
    if unknown:
        raise ValidationError(f"no system named {unknown[0]!r}; known: {known}", field="system")
    for entry in entries:
        if names is None or entry.name in names:
            entry.install(runtime)


def components() -> list[Component]:
    """Return every schema component `migrate` applies in each location: the spine's, each system's, the keys'."""
    from datastrata.console.schema import MIGRATIONS as CONSOLE
    from datastrata.security.schema import MIGRATIONS as SECURITY

    return unique([*SPINE, *(c for entry in systems() for c in entry.migrations), SECURITY, CONSOLE])


def migrate(
    settings: Settings,
    *,
    dry_run: bool = False,
    owner_store: str | None = None,
    tenants: TenantDirectory | None = None,
) -> list[LocationMigrations]:
    """Apply (or list) every component's pending migrations in each location of `settings`, granting its roles.

    The locations are the home store's, each bridge schema or file and each silo that `tenants` (default: the
    single ``default`` tenant) places, then the templates new bridge and silo tenants are copied from, then the
    systems' own locations (each commerce service's store, with that service's components only).
    """
    from datastrata.tenancy.templates import templates

    chosen = replace(settings, owner_store=owner_store or settings.owner_store)
    done = migrate_placement(
        ByTenant.from_settings(settings, tenants or SingleTenant()),
        components(),
        dry_run=dry_run,
        owner_store=owner_store or settings.owner_store or None,
        roles=Roles(settings.app_role or None, settings.platform_role or None),
        extra=templates(chosen),
    )
    own = [step for entry in systems() if entry.locations for step in entry.locations(chosen, dry_run)]
    return [*done, *own]
