"""`fuel_economy_anomaly`: in one local month a vehicle took at least 100 L, and
100 × liters / max(km, 1) is over 1.5 × its rated consumption. Decided once the clock
passes the end of the month.

The vehicle state keeps a distance total per local date (`day_km`, the walk over the
date's fixes, recorded when the date is decided) and the month's transactions
(`fuel_months`: month -> txn -> [ts, liters]), never a month of fixes. A decided month is
kept `late_days` (`fuel_decided`, with its day totals) for transactions delivered late.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from detectors import track
from detectors.base import Context, State
from detectors.events import Event
from detectors.geo import path_km
from detectors.timeutil import DAY_MS, day_to_date

RULE = "fuel_economy_anomaly"


def month_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def month_end_ms(month: str, ctx: Context) -> int:
    """00:00 local on the 1st of the next month."""
    year, mon = int(month[:4]), int(month[5:])
    nxt = date(year + mon // 12, mon % 12 + 1, 1)
    return ctx.zone.date_start_ms(nxt)


def on_fuel(vehicle_id: str, state: State, event: Event, ctx: Context) -> None:
    ts = event["ts_ms"]
    if ctx.registry.vehicle_at(vehicle_id, ts) is None:
        return  # no registry record (or no vehicle at all): not counted
    month = month_of(ctx.zone.local_date(ts))
    entry = [ts, float(event["liters"])]
    if month_end_ms(month, ctx) <= ctx.watermark_ms:
        # The month was decided: a transaction delivered late re-opens it while its day
        # totals are kept (`late_days` after its end), so a late feed changes nothing.
        done = (state.get("fuel_decided") or {}).get(month)
        if done is not None and event["txn_id"] not in done["txns"] and not done["raised"]:
            done["txns"][event["txn_id"]] = entry
            done["raised"] = _decide(vehicle_id, month, done["txns"],
                                     state.get("day_km") or {}, ctx)
        return
    months: dict[str, dict[str, list[Any]]] = state.setdefault("fuel_months", {})
    months.setdefault(month, {})[event["txn_id"]] = entry


def on_day(
    state: State, day: int, fixes: track.FixList, ctx: Context, walked: float | None = None
) -> None:
    """Record the date's distance as it is decided (`walked`: the walk over the date's
    fixes when `off_hours` has just walked them)."""
    if walked is None:
        zone = ctx.zone
        window = track.between(fixes, zone.day_start_ms(day), zone.day_start_ms(day + 1) - 1)
        walked = float(path_km(window, ctx.config.jitter_km))
    if walked > 0:
        state.setdefault("day_km", {})[day_to_date(day).isoformat()] = round(walked, 6)


def _late_ms(ctx: Context) -> int:
    return int(ctx.config.rule(RULE).num("late_days") * DAY_MS)


def next_due(state: State, ctx: Context) -> int | None:
    """The next month to decide, or the next decided month whose totals can go."""
    late = _late_ms(ctx)
    dues = [month_end_ms(m, ctx) for m in state.get("fuel_months") or ()]
    kept = set(state.get("fuel_decided") or ()) | {d[:7] for d in state.get("day_km") or ()}
    dues += [month_end_ms(m, ctx) + late for m in kept]
    return min(dues, default=None)


def on_timer(vehicle_id: str, state: State, ctx: Context) -> None:
    """Decide every month that has ended; forget the distances of ended months."""
    wm = ctx.watermark_ms
    months = state.get("fuel_months") or {}
    day_km: dict[str, float] = state.get("day_km") or {}
    for month in sorted(months):
        if month_end_ms(month, ctx) <= wm:
            txns = months.pop(month)
            raised = _decide(vehicle_id, month, txns, day_km, ctx)
            state.setdefault("fuel_decided", {})[month] = {"txns": txns, "raised": raised}
    late = _late_ms(ctx)
    decided = state.get("fuel_decided") or {}
    for month in [m for m in decided if month_end_ms(m, ctx) + late <= wm]:
        del decided[month]
    for d in [d for d in day_km if month_end_ms(d[:7], ctx) + late <= wm]:
        del day_km[d]
    for key in ("fuel_months", "day_km", "fuel_decided"):
        if key in state and not state[key]:
            del state[key]


def _decide(
    vehicle_id: str,
    month: str,
    txns: dict[str, list[Any]],
    day_km: dict[str, float],
    ctx: Context,
) -> bool:
    """Judge the month; True when it raised."""
    rule = ctx.config.rule(RULE)
    liters = sum(t[1] for t in txns.values())
    if liters < rule.num("min_liters"):
        return False
    km = sum(v for d, v in day_km.items() if d.startswith(month))
    end = month_end_ms(month, ctx)
    vehicle = ctx.registry.vehicle_at(vehicle_id, end - 1) or {}
    rated = float(vehicle.get("rated_l_per_100km") or rule.num("default_rated_l_per_100km"))
    ratio = 100 * liters / max(km, rule.num("min_km"))
    limit = rule.num("max_ratio") * rated
    if not ratio > limit:
        return False
    zone = ctx.zone
    by_day: dict[str, dict[str, Any]] = {}
    for d, v in day_km.items():
        if d.startswith(month):
            by_day[d] = {"date": d, "km": round(v, 3), "liters": 0.0}
    for ts, lit in txns.values():
        d = zone.local_date(ts).isoformat()
        by_day.setdefault(d, {"date": d, "km": 0.0, "liters": 0.0})["liters"] += lit
    ordered = sorted(txns.items(), key=lambda t: (t[1][0], t[0]))
    last_ts = ordered[-1][1][0]
    ctx.emit(
        RULE,
        f"{vehicle_id}/{month}",
        entity=("vehicle", vehicle_id),
        event_ts_ms=last_ts,
        details={
            "vehicle_id": vehicle_id,
            "month": month,
            "liters": round(liters, 3),
            "km": round(km, 3),
            "l_per_100km": round(ratio, 2),
            "rated_l_per_100km": rated,
            "limit_l_per_100km": round(limit, 3),
            "transactions": [t for t, _ in ordered],
            "days": [by_day[d] for d in sorted(by_day)],
        },
        evidence=[ctx.evidence("fuel", t, v[0]) for t, v in ordered],
        unit=vehicle.get("unit"),
        district=vehicle.get("district"),
    )
    return True
