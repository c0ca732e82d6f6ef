"""The ``datastrata`` command: one sub-command per system, plus tour, serve, worker, lag, rebuild, migrate."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from datastrata.catalog import install, install_all, systems
from datastrata.catalog import migrate as migrate_all
from datastrata.core.config import Settings
from datastrata.core.errors import BackendUnavailable, NotFound, ValidationError
from datastrata.core.redact import redact_url
from datastrata.deadletters_cli import app as deadletters_app
from datastrata.design.cli import design_command
from datastrata.design.tour import tour_step as design_tour
from datastrata.jobs_cli import app as jobs_app
from datastrata.runtime.migrations import LocationMigrations
from datastrata.security import cli as keys_cli
from datastrata.security.auth import AuthConfig, insecure_local_config
from datastrata.security.ratelimit import DEFAULT_BURST, DEFAULT_RATE
from datastrata.sharding.cli import app as shards_app
from datastrata.shell import (
    BusOption,
    CacheOption,
    GraphOption,
    JsonOption,
    PlatformStoreOption,
    ShellGroup,
    StoreOption,
    TenantOption,
    act_for,
    emit,
    remember_stores,
    session,
)
from datastrata.tenancy.cli import app as tenants_app
from datastrata.tenancy.erasure_cli import erase_command
from datastrata.tenancy.export_cli import add_commands as add_export_commands
from datastrata.tenancy.move_cli import app as moves_app
from datastrata.tiering.cli import app as tiering_app
from datastrata.tiering.job import install as install_tiering
from datastrata.tiering.policy import load_policy

if TYPE_CHECKING:
    from datastrata.runtime import Runtime

app = typer.Typer(
    cls=ShellGroup,
    help="datastrata: data-architecture strategies as working, measured reference systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    store: StoreOption = None,
    bus: BusOption = None,
    cache: CacheOption = None,
    graph: GraphOption = None,
    platform_store: PlatformStoreOption = None,
    tenant: TenantOption = None,
) -> None:
    """datastrata: data-architecture strategies as working, measured reference systems."""
    remember_stores(ctx, store, bus, cache, graph)
    act_for(ctx, tenant)
    if platform_store:
        session(ctx).overrides["platform_store"] = platform_store


for _entry in systems():
    app.add_typer(_entry.cli, name=_entry.name, help=_entry.help)
app.add_typer(keys_cli.app, name="keys", help=keys_cli.app.info.help)
tenants_app.registered_commands += moves_app.registered_commands  # `tenants move|move-status|move-reverse`
add_export_commands(tenants_app)  # `tenants export`
app.add_typer(tenants_app, name="tenants", help=tenants_app.info.help)
app.command("design")(design_command)
app.add_typer(deadletters_app, name="deadletters", help="Events a follower or consumer could not handle.")
app.add_typer(tiering_app, name="tiering", help=tiering_app.info.help)
app.add_typer(jobs_app, name="jobs", help="Recorded jobs (rebuilds, verifies) and their state.")
app.add_typer(shards_app, name="shards", help=shards_app.info.help)
app.command("erase")(erase_command)


@app.command()
def tour() -> None:
    """Run every reference system's scenario in a fresh temporary store and print what happened."""
    from datastrata.runtime import Runtime
    from datastrata.tenancy.secrets import temporary_key

    for entry in systems():
        typer.secho(f"\n== {entry.name}: {entry.help}", bold=True)
        with (
            temporary_key(),  # the tour's stores are thrown away: a platform key of their own when none is set
            tempfile.TemporaryDirectory(prefix="datastrata-tour-") as home,
            Runtime.open(Settings.embedded(Path(home))) as runtime,
        ):
            entry.tour(runtime, typer.echo)
    typer.secho("\n== design: requirements -> strategies, technologies, schema and cost per context", bold=True)
    design_tour(typer.echo)
    typer.secho("\nTour finished.", bold=True)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run the relay and projections in the background.")] = True,
    insecure_local: Annotated[
        bool, typer.Option("--insecure-local", help="No API keys: every caller is an admin (loopback only; demos).")
    ] = False,
    rate_limit: Annotated[
        float, typer.Option(help="Requests per second each API key may sustain.", envvar="DATASTRATA_RATE_LIMIT")
    ] = DEFAULT_RATE,
    burst: Annotated[
        int, typer.Option(help="Requests each API key may send at once.", envvar="DATASTRATA_RATE_BURST")
    ] = DEFAULT_BURST,
    apply_migrations: Annotated[
        bool, typer.Option("--migrate", help="Apply pending migrations first (as the owner; see `migrate`).")
    ] = False,
    tiering: Annotated[
        list[Path] | None,
        typer.Option("--tiering", help="Serve this tiering policy under /tiering and run its moves (repeatable)."),
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="Log every request at info (uvicorn's access log); /metrics counts them either way.")
    ] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs); callers send `Authorization: Bearer <key>` (`keys create`)."""
    import uvicorn

    from datastrata.api.app import create_app

    policies = [load_policy(path) for path in tiering or []]  # a bad policy is refused before anything runs

    _refuse_unusable_port(host, port)
    if worker:
        from datastrata.graph.ownership import refuse_if_owned
        from datastrata.stores.graphdb import ladybug_path

        refuse_if_owned(ladybug_path(session(ctx).settings().graph))  # serve runs the worker: it must own the graph
    if apply_migrations:
        _echo_migrations(migrate_all(session(ctx).settings()), as_json=False)
    session(ctx).open()  # the stores open here first, so a missing database or a dead bus is one line, not a trace
    session(ctx).close()
    auth = AuthConfig(rate=rate_limit, burst=burst)
    if insecure_local:
        auth = insecure_local_config(host, rate_limit, burst)
    app = create_app(session(ctx).settings(), worker=worker, auth=auth, tiering=policies)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)


def _refuse_unusable_port(host: str, port: int) -> None:
    """Refuse, in one line, a port out of range or one another process already listens on."""
    import socket

    if not 1 <= port <= 65535:
        raise ValidationError(f"--port {port}: give a TCP port from 1 to 65535, e.g. --port 8000", field="port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BackendUnavailable(
                f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); another server may be using it "
                "(stop it, or choose another --port)"
            ) from None


@app.command()
def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Drain what is waiting, then exit.")] = False,
    system: Annotated[
        list[str] | None,
        typer.Option("--system", help="Follow only these systems (repeatable; default: every system)."),
    ] = None,
    tiering: Annotated[
        list[Path] | None,
        typer.Option("--tiering", help="Also run this tiering policy's moves, supervised (repeatable)."),
    ] = None,
) -> None:
    """Run the outbox relay and every projection continuously (Ctrl-C stops).

    The worker owns the followers' resources (the graph file): another process that needs the graph asks this
    one over HTTP (run `datastrata serve`, which runs the worker).
    """
    policies = [load_policy(path) for path in tiering or []]  # a bad policy is refused before anything runs
    runtime = session(ctx).open()
    install(runtime, system)
    for policy in policies:
        install_tiering(runtime, policy)
    runtime.open_followers()
    if once:
        total = 0
        while done := runtime.run_once():
            total += done
        typer.echo(f"drained {total} deliveries and applications")
        for status in runtime.statuses():
            if status.state != "running":
                typer.echo(f"{status.name} is {status.state}: {status.last_error}", err=True)
        return
    stop = threading.Event()
    shown = redact_url(runtime.settings.store)
    typer.echo(f"worker running on {shown} (bus {runtime.bus.name}, consumer {_consumer(runtime)}); Ctrl-C stops")
    try:
        runtime.run_worker(stop)
    except KeyboardInterrupt:
        stop.set()


def _consumer(runtime: Any) -> str:
    """The name this process reads under in the bus's consumer groups (``-`` on the in-process bus)."""
    return str(getattr(runtime.bus, "consumer_name", "-"))


