"""Decoding and validating input events (contract/events.md).

A decoded event is the input dict itself, checked, with `kind` set and `ts_ms` added
(integer epoch ms). Unknown extra fields are kept. Anything that breaks the contract
raises `Rejected`, whose message names the field and the rule, e.g.
`lat: 999.0 is outside [-90, 90]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import orjson

from detectors.timeutil import Zone

MAX_RECORD_BYTES = 1 << 20
MAX_BATCH = 10_000
MAX_ID_LEN = 128

Event = dict[str, Any]

KINDS = ("gps", "fuel", "payment", "review", "vehicle", "card", "station", "death", "place",
         "asset")
REGISTRY_KINDS = frozenset({"vehicle", "card", "station", "death", "place", "asset"})
ACTIONS = frozenset({"enter", "complete", "suspend", "resume", "withdraw"})
GASOLINE = frozenset({"89", "92", "95", "98"})
DIESEL = frozenset({"0", "-10", "-20", "-35"})
PLACE_CATEGORIES = frozenset({"scenic", "entertainment", "golf", "private_club",
                              "luxury_dining", "hotel", "residence", "other"})
ASSET_KINDS = frozenset({"vehicle", "company", "property", "housing_fund"})
# The entity id that keys each kind (its record key on Kafka).
KEY_FIELD = {
    "gps": "vehicle_id",
    "fuel": "card_id",
    "payment": "payee_id",
    "review": "case_id",
    "vehicle": "vehicle_id",
    "card": "card_id",
    "station": "station_id",
    "death": "person_id",
    "place": "place_id",
    "asset": "person_id",
}


class Rejected(ValueError):
    """A record that breaks the input contract. `reason` is the low-cardinality class."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.rule = rule

    @property
    def reason(self) -> str:
        return f"{self.field}: {self.rule}"


def fuel_family(code: str) -> str | None:
    """`gasoline`, `diesel`, or None for a code outside the contract."""
    code = code[:-1] if code.endswith("#") else code
    if code in GASOLINE:
        return "gasoline"
    if code in DIESEL:
        return "diesel"
    return None


# --- field checks -------------------------------------------------------------------


def _missing(field: str) -> Rejected:
    return Rejected(field, "required", "is required")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _id(ev: Event, field: str, required: bool = True) -> None:
    value = ev.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return
    if not isinstance(value, str):
        raise Rejected(field, "wrong type", f"{_show(value)} is not a string id")
    if not value:
        raise Rejected(field, "empty", "must not be empty")
    if len(value) > MAX_ID_LEN:
        raise Rejected(field, "too long", f"{len(value)} characters is over {MAX_ID_LEN}")


def _text(ev: Event, field: str, required: bool = False) -> None:
    value = ev.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return
    if not isinstance(value, str):
        raise Rejected(field, "wrong type", f"{_show(value)} is not a string")
    if required and not value:
        raise Rejected(field, "empty", "must not be empty")


def _number(
    ev: Event,
    field: str,
    lo: float,
    hi: float,
    *,
    required: bool = True,
    lo_open: bool = False,
) -> None:
    value = ev.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(field, "wrong type", f"{_show(value)} is not a number")
    if not math.isfinite(value):
        raise Rejected(field, "not finite", f"{value!r} is not a finite number")
    low_bad = value <= lo if lo_open else value < lo
    if low_bad or value > hi:
        left = "(" if lo_open else "["
        hi_text = "∞" if math.isinf(hi) else f"{hi:g}"
        raise Rejected(field, "out of range", f"{value!r} is outside {left}{lo:g}, {hi_text}]")


def _bool(ev: Event, field: str) -> None:
    value = ev.get(field)
    if value is not None and not isinstance(value, bool):
        raise Rejected(field, "wrong type", f"{_show(value)} is not true or false")


def _choice(ev: Event, field: str, choices: frozenset[str], required: bool) -> None:
    value = ev.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(sorted(choices))
        raise Rejected(field, "not allowed", f"{_show(value)} is not one of {allowed}")


def _iso_date(ev: Event, field: str, required: bool = True) -> None:
    value = ev.get(field)
    if value is None:
        if required:
            raise _missing(field)
        return
    if not isinstance(value, str) or len(value) != 10:
        raise Rejected(field, "bad date", f"{_show(value)} is not a YYYY-MM-DD date")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise Rejected(field, "bad date", f"{_show(value)} is not a valid date") from None


