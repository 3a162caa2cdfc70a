"""`off_hours_use`: nights, weekends, holidays, make-up working days, exempt vehicles."""

from __future__ import annotations

from support import ZONE, engine, gps, run, subjects, track, vehicle

A, B = (41.80, 123.40), (41.80, 123.48)  # about 6.6 km apart
REG = [vehicle("V1"), vehicle("POLICE", exempt=True)]


def trip(vid: str, date: str, hhmm: str, minutes: int = 30, every_s: int = 60) -> list:
    return track(vid, f"{date}T{hhmm}:00+08:00", minutes, every_s, [A, B])


def test_night_trip_on_a_working_day() -> None:
    alerts = run(REG + trip("V1", "2026-09-15", "22:30"), until="2026-09-16T00:00:00+08:00")
    assert subjects(alerts) == ["V1/2026-09-15"]
    assert alerts[0]["details"]["off_hours_km"] >= 5.0
    assert alerts[0]["event_ts"] == "2026-09-15T22:30:00+08:00"


def test_evening_trip_before_22_is_on_hours() -> None:
    assert run(REG + trip("V1", "2026-09-15", "21:00", 50), until="2026-09-17T00:00:00+08:00") == []


def test_early_morning_counts_on_its_own_date() -> None:
    alerts = run(REG + trip("V1", "2026-09-16", "05:00"), until="2026-09-17T00:00:00+08:00")
    assert subjects(alerts) == ["V1/2026-09-16"]


def test_decided_only_once_the_clock_passes_the_end_of_the_date() -> None:
    eng = engine()
    assert run(REG + trip("V1", "2026-09-15", "22:30"), eng=eng) == []
    assert eng.advance_to(ZONE.parse("2026-09-15T23:59:59+08:00")) == []
    assert subjects(eng.advance_to(ZONE.parse("2026-09-16T00:00:00+08:00"))) == ["V1/2026-09-15"]


def test_weekend_and_holiday_daytime_trips() -> None:
    events = REG + trip("V1", "2026-09-19", "10:00")  # Saturday
    events += trip("V1", "2026-09-25", "10:00")  # Mid-Autumn holiday (a Friday)
    events += trip("V1", "2026-10-05", "10:00")  # National Day holiday (a Monday)
    alerts = run(events, until="2026-10-06T00:00:00+08:00")
    assert subjects(alerts) == ["V1/2026-09-19", "V1/2026-09-25", "V1/2026-10-05"]


def test_make_up_working_days_are_working_days() -> None:
    events = REG + trip("V1", "2026-09-20", "10:00")  # Sunday, 调休 working day
    events += trip("V1", "2026-10-10", "10:00")  # Saturday, 调休 working day
    assert run(events, until="2026-10-11T00:00:00+08:00") == []


def test_exempt_vehicle_is_not_checked() -> None:
    assert run(REG + trip("POLICE", "2026-10-03", "10:00"), until="2026-10-04T00:00:00+08:00") == []


def test_unregistered_vehicle_is_not_exempt() -> None:
    alerts = run(trip("GHOST", "2026-10-03", "10:00"), until="2026-10-04T00:00:00+08:00")
    assert subjects(alerts) == ["GHOST/2026-10-03"]


def test_steps_across_a_long_silence_do_not_count() -> None:
    # Two fixes 6.6 km and 30 minutes apart: ends over 10 min apart, so no counted step.
    events = REG + [gps("V1", "2026-10-03T10:00:00+08:00", *A),
                    gps("V1", "2026-10-03T10:30:00+08:00", *B)]
    assert run(events, until="2026-10-04T00:00:00+08:00") == []


def test_under_five_km_is_not_raised() -> None:
    events = REG + track("V1", "2026-10-03T10:00:00+08:00", 30, 60, [A, (41.80, 123.45)])
    assert run(events, until="2026-10-04T00:00:00+08:00") == []


def test_utc_fixes_near_local_midnight() -> None:
    # 14:30Z on the 15th is 22:30 local: a night trip of the 15th, not of the 14th.
    events = REG + track("V1", "2026-09-15T14:30:00Z", 30, 60, [A, B])
    assert subjects(run(events, until="2026-09-17T00:00:00+08:00")) == ["V1/2026-09-15"]


def test_jitter_never_adds_up() -> None:
    # A parked car whose fixes wander within 40 m all holiday long.
    wobble = [(41.80 + (i % 2) * 0.00035, 123.40) for i in range(2)]
    events = REG + track("V1", "2026-10-03T00:00:00+08:00", 1439, 30, wobble * 50)
    assert run(events, until="2026-10-04T00:00:00+08:00") == []
