"""Working-day calendar: official 2025/2026 schedules, overrides, fallback."""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from pathlib import Path

import pytest

from detectors.calendar import (
    CalendarFallbackWarning,
    WorkCalendar,
    YearOverride,
    load_calendar,
    parse_overrides,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(i) for i in range((end - start).days + 1)]


# --- Official schedule (国办发明电 2024/2025 notices, via chinese_calendar) ----------


def test_national_day_2026_is_off(cal: WorkCalendar) -> None:
    for d in days(date(2026, 10, 1), date(2026, 10, 7)):
        assert cal.is_workday(d) is False, d
    assert cal.is_workday(date(2026, 9, 30)) is True  # Wednesday before
    assert cal.is_workday(date(2026, 10, 8)) is True  # Thursday after


def test_autumn_2026_make_up_days_and_mid_autumn(cal: WorkCalendar) -> None:
    # Make-up working days for National Day 2026: Sun 20 Sep and Sat 10 Oct.
    assert cal.is_workday(date(2026, 9, 20)) is True
    assert cal.is_workday(date(2026, 10, 10)) is True
    # Ordinary weekend days nearby stay off.
    assert cal.is_workday(date(2026, 9, 19)) is False
    assert cal.is_workday(date(2026, 10, 11)) is False
    # Mid-Autumn: Fri 25 Sep off (weekend 26-27 also off).
    assert cal.is_workday(date(2026, 9, 25)) is False
    assert cal.is_workday(date(2026, 9, 24)) is True


def test_autumn_2026_workdays_literal(cal: WorkCalendar) -> None:
    got = [d for d in days(date(2026, 9, 19), date(2026, 10, 12)) if cal.is_workday(d)]
    assert got == [
        date(2026, 9, 20),
        date(2026, 9, 21),
        date(2026, 9, 22),
        date(2026, 9, 23),
        date(2026, 9, 24),
        date(2026, 9, 28),
        date(2026, 9, 29),
        date(2026, 9, 30),
        date(2026, 10, 8),
        date(2026, 10, 9),
        date(2026, 10, 10),
        date(2026, 10, 12),
    ]


def test_spring_festival_2026(cal: WorkCalendar) -> None:
    for d in days(date(2026, 2, 15), date(2026, 2, 23)):
        assert cal.is_workday(d) is False, d
    assert cal.is_workday(date(2026, 2, 14)) is True  # Saturday make-up day
    assert cal.is_workday(date(2026, 2, 28)) is True  # Saturday make-up day
    assert cal.is_workday(date(2026, 2, 24)) is True
    assert cal.is_workday(date(2026, 3, 1)) is False  # ordinary Sunday


def test_2025_make_up_days(cal: WorkCalendar) -> None:
    assert cal.is_workday(date(2025, 9, 28)) is True  # Sunday, National Day make-up
    assert cal.is_workday(date(2025, 10, 11)) is True  # Saturday make-up
    assert cal.is_workday(date(2025, 10, 8)) is False  # Wednesday, holiday
    assert cal.is_workday(date(2025, 10, 12)) is False  # ordinary Sunday


def test_ordinal_matches_date(cal: WorkCalendar) -> None:
    assert cal.is_workday_ordinal(date(2026, 10, 10).toordinal()) is True
    assert cal.is_workday_ordinal(date(2026, 10, 1).toordinal()) is False
    assert cal.is_workday_ordinal(date(2026, 10, 12).toordinal()) is True


# --- Arithmetic -------------------------------------------------------------------


def test_add_working_days_across_national_day(cal: WorkCalendar) -> None:
    # Tue 29 Sep + 5: 30 Sep, 8 Oct, 9 Oct, 10 Oct (Sat make-up), 12 Oct.
    assert cal.add_working_days(date(2026, 9, 29), 5) == date(2026, 10, 12)
    assert cal.add_working_days(date(2026, 9, 29), 1) == date(2026, 9, 30)
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)


def test_add_working_days_from_a_holiday(cal: WorkCalendar) -> None:
    # Entered on a holiday: counting starts at the next working day.
    assert cal.add_working_days(date(2026, 10, 3), 1) == date(2026, 10, 8)
    assert cal.add_working_days(date(2026, 2, 14), 1) == date(2026, 2, 24)


def test_add_zero_working_days_is_same_day(cal: WorkCalendar) -> None:
    assert cal.add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)
    assert cal.add_working_days(date(2026, 9, 29), 0) == date(2026, 9, 29)


def test_add_negative_working_days_rejected(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="-1"):
        cal.add_working_days(date(2026, 9, 29), -1)


def test_add_working_days_across_year_end(cal: WorkCalendar) -> None:
    # Wed 31 Dec 2025 + 1: 1-3 Jan 2026 off, Sun 4 Jan is a make-up day.
    assert cal.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 4)


def test_working_days_between(cal: WorkCalendar) -> None:
    # after < w <= upto
    assert cal.working_days_between(date(2026, 9, 29), date(2026, 10, 12)) == 5
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert cal.working_days_between(date(2026, 9, 29), date(2026, 9, 30)) == 1
    assert cal.working_days_between(date(2026, 10, 1), date(2026, 10, 10)) == 3


def test_working_days_between_empty_when_not_after(cal: WorkCalendar) -> None:
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 9, 30)) == 0
    assert cal.working_days_between(date(2026, 10, 12), date(2026, 9, 29)) == 0


