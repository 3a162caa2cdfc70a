"""`payment_after_death` and `duplicate_payment`."""

from __future__ import annotations

from support import death, payment, run, subjects


def test_death_registered_months_after_the_payments() -> None:
    events = [
        payment("PAY-1", "P1", "2026-02-05T10:00:00+08:00", period="2026-02"),
        payment("PAY-2", "P1", "2026-03-05T10:00:00+08:00", period="2026-03"),  # D+32
        payment("PAY-3", "P1", "2026-04-05T10:00:00+08:00", period="2026-04"),
        death("P1", "2026-02-01", "2026-07-15T09:00:00+08:00"),
    ]
    alerts = run(events)
    assert subjects(alerts) == ["PAY-2", "PAY-3"]
    assert alerts[0]["severity"] == "critical"
    assert alerts[0]["details"]["date_of_death"] == "2026-02-01"
    assert alerts[0]["entity"] == {"kind": "payee", "id": "P1"}


def test_death_known_before_the_payment() -> None:
    events = [
        death("P1", "2026-03-10", "2026-03-20T09:00:00+08:00"),
        payment("PAY-1", "P1", "2026-04-09T10:00:00+08:00"),  # D+30: not yet
        payment("PAY-2", "P1", "2026-04-10T10:00:00+08:00", period="2026-05"),  # D+31
    ]
    assert subjects(run(events)) == ["PAY-2"]


def test_utc_timestamps_near_local_midnight() -> None:
    events = [
        death("P1", "2026-03-10", "2026-03-20T09:00:00+08:00"),
        # 15:30Z on 04-09 is 23:30 local on 04-09 (D+30): no alert
        payment("PAY-1", "P1", "2026-04-09T15:30:00Z", period="2026-04"),
        # 16:30Z on 04-09 is 00:30 local on 04-10 (D+31): an alert, though its UTC date is D+30
        payment("PAY-2", "P1", "2026-04-09T16:30:00Z", period="2026-05"),
    ]
    assert subjects(run(events)) == ["PAY-2"]


def test_epoch_millisecond_timestamps() -> None:
    events = [death("P1", "2026-03-10", "2026-03-20T09:00:00+08:00"),
              payment("PAY-1", "P1", 1775751000000)]  # 2026-04-10T00:10+08:00
    assert subjects(run(events)) == ["PAY-1"]


def test_same_payment_id_twice_is_one_payment() -> None:
    p = payment("PAY-1", "P1", "2026-04-05T10:00:00+08:00")
    assert run([p, dict(p)]) == []


def test_duplicate_subject_is_the_later_payment() -> None:
    events = [
        payment("PAY-9", "P1", "2026-04-05T10:00:00+08:00", unit="民政局-A"),
        payment("PAY-1", "P1", "2026-04-06T10:00:00+08:00", unit="民政局-B"),
        payment("PAY-5", "P1", "2026-04-07T10:00:00+08:00", program="WB"),  # another program
        payment("PAY-6", "P1", "2026-05-05T10:00:00+08:00"),  # another period
    ]
    alerts = run(events)
    assert subjects(alerts) == ["PAY-1"]
    assert alerts[0]["details"]["other_payment_id"] == "PAY-9"


def test_later_duplicate_delivered_first() -> None:
    events = [
        payment("PAY-2", "P1", "2026-04-06T10:00:00+08:00"),
        payment("PAY-1", "P1", "2026-04-05T10:00:00+08:00"),
    ]
    assert subjects(run(events)) == ["PAY-2"]


def test_same_time_tie_goes_to_the_greater_id() -> None:
    events = [
        payment("PAY-B", "P1", "2026-04-05T10:00:00+08:00"),
        payment("PAY-A", "P1", "2026-04-05T10:00:00+08:00"),
    ]
    assert subjects(run(events)) == ["PAY-B"]


def test_period_defaults_to_the_local_month_of_ts() -> None:
    events = [
        payment("PAY-1", "P1", "2026-03-31T16:30:00Z", period="2026-04"),  # local 04-01
        payment("PAY-2", "P1", "2026-03-31T17:00:00Z"),  # no period: local month 2026-04
    ]
    assert subjects(run(events)) == ["PAY-2"]
