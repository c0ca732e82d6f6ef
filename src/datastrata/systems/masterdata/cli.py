"""``datastrata masterdata …``: put, get, history, retire, audit, activate, verify, alerts, downstream.

Without a worker running, every command that writes (and ``verify``) relays the outbox and delivers to the
downstream subscribers before it exits, so the copies are up to date in an embedded setup; pass ``--no-sync``
when a worker (``datastrata worker`` or ``serve``) does that instead.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from datastrata.core.errors import ValidationError
from datastrata.mdm.types import EntityType
from datastrata.shell import (
    BusOption,
    CacheOption,
    JsonOption,
    StoreOption,
    ascii_int,
    emit,
    remember_stores,
    service,
    time_option,
)
from datastrata.systems.masterdata.service import MasterDataService

app = typer.Typer(
    help="Master data with time travel: customers, products, suppliers and their downstream copies.",
    no_args_is_help=True,
)

TypeArg = Annotated[str, typer.Argument(help="Entity type: customer, product or supplier.")]
KeyArg = Annotated[str, typer.Argument(help="Entity key, e.g. C1.")]
ValidFromOption = Annotated[
    str | None, typer.Option("--valid-from", help="Start of the valid period (ISO-8601); default now.")
]
ValidToOption = Annotated[
    str | None, typer.Option("--valid-to", help="End of the valid period (ISO-8601, exclusive); default open.")
]
ActorOption = Annotated[str | None, typer.Option("--actor", help="Who makes the change; default the OS user.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why, for the audit trail.")]
ChangeIdOption = Annotated[
    str | None,
    typer.Option(
        "--change-id",
        "--event-id",
        help="Change id, the idempotency key: a retry with the same content prints the stored result.",
    ),
]
SyncOption = Annotated[
    bool, typer.Option("--sync/--no-sync", help="Deliver to the downstream copies before exiting (no worker).")
]


@app.callback()
def _options(ctx: typer.Context, store: StoreOption = None, bus: BusOption = None, cache: CacheOption = None) -> None:
    """Master data with time travel: customers, products, suppliers and their downstream copies."""
    remember_stores(ctx, store, bus, cache)


def _svc(ctx: typer.Context) -> MasterDataService:
    return service(ctx, "masterdata", MasterDataService)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def parse_assignments(schema: EntityType | None, pairs: list[str]) -> dict[str, Any]:
    """Turn ``name=value`` pairs into attributes typed by the entity type (an empty value leaves a field unset)."""
    attributes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValidationError(f"--set takes name=value, e.g. --set name=Alice; got {pair!r}", field="set")
        spec = None if schema is None else schema.fields.get(name)
        attributes[name] = None if text == "" else _typed(name, text, None if spec is None else spec.type)
    return attributes


def _typed(name: str, text: str, wanted: type | None) -> Any:
    """Convert CLI text for int, float and bool fields; the store accepts text for every other field type."""
    if wanted is int:
        try:
            return int(text)
        except ValueError:
            raise ValidationError(f"{name} must be a whole number, e.g. {name}=30; got {text!r}", field=name) from None
    if wanted is float:
        try:
            return float(text)
        except ValueError:
            raise ValidationError(f"{name} must be a number, e.g. {name}=1.5; got {text!r}", field=name) from None
    if wanted is bool:
        lowered = text.lower()
        if lowered not in {"true", "false", "yes", "no", "1", "0"}:
            raise ValidationError(f"{name} must be true or false; got {text!r}", field=name)
        return lowered in {"true", "yes", "1"}
    return text


def _change_text(data: dict[str, Any]) -> str:
    again = " (already recorded; nothing new stored)" if data["duplicate"] else ""
    when = "in effect now" if data["in_effect"] else "not in effect now"
    return (
        f"{data['action']} {data['entity_type']} {data['entity_key']}: valid [{data['valid_from']}, "
        f"{data['valid_to'] or 'open'}), recorded {data['recorded_at']}, {when} "
        f"(change {data['change_id']}, position {data['position']}){again}"
    )


def _record_text(data: dict[str, Any]) -> str:
    lines = [
        f"{data['entity_type']} {data['entity_key']}  valid [{data['valid_from']}, {data['valid_to'] or 'open'})  "
        f"recorded [{data['recorded_from']}, {data['recorded_to'] or 'now'})  by {data['actor']}"
        + (f" ({data['reason']})" if data["reason"] else "")
    ]
    lines += [f"  {name}: {value}" for name, value in sorted(data["attributes"].items())]
    return "\n".join(lines)


@app.command()
def put(
    ctx: typer.Context,
    entity_type: TypeArg,
    key: KeyArg,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="A field as name=value; repeat for each field.")
    ] = None,
    valid_from: ValidFromOption = None,
    valid_to: ValidToOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    change_id: ChangeIdOption = None,
    sync: SyncOption = True,
    as_json: JsonOption = False,
) -> None:
    """Assert a record's full attributes for a valid period (fields left out are absent in that period)."""
    svc = _svc(ctx)
    attributes = parse_assignments(svc.store.types.find(entity_type), assignments or [])
    change = svc.put(
        entity_type,
        key,
        attributes,
        valid_from=time_option(valid_from, field="valid_from"),
        valid_to=time_option(valid_to, field="valid_to"),
        actor=_actor(actor),
        reason=reason,
        change_id=change_id,
    )
    if sync:
        svc.settle()
    emit(change.to_dict(), as_json=as_json, text=_change_text)


