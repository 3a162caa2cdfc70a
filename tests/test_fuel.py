"""Fuel-card detectors, with the traps: late GPS bursts, gaps with a visible trip,
bindings as they were at the transaction, duplicates."""

from __future__ import annotations

from support import (
    DEPOT,
    FAR_STATION,
    STATION,
    card,
    engine,
    fuel,
    gps,
    run,
    station,
    subjects,
    track,
    vehicle,
)

REGISTRY = [
    vehicle("V1", tank=60.0, fuel_type="gasoline"),
    vehicle("V2", tank=60.0, fuel_type="diesel"),
    card("C1", "V1"),
    card("C2", "V2"),
    station("ST-1", *STATION),
    station("ST-FAR", *FAR_STATION),
]
DAY = "2026-09-15"  # a Tuesday


def t(hhmm: str) -> str:
    return f"{DAY}T{hhmm}:00+08:00"


def parked(vid: str, start: str, minutes: int) -> list:
    return track(vid, t(start), minutes, 600, [DEPOT])


def clock_to(hhmm: str) -> list:
    """Another vehicle's heartbeat, which moves the clock."""
    return [gps("CLOCK", t(hhmm), 41.0, 123.0)]


def test_refuel_without_trip_when_parked_all_window() -> None:
    eng = engine()
    events = REGISTRY + parked("V1", "07:00", 240) + [fuel("TX1", "C1", t("10:00"))]
    early = run(events + clock_to("11:09"), eng=eng)
    assert subjects(early, "refuel_without_trip") == []  # clock 10:59 < T + 60 min
    late = run(clock_to("11:10"), eng=eng)
    assert subjects(late, "refuel_without_trip") == ["TX1"]
    alert = late[0]
    assert alert["severity"] == "high"
    assert alert["entity"] == {"kind": "vehicle", "id": "V1"}
    assert alert["details"]["path_km"] < 1.0
    assert alert["details"]["gaps"] == []
    assert alert["unit"] == "市发改委"


MID = (41.83, 123.45)


def to_far_and_back(start: str = "09:00") -> list:
    """Depot at `start`, at ST-FAR one hour later, back at the depot after another hour."""
    h = int(start[:2])
    there = track("V1", t(start), 60, 30, [DEPOT, MID, FAR_STATION])
    back = track("V1", t(f"{h + 1:02d}:00:30"[:5]), 60, 30, [FAR_STATION, MID, DEPOT])
    return there + back[1:]


def test_drive_to_station_raises_nothing() -> None:
    events = REGISTRY + parked("V1", "07:00", 110) + to_far_and_back("09:00")
    events += [fuel("TX1", "C1", t("10:00"), station_id="ST-FAR")]
    assert run(events, until=t("14:00")) == []


def test_late_gps_burst_within_grace_is_no_false_alert() -> None:
    eng = engine()
    # Parked fixes up to 09:00 arrive live; the device then loses its uplink.
    live = REGISTRY + parked("V1", "07:00", 110)
    live += [fuel("TX1", "C1", t("10:00"), station_id="ST-FAR")]
    alerts = run(live + clock_to("12:00"), eng=eng)  # past T + 60 min: a gap, so wait
    assert alerts == []
    # An hour late, the buffered fixes arrive: the car drove 09:00-11:00 via the station.
    alerts += run(to_far_and_back("09:00") + clock_to("13:30"), eng=eng)
    assert alerts == []


def test_device_silent_is_unverifiable_not_an_accusation() -> None:
    events = REGISTRY + parked("V1", "05:00", 180) + [fuel("TX1", "C1", t("10:00"))]
    events += parked("V1", "11:35", 60)  # silent from 08:00 to 11:35
    alerts = run(events + clock_to("13:09"))
    assert alerts == []  # T + 60 min + 2 h not yet passed
    alerts = run(events + clock_to("13:10"))
    assert subjects(alerts) == ["TX1"]
    assert alerts[0]["detector"] == "refuel_unverifiable"
    assert alerts[0]["severity"] == "low"
    assert alerts[0]["details"]["gaps"]


def test_gap_with_a_visible_trip_is_not_unverifiable() -> None:
    events = REGISTRY + parked("V1", "07:00", 90)  # fixes until 08:30, then 75 min silent
    events += track("V1", t("09:45"), 15, 30, [MID, FAR_STATION])
    events += track("V1", t("10:00"), 60, 30, [FAR_STATION, MID])[1:]
    events += [fuel("TX1", "C1", t("10:00"), station_id="ST-FAR")]
    assert run(events, until=t("14:00")) == []


