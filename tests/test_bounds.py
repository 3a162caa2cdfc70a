"""State never grows without bound: payees, closed cases and idle vehicle keys are
forgotten once nothing can depend on them, and a vehicle's state keeps no empty parts."""

from __future__ import annotations

from typing import Any

from support import (
    CONFIG,
    DEPOT,
    ZONE,
    card,
    death,
    engine,
    fuel,
    payment,
    review,
    run,
    subjects,
    track,
    vehicle,
)

from detectors.engine import Engine
from detectors.timeutil import DAY_MS

KEEP_DAYS = int(CONFIG.rule("payment_after_death").num("keep_days"))
DEATH_KEPT_DAYS = int(CONFIG.rule("payment_after_death").num("death_kept_days"))
CLOSED_KEPT_DAYS = int(CONFIG.rule("review_overdue").num("closed_kept_days"))


def keys(eng: Engine, family: str) -> dict[str, Any]:
    return next(eng.states[i] for i, d in enumerate(eng.detectors) if d.name == family)


def later(iso: str, days: float) -> str:
    return ZONE.iso(ZONE.parse(iso) + int(days * DAY_MS))


PAID = "2026-02-05T10:00:00+08:00"


def test_a_payee_is_forgotten_400_days_after_their_last_payment() -> None:
    eng = engine()
    run([payment("PAY-1", "P1", PAID), payment("PAY-2", "P1", later(PAID, 30), period="2026-03")],
        eng=eng)
    run([], until=later(PAID, 30 + KEEP_DAYS - 1), eng=eng)
    assert list(keys(eng, "payee")["P1"]["payments"]) == ["PAY-2"]  # PAY-1 went on time
    run([], until=later(PAID, 30 + KEEP_DAYS + 1), eng=eng)
    assert "P1" not in keys(eng, "payee")
    assert all("P1" not in scheduled for scheduled in eng.scheduled)


def test_a_death_outlives_the_payments_for_its_own_term_and_is_still_used() -> None:
    recorded = later(PAID, 10)
    eng = engine()
    run([payment("PAY-1", "P1", PAID), death("P1", "2026-02-10", recorded)], eng=eng)
    run([], until=later(PAID, KEEP_DAYS + 1), eng=eng)
    assert keys(eng, "payee")["P1"] == {"death": {"date": "2026-02-10",
                                                  "recorded": ZONE.parse(recorded)}}
    # a payment while only the death is kept is still a payment after death
    alerts = run([payment("PAY-9", "P1", later(PAID, KEEP_DAYS + 2), period="2027-03")], eng=eng)
    assert subjects(alerts, "payment_after_death") == ["PAY-9"]
    run([], until=later(PAID, 2 * KEEP_DAYS + DEATH_KEPT_DAYS + 5), eng=eng)
    assert "P1" not in keys(eng, "payee")


def test_a_death_alone_is_forgotten_after_its_term() -> None:
    eng = engine()
    run([death("P7", "2026-02-10", PAID)], until=later(PAID, DEATH_KEPT_DAYS - 1), eng=eng)
    assert "P7" in keys(eng, "payee")
    run([], until=later(PAID, DEATH_KEPT_DAYS + 1), eng=eng)
    assert "P7" not in keys(eng, "payee")


ENTERED = "2026-09-07T10:00:00+08:00"


def test_a_closed_case_is_forgotten_after_the_grace_an_open_one_is_kept() -> None:
    eng = engine()
    closed = later(ENTERED, 1)
    run([review("C1", "a", "enter", ENTERED, sla=5), review("C1", "a", "complete", closed),
         review("C2", "a", "enter", ENTERED, sla=5),  # goes overdue and stays open
         review("C3", "a", "enter", ENTERED, sla=5), review("C3", "a", "suspend", closed)],
        eng=eng)
    run([], until=later(closed, CLOSED_KEPT_DAYS - 1), eng=eng)
    assert set(keys(eng, "case")) == {"C1", "C2", "C3"}
    alerts = run([], until=later(closed, CLOSED_KEPT_DAYS + 1), eng=eng)
    assert set(keys(eng, "case")) == {"C2", "C3"}
    assert alerts == []  # forgetting raises nothing
    run([], until=later(closed, 10 * CLOSED_KEPT_DAYS), eng=eng)
    assert set(keys(eng, "case")) == {"C2", "C3"}


def test_a_redelivered_step_within_the_grace_changes_nothing() -> None:
    eng = engine()
    steps = [review("C1", "a", "enter", ENTERED, sla=1),
             review("C1", "a", "complete", later(ENTERED, 10))]  # completed late: raised
    first = run(steps, until=later(ENTERED, 11), eng=eng)
    assert subjects(first) == ["C1/a"]
    assert run(steps, until=later(ENTERED, 12), eng=eng) == []


T = "2026-09-15T10:00:00+08:00"


def test_a_mistyped_plate_and_a_card_key_are_forgotten() -> None:
    eng = engine()
    alerts = run([fuel("TX1", "C-UNKNOWN", T, vehicle_id="LN-TYPO"),
                  fuel("TX2", "C-NOBODY", T)], until=later(T, 1), eng=eng)
    assert {a["detector"] for a in alerts} >= {"card_vehicle_mismatch", "refuel_unverifiable"}
    assert set(keys(eng, "vehicle")) == {"LN-TYPO", "card:C-NOBODY"}
    assert keys(eng, "vehicle")["LN-TYPO"].keys() == {"fixes", "done", "next"}
    run([], until=later(T, 3), eng=eng)  # past the days a decided transaction is kept
    assert keys(eng, "vehicle") == {}


def test_a_fuel_transaction_redelivered_within_two_days_is_not_decided_again() -> None:
    eng = engine()
    events = [vehicle("V1"), card("C1", "V1"), *track("V1", later(T, -0.1), 240, 60, [DEPOT]),
              fuel("TX1", "C1", T)]
    first = run(events, until=later(T, 0.5), eng=eng)
    assert subjects(first) == ["TX1"]
    assert run([fuel("TX1", "C1", T)], until=later(T, 1.5), eng=eng) == []
