"""``datastrata content …``: a studio's items, views, grants, costs and the storage lifecycle from the shell."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from datastrata.core.errors import ValidationError
from datastrata.core.tenancy import tenant
from datastrata.runtime.jobs import Job
from datastrata.shell import (
    EventIdOption,
    JsonOption,
    StoreOption,
    emit,
    remember_stores,
    service,
    session,
    time_option,
)
from datastrata.systems.content.service import ContentService
from datastrata.tenancy.move import GRACE
from datastrata.writes.commands import CommandResult

app = typer.Typer(help="The studio content platform: items, views, grants, costs.", no_args_is_help=True)
grants_app = typer.Typer(help="Grants to other studios on one item: give, list, revoke, use.", no_args_is_help=True)
lifecycle_app = typer.Typer(help="The storage lifecycle of every stage.", no_args_is_help=True)
reviews_app = typer.Typer(help="Tier reviews flagged by viral items.", no_args_is_help=True)
app.add_typer(grants_app, name="grants")
app.add_typer(lifecycle_app, name="lifecycle")
app.add_typer(reviews_app, name="reviews")

ItemArg = Annotated[str, typer.Argument(help="Item id, e.g. s1-ep1.")]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="The caller's region (items restricted elsewhere are invisible).")
]
OwnerOption = Annotated[
    str | None, typer.Option("--owner", help="Another studio's item, through a grant it gave this studio.")
]


@app.callback()
def _options(
    ctx: typer.Context,
    store: StoreOption = None,
    objects: Annotated[str | None, typer.Option("--objects", help="Objects URL (env DATASTRATA_OBJECTS)")] = None,
    studio: Annotated[
        str | None, typer.Option("--tenant", envvar="DATASTRATA_TENANT", help="The studio (tenant) acting.")
    ] = None,
) -> None:
    """The studio content platform (studios are tenants: --tenant or DATASTRATA_TENANT)."""
    remember_stores(ctx, store, None, None)
    if objects:
        session(ctx).overrides["objects"] = objects
    if studio:
        ctx.with_resource(tenant(studio))


def _svc(ctx: typer.Context) -> ContentService:
    return service(ctx, "content", ContentService)


def _events(result: CommandResult) -> str:
    again = " (already recorded; nothing new stored)" if result.duplicate else ""
    return "\n".join(f"{e.type}: {dict(e.payload)}" for e in result.events) + again or f"nothing changed{again}"


def _command(result: CommandResult, as_json: bool) -> None:
    emit(result.to_dict(), as_json=as_json, text=lambda _: _events(result))


@app.command("upload")
def upload(
    ctx: typer.Context,
    item_id: ItemArg,
    file: Annotated[Path, typer.Argument(help="The footage file.")],
    title: Annotated[str, typer.Option("--title", help="The item's title.")],
    budget: Annotated[str, typer.Option("--budget", help="Production budget in dollars.")] = "0",
    expected_views: Annotated[int, typer.Option("--expected-views", help="Expected audience.")] = 0,
    region: Annotated[list[str] | None, typer.Option("--only-in", help="Visible only in this region; repeat.")] = None,
    caller_region: RegionOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register an item in production with its footage, placed by budget and expected views."""
    if not file.is_file():
        raise ValidationError(f"file {str(file)!r} does not exist; check the path", field="file")
    result = _svc(ctx).upload(
        item_id,
        title,
        file.read_bytes(),
        budget=budget,
        expected_views=expected_views,
        regions=region,
        caller_region=caller_region,
        key=event_id,
    )
    _command(result, as_json)


def _stage(command: str) -> Any:
    def run(
        ctx: typer.Context,
        item_id: ItemArg,
        caller_region: RegionOption = None,
        event_id: EventIdOption = None,
        as_json: JsonOption = False,
    ) -> None:
        svc = _svc(ctx)
        step = {"publish": svc.publish, "archive": svc.archive, "republish": svc.republish}[command]
        _command(step(item_id, caller_region=caller_region, key=event_id), as_json)

    run.__doc__ = {
        "publish": "Publish an item in production (records its four renditions).",
        "archive": "Archive a published item (its rights lapsed).",
        "republish": "Publish an archived item again (its rights returned; archived footage is restored first).",
    }[command]
    return run