def _period(ev: Event, ts_ms: int, zone: Zone) -> None:
    value = ev.get("period")
    if value is None:
        d = zone.local_date(ts_ms)
        ev["period"] = f"{d.year:04d}-{d.month:02d}"
        return
    ok = isinstance(value, str) and len(value) == 7 and value[4] == "-"
    if ok:
        try:
            month = int(value[5:])
            int(value[:4])
            ok = 1 <= month <= 12
        except ValueError:
            ok = False
    if not ok:
        raise Rejected("period", "bad period", f"{_show(value)} is not a YYYY-MM month")


# --- per-kind validation ------------------------------------------------------------


def _check_gps(ev: Event, zone: Zone) -> None:
    vid, lat, lon = ev.get("vehicle_id"), ev.get("lat"), ev.get("lon")
    speed, ignition = ev.get("speed_kmh"), ev.get("ignition")
    if (  # the common case, checked fast; anything else takes the full path below
        type(vid) is str
        and 0 < len(vid) <= MAX_ID_LEN
        and type(lat) is float
        and -90.0 <= lat <= 90.0
        and type(lon) is float
        and -180.0 <= lon <= 180.0
        and (speed is None or (type(speed) in (float, int) and 0 <= speed <= 300))
        and (ignition is None or ignition is True or ignition is False)
    ):
        return
    _id(ev, "vehicle_id")
    _number(ev, "lat", -90, 90)
    _number(ev, "lon", -180, 180)
    _number(ev, "speed_kmh", 0, 300, required=False)
    _bool(ev, "ignition")


def _check_fuel(ev: Event, zone: Zone) -> None:
    _id(ev, "txn_id")
    _id(ev, "card_id")
    _number(ev, "liters", 0, 2000, lo_open=True)
    _number(ev, "amount_cny", 0, math.inf)
    _id(ev, "station_id")
    _id(ev, "vehicle_id", required=False)
    code = ev.get("fuel_type")
    if code is not None and (not isinstance(code, str) or fuel_family(code) is None):
        raise Rejected(
            "fuel_type", "not allowed", f"{_show(code)} is not a gasoline or diesel grade"
        )
    _number(ev, "station_lat", -90, 90, required=False)
    _number(ev, "station_lon", -180, 180, required=False)
    if (ev.get("station_lat") is None) != (ev.get("station_lon") is None):
        raise Rejected("station_lat", "incomplete", "station_lat and station_lon go together")


def _check_payment(ev: Event, zone: Zone) -> None:
    _id(ev, "payment_id")
    _id(ev, "program")
    _id(ev, "payee_id")
    _number(ev, "amount_cny", 0, math.inf, lo_open=True)
    _text(ev, "unit")
    _text(ev, "district")


def _check_review(ev: Event, zone: Zone) -> None:
    _id(ev, "case_id")
    _id(ev, "node")
    _choice(ev, "action", ACTIONS, required=True)
    sla = ev.get("sla_working_days")
    if sla is not None and (isinstance(sla, bool) or not isinstance(sla, int)):
        raise Rejected("sla_working_days", "wrong type", f"{_show(sla)} is not an integer")
    _number(ev, "sla_working_days", 1, 365, required=False)
    _text(ev, "unit")
    _text(ev, "handler")


def _check_vehicle(ev: Event, zone: Zone) -> None:
    _id(ev, "vehicle_id")
    _text(ev, "unit", required=True)
    _number(ev, "tank_liters", 0, math.inf, lo_open=True)
    _choice(ev, "fuel_type", frozenset({"gasoline", "diesel"}), required=True)
    _text(ev, "district")
    _bool(ev, "exempt_off_hours")
    _number(ev, "rated_l_per_100km", 0, math.inf, required=False, lo_open=True)


def _check_card(ev: Event, zone: Zone) -> None:
    _id(ev, "card_id")
    _id(ev, "vehicle_id")
    _choice(ev, "status", frozenset({"active", "revoked"}), required=False)
    _text(ev, "unit")


def _check_station(ev: Event, zone: Zone) -> None:
    _id(ev, "station_id")
    _number(ev, "lat", -90, 90)
    _number(ev, "lon", -180, 180)
    _text(ev, "name")


