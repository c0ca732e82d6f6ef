"""``datastrata fab …``: simulate sensors, list alerts, query all tiers, reports, tiering status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.progress import Progress

from datastrata.core.clock import FrozenClock
from datastrata.core.errors import ValidationError
from datastrata.runtime import Runtime
from datastrata.shell import (
    JsonOption,
    StoreOption,
    ascii_int,
    emit,
    remember_stores,
    service,
    session,
    time_option,
)
from datastrata.systems.fab.service import FabService
from datastrata.systems.fab.simulate import simulate as run_simulation

app = typer.Typer(help="The wafer fab: sensor readings, threshold alerts, hot/warm/cold tiers.", no_args_is_help=True)
tiering_app = typer.Typer(help="The fab's tiers: what lives where, and a run of the lifecycle.", no_args_is_help=True)
app.add_typer(tiering_app, name="tiering")


@app.callback()
def _options(ctx: typer.Context, store: StoreOption = None) -> None:
    """The wafer fab (the article's IoT example)."""
    remember_stores(ctx, store, None, None)


def _svc(ctx: typer.Context) -> FabService:
    return service(ctx, "fab", FabService)


@app.command()
def simulate(
    ctx: typer.Context,
    sensors: Annotated[int, typer.Option("--sensors", parser=ascii_int, help="How many sensors (1-10000).")] = 30,
    rate: Annotated[float, typer.Option("--rate", help="Readings per sensor per second (1/3600-1000).")] = 1.0,
    minutes: Annotated[int, typer.Option("--minutes", parser=ascii_int, help="Simulated minutes (≤ 7 days).")] = 60,
    start: Annotated[
        str | None, typer.Option("--start", help="Simulated start (ISO-8601); default: so that it ends now.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", parser=ascii_int, help="Random seed (same seed, same data).")] = 7,
    as_json: JsonOption = False,
) -> None:
    """Simulate sensors on a simulated clock: batches with alerts, the tiering lifecycle every simulated hour."""
    began = time_option(start, field="start")
    if began is None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        began = now - timedelta(minutes=minutes)
    clock = FrozenClock(began)
    with Runtime.open(session(ctx).settings(), clock=clock) as runtime, Progress(transient=True) as bar:
        task = bar.add_task("simulating", total=None)
        summary = run_simulation(
            FabService(runtime),
            clock,
            sensors=sensors,
            rate=rate,
            minutes=minutes,
            start=began,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    emit(
        summary,
        as_json=as_json,
        text=lambda s: (
            f"{s['readings']} readings from {s['sensors']} sensors in {s['batches']} batches, {s['from']} .. "
            f"{s['to']}: {s['alerts']} alerts, {s['tiering_runs']} tiering runs"
        ),
    )


@app.command()
def register(
    ctx: typer.Context,
    sensors: Annotated[list[str], typer.Argument(help="Sensors as ID:KIND, e.g. temperature-0001:temperature.")],
    as_json: JsonOption = False,
) -> None:
    """Register sensors (a reading of an unknown sensor is refused)."""
    pairs = []
    for i, spec in enumerate(sensors):
        sensor, sep, kind = spec.partition(":")
        if not sep:
            raise ValidationError(
                f"sensors[{i}] must be ID:KIND, e.g. pressure-0002:pressure; got {spec!r}", field="sensors"
            )
        pairs.append((sensor, kind))
    added = _svc(ctx).register_sensors(pairs)
    emit({"registered": added}, as_json=as_json, text=lambda d: f"{d['registered']} new sensors registered")


@app.command()
def sensors(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the registered sensors and whether each is in alarm."""
    found = _svc(ctx).sensors()
    emit(
        found,
        as_json=as_json,
        text=lambda rows: (
            "\n".join(f"{r['sensor_id']:<24} {r['kind']:<12} {'ALARM' if r['alarm'] else 'ok'}" for r in rows)
            or "no sensors registered"
        ),
    )


@app.command()
def alerts(
    ctx: typer.Context,
    after: Annotated[int, typer.Option("--after", parser=ascii_int, help="Only alerts after this version.")] = 0,
    limit: Annotated[int, typer.Option("--limit", parser=ascii_int, help="At most this many (1-1000).")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List threshold alerts (events of the stream fab-alerts), oldest first."""
    found = _svc(ctx).alerts(after_version=after, limit=limit)
    emit(
        found,
        as_json=as_json,
        text=lambda rows: (
            "\n".join(
                f"{r['version']:>5}  {r['reading_at']}  {r['sensor_id']:<20} {r['value']:>10} "
                f"over {r['bound']} {r['limit']}"
                for r in rows
            )
            or "no alerts"
        ),
    )


@app.command()
def query(
    ctx: typer.Context,
    sensor: Annotated[str, typer.Argument(help="Sensor id, e.g. temperature-0001.")],
    start: Annotated[str, typer.Option("--from", help="Start (ISO-8601, inclusive).")],
    end: Annotated[str, typer.Option("--to", help="End (ISO-8601, exclusive).")],
    agg: Annotated[str | None, typer.Option("--agg", help="1m: per-minute min/max/avg/count.")] = None,
    as_json: JsonOption = False,
) -> None:
    """One sensor's readings over hot, warm and cold tiers, as if all were hot."""
    found = _svc(ctx).reports.query(
        sensor, time_option(start, field="from"), time_option(end, field="to"), agg=agg, actor="cli"
    )
    emit(found, as_json=as_json, text=_query_text)


def _query_text(data: dict[str, Any]) -> str:
    rows = data["rows"]
    if data["agg"]:
        lines = [f"{r['minute']}  min {r['min']:g}  max {r['max']:g}  avg {r['avg']:.4f}  n {r['count']}" for r in rows]
    else:
        lines = [f"{r['at']}  {r['value']:g}" for r in rows]
    return "\n".join([f"{data['sensor_id']} {data['from']} .. {data['to']}: {len(rows)} rows", *lines])


@app.command()
def report(
    ctx: typer.Context,
    period: Annotated[str, typer.Argument(help="daily or weekly.")],
    day: Annotated[
        str | None, typer.Option("--day", help="A day (YYYY-MM-DD) in the period; default the last complete one.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The daily or weekly report per sensor kind, from the 1-minute aggregates."""
    if period not in ("daily", "weekly"):
        raise ValidationError(f"period must be daily or weekly; got {period!r}", field="period")
    reports = _svc(ctx).reports
    when = _day(day)
    found = reports.daily(when) if period == "daily" else reports.weekly(when)
    emit(found, as_json=as_json, text=_report_text)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"day must be a date such as 2026-11-30; got {text!r}", field="day") from None


def _report_text(data: dict[str, Any]) -> str:
    lines = [f"{data['period']} report {data['from']} .. {data['to']}: {data['alerts']} alerts"]
    lines += [
        f"  {k['kind']:<12} {k['sensors']:>5} sensors {k['readings']:>10} readings  min {k['min']:g}  "
        f"max {k['max']:g}  avg {k['avg']:g}  alerts {k['alerts']}"
        for k in data["kinds"]
    ]
    return "\n".join(lines)


@tiering_app.command("status")
def tiering_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Rows and bytes per tier for each of the fab's datasets, and the moves made."""
    emit(_svc(ctx).tiers.status(), as_json=as_json, text=status_text)


@tiering_app.command("run")
def tiering_run(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Aggregate finished minutes, then make every move the fab's policy says is due now."""
    done = _svc(ctx).tiers.run()
    emit(
        done,
        as_json=as_json,
        text=lambda d: f"{d['aggregated']} minute aggregates, {len(d['moved'])} moves, {len(d['held'])} held",
    )


def status_text(data: dict[str, Any]) -> str:
    """Render the tiering status as a table."""
    lines = [f"{'dataset':<12} {'tier':<7} {'items':>6} {'rows':>10} {'bytes':>12}"]
    for name, tiers in data["tiers"].items():
        for tier, slot in tiers.items():
            lines.append(f"{name:<12} {tier:<7} {slot['items']:>6} {slot['rows']:>10} {slot['bytes']:>12}")
    lines += [f"moves: {k}: {n}" for k, n in data["moves"].items()]
    return "\n".join(lines)


@app.command("access-log")
def access_log(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", parser=ascii_int, help="At most this many (1-1000).")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The newest data accesses (queries, reports) still online; older ones are archived (frozen)."""
    found = _svc(ctx).reports.access_log(limit=limit)
    emit(
        found,
        as_json=as_json,
        text=lambda rows: (
            "\n".join(f"{r['at']}  {r['actor']:<12} {r['action']:<15} {r['detail']}" for r in rows)
            or "no accesses recorded"
        ),
    )
