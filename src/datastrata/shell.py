"""Shared plumbing of the command line: settings per invocation, the runtime, output and error exits."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from datastrata.core.clock import parse_time
from datastrata.core.config import Settings, load_settings, sqlite_path, url_scheme
from datastrata.core.errors import DatastrataError, NotFound
from datastrata.core.tenancy import tenant
from datastrata.core.validation import ASCII_INT
from datastrata.runtime import Runtime

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer on real click
    from click import ClickException  # type: ignore[no-redef,assignment,unused-ignore]

T = TypeVar("T")

StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store URL: sqlite:///path.db or postgresql://… (env DATASTRATA_STORE)")
]
BusOption = Annotated[str | None, typer.Option("--bus", help="Bus URL: memory:// or redis://… (env DATASTRATA_BUS)")]
CacheOption = Annotated[
    str | None, typer.Option("--cache", help="Cache URL: memory:// or redis://… (env DATASTRATA_CACHE)")
]
GraphOption = Annotated[
    str | None,
    typer.Option(
        "--graph", help="Graph URL: ladybug:///path (env DATASTRATA_GRAPH; default: beside the SQLite store file)"
    ),
]
PlatformStoreOption = Annotated[
    str | None,
    typer.Option(
        "--platform-store",
        help="Store URL the followers and jobs connect with, as the platform role (env DATASTRATA_PLATFORM_STORE; "
        "default: --store)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
TenantOption = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        envvar="DATASTRATA_TENANT",
        help="The tenant whose data the command works on, as a local operator (env DATASTRATA_TENANT); required "
        "once the catalogue holds a tenant other than 'default'.",
    ),
]

#: Commands (by their last name) that only read: they never create a store, so a mistyped path is said, not hidden.
READ_COMMANDS = frozenset(
    {"state", "history", "holders", "get", "audit", "alerts", "downstream", "tv", "news", "social", "analytics"}
    | {"events", "lag", "recommend", "cuisines", "show", "list"}
)


LogOption = Annotated[
    str | None,
    typer.Option("--log", help="The log a command printed with its token: a token of another log is refused."),
]
EventIdOption = Annotated[
    str | None,
    typer.Option(
        "--event-id",
        help="Idempotency key: a retry with the same key and content prints the stored result and writes nothing.",
    ),
]


@dataclass
class Session:
    """One CLI invocation: its settings overrides and the runtime opened for it."""

    overrides: dict[str, str | None] = field(default_factory=dict)
    runtime: Runtime | None = None
    #: The last name of the command being run (``state`` for ``datastrata portfolio state``).
    command: str = ""

    def settings(self) -> Settings:
        """Resolve settings from flags, environment and ``datastrata.toml``."""
        return load_settings(self.overrides)

    def open(self) -> Runtime:
        """Open the runtime once per invocation."""
        if self.runtime is None:
            settings = self.settings()
            if self.command in READ_COMMANDS:
                require_existing_store(settings.store)
            self.runtime = Runtime.open(settings)
        return self.runtime

    def close(self) -> None:
        """Close the runtime if it was opened."""
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None


def require_existing_store(store: str) -> None:
    """Refuse to read from an embedded store that does not exist (a read never creates one)."""
    if url_scheme(store, role="store") != "sqlite":
        return
    path = sqlite_path(store)
    if not path.is_file():
        raise NotFound(
            f"no store at {path}: check --store (or DATASTRATA_STORE); a new store is created by the first command "
            "that writes (e.g. `datastrata portfolio deposit ID 100`) or by `datastrata migrate`",
            field="store",
        )


def session(ctx: typer.Context) -> Session:
    """Return the invocation's session, creating it at the root context."""
    root = ctx.find_root()
    if not isinstance(root.obj, Session):
        root.obj = Session()
        root.call_on_close(root.obj.close)
    root.obj.command = ctx.info_name or ""  # the innermost context asking last is the command itself
    return root.obj


def remember_stores(
    ctx: typer.Context, store: str | None, bus: str | None, cache: str | None, graph: str | None = None
) -> None:
    """Record --store/--bus/--cache/--graph given at any level of the command."""
    overrides = session(ctx).overrides
    for key, value in (("store", store), ("bus", bus), ("cache", cache), ("graph", graph)):
        if value:
            overrides[key] = value


def act_for(ctx: typer.Context, tenant_id: str | None) -> None:
    """Run the rest of the invocation on behalf of `tenant_id` (``--tenant``; None: no tenant chosen)."""
    if tenant_id:
        ctx.with_resource(tenant(tenant_id))


def service(ctx: typer.Context, name: str, factory: Callable[[Runtime], T]) -> T:
    """Return the system service `name` on the invocation's runtime."""
    result: T = session(ctx).open().service(name, factory)
    return result


def emit(data: Any, *, as_json: bool, text: Callable[[Any], str] | None = None) -> None:
    """Print `data` as JSON, or as text through `text` (JSON when no text form exists)."""
    if as_json or text is None:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        typer.echo(text(data))


def time_option(value: str | None, *, field: str) -> Any:
    """Parse an optional ISO-8601 option into aware UTC."""
    return None if value is None else parse_time(value, field=field)


class ShellGroup(TyperGroup):
    """The root command group: datastrata errors become one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; exit 2 when it was refused, 1 when the system failed."""
        try:
            return super().invoke(ctx)
        except DatastrataError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2 if exc.refused else 1) from None
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly, as shell tools do
            sys.stderr.close()
            raise typer.Exit(0) from None
        except Exception as exc:
            if os.environ.get("DATASTRATA_DEBUG") == "1":
                raise
            typer.echo(
                f"error: internal failure: {type(exc).__name__}: {exc} (set DATASTRATA_DEBUG=1 for a trace)", err=True
            )
            sys.stderr.flush()
            raise typer.Exit(1) from None


def ascii_int(text: str | int) -> int:
    """Parse an integer option in ASCII digits only (click's own int() would take other scripts' digits)."""
    if isinstance(text, int):  # a default, already an int
        return text
    if not ASCII_INT.fullmatch(text.strip()):
        raise ValueError(f"must be a whole number in ASCII digits, e.g. 10; got {text!r}")
    return int(text)  # bounds are the command's own (it names the field and the limit)
