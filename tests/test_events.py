"""The input contract: every rule of contract/events.md, with reasons that name the field
and the rule; hostile input never crashes the decoder."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.events import MAX_ID_LEN, MAX_RECORD_BYTES, Rejected, decode_record, validate
from detectors.timeutil import Zone

ZONE = Zone("Asia/Shanghai")
GPS = {"kind": "gps", "vehicle_id": "V1", "ts": "2026-03-02T08:15:00+08:00",
       "lat": 41.8, "lon": 123.4}


# What the text after `field: ` says for each rule: a reason must read as its rule.
RULE_TEXT = {
    "required": r"is required",
    "wrong type": r".+ is not (a string id|a string|a number|true or false|an integer)",
    "empty": r"must not be empty",
    "too long": r"\d+ characters is over " + str(MAX_ID_LEN),
    "not finite": r".+ is not a finite number",
    "out of range": r".+ is outside [\[(]-?[\d.]+, ([\d.]+|∞)\]",
    "not allowed": r".+ is not one of .+",
    "bad time": r".+ is (not an ISO-8601 time( or epoch milliseconds)?|outside 1970\.\.2200)",
    "unknown kind": r".+ is not one of gps, fuel, payment, review, vehicle, card, station, death",
    "not an object": r".+ is not a JSON object( or array)?",
    "not JSON": r"is not JSON \(.+\)",
    "too large": r"[\d,]+ bytes is over the 1 MiB limit",
    "batch too large": r"[\d,]+ events is over [\d,]+",
    "bad date": r".+ is not a (YYYY-MM-DD|valid) date",
    "bad period": r".+ is not a YYYY-MM month",
    "incomplete": r".+ go together",
}
BOUNDS = {"lat": (-90.0, 90.0), "lon": (-180.0, 180.0)}
ID_FIELDS = {"vehicle_id", "card_id", "station_id", "payee_id", "person_id", "case_id"}


def assert_reads_as_its_rule(exc: Rejected) -> None:
    """`field: message`, where the message is the one its rule gives."""
    import re

    field, sep, message = str(exc).partition(": ")
    assert sep and field == exc.field, str(exc)
    assert exc.rule in RULE_TEXT, f"unknown rule {exc.rule!r} in {exc}"
    assert re.fullmatch(RULE_TEXT[exc.rule], message, re.DOTALL), f"{exc.rule!r} vs {exc}"


def assert_value_breaks_the_rule(exc: Rejected, obj: dict[str, Any]) -> None:
    """The named field's value really breaks the named rule (an oracle beside the code)."""
    value = obj.get(exc.field)
    rule = exc.rule
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if rule == "required":
        assert value is None
    elif rule == "wrong type" and exc.field in ID_FIELDS:
        assert not isinstance(value, str)
    elif rule == "wrong type" and exc.field in BOUNDS:
        assert not number
    elif rule == "empty":
        assert value == ""
    elif rule == "too long":
        assert isinstance(value, str) and len(value) > MAX_ID_LEN
    elif rule == "not finite":
        assert number and not math.isfinite(value)
    elif rule == "out of range":
        lo, hi = BOUNDS[exc.field]
        assert number and not lo <= value <= hi
    elif rule == "bad time":
        assert exc.field == "ts" and value is not None


def reject(obj: Any, **kw: Any) -> str:
    with pytest.raises(Rejected) as info:
        validate(obj, ZONE, **kw)
    return str(info.value)


def test_three_ts_forms() -> None:
    with_offset = validate(dict(GPS), ZONE)["ts_ms"]
    naive = validate(dict(GPS, ts="2026-03-02T08:15:00"), ZONE)["ts_ms"]
    utc = validate(dict(GPS, ts="2026-03-02T00:15:00Z"), ZONE)["ts_ms"]
    epoch = validate(dict(GPS, ts=with_offset), ZONE)["ts_ms"]
    assert with_offset == naive == utc == epoch == 1772410500000


def test_reasons_name_field_and_rule() -> None:
    assert reject(dict(GPS, lat=999.0)) == "lat: 999.0 is outside [-90, 90]"
    assert reject(dict(GPS, lon=-180.5)) == "lon: -180.5 is outside [-180, 180]"
    assert reject(dict(GPS, ts="yesterday")).startswith("ts: 'yesterday' is not an ISO-8601")
    assert reject({k: v for k, v in GPS.items() if k != "lat"}) == "lat: is required"
    assert reject(dict(GPS, lat="41.8")) == "lat: '41.8' is not a number"
    assert reject(dict(GPS, lat=True)) == "lat: True is not a number"
    assert reject(dict(GPS, vehicle_id="")) == "vehicle_id: must not be empty"
    assert reject(dict(GPS, vehicle_id="V" * 129)) == "vehicle_id: 129 characters is over 128"
    assert reject(dict(GPS, speed_kmh=301)) == "speed_kmh: 301 is outside [0, 300]"
    assert reject(dict(GPS, ignition="yes")) == "ignition: 'yes' is not true or false"
    assert reject(dict(GPS, kind="teleport")).startswith("kind: 'teleport' is not one of")
    assert reject([1, 2]) == "record: [1, 2] is not a JSON object"