@app.command()
def lag(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show how far the relay and each follower are behind the log, and its state (a follower owning a file is not
    opened: its owner reports it)."""
    runtime = session(ctx).open()
    install_all(runtime)
    rows: list[dict[str, Any]] = [
        {"name": s.name, "position": s.position, "head": s.head, "behind": s.behind, "state": s.state, "opened": True}
        for s in runtime.statuses(fresh=True)
        if s.position is not None
    ]
    rows += [
        {"name": name, "position": None, "head": None, "behind": None, "state": None, "opened": False}
        for name in runtime.deferred
    ]
    emit(rows, as_json=as_json, text=lag_table)


def lag_table(rows: list[dict[str, Any]]) -> str:
    """The lag rows as a table whose columns fit the longest name and the largest position."""
    header = ("follower", "position", "behind", "state")
    cells = [
        (r["name"], str(r["position"]), str(r["behind"]), r["state"])
        if r["opened"]
        else (r["name"], "-", "-", "not opened here: its owner (the worker or serve) reports it at GET /health")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(3)]

    def line(row: tuple[str, str, str, str]) -> str:
        name, position, behind, state = row
        return f"{name:<{widths[0]}}  {position:>{widths[1]}}  {behind:>{widths[2]}}  {state}".rstrip()

    return "\n".join(line(row) for row in [header, *cells])


@app.command()
def rebuild(
    ctx: typer.Context,
    projection: Annotated[str, typer.Argument(help="Projection name, or 'all'.")] = "all",
) -> None:
    """Rebuild projections from the log beside the live ones (switching on success) as jobs, with a progress bar."""
    runtime = session(ctx).open()
    install_all(runtime)
    if projection == "all":
        runtime.open_followers()
    names = list(runtime.runners) if projection == "all" else [projection]
    for name in names:
        runner = runtime.follower(name)  # opens a deferred follower (the graph) only when it is the one named
        if runner is None:
            raise NotFound(f"no projection named {name!r}; known: {sorted([*runtime.runners, *runtime.deferred])}")
        applied = _rebuild_with_progress(runtime, name)
        typer.echo(f"{name}: applied {applied} events, now at position {runner.position()}")


@app.command()
def migrate(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what is pending; change nothing.")] = False,
    as_json: JsonOption = False,
    owner_url: Annotated[
        str | None,
        typer.Option("--owner-url", help="Connect as the owner role on PostgreSQL (env DATASTRATA_OWNER_STORE)."),
    ] = None,
) -> None:
    """Apply pending schema migrations in every location, then grant the roles (SQLite also migrates on open)."""
    _echo_migrations(migrate_all(session(ctx).settings(), dry_run=dry_run, owner_store=owner_url), as_json=as_json)


def _echo_migrations(reports: list[LocationMigrations], *, as_json: bool) -> None:
    """Print what `migrate` did per location: one line each, then one line per migration."""

    def text(rows: list[dict[str, Any]]) -> str:
        lines = []
        for row in rows:
            steps = row["migrations"]
            verb = "applied" if row["applied"] else "pending"
            lines.append(f"{row['location']} ({row['store']}): {f'{verb} {len(steps)}' if steps else 'up to date'}")
            lines += [f"  {verb} {m['component']} {m['version']:04d} {m['name']}" for m in steps]
        return "\n".join(lines)

    emit([r.to_dict() for r in reports], as_json=as_json, text=text)


@app.command()
def bench(
    name: Annotated[
        str | None, typer.Argument(help="Benchmark name (a script in ./benchmarks/); all if omitted.")
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Short run (under a minute each).")] = False,
) -> None:
    """Run the measurement scripts in ./benchmarks/ (from a source checkout); each prints JSON."""
    import subprocess
    import sys

    folder = Path("benchmarks")
    scripts = sorted(folder.glob("*.py")) if name is None else [folder / f"{name}.py"]
    missing = [s for s in scripts if not s.exists()]
    if not scripts or missing:
        known = sorted(p.stem for p in folder.glob("*.py"))
        raise NotFound(
            f"no benchmark {missing[0] if missing else folder}; run from the source checkout; known: {known or 'none'}"
        )
    for script in scripts:
        typer.secho(f"== {script}", bold=True, err=True)
        done = subprocess.run([sys.executable, str(script), *(["--quick"] if quick else [])], check=False)
        if done.returncode != 0:
            raise typer.Exit(1)


@app.command()
def backup(
    ctx: typer.Context,
    to: Annotated[Path, typer.Option("--to", help="A new or empty directory for the backup and its manifest.")],
    as_json: JsonOption = False,
) -> None:
    """Back up the store (SQLite's online backup API, or pg_dump) while it runs; prints the manifest."""
    from datastrata.stores.backup import backup as backup_store

    manifest = backup_store(session(ctx).settings().store, to, say=_progress)
    emit(manifest.to_dict(), as_json=as_json, text=lambda m: f"backed up {m['log']['events']} events to {to}")


@app.command()
def restore(
    ctx: typer.Context,
    from_dir: Annotated[Path, typer.Option("--from", help="A directory written by `datastrata backup --to`.")],
    rebuild_after: Annotated[
        bool, typer.Option("--rebuild/--no-rebuild", help="Rebuild read models and the graph from the log.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Replace the store with a verified backup (stop workers and serve first), then rebuild what derives from it."""
    from datastrata.derived import rebuild_derived
    from datastrata.stores.backup import restore as restore_store

    manifest = restore_store(session(ctx).settings().store, from_dir, say=_progress)
    if rebuild_after:
        rebuild_derived(session(ctx).open(), _progress)
    emit(manifest.to_dict(), as_json=as_json, text=lambda m: f"restored {m['log']['events']} events from {from_dir}")


def _progress(line: str) -> None:
    """Report one step of long work on stderr (stdout stays for the result)."""
    typer.echo(line, err=True)


def _rebuild_with_progress(runtime: Runtime, name: str) -> int:
    """Rebuild one projection as a recorded job (``GET /jobs/{id}`` shows it), drawing a progress bar."""
    from rich.progress import Progress

    from datastrata.runtime.jobs import jobs_of, rebuild_work

    work = rebuild_work(runtime, name)
    jobs = jobs_of(runtime)
    job = jobs.create("rebuild", name)
    with Progress(transient=False) as bar:
        task = bar.add_task(f"rebuilding {name} (job {job.id})", total=max(runtime.log.head(), 1))

        def progress(position: int, target: int) -> None:
            bar.update(task, completed=position, total=max(target, 1))

        def drawn(report: Callable[[int, int], None]) -> Any:
            def step(position: int, target: int) -> None:
                progress(position, target)
                report(position, target)

            return work(step)

        done = jobs.run(job, drawn, reraise=True)
    for segment in done.result.get("skipped_segments", []):
        typer.echo(
            f"{name}: skipped archived stream {segment['stream_id']} (positions {segment['first_position']}-"
            f"{segment['last_position']}, {segment['events']} events, {segment['tier']}): rebuilds read the online "
            "log only",
            err=True,
        )
    return int(done.result["applied"])


def main() -> None:
    """Console-script entry point."""
    app()
