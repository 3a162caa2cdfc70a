"""The replay's GPS fast path decodes exactly as `validate`, or leaves the object to it."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.events import Rejected, validate
from detectors.gps_fast import gps_fast
from detectors.timeutil import Zone

GOOD = {"kind": "gps", "vehicle_id": "V-1", "ts": "2026-04-27T08:15:30+08:00",
        "lat": 41.8, "lon": 123.4, "speed_kmh": 42.5, "ignition": True}


def _warm_zone() -> Zone:
    zone = Zone()
    zone.parse("2026-04-27T08:00:00+08:00")  # the hour is cached, as after the first fix
    return zone


def test_a_plain_fix_is_decoded_as_validate_decodes_it() -> None:
    zone = _warm_zone()
    fast = gps_fast(copy.deepcopy(GOOD), zone, None)
    assert fast is not None
    full = validate(copy.deepcopy(GOOD), zone)
    assert fast == full and list(fast) == list(full)
    no_kind = {k: v for k, v in GOOD.items() if k != "kind"}
    fast = gps_fast(copy.deepcopy(no_kind), zone, "gps")
    full = validate(copy.deepcopy(no_kind), zone, "gps")
    assert fast is not None and fast == full and list(fast) == list(full)


def test_what_it_does_not_know_it_leaves_untouched() -> None:
    cold = Zone()  # the hour not parsed yet: the full parse decides
    assert gps_fast(copy.deepcopy(GOOD), cold, None) is None
    zone = _warm_zone()
    for change in ({"lat": 999.0}, {"lat": -90.5}, {"lat": 90.5}, {"lon": -180.5},
                   {"lon": 180.5}, {"speed_kmh": 300.5}, {"lat": 41}, {"lon": None},
                   {"speed_kmh": -1}, {"ignition": 1},
                   {"vehicle_id": ""}, {"vehicle_id": "x" * 129}, {"kind": "fuel"},
                   {"ts": "2026-04-27T08:15:30Z"}, {"ts": "2026-04-27T08:15:60+08:00"},
                   {"ts": 1777248930000}, {"speed_kmh": float("nan")}):
        obj = {**GOOD, **change}
        before = copy.deepcopy(obj)
        assert gps_fast(obj, zone, None) is None
        assert obj == before
    assert gps_fast({k: v for k, v in GOOD.items() if k != "kind"}, zone, None) is None
    assert gps_fast([GOOD], zone, None) is None


_values = st.one_of(st.none(), st.booleans(), st.integers(-400, 400),
                    st.floats(-400, 400), st.floats(), st.text(max_size=30))


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["gps", "fuel", None]),
    "vehicle_id": st.one_of(st.text(max_size=130), _values),
    "ts": st.one_of(st.sampled_from(["2026-04-27T08:15:30+08:00", "2026-04-27T08:59:59+08:00",
                                     "2026-04-27T09:15:30+08:00", "2026-04-27T08:15:30+09:00",
                                     "2026-04-27T08:1٥:30+08:00"]), _values),
    "lat": st.one_of(st.floats(-91, 91), _values), "lon": st.one_of(st.floats(-181, 181), _values),
    "speed_kmh": st.one_of(st.floats(-1, 301), _values), "ignition": _values,
}), st.sampled_from([None, "gps", "fuel"]))
def test_fuzz_fast_path_agrees_with_validate(obj: dict[str, Any], default: str | None) -> None:
    zone = _warm_zone()
    fast = gps_fast(copy.deepcopy(obj), zone, default)
    try:
        full: Any = validate(copy.deepcopy(obj), zone, default)
    except Rejected:
        full = None
    if fast is not None:
        assert full is not None and fast == full and list(fast) == list(full)
