"""The runtime: scopes, placements and locations, scoped transactions, and the followers of every location."""

from datastrata.runtime.location import Location, LocationSpec, Work
from datastrata.runtime.placement import HOME, Placement, Single
from datastrata.runtime.runtime import Runtime
from datastrata.runtime.scope import Scope
from datastrata.runtime.units import Units

__all__ = ["HOME", "Location", "LocationSpec", "Placement", "Runtime", "Scope", "Single", "Units", "Work"]
