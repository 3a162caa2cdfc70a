"""`refuel_repeat`: two transactions of one vehicle at most 120 min apart that together
exceed 1.05 × its tank. Raised on arrival, whatever order the pair arrives in: only the
later of a pair (by ts; ties: the greater txn_id), once.

The vehicle state keeps `fills`: txn -> [ts, liters, raised, station_id], only as long as
a transaction arriving within the allowed lateness could still pair with it.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Context, State
from detectors.events import Event
from detectors.timeutil import MINUTE_MS

RULE = "refuel_repeat"


def _window_ms(ctx: Context) -> int:
    return int(ctx.config.rule(RULE).num("window_min") * MINUTE_MS)


def on_fuel(vehicle_id: str, state: State, event: Event, ctx: Context) -> None:
    ts, txn = event["ts_ms"], event["txn_id"]
    if ctx.registry.vehicle_at(vehicle_id, ts) is None:
        return  # no registry record (or no vehicle at all): not checked
    fills: dict[str, list[Any]] = state.setdefault("fills", {})
    if txn in fills:
        return
    prune(state, ctx)
    fills[txn] = [ts, float(event["liters"]), False, event["station_id"]]
    window = _window_ms(ctx)
    me = (ts, txn)
    for other in sorted(fills, key=lambda t: (fills[t][0], t)):
        if other == txn or abs(fills[other][0] - ts) > window:
            continue
        earlier, later = sorted([me, (fills[other][0], other)])
        if fills[later[1]][2]:
            continue  # raised already
        if _exceeds(vehicle_id, earlier[1], later[1], fills, ctx):
            fills[later[1]][2] = True


def _exceeds(
    vehicle_id: str, first: str, second: str, fills: dict[str, list[Any]], ctx: Context
) -> bool:
    rule = ctx.config.rule(RULE)
    a, b = fills[first], fills[second]
    vehicle = ctx.registry.vehicle_at(vehicle_id, b[0]) or {}
    tank = float(vehicle["tank_liters"])
    ratio = rule.num("max_ratio")
    total = a[1] + b[1]
    if not total > ratio * tank:
        return False
    zone = ctx.zone
    ctx.emit(
        RULE,
        second,
        entity=("vehicle", vehicle_id),
        event_ts_ms=b[0],
        details={
            "vehicle_id": vehicle_id,
            "txn_id": second,
            "other_txn_id": first,
            "ts": zone.iso(b[0]),
            "other_ts": zone.iso(a[0]),
            "liters": b[1],
            "other_liters": a[1],
            "total_liters": round(total, 3),
            "tank_liters": tank,
            "ratio": round(total / tank, 3),
            "limit_ratio": ratio,
            "minutes_apart": round((b[0] - a[0]) / MINUTE_MS, 1),
            "window": [zone.iso(b[0] - _window_ms(ctx)), zone.iso(b[0])],
            "station_id": b[3],
            "other_station_id": a[3],
        },
        evidence=[ctx.evidence("fuel", first, a[0]), ctx.evidence("fuel", second, b[0])],
        unit=vehicle.get("unit"),
        district=vehicle.get("district"),
    )
    return True


def prune(state: State, ctx: Context) -> None:
    """Forget transactions nothing arriving in time can pair with any more."""
    fills = state.get("fills")
    if not fills:
        return
    horizon = ctx.watermark_ms - _window_ms(ctx)
    for txn in [t for t, f in fills.items() if f[0] < horizon]:
        del fills[txn]