def _check_death(ev: Event, zone: Zone) -> None:
    _id(ev, "person_id")
    _iso_date(ev, "date_of_death")


def _check_place(ev: Event, zone: Zone) -> None:
    _id(ev, "place_id")
    _text(ev, "name", required=True)
    _choice(ev, "category", PLACE_CATEGORIES, required=True)
    _number(ev, "lat", -90, 90)
    _number(ev, "lon", -180, 180)
    _number(ev, "radius_m", 10, 5000)


def _check_asset(ev: Event, zone: Zone) -> None:
    _id(ev, "person_id")
    _choice(ev, "asset_kind", ASSET_KINDS, required=True)
    _id(ev, "asset_id")
    _iso_date(ev, "from")
    _iso_date(ev, "to", required=False)
    if ev.get("to") is not None and ev["to"] < ev["from"]:
        raise Rejected("to", "before from", f"{ev['to']!r} is before from {ev['from']!r}")


_CHECKS: dict[str, Callable[[Event, Zone], None]] = {
    "gps": _check_gps,
    "fuel": _check_fuel,
    "payment": _check_payment,
    "review": _check_review,
    "vehicle": _check_vehicle,
    "card": _check_card,
    "station": _check_station,
    "death": _check_death,
    "place": _check_place,
    "asset": _check_asset,
}


def validate(
    obj: object,
    zone: Zone,
    default_kind: str | None = None,
    allowed: frozenset[str] | None = None,
) -> Event:
    """Check one event object and return it with `kind` and `ts_ms` set.

    `default_kind` is taken where the object has no `kind` (a topic or file name implies
    it); `allowed` is the set of kinds a topic may carry.
    """
    if not isinstance(obj, dict):
        raise Rejected("record", "not an object", f"{_show(obj)} is not a JSON object")
    kind = obj.get("kind")
    if kind is None:
        if default_kind is None:
            raise _missing("kind")
        kind = default_kind
        obj["kind"] = kind
    check = _CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        raise Rejected("kind", "unknown kind", f"{_show(kind)} is not one of {', '.join(_CHECKS)}")
    if allowed is not None and kind not in allowed:
        raise Rejected("kind", "wrong topic", f"{kind!r} does not belong on this topic")
    ts = obj.get("ts")
    if ts is None:
        raise _missing("ts")
    try:
        ts_ms = zone.parse(ts)
    except ValueError as exc:
        raise Rejected("ts", "bad time", str(exc)) from None
    check(obj, zone)
    obj["ts_ms"] = ts_ms
    if kind == "payment":
        _period(obj, ts_ms, zone)
    return obj


def parse_record(raw: bytes | str, max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """Size check and JSON parse; the caller validates the result."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise Rejected("record", "too large", f"{size:,} bytes is over the 1 MiB limit")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected("record", "not JSON", f"is not JSON ({exc.msg})") from None


def decode_record(
    raw: bytes | str,
    zone: Zone,
    default_kind: str | None = None,
    allowed: frozenset[str] | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[Event | Rejected]:
    """One record (a line or a Kafka value): an event or a batch envelope of events.

    Yields each good event and a `Rejected` for each bad one: one bad event in a batch
    does not lose the others. `max_bytes` is the contract's 1 MiB except for the engine's
    own re-routed records, which carry a good event plus a few bytes of envelope.
    """
    try:
        obj = parse_record(raw, max_bytes)
    except Rejected as exc:
        yield exc
        return
    if isinstance(obj, list):
        if len(obj) > MAX_BATCH:
            over = f"{len(obj):,} events is over {MAX_BATCH:,}"
            yield Rejected("record", "batch too large", over)
            return
        items: list[Any] = obj
    elif isinstance(obj, dict):
        items = [obj]
    else:
        yield Rejected("record", "not an object", f"{_show(obj)} is not a JSON object or array")
        return
    for item in items:
        try:
            yield validate(item, zone, default_kind, allowed)
        except Rejected as exc:
            yield exc


# Project funds (contract/funds.md): their kinds register themselves into `_CHECKS` and
# `KEY_FIELD` from their own module, whichever of the two is imported first.
import detectors.funds_events  # noqa: E402, F401
