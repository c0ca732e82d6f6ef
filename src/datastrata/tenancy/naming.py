"""Where a bridge or silo tenant's things live, derived from its id and the home location alone (nothing to look up)."""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from datastrata.core.config import beside_store, sqlite_path
from datastrata.core.errors import ValidationError
from datastrata.core.tenancy import check_tenant_id
from datastrata.runtime.location import LocationSpec

#: The PostgreSQL schema every bridge tenant's schema is cloned from (migrated like a location of its own).
TEMPLATE_SCHEMA = "tenant_template"
#: The SQLite file every bridge tenant's file is copied from, in the ``tenants/`` folder beside the home store.
TEMPLATE_FILE = "_template.db"
DEDICATED_STORAGE = "dedicated-storage"
DEDICATED_INFRASTRUCTURE = "dedicated-infrastructure"


def slug_of(tenant: str, home_store: str) -> str:
    """Return the tenant's schema, role and location name: ``t_<slug>_<sha8>``, at most 63 characters.

    The hash covers the home store's database too, because PostgreSQL roles (and databases) are cluster-wide: two
    home databases on one server never share a tenant's role.
    """
    check_tenant_id(tenant)
    digest = hashlib.sha256(f"{_database_of(home_store)}/{tenant}".encode()).hexdigest()[:8]
    return f"t_{tenant.replace('-', '_')[:50]}_{digest}"


def dialect_of(url: str) -> str:
    """Return ``sqlite`` or ``postgresql`` for a store URL."""
    scheme = urlsplit(url).scheme.split("+")[0]
    return "postgresql" if scheme in ("postgresql", "postgres") else scheme


def tenants_folder(home_store: str) -> PurePosixPath:
    """The ``tenants/`` folder beside a SQLite home store (bridge files and their template)."""
    return PurePosixPath(str(sqlite_path(home_store).parent)) / "tenants"


def template_file_url(home_store: str) -> str:
    """The SQLite URL of the bridge template beside `home_store`."""
    return f"sqlite:///{tenants_folder(home_store) / TEMPLATE_FILE}"


def with_database(url: str, database: str) -> str:
    """Return the PostgreSQL `url` naming `database` instead (same server, credentials and options)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def silo_template_database(home_store: str) -> str:
    """The PostgreSQL database every silo without a ``--store`` is created from (``CREATE DATABASE … TEMPLATE``)."""
    return f"{_database_of(home_store)[:50]}_template"


#: The start of a silo's location (and database or folder) name; a bridge's starts ``t_``.
SILO_PREFIX = "s_"


def tenant_spec(home: LocationSpec, tenant: str, model: str, *, store: str | None = None) -> LocationSpec | None:
    """Return where `tenant` lives in `model` beside the home location `home` (``None``: shared, the home itself).

    Dedicated storage: PostgreSQL, schema and role ``t_<slug>_<sha8>`` in the home store; SQLite, the file
    ``tenants/t_<slug>_<sha8>.db`` beside it; its own graph; objects under a top-level prefix of the home objects.
    Dedicated infrastructure: `store` (a ``--store`` URL) or a database (SQLite: a folder) ``s_<slug>_<sha8>`` of its
    own, and the graph and objects beside that store.
    """
    if model == "shared":
        return None
    name = slug_of(tenant, home.store)
    graph = _graph_of(home.graph, name)
    base, mark, query = home.objects.partition("?")  # an s3:// URL's endpoint and region stay its query
    objects = f"{base.rstrip('/')}/{name}{mark}{query}" if home.objects else ""
    if model == DEDICATED_STORAGE:
        if dialect_of(home.store) == "sqlite":
            store = f"sqlite:///{tenants_folder(home.store) / name}.db{_options(home.store)}"
            return LocationSpec(name, store, graph, objects)
        return LocationSpec(name, home.store, graph, objects, namespace=name, role=name)
    if model == DEDICATED_INFRASTRUCTURE:
        name = SILO_PREFIX + name[len("t_") :]  # not the bridge's name: a move from one to the other opens both
        if store is None:
            if dialect_of(home.store) == "sqlite":
                folder = PurePosixPath(str(sqlite_path(home.store).parent)) / "silos" / name
                store = f"sqlite:///{folder / 'datastrata.db'}{_options(home.store)}"
            else:
                store = with_database(home.store, name)
        return LocationSpec(name, store, beside_store(store, "graph"), beside_store(store, "objects"))
    raise ValidationError(f"model must be shared, {DEDICATED_STORAGE} or {DEDICATED_INFRASTRUCTURE}; got {model!r}")


def _options(home_store: str) -> str:
    """The home SQLite URL's options (``?synchronous=NORMAL`` …): a tenant's own file is opened like the home's."""
    _, mark, query = home_store.partition("?")
    return mark + query


def _graph_of(home_graph: str, name: str) -> str:
    """The tenant's own graph file: ``<folder of the home graph>/tenants/<name>.graph``."""
    scheme, sep, path = home_graph.partition(":///")
    if not sep:
        return ""
    return f"{scheme}:///{PurePosixPath(path).parent / 'tenants' / name}.graph"


def _database_of(store: str) -> str:
    """The database a store URL names (SQLite: its file's path)."""
    if dialect_of(store) == "sqlite":
        return str(sqlite_path(store))
    parts = urlsplit(store)
    return parts.path.lstrip("/") or parts.username or "postgres"
