"""`welfare_ineligible`: means-tested payments to holders of a vehicle or a company on the
payment's local date, whatever order the payments and the asset records arrive in."""

from __future__ import annotations

from support import engine, payment, run, subjects
from typology_support import asset

UNTIL = "2027-01-01T00:00:00+08:00"
PAYS = [payment(f"PAY-{m}", "P1", f"2026-{m:02d}-05T10:00:00+08:00") for m in range(1, 7)]


def raised(events: list) -> list[str]:
    return subjects(run(events, until=UNTIL), "welfare_ineligible")


def test_an_asset_recorded_months_after_the_payments_raises_for_each() -> None:
    late = asset("P1", "vehicle", "辽A12345", "2025-06-01", "2026-09-15T11:00:00+08:00")
    alerts = [a for a in run(PAYS + [late], until=UNTIL) if a["detector"] == "welfare_ineligible"]
    assert sorted(a["subject"] for a in alerts) == [f"PAY-{m}" for m in range(1, 7)]
    d = alerts[0]["details"]
    assert d["asset_kind"] == "vehicle" and d["asset_id"] == "辽A12345"
    assert d["asset_from"] == "2025-06-01" and d["asset_to"] is None
    assert d["payment_date"] == "2026-01-05" and alerts[0]["entity"] == {"kind": "payee",
                                                                         "id": "P1"}


def test_an_asset_recorded_first_raises_on_each_payment() -> None:
    first = asset("P1", "company", "91210100MA0000001", "2026-03-05", "2025-12-01T09:00:00+08:00")
    assert raised([first] + PAYS) == ["PAY-3", "PAY-4", "PAY-5", "PAY-6"]


def test_intervals_starting_or_ending_on_a_payment_date() -> None:
    rec = "2025-12-01T09:00:00+08:00"
    starts = asset("P1", "vehicle", "A", "2026-03-05", rec, end="2026-04-05")
    assert raised([starts] + PAYS) == ["PAY-3", "PAY-4"]  # both ends inclusive
    between = asset("P1", "vehicle", "A", "2026-03-06", rec, end="2026-04-04")
    assert raised([between] + PAYS) == []


def test_a_payment_at_17_30_utc_the_day_before_counts_on_its_local_date() -> None:
    rec = "2025-12-01T09:00:00+08:00"
    pay = payment("PAY-X", "P1", "2026-07-04T17:30:00Z")  # 2026-07-05 01:30 local
    assert raised([asset("P1", "vehicle", "A", "2026-07-05", rec), pay]) == ["PAY-X"]
    assert raised([asset("P1", "vehicle", "A", "2026-01-01", rec, end="2026-07-04"), pay]) == []


def test_a_programme_that_is_not_means_tested_is_not_raised() -> None:
    rec = "2025-12-01T09:00:00+08:00"
    pays = [payment("GL-1", "P1", "2026-03-12T10:00:00+08:00", program="GL"),
            payment("TK-1", "P1", "2026-03-12T11:00:00+08:00", program="TK")]
    assert raised([asset("P1", "vehicle", "A", "2025-01-01", rec)] + pays) == ["TK-1"]


def test_assets_that_do_not_disqualify() -> None:
    rec = "2025-12-01T09:00:00+08:00"
    held = [asset("P1", "property", "沈房1", "2020-01-01", rec),
            asset("P1", "housing_fund", "GJJ1", "2020-01-01", rec),
            asset("P2", "vehicle", "B", "2020-01-01", rec)]
    assert raised(held + PAYS) == []


def test_a_later_record_replaces_the_earlier_and_raised_alerts_stand() -> None:
    eng = engine()
    first = asset("P1", "vehicle", "A", "2025-01-01", "2026-02-01T09:00:00+08:00")
    assert subjects(run([first] + PAYS[:3], eng=eng), "welfare_ineligible") == [
        "PAY-1", "PAY-2", "PAY-3"]
    sold = asset("P1", "vehicle", "A", "2025-01-01", "2026-03-10T09:00:00+08:00",
                 end="2026-01-31")
    assert run([sold] + PAYS[3:], eng=eng) == []  # sold in January: later payments are fine
    stale = asset("P1", "vehicle", "A", "2025-01-01", "2026-02-01T08:00:00+08:00")
    assert run([stale, payment("PAY-7", "P1", "2026-07-05T10:00:00+08:00")], eng=eng) == []


def test_payments_older_than_400_days_are_forgotten() -> None:
    old = payment("OLD", "P1", "2025-01-05T10:00:00+08:00")
    new = payment("NEW", "P1", "2026-03-05T10:00:00+08:00")
    late = asset("P1", "vehicle", "A", "2024-01-01", "2026-03-06T10:00:00+08:00")
    assert raised([old, new, late]) == ["NEW"]
