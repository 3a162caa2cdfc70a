"""Builders for the typology tests: places, assets, vehicles with a rated consumption."""

from __future__ import annotations

from typing import Any

from support import ev

from detectors.events import Event

REG_TS = "2026-01-01T00:00:00+08:00"


def place(pid: str, lat: float, lon: float, category: str = "scenic", radius_m: float = 200.0,
          ts: str = REG_TS, name: str | None = None) -> Event:
    return ev({"kind": "place", "place_id": pid, "name": name or f"{category}-{pid}",
               "category": category, "lat": lat, "lon": lon, "radius_m": radius_m, "ts": ts})


def asset(person: str, kind: str, ident: str, start: str, recorded: str,
          end: str | None = None) -> Event:
    obj: dict[str, Any] = {"kind": "asset", "person_id": person, "asset_kind": kind,
                           "asset_id": ident, "from": start, "ts": recorded}
    if end is not None:
        obj["to"] = end
    return ev(obj)


def rated_vehicle(vid: str, tank: float = 60.0, rated: float | None = None,
                  exempt: bool = False, ts: str = REG_TS) -> Event:
    obj: dict[str, Any] = {"kind": "vehicle", "vehicle_id": vid, "unit": "市发改委",
                           "tank_liters": tank, "fuel_type": "gasoline", "district": "沈河区",
                           "exempt_off_hours": exempt, "ts": ts}
    if rated is not None:
        obj["rated_l_per_100km"] = rated
    return ev(obj)