def test_reason_class_is_low_cardinality() -> None:
    with pytest.raises(Rejected) as info:
        validate(dict(GPS, lat=123.456), ZONE)
    assert info.value.reason == "lat: out of range"


def test_id_of_128_characters_is_fine() -> None:
    assert validate(dict(GPS, vehicle_id="V" * 128), ZONE)["vehicle_id"] == "V" * 128


def test_fuel_rules() -> None:
    fuel = {"kind": "fuel", "txn_id": "T", "card_id": "C", "ts": 1772410500000,
            "liters": 30, "amount_cny": 0, "station_id": "S"}
    assert validate(dict(fuel), ZONE)["liters"] == 30
    assert reject(dict(fuel, liters=0)) == "liters: 0 is outside (0, 2000]"
    assert reject(dict(fuel, liters=2000.5)) == "liters: 2000.5 is outside (0, 2000]"
    assert reject(dict(fuel, amount_cny=-1)) == "amount_cny: -1 is outside [0, ∞]"
    assert validate(dict(fuel, fuel_type="92#"), ZONE)
    assert reject(dict(fuel, fuel_type="93")).startswith("fuel_type: '93' is not a")
    assert reject(dict(fuel, station_lat=41.0)).startswith("station_lat:")


def test_payment_review_and_registry_rules() -> None:
    pay = {"kind": "payment", "payment_id": "P", "program": "DB", "payee_id": "X",
           "amount_cny": 1, "ts": "2026-03-31T16:30:00Z"}
    assert validate(dict(pay), ZONE)["period"] == "2026-04"  # the local month
    assert reject(dict(pay, amount_cny=0)) == "amount_cny: 0 is outside (0, ∞]"
    assert reject(dict(pay, period="2026-13")).startswith("period:")
    rev = {"kind": "review", "case_id": "C", "node": "n", "action": "enter", "ts": 0}
    assert reject(dict(rev, action="explode")).startswith("action: 'explode' is not one of")
    assert reject(dict(rev, sla_working_days=0)) == "sla_working_days: 0 is outside [1, 365]"
    assert reject(dict(rev, sla_working_days=2.5)).startswith("sla_working_days: 2.5 is not")
    death = {"kind": "death", "person_id": "X", "date_of_death": "2026-13-45", "ts": 0}
    assert reject(death) == "date_of_death: '2026-13-45' is not a valid date"
    veh = {"kind": "vehicle", "vehicle_id": "V", "unit": "U", "tank_liters": 50,
           "fuel_type": "lpg", "ts": 0}
    assert reject(veh).startswith("fuel_type: 'lpg' is not one of diesel, gasoline")


def test_topic_rules() -> None:
    bare = {k: v for k, v in GPS.items() if k != "kind"}
    assert validate(dict(bare), ZONE, default_kind="gps")["kind"] == "gps"
    assert reject(dict(bare)) == "kind: is required"  # e.g. on the registry topic
    registry = frozenset({"vehicle", "card", "station", "death"})
    assert reject(dict(GPS), allowed=registry) == "kind: 'gps' does not belong on this topic"


def test_batch_envelope_keeps_the_good_events() -> None:
    batch = [dict(GPS, ts=1772410500000 + i) for i in range(5)]
    batch[2]["lat"] = 999
    out = list(decode_record(orjson.dumps(batch), ZONE))
    assert [isinstance(x, Rejected) for x in out] == [False, False, True, False, False]


def test_oversized_record_and_batch() -> None:
    big = orjson.dumps(dict(GPS, blob="x" * MAX_RECORD_BYTES))
    (out,) = decode_record(big, ZONE)
    assert isinstance(out, Rejected) and out.reason == "record: too large"
    many = orjson.dumps([GPS] * 10_001)
    (out,) = decode_record(many, ZONE)
    assert isinstance(out, Rejected) and out.reason == "record: batch too large"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"42", b"null", b'"just a string"', b"\xff\xfe{}", b'{"lat": NaN}',
     b'{"lat": 1e999}', b"[" * 5000 + b"]" * 5000, b""],
)
def test_hostile_records_are_rejected_with_a_reason(raw: bytes) -> None:
    out = list(decode_record(raw, ZONE, default_kind="gps"))
    assert out and all(isinstance(x, Rejected) for x in out)
    for x in out:
        assert isinstance(x, Rejected)
        assert_reads_as_its_rule(x)
        assert x.field in ("record", "lat", "ts", "vehicle_id", "lon")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, "gps", "fuel", "payment", "review"]))
