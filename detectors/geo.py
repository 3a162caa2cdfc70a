"""Geometry: great-circle distance and the contract's jitter-filtered track walk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from math import asin, cos, radians, sin, sqrt
from typing import Any

EARTH_RADIUS_KM = 6371.0088

# A fix as the engine keeps it: [ts_ms, lat, lon] (a list in JSON-compatible state).
Fix = Sequence[Any]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a sphere of radius 6,371.0088 km."""
    p1, p2 = radians(lat1), radians(lat2)
    dlat = p2 - p1
    dlon = radians(lon2 - lon1)
    h = sin(dlat / 2) ** 2 + cos(p1) * cos(p2) * sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(h)))


def walk(fixes: Iterable[Fix], jitter_km: float) -> Iterator[tuple[Fix, Fix, float]]:
    """Steps of the walk over time-ordered fixes: (start, end, km).

    The walk keeps the last counted fix, starting at the first fix given. A fix within
    `jitter_km` of the last counted fix is jitter and skipped; otherwise the distance to
    it is a step and it becomes the last counted fix.
    """
    # |dlat| + |dlon| in degrees bounds the distance from above (a meridian then a
    # parallel): a fix surely within jitter (parked heartbeats, mostly) is skipped
    # without the trigonometry; the margin keeps float rounding out of the decision.
    near = jitter_km * (1 - 1e-6) / (EARTH_RADIUS_KM * radians(1.0))
    last: Fix | None = None
    for fix in fixes:
        if last is None:
            last = fix
            continue
        if abs(fix[1] - last[1]) + abs(fix[2] - last[2]) <= near:
            continue
        km = distance_km(last[1], last[2], fix[1], fix[2])
        if km <= jitter_km:
            continue
        yield last, fix, km
        last = fix


def path_km(fixes: Iterable[Fix], jitter_km: float) -> float:
    return sum(step[2] for step in walk(fixes, jitter_km))
