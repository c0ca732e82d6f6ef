"""The datastrata modules a report names for a role; one that does not exist yet is named as planned."""

from __future__ import annotations

import importlib.util
from functools import cache

EVENTLOG = "datastrata.eventlog"
MESSAGING = "datastrata.messaging"
PROJECTIONS = "datastrata.projections"
GRAPH = "datastrata.graph"
MDM = "datastrata.mdm"
TENANCY = "datastrata.tenancy"
SHARDING = "datastrata.sharding"
TIERING = "datastrata.tiering"
SERVICES = "datastrata.services"
SAGAS = "datastrata.services.sagas"

#: Every module the advisor may name, in the order the docs list them.
ALL_MODULES = (EVENTLOG, PROJECTIONS, MDM, TENANCY, SHARDING, TIERING, SERVICES, SAGAS, GRAPH, MESSAGING)
PLANNED_SUFFIX = " (planned)"
#: The documentation pages (paths in the repository) that explain a module, its worked example last.
DOCS: dict[str, tuple[str, ...]] = {
    EVENTLOG: ("docs/eventlog.md",),
    PROJECTIONS: ("docs/eventlog.md",),
    MESSAGING: ("docs/eventlog.md",),
    MDM: ("docs/mdm.md",),
    TENANCY: ("docs/tenancy.md",),
    SHARDING: ("docs/sharding.md",),
    TIERING: ("docs/tiering.md",),
    SERVICES: ("docs/services.md", "docs/commerce.md"),
    SAGAS: ("docs/sagas.md", "docs/commerce.md"),
    GRAPH: ("docs/graph.md",),
}


@cache
def exists(module: str) -> bool:
    """True when the module can be imported from this installation (found, not imported)."""
    return importlib.util.find_spec(module) is not None


def module_ref(module: str | None) -> str | None:
    """How a report names a module: its name when it exists, else `<name> (planned)`."""
    if module is None:
        return None
    return module if exists(module) else module + PLANNED_SUFFIX


def docs_for(ref: str | None) -> tuple[str, ...]:
    """The docs pages for a module a report names; none for a planned module or one without a page."""
    if ref is None or ref.endswith(PLANNED_SUFFIX):
        return ()
    return DOCS.get(ref, ())
