"""`off_hours_use`: a non-exempt vehicle driven 5 km or more off-hours on one local date.

Off-hours are all of a non-working day and 22:00-06:00 local on any day. The walk over
the date's fixes counts a step when its start is off-hours and its two ends are at most
10 minutes apart.
"""

from __future__ import annotations

from detectors import track
from detectors.base import Context
from detectors.geo import walk
from detectors.timeutil import MINUTE_MS, day_to_date

TRACK_POINTS_IN_ALERT = 720


def decide(vehicle_id: str, day: int, fixes: track.FixList, ctx: Context) -> float | None:
    """Decide the date; returns the whole walk's km over its fixes (None if not walked),
    which `fuel_economy` keeps as the date's distance."""
    zone = ctx.zone
    start = zone.day_start_ms(day)
    vehicle = ctx.registry.vehicle_at(vehicle_id, start) or {}
    if vehicle.get("exempt_off_hours"):
        return None
    rule = ctx.config.rule("off_hours_use")
    night_start = int(rule.num("night_start_hour"))
    night_end = int(rule.num("night_end_hour"))
    max_step = int(rule.num("max_step_min") * MINUTE_MS)
    the_date = day_to_date(day)
    workday = ctx.calendar.is_workday(the_date)
    window = track.between(fixes, start, zone.day_start_ms(day + 1) - 1)
    km = 0.0
    first_ms: int | None = None
    last_ms = 0
    steps = 0
    points: list[list[float]] = []
    total = 0.0
    for a, b, dist in walk(window, ctx.config.jitter_km):
        total += dist
        if b[0] - a[0] > max_step:
            continue
        if workday:
            hour = zone.local_hour(a[0])
            if night_end <= hour < night_start:
                continue
        km += dist
        steps += 1
        if first_ms is None:
            first_ms = a[0]
        last_ms = b[0]
        if len(points) < TRACK_POINTS_IN_ALERT:
            if not points or points[-1][0] != a[0]:
                points.append(list(a))
            points.append(list(b))
    if first_ms is None or km < rule.num("min_km"):
        return total
    iso_date = the_date.isoformat()
    ctx.emit(
        "off_hours_use",
        f"{vehicle_id}/{iso_date}",
        entity=("vehicle", vehicle_id),
        event_ts_ms=first_ms,
        details={
            "vehicle_id": vehicle_id,
            "date": iso_date,
            "working_day": workday,
            "off_hours_km": round(km, 3),
            "steps": steps,
            "first": zone.iso(first_ms),
            "last": zone.iso(last_ms),
            "track": points,
        },
        evidence=[
            ctx.evidence("gps", vehicle_id, first_ms),
            ctx.evidence("gps", vehicle_id, last_ms),
        ],
        unit=vehicle.get("unit"),
        district=vehicle.get("district"),
    )
    return total
