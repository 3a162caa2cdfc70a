"""`fuel_economy_anomaly`: a month's fuel against the month's distance, decided once the
clock passes the end of the month, from per-day distance totals."""

from __future__ import annotations

from support import ZONE, card, engine, fuel, run, subjects, track
from typology_support import rated_vehicle

A, B = (41.80, 123.40), (41.80, 123.52)  # about 10 km apart
REG = [rated_vehicle("V1", tank=80.0), card("C1", "V1")]
END = "2026-10-01T00:00:00+08:00"


def drive(day: str, legs: int = 1) -> list:
    """`legs` × 10 km back and forth between A and B, in the morning of `day`."""
    path = [A if i % 2 == 0 else B for i in range(legs + 1)]
    return track("V1", f"{day}T09:00:00+08:00", 10 * legs, 20, path)


def fills(liters: list[float]) -> list:
    return [fuel(f"T{i}", "C1", f"2026-09-{10 + i:02d}T12:00:00+08:00", liters=lit)
            for i, lit in enumerate(liters)]


def anomalies(events: list, until: str = END) -> list[str]:
    return subjects(run(events, until=until), "fuel_economy_anomaly")


def test_just_over_100_liters_is_raised_just_under_is_not() -> None:
    days = drive("2026-09-10", 2) + drive("2026-09-20", 2)  # about 40 km
    alerts = run(REG + days + fills([50.0, 50.5]), until=END)
    (alert,) = [a for a in alerts if a["detector"] == "fuel_economy_anomaly"]
    assert alert["subject"] == "V1/2026-09"
    d = alert["details"]
    assert d["liters"] == 100.5 and 39 < d["km"] < 41 and d["rated_l_per_100km"] == 10.0
    assert d["l_per_100km"] > 200 and [x["date"] for x in d["days"] if x["km"]] == [
        "2026-09-10", "2026-09-20"]
    assert anomalies(REG + days + fills([50.0, 49.5])) == []


def test_enough_distance_for_the_fuel_is_not_raised() -> None:
    days = []
    for n in range(1, 29, 2):  # 14 days of about 60 km: about 840 km
        days += drive(f"2026-09-{n:02d}", 6)
    assert anomalies(REG + days + fills([60.0, 60.0])) == []  # 14.3 L/100 km < 15
    assert anomalies(REG + days + fills([70.0, 70.0])) == ["V1/2026-09"]  # 16.7


def test_the_rated_consumption_as_of_the_end_of_the_month() -> None:
    days = drive("2026-09-10", 2)
    thirsty = [rated_vehicle("V1", rated=400.0, ts="2026-09-30T12:00:00+08:00")]
    assert anomalies(REG + thirsty + days + fills([50.0, 50.5])) == []
    later = [rated_vehicle("V1", rated=400.0, ts="2026-10-01T00:00:00+08:00")]
    assert anomalies(REG + later + days + fills([50.0, 50.5])) == ["V1/2026-09"]


def test_decided_once_the_clock_passes_the_end_of_the_month() -> None:
    eng = engine()
    run(REG + drive("2026-09-10") + fills([60.0, 60.0]), eng=eng)
    early = eng.advance_to(ZONE.parse("2026-09-30T23:59:59+08:00"))
    assert subjects(early, "fuel_economy_anomaly") == []
    assert subjects(eng.advance_to(ZONE.parse(END)), "fuel_economy_anomaly") == ["V1/2026-09"]


def test_the_local_date_of_a_transaction_decides_its_month() -> None:
    late = [fuel("T9", "C1", "2026-09-30T16:30:00Z", liters=60.0)]  # 10-01 00:30 local
    assert anomalies(REG + fills([60.0]) + late, until="2026-11-01T00:00:00+08:00") == []


def test_a_vehicle_without_a_registry_record_is_not_counted() -> None:
    ghost = [fuel(f"G{i}", "C9", f"2026-09-1{i}T12:00:00+08:00", liters=60.0,
                  vehicle_id="GHOST") for i in range(3)]
    assert anomalies(ghost) == []


def test_state_holds_day_totals_not_a_month_of_fixes() -> None:
    eng = engine()
    events = []
    for n in range(1, 29):
        events += drive(f"2026-09-{n:02d}", 1)
    events = REG + sorted(events + fills([60.0]), key=lambda e: e["ts_ms"])
    run(events, until="2026-09-29T12:00:00+08:00", eng=eng)
    (state,) = eng.states[0].values()
    assert len(state["day_km"]) == 28
    assert len(state["fixes"]) < 100  # the last hours only
    run([], until="2026-10-01T00:00:00+08:00", eng=eng)
    (state,) = eng.states[0].values()
    assert "fuel_months" not in state and set(state["fuel_decided"]) == {"2026-09"}
    run([], until="2026-10-04T00:00:00+08:00", eng=eng)  # late_days after the month's end
    assert eng.states[0] == {}  # nothing is left to keep


def test_a_transaction_delivered_after_the_month_was_decided_still_counts() -> None:
    eng = engine()
    days = drive("2026-09-10", 2)
    assert subjects(run(REG + days + fills([50.0]), until=END, eng=eng),
                    "fuel_economy_anomaly") == []
    late = fuel("T9", "C1", "2026-09-29T12:00:00+08:00", liters=50.5)
    assert subjects(eng.process(dict(late)), "fuel_economy_anomaly") == ["V1/2026-09"]
    assert eng.process(dict(late)) == []  # once
    eng.advance_to(ZONE.parse("2026-10-04T00:00:00+08:00"))
    too_late = fuel("T10", "C1", "2026-09-29T13:00:00+08:00", liters=60.0)
    assert subjects(eng.process(dict(too_late)), "fuel_economy_anomaly") == []