def test_between_inverts_add(cal: WorkCalendar) -> None:
    start = date(2026, 9, 15)
    for n in range(0, 30):
        end = cal.add_working_days(start, n)
        assert cal.working_days_between(start, end) == n


# --- Overrides --------------------------------------------------------------------

OVERRIDE_YAML = """\
years:
  2027:
    holidays: [2027-01-01, 2027-02-08, 2027-02-09]
    workdays: [2027-01-02, "2027-02-13"]
  2026:
    holidays: [2026-09-30]
"""


def test_load_calendar_override_yaml(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(OVERRIDE_YAML, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # override years must not fall back
        cal = load_calendar(path)
        assert cal.override_years == frozenset({2026, 2027})
        assert cal.is_workday(date(2027, 1, 1)) is False  # Friday, listed holiday
        assert cal.is_workday(date(2027, 1, 2)) is True  # Saturday make-up (unquoted)
        assert cal.is_workday(date(2027, 2, 13)) is True  # Saturday make-up (quoted)
        assert cal.is_workday(date(2027, 2, 8)) is False  # Monday, listed holiday
        assert cal.is_workday(date(2027, 2, 10)) is True  # ordinary Wednesday
        assert cal.is_workday(date(2027, 1, 3)) is False  # ordinary Sunday
        assert cal.add_working_days(date(2027, 2, 5), 1) == date(2027, 2, 10)
    assert cal.fallback_years == frozenset()
    assert cal.fallback_lookups == 0


def test_override_year_takes_precedence_over_package(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(OVERRIDE_YAML, encoding="utf-8")
    cal = load_calendar(path)
    # The override for 2026 replaces the package's whole year: 30 Sep is off,
    # and 1 Oct / 10 Oct follow the override (weekday on, Saturday off).
    assert cal.is_workday(date(2026, 9, 30)) is False
    assert cal.is_workday(date(2026, 10, 1)) is True
    assert cal.is_workday(date(2026, 10, 10)) is False
    assert WorkCalendar().is_workday(date(2026, 9, 30)) is True


def test_override_from_mapping() -> None:
    cal = WorkCalendar({2030: YearOverride(holidays=frozenset({date(2030, 1, 1)}))})
    assert cal.is_workday(date(2030, 1, 1)) is False  # Tuesday
    assert cal.is_workday(date(2030, 1, 2)) is True


def test_shipped_config_parses() -> None:
    cal = load_calendar(REPO / "config" / "calendar.yaml")
    assert cal.is_workday(date(2026, 10, 10)) is True
    assert cal.is_workday(date(2026, 10, 1)) is False


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"years": {2027: {"holidays": ["2028-01-01"]}}}, "2028-01-01 is not in 2027"),
        ({"years": {2027: {"workdays": ["2027-01-04"]}}}, "weekday 2027-01-04"),
        (
            {"years": {2027: {"holidays": ["2027-01-02"], "workdays": ["2027-01-02"]}}},
            "both holiday and workday",
        ),
        ({"years": {2027: {"holidays": ["2027-13-01"]}}}, "'2027-13-01'"),
        ({"years": {2027: {"holiday": []}}}, "unknown keys"),
        ({"years": {"next": {}}}, "'next'"),
        ({"years": [2027]}, "expected a mapping"),
    ],
)
def test_bad_override_rejected(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_overrides(doc)


def test_empty_documents() -> None:
    assert parse_overrides(None) == {}
    assert parse_overrides({"years": None}) == {}
    assert parse_overrides({"years": {2027: None}}) == {2027: YearOverride()}


# --- Fallback ---------------------------------------------------------------------


def test_unknown_year_falls_back_to_weekends_with_one_warning(cal: WorkCalendar) -> None:
    with pytest.warns(CalendarFallbackWarning, match="2031") as record:
        assert cal.is_workday(date(2031, 1, 1)) is True  # Wednesday; no holiday known
        assert cal.is_workday(date(2031, 1, 4)) is False  # Saturday
        assert cal.add_working_days(date(2031, 1, 3), 1) == date(2031, 1, 6)
    assert len(record) == 1
    assert cal.fallback_years == frozenset({2031})
    # 1 Jan, 4 Jan, then 4 Jan (cached), 5 Jan, 6 Jan: four distinct days decided.
    assert cal.fallback_lookups == 4


def test_fallback_warns_once_per_year(cal: WorkCalendar) -> None:
    with pytest.warns(CalendarFallbackWarning) as record:
        cal.is_workday(date(2031, 3, 3))
        cal.is_workday(date(2031, 3, 4))
        cal.is_workday(date(2032, 3, 3))
        cal.is_workday(date(2031, 3, 3))  # cached: not counted again
    assert sorted(str(w.message)[:35] for w in record) == [
        "no holiday schedule for year 2031 (",
        "no holiday schedule for year 2032 (",
    ]
    assert cal.fallback_years == frozenset({2031, 2032})
    assert cal.fallback_lookups == 3


def test_years_before_package_data_fall_back(cal: WorkCalendar) -> None:
    with pytest.warns(CalendarFallbackWarning, match="2003"):
        assert cal.is_workday(date(2003, 10, 1)) is True  # weekends-only answer
    assert cal.fallback_years == frozenset({2003})


def test_known_years_do_not_fall_back(cal: WorkCalendar) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal.working_days_between(date(2024, 12, 31), date(2026, 12, 31))
    assert cal.fallback_years == frozenset()
    assert cal.fallback_lookups == 0
