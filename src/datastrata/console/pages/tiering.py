"""The tiering page: bytes and monthly cost per tier, the move audit, restore requests with their ETA, and a form
to request a restore (the ``POST /tiering/restores`` request, for editors and admins).

The policies shown are the ones ``serve --tiering POLICY`` answers for (``/tiering``); a server given none shows
the fab system's own lifecycle, which runs in every worker. Tiering spans every tenant, so the page is the platform's
(keys of tenant ``default``), as the ``/tiering`` API is.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from datastrata.console.access import Acting, Viewer, Visitor
from datastrata.console.charts.bars import bars
from datastrata.console.charts.progress import fraction
from datastrata.console.pages import Page
from datastrata.console.render import PREFIX, page
from datastrata.console.routing import console_router
from datastrata.core.errors import Forbidden, NotFound, ValidationError
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.runtime import Runtime
from datastrata.runtime.jobs import jobs_of
from datastrata.systems.fab.service import FabService
from datastrata.tiering.cost import CostModel
from datastrata.tiering.moves import Mover
from datastrata.tiering.prices import default_prices
from datastrata.tiering.restores import DEFAULT_DAYS, MAX_DAYS, TIERS, RestoreJob, Restores, list_restores
from datastrata.tiering.tiers import Tier

router = console_router("tiering")
PAGE = Page(
    "tiering",
    "Tiering",
    90,
    "Bytes and monthly cost per tier, the moves between tiers, restore jobs with their ETA.",
    router,
)
PolicyQuery = Annotated[str | None, Query(max_length=63, pattern=r"^[a-z][a-z0-9_-]*$", description="The policy")]
#: The tiers in the order data cools through them.
ORDER = [t.value for t in (Tier.HOT, Tier.WARM, Tier.COLD, Tier.FROZEN)]
#: How many of the newest moves and restores the page lists.
SHOWN = 20


def _runtime(request: Request, visitor: Visitor) -> Runtime:
    """The app's runtime, for visitors of the platform's own tenant (tiering spans every tenant)."""
    if visitor.principal.tenant != DEFAULT_TENANT:
        raise Forbidden("tiering spans every tenant: only keys of the platform's tenant (default) see it")
    runtime: Runtime = request.app.state.runtime
    return runtime


def _movers(request: Request, runtime: Runtime) -> tuple[dict[str, Mover], str]:
    """The policies' movers by name, and where they come from (served by ``serve --tiering``, or the fab's own)."""
    served: dict[str, Mover] = getattr(request.app.state, "tiering", {})
    if served:
        return served, "served by serve --tiering"
    fab: FabService = runtime.service("fab", FabService)
    return {fab.tiers.policy.name: fab.tiers.mover}, "the fab system's lifecycle (serve runs no --tiering policy)"


def _mover(movers: dict[str, Mover], name: str | None) -> Mover:
    if name is None:
        return next(iter(movers.values()))
    if name not in movers:
        raise NotFound(f"policy {name!r} is not shown here; the policies are: {', '.join(movers)}", field="policy")
    return movers[name]


@router.get("")
def tiering_page(request: Request, policy: PolicyQuery = None, visitor: Visitor = Viewer()) -> HTMLResponse:
    """The policy's data per tier (bytes, monthly cost), its newest moves and the restore requests with their ETA."""
    runtime = _runtime(request, visitor)
    movers, source = _movers(request, runtime)
    mover = _mover(movers, policy)
    inventory = mover.inventory()
    model = CostModel(mover.policy, default_prices())
    size: dict[str, float] = defaultdict(float)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    for item in inventory:
        size[item.tier.value] += item.bytes
        cost[item.tier.value] += model.monthly(item)
    tiers = [t for t in ORDER if t in size] or ORDER[:1]
    name = mover.policy.name
    now = mover.clock()
    frozen = [i for i in inventory if i.tier is Tier.FROZEN]
    return page(
        request,
        "tiering.html",
        title="Tiering",
        policies=list(movers),
        policy=name,
        source=source,
        per_tier=[{"tier": t, "bytes": int(size[t]), "usd": cost[t]} for t in tiers],
        total_usd=sum(cost.values(), Decimal(0)),
        bytes_chart=bars([(t, size[t]) for t in tiers], label=f"Bytes per tier of {name}", unit=" B"),
        cost_chart=bars(
            [(t, float(cost[t])) for t in tiers], label=f"Monthly storage cost per tier of {name} (USD)", unit=" $"
        ),
        moves=[r.to_dict() for r in reversed(mover.records()[-SHOWN:])],
        restores=[_restore(r, now) for r in list_restores(mover.db, limit=SHOWN) if r.policy == name],
        frozen=[
            {"value": f"{i.dataset}|{i.key}", "dataset": i.dataset, "key": i.key, "bytes": i.bytes} for i in frozen
        ],
        restore_tiers=TIERS,
        days=DEFAULT_DAYS,
        max_days=MAX_DAYS,
    )


def _restore(found: RestoreJob, now: datetime) -> dict[str, Any]:
    """A restore request as the page lists it: its state, the time left to its ETA, and how far it has come."""
    total = max(1, int((found.ready_at - found.requested_at).total_seconds()))
    elapsed = min(total, max(0, int((now - found.requested_at).total_seconds())))
    left = max(0, int((found.ready_at - now).total_seconds()))
    return {
        **found.to_dict(now),
        "eta": f"{left // 3600} h {left % 3600 // 60:02d} min" if left else "now",
        "bar": fraction(elapsed, total, label=f"Restore {found.job}: time waited of its ETA", unit=" s"),
    }


@router.post("/restores")
def post_restore(
    request: Request,
    policy: Annotated[str, Form(max_length=63, pattern=r"^[a-z][a-z0-9_-]*$")],
    item: Annotated[str, Form(max_length=1000, description="dataset|key of a frozen item")],
    tier: Annotated[str, Form(pattern="^(expedited|standard|bulk)$")] = "standard",
    days: Annotated[int, Form(ge=1, le=MAX_DAYS)] = DEFAULT_DAYS,
    visitor: Visitor = Acting("editor"),
) -> RedirectResponse:
    """Ask for a readable copy of one frozen item (as ``POST /tiering/restores``), then show it with its ETA."""
    runtime = _runtime(request, visitor)
    mover = _mover(_movers(request, runtime)[0], policy)
    dataset, sep, key = item.partition("|")
    if not sep or not dataset or not key:
        raise ValidationError("item must name a frozen item as DATASET|KEY (pick one from the list)", field="item")
    Restores(mover, jobs=jobs_of(runtime), log=runtime.log).request(dataset, [key], tier=tier, days=days)
    return RedirectResponse(f"{PREFIX}/tiering?policy={policy}", status_code=303)