def test_fuzz_never_crashes(value: Any, kind: str | None) -> None:
    try:
        raw = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return
    items = value if isinstance(value, list) else [value]
    out = list(decode_record(raw, ZONE, default_kind=kind))
    if isinstance(value, list) and len(out) == len(items):
        pairs = list(zip(items, out, strict=True))
    else:  # one reject for the whole record
        assert len(out) == 1 and isinstance(out[0], Rejected)
        pairs = [(value, out[0])]
    for obj, item in pairs:
        if isinstance(item, Rejected):
            assert_reads_as_its_rule(item)
            if isinstance(obj, dict):
                assert_value_breaks_the_rule(item, obj)
            else:
                assert item.reason == "record: not an object"
        else:
            assert isinstance(obj, dict) and item["kind"] in ("gps", "fuel", "payment", "review")
            assert isinstance(item["ts_ms"], int)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "kind": st.just("gps"),
    "vehicle_id": st.text(max_size=140),
    "ts": st.one_of(st.integers(), st.text(max_size=30), st.floats()),
    "lat": st.one_of(st.floats(), st.integers(), st.text(max_size=3)),
    "lon": st.one_of(st.floats(), st.integers()),
}))
def test_fuzz_gps_fields(obj: dict[str, Any]) -> None:
    try:
        ev = validate(obj, ZONE)
    except Rejected as exc:
        assert exc.field in obj
        assert_reads_as_its_rule(exc)
        assert_value_breaks_the_rule(exc, obj)
        return
    assert -90 <= ev["lat"] <= 90 and math.isfinite(ev["lon"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes(raw: bytes) -> None:
    try:
        parsed: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
        (only,) = decode_record(raw, ZONE, default_kind="fuel")
        assert isinstance(only, Rejected) and only.reason == "record: not JSON"
    for item in decode_record(raw, ZONE, default_kind="fuel"):
        if isinstance(item, Rejected):
            assert_reads_as_its_rule(item)
        else:  # bytes that happen to be a whole fuel event: it is one
            assert isinstance(parsed, dict | list) and item["kind"] == "fuel"
            assert isinstance(item["ts_ms"], int)


# --- typologies: place, asset, the vehicle's rated consumption ----------------------

PLACE = {"kind": "place", "place_id": "PL1", "name": "棋盘山", "category": "scenic",
         "lat": 41.9, "lon": 123.6, "radius_m": 300, "ts": "2026-09-01T00:00:00+08:00"}
ASSET = {"kind": "asset", "person_id": "P1", "asset_kind": "vehicle", "asset_id": "辽A1",
         "from": "2026-01-01", "ts": "2026-09-01T00:00:00+08:00"}
VEHICLE = {"kind": "vehicle", "vehicle_id": "V1", "unit": "U", "tank_liters": 60,
           "fuel_type": "gasoline", "ts": "2026-09-01T00:00:00+08:00"}


def test_place_asset_and_rated_consumption_decode() -> None:
    assert validate(dict(PLACE), ZONE)["radius_m"] == 300
    assert validate(dict(ASSET, to="2026-01-01"), ZONE)["to"] == "2026-01-01"
    assert validate(dict(VEHICLE, rated_l_per_100km=8.5), ZONE)["rated_l_per_100km"] == 8.5


@pytest.mark.parametrize(("obj", "reason"), [
    (dict(PLACE, category="casino"), "category: 'casino' is not one of entertainment, golf, "
                                     "hotel, luxury_dining, other, private_club, residence, "
                                     "scenic"),
    (dict(PLACE, radius_m=9.9), "radius_m: 9.9 is outside [10, 5000]"),
    (dict(PLACE, radius_m=5001), "radius_m: 5001 is outside [10, 5000]"),
    ({k: v for k, v in PLACE.items() if k != "name"}, "name: is required"),
    (dict(PLACE, lat=91.0), "lat: 91.0 is outside [-90, 90]"),
    (dict(ASSET, asset_kind="yacht"), "asset_kind: 'yacht' is not one of company, "
                                      "housing_fund, property, vehicle"),
    (dict(ASSET, **{"from": "2026-02-30"}), "from: '2026-02-30' is not a valid date"),
    (dict(ASSET, to="2026-13-01"), "to: '2026-13-01' is not a valid date"),
    (dict(ASSET, to="2025-12-31"), "to: '2025-12-31' is before from '2026-01-01'"),
    ({k: v for k, v in ASSET.items() if k != "asset_id"}, "asset_id: is required"),
    (dict(VEHICLE, rated_l_per_100km=0), "rated_l_per_100km: 0 is outside (0, ∞]"),
    (dict(VEHICLE, rated_l_per_100km="8"), "rated_l_per_100km: '8' is not a number"),
])
def test_typology_records_rejected_with_field_and_rule(obj: dict[str, Any], reason: str) -> None:
    assert reject(obj) == reason
