"""`restricted_place_stay`: a non-exempt vehicle stayed 30 min or more inside a place of a
restricted category on one local date; decided once the clock passes the end of the date.

A stay is a run of consecutive fixes of the date, all within the place's radius of its
centre (the place as of each fix's time), no two consecutive fixes more than 20 min apart.
Each fix is checked only against the places of its grid cell (`places.PlaceIndex`).
"""

from __future__ import annotations

from math import cos, radians
from typing import Any

from detectors import track
from detectors.base import Context
from detectors.geo import distance_km
from detectors.places import version_at
from detectors.timeutil import MINUTE_MS, day_to_date

RULE = "restricted_place_stay"
# Metres per degree of latitude on the sphere of geo.distance_km, less 0.1 % so that the
# box test never rejects a fix the great-circle test would accept.
M_PER_DEG = 6371.0088 * 1000 * 3.141592653589793 / 180 * 0.999


def decide(vehicle_id: str, day: int, fixes: track.FixList, ctx: Context) -> None:
    registry = ctx.registry
    places = registry.facts.get("place")
    if not places:
        return
    zone = ctx.zone
    start = zone.day_start_ms(day)
    vehicle = registry.vehicle_at(vehicle_id, start) or {}
    if vehicle.get("exempt_off_hours"):
        return
    rule = ctx.config.rule(RULE)
    categories = rule.names("categories")
    min_stay = int(rule.num("min_stay_min") * MINUTE_MS)
    max_silence = int(rule.num("max_silence_min") * MINUTE_MS)
    index = registry.place_index(rule.num("grid_cell_m"))
    cells = index.cells
    open_runs: dict[str, list[int]] = {}  # place -> [first ts, last ts] of the current run
    best: dict[str, list[int]] = {}  # place -> its longest run that qualifies
    last_cell: tuple[int, int] | None = None
    near: list[str] = []
    for fix in track.between(fixes, start, zone.day_start_ms(day + 1) - 1):
        ts, lat, lon = fix[0], fix[1], fix[2]
        cell = index.cell(lat, lon)
        if cell != last_cell:
            near = cells.get(cell, [])
            last_cell = cell
        if not near and not open_runs:
            continue  # the common case: nowhere near a place
        inside: list[str] = []
        m_per_deg_lon = M_PER_DEG * cos(radians(lat))
        for pid in near:
            versions = places[pid]
            if len(versions) == 1:  # the common case: one version of the place
                rec = versions[0][1] if versions[0][0] <= ts else None
            else:
                rec = version_at(versions, ts)
            if rec is None:
                continue
            radius = rec["radius_m"]
            # a box test first: most candidates of a cell are far from the fix
            if (abs(lat - rec["lat"]) * M_PER_DEG > radius
                    or abs(lon - rec["lon"]) * m_per_deg_lon > radius + 1.0
                    or rec["category"] not in categories):
                continue
            if distance_km(lat, lon, rec["lat"], rec["lon"]) * 1000 <= radius:
                inside.append(pid)
        for pid in list(open_runs):
            run = open_runs[pid]
            if pid not in inside or ts - run[1] > max_silence:
                _close(pid, run, best, min_stay)
                del open_runs[pid]
        for pid in inside:
            current = open_runs.get(pid)
            if current is None:
                open_runs[pid] = [ts, ts]
            else:
                current[1] = ts
    for pid, run in open_runs.items():
        _close(pid, run, best, min_stay)
    for pid in sorted(best):
        _emit(vehicle_id, day, pid, best[pid], fixes, vehicle, ctx)


def _close(pid: str, run: list[int], best: dict[str, list[int]], min_stay: int) -> None:
    length = run[1] - run[0]
    if length >= min_stay and (pid not in best or length > best[pid][1] - best[pid][0]):
        best[pid] = run


def _emit(
    vehicle_id: str,
    day: int,
    pid: str,
    run: list[int],
    fixes: track.FixList,
    vehicle: dict[str, Any],
    ctx: Context,
) -> None:
    zone = ctx.zone
    rule = ctx.config.rule(RULE)
    arrival, departure = run
    place = version_at(ctx.registry.place_versions(pid), arrival) or {}
    the_date = day_to_date(day).isoformat()
    points = track.between(fixes, arrival, departure)[: int(rule.num("max_track_points"))]
    ctx.emit(
        RULE,
        f"{vehicle_id}/{pid}/{the_date}",
        entity=("vehicle", vehicle_id),
        event_ts_ms=arrival,
        details={
            "vehicle_id": vehicle_id,
            "date": the_date,
            "place": {
                "id": pid,
                "name": place.get("name"),
                "category": place.get("category"),
                "lat": place.get("lat"),
                "lon": place.get("lon"),
                "radius_m": place.get("radius_m"),
            },
            "arrival": zone.iso(arrival),
            "departure": zone.iso(departure),
            "minutes": round((departure - arrival) / MINUTE_MS, 1),
            "min_stay_min": rule.num("min_stay_min"),
            "track": [[f[0], f[1], f[2]] for f in points],
        },
        evidence=[
            ctx.evidence("gps", vehicle_id, arrival),
            ctx.evidence("gps", vehicle_id, departure),
            ctx.evidence("place", pid, arrival),
        ],
        unit=vehicle.get("unit"),
        district=vehicle.get("district"),
    )
