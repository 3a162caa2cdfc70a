"""Builders shared by the pure detector tests: an engine with the shipped config and a
fixed wall clock, and one small function per event kind (times as local ISO strings)."""

from __future__ import annotations

from typing import Any

from detectors.calendar import load_calendar
from detectors.config import DEFAULT_CONFIG_DIR, EngineConfig, load_config
from detectors.engine import Engine
from detectors.events import Event, validate
from detectors.timeutil import Zone

ZONE = Zone("Asia/Shanghai")
CONFIG = load_config(DEFAULT_CONFIG_DIR)
CALENDAR = load_calendar(DEFAULT_CONFIG_DIR / "calendar.yaml")
WALL_MS = 1_800_000_000_000

DEPOT = (41.80, 123.40)
STATION = (41.80, 123.40)  # the depot has its own pump in these scenarios
FAR_STATION = (41.85, 123.50)  # about 9.7 km from the depot


def engine(config: EngineConfig = CONFIG) -> Engine:
    return Engine(config, CALENDAR, lambda: WALL_MS)


def ev(obj: dict[str, Any]) -> Event:
    """A decoded event (the decoder fills `ts_ms`, `period`, ...)."""
    return validate(dict(obj), ZONE)


def gps(vehicle: str, ts: str, lat: float, lon: float) -> Event:
    return ev({"kind": "gps", "vehicle_id": vehicle, "ts": ts, "lat": lat, "lon": lon})


def vehicle(
    vid: str,
    tank: float = 60.0,
    fuel_type: str = "gasoline",
    exempt: bool = False,
    ts: str = "2026-01-01T00:00:00+08:00",
) -> Event:
    return ev(
        {
            "kind": "vehicle",
            "vehicle_id": vid,
            "unit": "市发改委",
            "tank_liters": tank,
            "fuel_type": fuel_type,
            "district": "沈河区",
            "exempt_off_hours": exempt,
            "ts": ts,
        }
    )


def card(
    cid: str, vid: str, status: str = "active", ts: str = "2026-01-01T00:00:00+08:00"
) -> Event:
    return ev({"kind": "card", "card_id": cid, "vehicle_id": vid, "status": status, "ts": ts})


def station(sid: str, lat: float, lon: float) -> Event:
    return ev(
        {"kind": "station", "station_id": sid, "lat": lat, "lon": lon,
         "ts": "2026-01-01T00:00:00+08:00"}
    )


def fuel(txn: str, card_id: str, ts: str, liters: float = 30.0, **extra: Any) -> Event:
    obj = {
        "kind": "fuel",
        "txn_id": txn,
        "card_id": card_id,
        "ts": ts,
        "liters": liters,
        "amount_cny": liters * 7.6,
        "station_id": extra.pop("station_id", "ST-1"),
    }
    obj.update(extra)
    return ev(obj)


def payment(pid: str, payee: str, ts: str, program: str = "DB", **extra: Any) -> Event:
    obj = {"kind": "payment", "payment_id": pid, "program": program, "payee_id": payee,
           "amount_cny": 780.0, "ts": ts}
    obj.update(extra)
    return ev(obj)


def death(person: str, died: str, recorded: str) -> Event:
    return ev({"kind": "death", "person_id": person, "date_of_death": died, "ts": recorded})


def review(case: str, node: str, action: str, ts: str, sla: int | None = None) -> Event:
    obj: dict[str, Any] = {"kind": "review", "case_id": case, "node": node, "action": action,
                           "ts": ts}
    if sla is not None:
        obj["sla_working_days"] = sla
    return ev(obj)


def run(events: list[Event], until: str | None = None, eng: Engine | None = None) -> list[Event]:
    """Process events in order, then move the clock to `until`; all alerts raised."""
    eng = eng or engine()
    alerts: list[Event] = []
    for e in events:
        alerts += eng.process(dict(e))
    if until is not None:
        alerts += eng.advance_to(ZONE.parse(until))
    return alerts


def subjects(alerts: list[Event], detector: str | None = None) -> list[str]:
    return sorted(a["subject"] for a in alerts if detector is None or a["detector"] == detector)


def track(
    vehicle_id: str, start: str, minutes: int, every_s: int, path: list[tuple[float, float]]
) -> list[Event]:
    """Fixes every `every_s` seconds for `minutes`, moving linearly through `path`."""
    t0 = ZONE.parse(start)
    n = minutes * 60 // every_s + 1
    out = []
    for i in range(n):
        frac = i / max(1, n - 1) * (len(path) - 1)
        k = min(int(frac), len(path) - 2) if len(path) > 1 else 0
        f = frac - k
        a = path[k]
        b = path[k + 1] if len(path) > 1 else path[0]
        lat = a[0] + (b[0] - a[0]) * f
        lon = a[1] + (b[1] - a[1]) * f
        out.append(gps(vehicle_id, ZONE.iso(t0 + i * every_s * 1000), lat, lon))
    return out
