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


@dataclass(frozen=True, slots=True)
class Settings:
    """Where each role lives; the defaults run everything embedded under ``./.datastrata/``."""

    store: str = f"sqlite:///{DEFAULT_HOME}/datastrata.db"
    bus: str = "memory://"
    cache: str = "memory://"
    objects: str = f"file://{DEFAULT_HOME}/objects"
    graph: str = f"ladybug:///{DEFAULT_HOME}/graph"
    #: The URL `migrate` connects with on PostgreSQL (the owner role); empty: the store URL itself.
    owner_store: str = ""
    #: PostgreSQL roles `migrate` grants DML to: the application's (commands, queries) and the followers'.
    app_role: str = ""
    platform_role: str = ""

    def with_overrides(self, overrides: Mapping[str, str | None]) -> Settings:
        """Return a copy with every non-empty override applied."""
        known = {f.name for f in fields(self)}
        changes = {k: v for k, v in overrides.items() if v}
        unknown = set(changes) - known
        if unknown:
            raise ConfigurationError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")
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