@app.command()
def retire(
    ctx: typer.Context,
    entity_type: TypeArg,
    key: KeyArg,
    valid_from: ValidFromOption = None,
    valid_to: ValidToOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    change_id: ChangeIdOption = None,
    sync: SyncOption = True,
    as_json: JsonOption = False,
) -> None:
    """Assert that a record is absent over a valid period (default: from now on)."""
    svc = _svc(ctx)
    change = svc.retire(
        entity_type,
        key,
        valid_from=time_option(valid_from, field="valid_from"),
        valid_to=time_option(valid_to, field="valid_to"),
        actor=_actor(actor),
        reason=reason,
        change_id=change_id,
    )
    if sync:
        svc.settle()
    emit(change.to_dict(), as_json=as_json, text=_change_text)


@app.command()
def get(
    ctx: typer.Context,
    entity_type: TypeArg,
    key: KeyArg,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Valid time to read at (ISO-8601); default now.")] = None,
    as_known_at: Annotated[
        str | None, typer.Option("--as-known-at", help="Read what was recorded by this time; default now.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a record now (through the cache), at a valid time, or as it was known at a recorded time."""
    record = _svc(ctx).get(
        entity_type,
        key,
        as_of=time_option(as_of, field="as_of"),
        as_known_at=time_option(as_known_at, field="as_known_at"),
    )
    emit(record.to_dict(), as_json=as_json, text=_record_text)


@app.command()
def history(ctx: typer.Context, entity_type: TypeArg, key: KeyArg, as_json: JsonOption = False) -> None:
    """List every version ever recorded for a record, superseded ones too."""
    rows = [r.to_dict() for r in _svc(ctx).history(entity_type, key)]
    emit(
        rows,
        as_json=as_json,
        text=lambda rs: "\n".join(
            f"valid [{r['valid_from']}, {r['valid_to'] or 'open'})  recorded [{r['recorded_from']}, "
            f"{r['recorded_to'] or 'now'})  {'RETIRED' if r['retired'] else r['attributes']}  by {r['actor']}"
            for r in rs
        ),
    )


@app.command()
def audit(
    ctx: typer.Context,
    entity_type: Annotated[str | None, typer.Option("--type", help="Only this entity type.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this entity key.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only changes by this actor.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only changes recorded at or after (ISO-8601).")] = None,
    limit: Annotated[int, typer.Option("--limit", parser=ascii_int, help="At most this many entries.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """List who changed which record, when, why, and what it was before and after."""
    entries = _svc(ctx).audit(
        entity_type=entity_type, key=key, actor=actor, since=time_option(since, field="since"), limit=limit
    )
    emit(
        [e.to_dict() for e in entries],
        as_json=as_json,
        text=lambda rs: (
            "\n".join(
                f"{r['recorded_at']}  {r['action']:<6} {r['entity_type']} {r['entity_key']}  valid "
                f"[{r['valid_from']}, {r['valid_to'] or 'open'})  by {r['actor']}"
                + (f" ({r['reason']})" if r["reason"] else "")
                + f"  {r['before']} -> {r['after']}"
                for r in rs
            )
            or "no audit entries match"
        ),
    )


@app.command()
def activate(ctx: typer.Context, sync: SyncOption = True, as_json: JsonOption = False) -> None:
    """Announce future-dated versions that have taken effect (the worker does this every round)."""
    svc = _svc(ctx)
    records = [r.to_dict() for r in svc.activate()]
    if sync:
        svc.settle()
    emit(
        records,
        as_json=as_json,
        text=lambda rs: (
            f"activated {len(rs)} version(s)"
            + "".join(f"\n  {r['entity_type']} {r['entity_key']} from {r['valid_from']}" for r in rs)
        ),
    )


@app.command()
def verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Compare every downstream copy with the source of truth; re-sync what drifted and raise an alert for it."""
    drifts = [d.to_dict() for d in _svc(ctx).verify()]
    emit(
        drifts,
        as_json=as_json,
        text=lambda ds: (
            f"{len(ds)} drifted cop{'y' if len(ds) == 1 else 'ies'} re-synced"
            + "".join(f"\n  {d['consumer']}: {d['entity_type']} {d['entity_key']} was {d['problem']}" for d in ds)
            if ds
            else "every downstream copy matches the source of truth"
        ),
    )


@app.command()
def alerts(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", help="drift or dead_letter.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only alerts about this entity key.")] = None,
    consumer: Annotated[str | None, typer.Option("--consumer", help="Only alerts of this downstream.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only alerts raised at or after (ISO-8601).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List drift and dead-letter alerts of the downstream copies, oldest first."""
    found = _svc(ctx).alert_list(kind=kind, key=key, consumer=consumer, since=time_option(since, field="since"))
    emit(
        [a.to_dict() for a in found],
        as_json=as_json,
        text=lambda rs: "\n".join(f"{r['raised_at']}  {r['kind']:<11} {r['detail']}" for r in rs) or "no alerts",
    )


@app.command()
def downstream(ctx: typer.Context, entity_type: TypeArg, key: KeyArg, as_json: JsonOption = False) -> None:
    """Show what each downstream system holds for a record: its copy and what it derived."""
    found = _svc(ctx).downstream(entity_type, key)
    emit(
        found,
        as_json=as_json,
        text=lambda rs: "\n".join(
            f"{r['consumer']}: copy {None if r['copy'] is None else r['copy']['attributes']}  derived {r['derived']}"
            for r in rs
        ),
    )
