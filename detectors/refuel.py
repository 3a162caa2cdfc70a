"""Fuel-card detectors.

On arrival: `card_vehicle_mismatch`, `tank_overfill`, `fuel_type_mismatch`.
Once the clock allows: at most one of `refuel_unverifiable`, `refuel_without_trip`,
`refuel_location_mismatch`, judged on the GPS window [T - 120 min, T + 60 min].
"""

from __future__ import annotations

from typing import Any

from detectors import track
from detectors.base import Context
from detectors.events import Event, fuel_family
from detectors.geo import distance_km, path_km
from detectors.timeutil import MINUTE_MS

NO_VEHICLE = "card:"  # key prefix for a transaction with neither a binding nor a plate
TRACK_POINTS_IN_ALERT = 720


def vehicle_checked(event: Event, ctx: Context) -> tuple[str | None, str | None]:
    """(vehicle checked, vehicle the card is actively bound to at ts)."""
    bound = ctx.registry.bound_vehicle(event["card_id"], event["ts_ms"])
    plate = event.get("vehicle_id")
    return (bound or plate), bound


def fuel_key(event: Event, ctx: Context) -> str:
    vehicle, _ = vehicle_checked(event, ctx)
    return vehicle if vehicle is not None else NO_VEHICLE + event["card_id"]


def on_arrival(event: Event, ctx: Context) -> None:
    txn, ts = event["txn_id"], event["ts_ms"]
    vehicle_id, bound = vehicle_checked(event, ctx)
    plate = event.get("vehicle_id")
    vehicle = ctx.registry.vehicle_at(vehicle_id, ts) if vehicle_id else None
    unit = (vehicle or {}).get("unit")
    district = (vehicle or {}).get("district")
    entity = ("vehicle", vehicle_id) if vehicle_id else ("card", event["card_id"])
    evidence = [ctx.evidence("fuel", txn, ts)]
    card = ctx.registry.card_at(event["card_id"], ts)
    if bound is None or (plate is not None and _plate(plate) != _plate(bound)):
        ctx.emit(
            "card_vehicle_mismatch",
            txn,
            entity=entity,
            event_ts_ms=ts,
            details={
                "card_id": event["card_id"],
                "bound_vehicle": bound,
                "plate_keyed": plate,
                "binding_status": None if card is None else card.get("status", "active"),
                "station_id": event["station_id"],
                "liters": event["liters"],
                "amount_cny": event["amount_cny"],
            },
            evidence=evidence,
            unit=unit or (card or {}).get("unit"),
            district=district,
        )
    if vehicle is None:
        return
    tank = float(vehicle["tank_liters"])
    ratio = ctx.config.rule("tank_overfill").num("max_ratio")
    if event["liters"] > ratio * tank:
        ctx.emit(
            "tank_overfill",
            txn,
            entity=entity,
            event_ts_ms=ts,
            details={
                "vehicle_id": vehicle_id,
                "liters": event["liters"],
                "tank_liters": tank,
                "ratio": round(event["liters"] / tank, 3),
                "limit_ratio": ratio,
                "station_id": event["station_id"],
            },
            evidence=evidence,
            unit=unit,
            district=district,
        )
    code = event.get("fuel_type")
    family = fuel_family(code) if isinstance(code, str) else None
    if family is not None and family != vehicle["fuel_type"]:
        ctx.emit(
            "fuel_type_mismatch",
            txn,
            entity=entity,
            event_ts_ms=ts,
            details={
                "vehicle_id": vehicle_id,
                "fuel_type": code,
                "fuel_family": family,
                "vehicle_fuel_type": vehicle["fuel_type"],
                "station_id": event["station_id"],
            },
            evidence=evidence,
            unit=unit,
            district=district,
        )


def _plate(plate: str) -> str:
    return "".join(plate.split()).upper()


def pending_entry(event: Event, ctx: Context) -> dict[str, Any]:
    """What a GPS decision needs later about one transaction."""
    ts = event["ts_ms"]
    station: list[float] | None = None
    if event.get("station_lat") is not None:
        station = [event["station_lat"], event["station_lon"]]
    else:
        known = ctx.registry.station_at(event["station_id"], ts)
        if known is not None:
            station = [known["lat"], known["lon"]]
    return {
        "ts": ts,
        "due": ts + ctx.config.fuel_after_ms,
        "final": False,
        "card": event["card_id"],
        "station_id": event["station_id"],
        "station": station,
    }


def decide(
    vehicle_id: str, txn: str, entry: dict[str, Any], fixes: track.FixList, ctx: Context
) -> bool:
    """Judge the GPS window; False means wait for the late-upload grace period."""
    cfg = ctx.config
    ts = entry["ts"]
    start, end = ts - cfg.fuel_before_ms, ts + cfg.fuel_after_ms
    window = track.between(fixes, start, end)
    gaps = track.gaps(window, start, end, cfg.fuel_gap_ms)
    if gaps and not entry["final"]:
        return False
    path = path_km(window, cfg.jitter_km)
    station = entry["station"]
    details: dict[str, Any] = {
        "vehicle_id": None if vehicle_id.startswith(NO_VEHICLE) else vehicle_id,
        "window": [ctx.zone.iso(start), ctx.zone.iso(end)],
        "path_km": round(path, 3),
        "fixes": len(window),
        "gaps": [[ctx.zone.iso(a), ctx.zone.iso(b)] for a, b in gaps],
        "station": None
        if station is None
        else {"id": entry["station_id"], "lat": station[0], "lon": station[1]},
        "nearest_fix": None,
        "track": [list(f) for f in window[:TRACK_POINTS_IN_ALERT]],
    }
    detector: str | None = None
    if gaps and path < cfg.rule("refuel_unverifiable").num("min_path_km"):
        detector = "refuel_unverifiable"
    elif not gaps and path < cfg.rule("refuel_without_trip").num("min_path_km"):
        detector = "refuel_without_trip"
    elif station is not None and path >= cfg.rule("refuel_location_mismatch").num("min_path_km"):
        rule = cfg.rule("refuel_location_mismatch")
        near = track.nearest(fixes, ts, int(rule.num("nearest_within_min") * MINUTE_MS))
        if near is not None:
            km = distance_km(near[1], near[2], station[0], station[1])
            details["nearest_fix"] = {
                "ts": ctx.zone.iso(near[0]),
                "lat": near[1],
                "lon": near[2],
                "distance_km": round(km, 3),
            }
            if km > rule.num("max_distance_km"):
                detector = "refuel_location_mismatch"
    if detector is not None:
        vehicle = ctx.registry.vehicle_at(vehicle_id, ts) or {}
        ident = details["vehicle_id"]
        ctx.emit(
            detector,
            txn,
            entity=("vehicle", ident) if ident else ("card", entry["card"]),
            event_ts_ms=ts,
            details=details,
            evidence=[ctx.evidence("fuel", txn, ts)],
            unit=vehicle.get("unit"),
            district=vehicle.get("district"),
        )
    return True