for _name in ("publish", "archive", "republish"):
    app.command(_name)(_stage(_name))


@app.command("show")
def show(
    ctx: typer.Context,
    item_id: ItemArg,
    owner: OwnerOption = None,
    caller_region: RegionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an item (another studio's status through a grant with --owner)."""
    svc = _svc(ctx)
    if owner:
        emit(svc.granted_status(owner, item_id, caller_region=caller_region), as_json=as_json)
        return
    data = svc.item(item_id, caller_region=caller_region).to_dict()
    data["renditions"] = svc.renditions(item_id, caller_region=caller_region)
    emit(data, as_json=as_json)


@app.command("list")
def list_items(ctx: typer.Context, caller_region: RegionOption = None, as_json: JsonOption = False) -> None:
    """List the studio's items the caller's region may see."""
    found = [i.to_dict() for i in _svc(ctx).items(caller_region=caller_region)]
    emit(
        found,
        as_json=as_json,
        text=lambda rows: (
            "\n".join(f"{r['item_id']:<20} {r['stage']:<10} {r['placement']:<8} {r['title']}" for r in rows)
            or "no items"
        ),
    )


@app.command("views")
def views(
    ctx: typer.Context,
    item_id: ItemArg,
    count: Annotated[list[str], typer.Option("--count", help="REGION=VIEWS for the hour; repeat per region.")],
    hour: Annotated[str | None, typer.Option("--hour", help="The hour (ISO-8601; default: the current hour).")] = None,
    caller_region: RegionOption = None,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record an hour's views per region (a viral hour upgrades the item and flags a tier review)."""
    pairs: dict[str, int] = {}
    for item in count:
        name, sep, number = item.partition("=")
        if not sep or not number.isascii() or not number.isdigit():
            raise ValidationError(f"--count must be REGION=VIEWS, e.g. eu=1200; got {item!r}", field="views")
        pairs[name] = int(number)
    svc = _svc(ctx)
    at = time_option(hour, field="hour") or svc.clock()
    _command(svc.record_views(item_id, at, pairs, caller_region=caller_region, key=event_id), as_json)


@app.command("cost")
def cost(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The studio's monthly cost: tier fee, storage by class, and the optimisation's recommendations."""
    report = _svc(ctx).cost().to_dict()
    emit(report, as_json=as_json, text=_cost_text)


def _cost_text(r: dict[str, Any]) -> str:
    lines = [f"{r['tenant']} ({r['tier']}, {r['model']}): {r['monthly_usd']} {r['currency']} a month"]
    lines.append(f"  tier fee {r['tier_fee']}; storage {r['storage_usd']}")
    lines += [
        f"    {name:<13} {s['objects']} object(s) {s['bytes']} bytes {s['usd']}" for name, s in r["storage"].items()
    ]
    lines += [
        f"  {x['item_id']}: {x['action']} ({x['views_per_day']} views/day) {x['change_usd']}"
        for x in r["recommendations"]
    ]
    lines.append(f"  potential saving {r['potential_saving_usd']}; upgrades {r['upgrade_cost_usd']}")
    return "\n".join(lines)


@lifecycle_app.command("run")
def lifecycle_run(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Run every stage's storage policy now (a recorded job): restores finished, moves made."""
    done = _svc(ctx).lifecycle_job()
    result = {"job": done.id, **(done.result or {})}
    emit(
        result,
        as_json=as_json,
        text=lambda d: (
            f"job {d['job']}: {len(d['restored'])} restored stage change(s), {len(d['moved'])} move(s)"
            + "".join(f"\n  {m['item']} → {m['to_class'] or 'expired'}" for m in d["moved"])
        ),
    )


@reviews_app.command("list")
def reviews(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The studio's tier reviews."""
    emit(_svc(ctx).reviews(), as_json=as_json, text=_reviews)


@reviews_app.command("accept")
def accept(
    ctx: typer.Context,
    review_id: str,
    grace: Annotated[
        float, typer.Option(min=0, max=86_400, help="Seconds between the move's switch and deleting the old copy.")
    ] = GRACE,
    event_id: EventIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accept a tier review (local operator): the studio's tier changes and it is moved to the next model, here."""
    svc = _svc(ctx)
    accepted = svc.accept_review(review_id, key=event_id, grace=grace)
    job = None if accepted.job is None else svc.tier_reviews.wait(accepted.job)
    data = {**accepted.result.to_dict(), "job": None if job is None else job.to_dict()}
    emit(data, as_json=as_json, text=lambda _: _events(accepted.result) + ("" if job is None else "\n" + _job(job)))
    if job is not None and job.state != "succeeded":
        raise typer.Exit(1)


@reviews_app.command("decline")
def decline(ctx: typer.Context, review_id: str, event_id: EventIdOption = None, as_json: JsonOption = False) -> None:
    """Decline a tier review."""
    _command(_svc(ctx).decline_review(review_id, key=event_id), as_json)


def _reviews(reviews: list[dict[str, Any]]) -> str:
    if not reviews:
        return "no tier reviews"
    lines = []
    for r in reviews:
        line = f"{r['review_id']}  {r['state']:<8}  {r['from']} → {r['to']}  (item {r['item_id']})"
        move = r["move"] or {}
        if move.get("id"):
            line += f"\n  move {move['id']}: {move.get('state', '?')} at {move.get('step', '?')}, tier {move['tier']}"
            line += f"\n  {move['error']}" if move.get("error") else ""
        lines.append(line)
    return "\n".join(lines)


def _job(job: Job) -> str:
    result = job.result or {}
    line = f"move {result.get('move', job.target)} (job {job.id}) {job.state}: {result.get('state', '')}".rstrip(": ")
    return line + (f"\n  {job.error}" if job.error else "")


@grants_app.command("add")
def grant(
    ctx: typer.Context,
    item_id: ItemArg,
    grantee: Annotated[str, typer.Option("--to", help="The studio (tenant) given the grant.")],
    permission: Annotated[str, typer.Option("--permission", help="status:read, footage:read or footage:write.")],
    days: Annotated[int, typer.Option("--days", help="Days until the grant expires.", min=1, max=3650)] = 30,
    as_json: JsonOption = False,
) -> None:
    """Grant another studio one permission on one of this studio's items, until an expiry."""
    svc = _svc(ctx)
    given = svc.grant(grantee, item_id, permission, svc.clock() + timedelta(days=days))
    emit(given.to_dict(svc.clock()), as_json=as_json)


@grants_app.command("list")
def grants(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Grants this studio gave or was given (both sides see them), with their audit trail."""
    svc = _svc(ctx)
    me = svc.scope().tenant
    data = {
        "grants": [g.to_dict(svc.clock()) for g in svc.grants.list_for(me)],
        "audit": svc.grants.audit(me),
    }
    emit(data, as_json=as_json)


@grants_app.command("revoke")
def revoke(ctx: typer.Context, grant_id: str, as_json: JsonOption = False) -> None:
    """Revoke a grant this studio gave."""
    svc = _svc(ctx)
    emit(svc.revoke(grant_id).to_dict(svc.clock()), as_json=as_json)


@grants_app.command("footage")
def footage(
    ctx: typer.Context,
    item_id: ItemArg,
    owner: Annotated[str, typer.Option("--owner", help="The studio that owns the item.")],
    put: Annotated[Path | None, typer.Option("--put", help="Store this file as the new footage version.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the footage to this file.")] = None,
    caller_region: RegionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read (--out) or replace (--put) another studio's footage through a grant."""
    svc = _svc(ctx)
    if put is not None:
        if not put.is_file():
            raise ValidationError(f"file {str(put)!r} does not exist; check the path", field="put")
        _command(svc.granted_replace_footage(owner, item_id, put.read_bytes(), caller_region=caller_region), as_json)
        return
    if out is None:
        raise ValidationError("say --out FILE to read the footage or --put FILE to replace it", field="out")
    data = svc.granted_footage(owner, item_id, caller_region=caller_region)
    out.write_bytes(data)
    emit({"item_id": item_id, "owner": owner, "bytes": len(data), "out": str(out)}, as_json=as_json)