def test_location_mismatch_when_driving_elsewhere() -> None:
    route = [DEPOT, (41.75, 123.30), DEPOT]  # a loop south-west, far from ST-FAR
    events = REGISTRY + track("V1", t("07:30"), 240, 30, route)
    events += [fuel("TX1", "C1", t("10:00"), station_id="ST-FAR")]
    alerts = run(events, until=t("14:00"))
    assert [(a["detector"], a["subject"]) for a in alerts] == [
        ("refuel_location_mismatch", "TX1")
    ]
    assert alerts[0]["details"]["nearest_fix"]["distance_km"] > 1.0


def test_station_position_on_the_event_wins() -> None:
    route = [DEPOT, (41.75, 123.30), DEPOT]
    events = REGISTRY + track("V1", t("07:30"), 240, 30, route)
    at_10 = [e for e in events if e.get("ts_ms") and e["kind"] == "gps"]
    here = min(at_10, key=lambda e: abs(e["ts_ms"] - at_10[0]["ts_ms"] - 150 * 60_000))
    events += [
        fuel("TX1", "C1", t("10:00"), station_id="UNKNOWN",
             station_lat=here["lat"], station_lon=here["lon"])
    ]
    assert run(events, until=t("14:00")) == []


def test_tank_overfill_boundary() -> None:
    events = REGISTRY + [
        fuel("TX1", "C1", t("10:00"), liters=63.0),  # exactly 1.05 x 60: allowed
        fuel("TX2", "C1", t("10:05"), liters=63.5),
    ]
    assert subjects(run(events), "tank_overfill") == ["TX2"]


def test_fuel_type_family() -> None:
    events = REGISTRY + [
        fuel("TX1", "C1", t("10:00"), fuel_type="0#"),  # diesel into a gasoline car
        fuel("TX2", "C1", t("10:01"), fuel_type="95"),
        fuel("TX3", "C2", t("10:02"), fuel_type="-10"),  # diesel car, diesel
        fuel("TX4", "C2", t("10:03"), fuel_type="92#"),
    ]
    assert subjects(run(events), "fuel_type_mismatch") == ["TX1", "TX4"]


def test_card_vehicle_mismatch_cases() -> None:
    events = REGISTRY + [
        card("C3", "V1", status="revoked"),
        fuel("TX1", "C9", t("10:00"), vehicle_id="V1"),  # unbound card
        fuel("TX2", "C3", t("10:01"), vehicle_id="V1"),  # revoked card
        fuel("TX3", "C1", t("10:02"), vehicle_id="辽A-PRIV1"),  # another plate keyed in
        fuel("TX4", "C1", t("10:03"), vehicle_id=" v1 "),  # same plate, keyed sloppily
        fuel("TX5", "C1", t("10:04")),  # no plate keyed: the binding decides
    ]
    assert subjects(run(events), "card_vehicle_mismatch") == ["TX1", "TX2", "TX3"]


def test_binding_is_taken_as_it_was_at_the_transaction() -> None:
    events = REGISTRY + [
        card("C1", "V2", ts=t("09:00")),  # rebound to V2 from 09:00
        fuel("TX1", "C1", t("08:30"), vehicle_id="V1"),
        fuel("TX2", "C1", t("09:30"), vehicle_id="V1"),
    ]
    assert subjects(run(events), "card_vehicle_mismatch") == ["TX2"]


def test_no_binding_and_no_plate_is_unverifiable() -> None:
    alerts = run(REGISTRY + [fuel("TX1", "C9", t("10:00"))], until=t("13:00"))
    assert sorted((a["detector"], a["subject"]) for a in alerts) == [
        ("card_vehicle_mismatch", "TX1"),
        ("refuel_unverifiable", "TX1"),
    ]
    assert alerts[0]["entity"] == {"kind": "card", "id": "C9"}


def test_same_transaction_twice_is_one() -> None:
    tx = fuel("TX1", "C1", t("10:00"), liters=80.0)
    events = REGISTRY + parked("V1", "07:00", 240) + [tx, dict(tx)]
    alerts = run(events + [dict(tx)], until=t("13:00"))
    assert sorted((a["detector"], a["subject"]) for a in alerts) == [
        ("refuel_without_trip", "TX1"),
        ("tank_overfill", "TX1"),
    ]
