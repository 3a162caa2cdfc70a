"""A spatial index of the registry's places: a grid of cells, each listing the places whose
circle (any version of it) reaches into the cell, so that a fix is checked only against
the places near it. Versions are looked up as of the fix's time."""

from __future__ import annotations

from bisect import bisect_right
from math import cos, floor, radians
from typing import Any

KM_PER_DEG_LAT = 111.32
MIN_COS = 0.01  # near the poles a degree of longitude is tiny; cap the cells a circle spans

Versions = list[list[Any]]  # sorted [ts_ms, record] pairs, as the registry keeps them


class PlaceIndex:
    def __init__(self, cell_m: float) -> None:
        self.cell_m = cell_m
        self.cell_deg = cell_m / 1000 / KM_PER_DEG_LAT
        self.cells: dict[tuple[int, int], list[str]] = {}

    def cell(self, lat: float, lon: float) -> tuple[int, int]:
        # Longitude cells are as many degrees wide as latitude cells: the bounding box of
        # a circle is widened by 1/cos(lat) instead.
        size = self.cell_deg
        return floor(lat / size), floor(lon / size)

    def add(self, place_id: str, record: dict[str, Any]) -> None:
        lat, lon, radius_km = record["lat"], record["lon"], record["radius_m"] / 1000
        dlat = radius_km / KM_PER_DEG_LAT
        dlon = dlat / max(MIN_COS, cos(radians(lat)))
        lo = self.cell(lat - dlat, lon - dlon)
        hi = self.cell(lat + dlat, lon + dlon)
        for i in range(lo[0], hi[0] + 1):
            for j in range(lo[1], hi[1] + 1):
                ids = self.cells.setdefault((i, j), [])
                if place_id not in ids:
                    ids.append(place_id)

    def near(self, lat: float, lon: float) -> list[str]:
        return self.cells.get(self.cell(lat, lon), [])


def version_at(versions: Versions, ts_ms: int) -> dict[str, Any] | None:
    """The place's record in force at ts_ms (none before its first record)."""
    i = bisect_right(versions, ts_ms, key=lambda v: v[0])
    if i == 0:
        return None
    record: dict[str, Any] = versions[i - 1][1]
    return record
