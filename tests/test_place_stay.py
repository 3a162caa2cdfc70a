"""`restricted_place_stay`: stays of 30 min or more at a restricted place, decided at the
end of the local date; the grid index finds exactly the places a brute force finds."""

from __future__ import annotations

import random
from dataclasses import replace
from types import MappingProxyType

from support import CONFIG, ZONE, engine, gps, run, subjects, track
from typology_support import place, rated_vehicle

from detectors.geo import distance_km
from detectors.places import PlaceIndex

SCENIC = (41.90, 123.50)
AWAY = (41.80, 123.40)  # about 13 km from the scenic spot
REG = [rated_vehicle("V1"), rated_vehicle("POLICE", exempt=True),
       place("PL1", *SCENIC, radius_m=200.0)]
DAY = "2026-09-15"
UNTIL = "2026-09-16T00:00:00+08:00"


def at(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00+08:00"


def parked(vid: str, hhmm: str, minutes: int, where: tuple[float, float] = SCENIC) -> list:
    return track(vid, at(hhmm), minutes, 60, [where])


def stays(events: list, until: str = UNTIL) -> list[str]:
    return subjects(run(events, until=until), "restricted_place_stay")


def test_a_40_minute_stay_is_raised_a_20_minute_stay_is_not() -> None:
    alerts = run(REG + parked("V1", "10:00", 40), until=UNTIL)
    (alert,) = [a for a in alerts if a["detector"] == "restricted_place_stay"]
    assert alert["subject"] == f"V1/PL1/{DAY}"
    d = alert["details"]
    assert d["arrival"] == at("10:00") and d["departure"] == at("10:40")
    assert d["minutes"] == 40.0 and d["place"]["radius_m"] == 200.0 and len(d["track"]) == 41
    assert stays(REG + parked("V1", "10:00", 20)) == []


def test_exactly_30_minutes_is_raised() -> None:
    assert stays(REG + parked("V1", "10:00", 30)) == [f"V1/PL1/{DAY}"]
    assert stays(REG + parked("V1", "10:00", 29)) == []


def test_a_60_minute_stay_with_a_25_minute_silence_is_not_raised() -> None:
    events = REG + parked("V1", "10:00", 17) + parked("V1", "10:42", 18)  # 25 min silent
    assert stays(events) == []
    events = REG + parked("V1", "10:00", 17) + parked("V1", "10:37", 18)  # 20 min: one run
    assert stays(events) == [f"V1/PL1/{DAY}"]


def test_two_20_minute_stays_on_one_day_are_not_raised() -> None:
    events = REG + parked("V1", "10:00", 20) + track("V1", at("10:21"), 30, 60, [AWAY])
    events += parked("V1", "11:00", 20)
    assert stays(events) == []


def test_driving_straight_through_is_not_raised() -> None:
    through = track("V1", at("10:00"), 60, 15, [(41.85, 123.45), (41.95, 123.55)])
    assert stays(REG + through) == []


def test_an_exempt_vehicle_is_not_raised() -> None:
    assert stays(REG + parked("POLICE", "10:00", 90)) == []


def test_a_vehicle_without_a_registry_record_is_checked() -> None:
    assert stays(REG + parked("NEW", "10:00", 40)) == [f"NEW/PL1/{DAY}"]


def test_decided_once_the_clock_passes_the_end_of_the_date() -> None:
    eng = engine()
    assert stays(REG + parked("V1", "10:00", 40), until=at("23:59")) == []
    run(REG + parked("V1", "10:00", 40), eng=eng)
    assert eng.advance_to(ZONE.parse(at("23:59"))) == []
    assert subjects(eng.advance_to(ZONE.parse(UNTIL))) == [f"V1/PL1/{DAY}"]


def test_one_alert_per_vehicle_place_and_date_with_the_longest_stay() -> None:
    events = REG + parked("V1", "10:00", 40) + track("V1", at("10:41"), 30, 60, [AWAY])
    events += parked("V1", "12:00", 50)
    alerts = [a for a in run(events, until=UNTIL) if a["detector"] == "restricted_place_stay"]
    assert len(alerts) == 1 and alerts[0]["details"]["arrival"] == at("12:00")
    events += track("V1", at("10:00", "2026-09-16"), 40, 60, [SCENIC])
    assert stays(events, until="2026-09-17T00:00:00+08:00") == [
        "V1/PL1/2026-09-15", "V1/PL1/2026-09-16"]


def test_categories_are_a_setting() -> None:
    hotel = [rated_vehicle("V1"), place("H1", *SCENIC, category="hotel")]
    assert stays(hotel + parked("V1", "10:00", 60)) == []
    rule = CONFIG.rule("restricted_place_stay")
    params = dict(rule.params, categories=[*rule.params["categories"], "hotel"])
    rules = dict(CONFIG.rules, restricted_place_stay=replace(rule, params=params))
    config = replace(CONFIG, rules=MappingProxyType(rules))
    alerts = run(hotel + parked("V1", "10:00", 60), until=UNTIL, eng=engine(config))
    assert subjects(alerts, "restricted_place_stay") == [f"V1/H1/{DAY}"]


def test_the_place_as_of_each_fix() -> None:
    later = [rated_vehicle("V1"), place("PL1", *SCENIC, ts=at("10:20"))]
    assert stays(later + parked("V1", "10:00", 40)) == []  # 20 min after it exists
    moved = REG + [place("PL1", *AWAY, ts=at("10:20"))]
    assert stays(moved + parked("V1", "10:00", 40)) == []
    category = REG + [place("PL1", *SCENIC, category="other", ts="2026-09-01T00:00:00+08:00")]
    assert stays(category + parked("V1", "10:00", 40)) == []


def test_a_stay_is_found_among_thousands_of_places() -> None:
    rng = random.Random(5)
    many = [place(f"X{i}", 41.5 + rng.random(), 123.0 + rng.random(), radius_m=50.0)
            for i in range(3000)]
    events = [rated_vehicle("V1"), *many, place("PL1", *SCENIC, radius_m=200.0)]
    events += track("V1", at("08:00"), 120, 30, [AWAY, SCENIC]) + parked("V1", "10:01", 45)
    found = stays(events)
    assert f"V1/PL1/{DAY}" in found


def test_the_grid_finds_every_place_a_fix_is_inside() -> None:
    rng = random.Random(11)
    index = PlaceIndex(1000)
    circles = []
    for i in range(150):
        lat, lon = 41.0 + rng.random(), 123.0 + rng.random()
        radius = rng.choice([10.0, 150.0, 800.0, 2500.0, 5000.0])
        index.add(f"P{i}", {"lat": lat, "lon": lon, "radius_m": radius})
        circles.append((f"P{i}", lat, lon, radius))
    for _ in range(1500):
        lat, lon = 41.0 + rng.random(), 123.0 + rng.random()
        inside = {p for p, la, lo, r in circles if distance_km(lat, lon, la, lo) * 1000 <= r}
        assert inside <= set(index.near(lat, lon))


def test_gps_alone_keeps_nothing_for_places() -> None:
    eng = engine()
    run([gps("V1", at("10:00"), *SCENIC)], until="2026-10-02T00:00:00+08:00", eng=eng)
    assert eng.states[0] == {}
