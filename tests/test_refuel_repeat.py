"""`refuel_repeat`: two refuels of one vehicle within 120 min exceeding 1.05 × the tank."""

from __future__ import annotations

from support import card, engine, fuel, run, subjects
from typology_support import rated_vehicle

REG = [rated_vehicle("V1", tank=60.0), card("C1", "V1")]
DAY = "2026-09-15"
UNTIL = "2026-09-17T00:00:00+08:00"


def at(hhmm: str) -> str:
    return f"{DAY}T{hhmm}:00+08:00"


def repeats(events: list) -> list[str]:
    return subjects(run(events, until=UNTIL), "refuel_repeat")


def test_pair_90_min_apart_at_0_6_and_0_6_of_the_tank_is_raised_once() -> None:
    alerts = run(REG + [fuel("T1", "C1", at("09:00"), liters=36.0),
                        fuel("T2", "C1", at("10:30"), liters=36.0)], until=UNTIL)
    (alert,) = [a for a in alerts if a["detector"] == "refuel_repeat"]
    assert alert["subject"] == "T2" and alert["event_ts"] == at("10:30")
    d = alert["details"]
    assert d["other_txn_id"] == "T1" and d["total_liters"] == 72.0 and d["tank_liters"] == 60.0
    assert d["minutes_apart"] == 90.0 and d["window"] == [at("08:30"), at("10:30")]
    assert [e["id"] for e in alert["evidence"]] == ["T1", "T2"]


def test_pair_180_min_apart_is_not_raised() -> None:
    assert repeats(REG + [fuel("T1", "C1", at("09:00"), liters=36.0),
                          fuel("T2", "C1", at("12:00"), liters=36.0)]) == []


def test_exactly_120_min_apart_is_raised_121_is_not() -> None:
    assert repeats(REG + [fuel("T1", "C1", at("09:00"), liters=36.0),
                          fuel("T2", "C1", at("11:00"), liters=36.0)]) == ["T2"]
    assert repeats(REG + [fuel("T1", "C1", at("09:00"), liters=36.0),
                          fuel("T2", "C1", at("11:01"), liters=36.0)]) == []


def test_pair_arriving_in_reverse_order_raises_the_later_on_arrival_of_the_earlier() -> None:
    eng = engine()
    later, earlier = fuel("T2", "C1", at("10:30"), liters=36.0), fuel("T1", "C1", at("09:00"),
                                                                     liters=36.0)
    assert subjects(run(REG + [later], eng=eng), "refuel_repeat") == []
    assert subjects(eng.process(dict(earlier)), "refuel_repeat") == ["T2"]  # on arrival
    assert subjects(eng.process(dict(earlier)), "refuel_repeat") == []  # once


def test_within_the_tank_is_not_raised() -> None:
    assert repeats(REG + [fuel("T1", "C1", at("09:00"), liters=30.0),
                          fuel("T2", "C1", at("09:30"), liters=33.0)]) == []  # 63 = 1.05 × 60


def test_ties_on_ts_the_smaller_txn_id_is_the_earlier() -> None:
    assert repeats(REG + [fuel("TB", "C1", at("09:00"), liters=36.0),
                          fuel("TA", "C1", at("09:00"), liters=36.0)]) == ["TB"]


def test_a_chain_raises_each_later_transaction_once() -> None:
    events = REG + [fuel("T1", "C1", at("09:00"), liters=40.0),
                    fuel("T2", "C1", at("10:00"), liters=40.0),
                    fuel("T3", "C1", at("11:00"), liters=40.0)]
    assert repeats(events) == ["T2", "T3"]
    assert repeats(events + [dict(e) for e in events[2:]]) == ["T2", "T3"]


def test_a_vehicle_without_a_registry_record_is_not_checked() -> None:
    assert repeats([fuel("T1", "C9", at("09:00"), liters=90.0, vehicle_id="GHOST"),
                    fuel("T2", "C9", at("09:30"), liters=90.0, vehicle_id="GHOST")]) == []


def test_the_card_binding_decides_the_vehicle() -> None:
    events = REG + [rated_vehicle("V2"), card("C2", "V2"),
                    fuel("T1", "C1", at("09:00"), liters=36.0),
                    fuel("T2", "C2", at("09:30"), liters=36.0, vehicle_id="V1")]
    assert repeats(events) == []  # C2 is bound to V2: one fill each


def test_state_forgets_old_transactions() -> None:
    eng = engine()
    run(REG + [fuel("T1", "C1", at("09:00"), liters=36.0)], until=UNTIL, eng=eng)
    (state,) = eng.states[0].values()
    assert not state.get("fills")
