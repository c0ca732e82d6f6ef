"""Great-circle distance (haversine) and the latitude/longitude box that bounds a radius."""

from __future__ import annotations

import math
from dataclasses import dataclass

from datastrata.core.errors import ValidationError

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Latitude/longitude limits that contain every point within a radius of a centre."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float


def check_position(lat: float, lon: float) -> None:
    """Raise ValidationError unless (lat, lon) is a valid WGS84 position in degrees."""
    if not -90.0 <= lat <= 90.0:
        raise ValidationError(f"lat {lat} is outside -90..90; give latitude in degrees", field="lat")
    if not -180.0 <= lon <= 180.0:
        raise ValidationError(f"lon {lon} is outside -180..180; give longitude in degrees", field="lon")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance in kilometres between two positions in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """Return a box that contains every point within `radius_km` of (lat, lon); used as an index-friendly pre-filter."""
    if radius_km <= 0:
        raise ValidationError(
            f"radius_km {radius_km} must be positive; give a search radius in kilometres", field="radius_km"
        )
    check_position(lat, lon)
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    lat_min, lat_max = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    cos_lat = math.cos(math.radians(max(abs(lat_min), abs(lat_max))))
    if cos_lat < 1e-9 or lat_min <= -90.0 or lat_max >= 90.0:
        return BoundingBox(lat_min, lat_max, -180.0, 180.0)
    dlon = math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat))
    if dlon >= 180.0 or lon - dlon < -180.0 or lon + dlon > 180.0:
        return BoundingBox(lat_min, lat_max, -180.0, 180.0)  # crosses the antimeridian: no longitude pre-filter
    return BoundingBox(lat_min, lat_max, lon - dlon, lon + dlon)
