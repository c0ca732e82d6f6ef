"""Configuration: one URL per role, from flags, ``DATASTRATA_*`` variables or ``datastrata.toml``."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from datastrata.core.errors import ConfigurationError

DEFAULT_HOME = Path(".datastrata")


#: The name of the home store file whose folder keeps ``graph`` and ``objects`` without a prefix (the defaults).
HOME_STORE = "datastrata.db"
#: The embedded roles that live beside the store unless configured: the graph file and the objects folder.
BESIDE_STORE = ("graph", "objects")


def beside_store(store: str, role: str) -> str:
    """Return where the embedded `role` (``graph`` or ``objects``) of `store` lives when nothing names it.

    Beside a SQLite file ``dir/name.db``: ``dir/name.graph`` and ``dir/name.objects`` (``dir/graph`` and
    ``dir/objects`` for the home store ``datastrata.db``, as before); for a PostgreSQL store, a folder under
    ``./.datastrata`` named after its server and database. So a new ``--store`` never reads another store's graph.
    """
    folder, stem = _home_of(store)
    name = role if stem is None else f"{stem}.{role}"
    path = folder / name
    return f"ladybug:///{path}" if role == "graph" else f"file://{path}"


def _home_of(store: str) -> tuple[Path, str | None]:
    """Return the folder the embedded files of `store` live in, and their name prefix (None: no prefix)."""
    scheme = urlsplit(store).scheme.split("+")[0]
    if scheme == "sqlite":
        try:
            path = sqlite_path(store)
        except ConfigurationError:
            return DEFAULT_HOME, None
        return path.parent, None if path.name == HOME_STORE else path.stem
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(store)
        database = parts.path.lstrip("/") or parts.username or "postgres"
        server = f"{parts.hostname or 'local'}-{parts.port or 5432}"
        return DEFAULT_HOME / _safe(f"postgresql-{server}-{database}"), None
    return DEFAULT_HOME, None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass(frozen=True, slots=True)
class Settings:
    """Where each role lives; the defaults run everything embedded under ``./.datastrata/``.

    ``graph`` and ``objects`` left empty live beside the store (see :func:`beside_store`).
    """

    store: str = f"sqlite:///{DEFAULT_HOME}/{HOME_STORE}"
    bus: str = "memory://"
    cache: str = "memory://"
    objects: str = ""
    graph: str = ""
    #: The URL `migrate` connects with on PostgreSQL (the owner role); empty: the store URL itself.
    owner_store: str = ""
    #: The URL the followers and jobs connect with (the platform role, its own pool); empty: the store URL itself.
    platform_store: str = ""
    #: PostgreSQL roles `migrate` grants DML to: the application's (commands, queries) and the followers'.
    app_role: str = ""
    platform_role: str = ""
    #: A URL of the PostgreSQL server itself when `store` goes through a pooler (``?pooler=pgbouncer``): LISTEN uses it.
    direct_store: str = ""
    #: The URL tenant provisioning connects with on PostgreSQL (may CREATE ROLE / CREATE DATABASE); empty: none.
    provision_store: str = ""
    #: The most PostgreSQL connections one process holds over all its pools (empty: 64), split over silo pools.
    max_connections: str = ""
    #: This process's name in the Redis bus's consumer groups (``DATASTRATA_CONSUMER``; empty: ``<host>:<pid>``).
    consumer: str = ""
    #: The Temporal frontend (``host:port``) sagas run on when chosen (``DATASTRATA_TEMPORAL``); empty: none.
    temporal: str = ""

    def __post_init__(self) -> None:
        for role in BESIDE_STORE:
            if not getattr(self, role):
                object.__setattr__(self, role, beside_store(self.store, role))

    def with_overrides(self, overrides: Mapping[str, str | None]) -> Settings:
        """Return a copy with every non-empty override applied (a graph and objects left beside the store follow it)."""
        known = {f.name for f in fields(self)}
        changes = {k: v for k, v in overrides.items() if v}
        unknown = set(changes) - known
        if unknown:
            raise ConfigurationError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
        if "store" in changes:
            for role in BESIDE_STORE:
                if role not in changes and getattr(self, role) == beside_store(self.store, role):
                    changes[role] = ""  # derived from the old store: derive it again from the new one
        return replace(self, **changes)

    @classmethod
    def embedded(cls, home: Path) -> Settings:
        """Return settings that keep every embedded store under `home`."""
        return cls(
            store=f"sqlite:///{home}/datastrata.db",
            objects=f"file://{home}/objects",
            graph=f"ladybug:///{home}/graph",
        )


def load_settings(
    flags: Mapping[str, str | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Resolve settings: flags win over ``DATASTRATA_<ROLE>`` variables, which win over ``datastrata.toml``."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    path = config_file or Path(environ.get("DATASTRATA_CONFIG", "datastrata.toml"))
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path} is not valid TOML: {exc}; fix the file or remove it") from None
        section = data.get("datastrata", data)
        settings = settings.with_overrides({k: str(v) for k, v in section.items()})
    from_env = {f.name: environ.get(f"DATASTRATA_{f.name.upper()}") for f in fields(Settings)}
    settings = settings.with_overrides(from_env)
    return settings.with_overrides(flags or {})


def url_scheme(url: str, *, role: str) -> str:
    """Return the scheme of `url`, refusing a URL without one."""
    scheme = urlsplit(url).scheme
    if not scheme:
        raise ConfigurationError(
            f"{role} URL {url!r} has no scheme; use e.g. sqlite:///path.db, postgresql://host/db, redis://host:6379/0"
        )
    return scheme.split("+")[0]


def sqlite_path(url: str) -> Path:
    """Return the file named by ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (``:memory:`` is refused)."""
    rest = url.split("?", 1)[0].split("://", 1)[-1]
    raw = rest[1:] if rest.startswith("/") else rest  # sqlite://relative/path is a common typo; accept it
    if not raw or raw == ":memory:":
        raise ConfigurationError(
            f"store URL {url!r} names no file; use sqlite:///relative.db or sqlite:////absolute/path.db"
        )
    return Path(raw)
