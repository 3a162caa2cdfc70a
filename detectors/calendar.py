"""Working-day calendar of mainland China (official State Council schedule).

A day is a working day when it is Monday-Friday and not a public holiday, or
when it is a weekend day declared a make-up working day (调休上班).

Sources, in order of precedence for a given year:
1. an override year loaded from ``config/calendar.yaml`` (``YearOverride``);
2. the ``chinese_calendar`` package (it knows the years it ships data for);
3. weekends only. This is a degraded answer: it is warned once per year
   (``CalendarFallbackWarning``) and counted (``fallback_years``,
   ``fallback_lookups``) so that an engine running past the last published
   schedule is visible rather than silently wrong.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import chinese_calendar  # type: ignore[import-untyped]
import yaml

__all__ = [
    "CalendarFallbackWarning",
    "WorkCalendar",
    "YearOverride",
    "load_calendar",
    "parse_overrides",
]

_SATURDAY: Final = 5
# Guard against loops that can never end (e.g. a YAML that declares a whole
# year off): no official schedule has more than a few days off in a row.
_MAX_SCAN_DAYS: Final = 3660


class CalendarFallbackWarning(UserWarning):
    """A year is neither in the overrides nor in chinese_calendar: weekends only."""


@dataclass(frozen=True)
class YearOverride:
    """One year's official schedule: holidays and make-up working days."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


def _is_weekend(d: date) -> bool:
    return d.weekday() >= _SATURDAY


def _validate_override(year: int, override: YearOverride) -> None:
    for kind, days in (("holidays", override.holidays), ("workdays", override.workdays)):
        for d in days:
            if d.year != year:
                raise ValueError(
                    f"calendar year {year}: {kind} entry {d.isoformat()} is not in {year}"
                )
    both = override.holidays & override.workdays
    if both:
        listed = ", ".join(sorted(d.isoformat() for d in both))
        raise ValueError(f"calendar year {year}: {listed} listed as both holiday and workday")
    weekdays = [d for d in override.workdays if not _is_weekend(d)]
    if weekdays:
        listed = ", ".join(sorted(d.isoformat() for d in weekdays))
        raise ValueError(
            f"calendar year {year}: workdays must be weekend make-up days, got weekday {listed}"
        )


class WorkCalendar:
    """Answers "is this a working day?" fast; every answer is cached per day."""

    def __init__(self, overrides: Mapping[int, YearOverride] | None = None) -> None:
        self._overrides: dict[int, YearOverride] = dict(overrides or {})
        for year, override in self._overrides.items():
            _validate_override(year, override)
        self._by_ordinal: dict[int, bool] = {}
        self._package_years: dict[int, bool] = {}
        self._fallback_years: set[int] = set()
        self.fallback_lookups: int = 0
        """Distinct days decided by the weekends-only fallback (each is decided once)."""

    @property
    def fallback_years(self) -> frozenset[int]:
        """Years answered with weekends only, because no schedule was known."""
        return frozenset(self._fallback_years)

    @property
    def override_years(self) -> frozenset[int]:
        return frozenset(self._overrides)

    def is_workday(self, d: date) -> bool:
        return self.is_workday_ordinal(d.toordinal())

    def is_workday_ordinal(self, day: int) -> bool:
        """``is_workday`` for a proleptic ordinal (``date.toordinal()``), for hot paths."""
        cached = self._by_ordinal.get(day)
        if cached is None:
            cached = self._decide(date.fromordinal(day))
            self._by_ordinal[day] = cached
        return cached

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day strictly after ``d``; ``d`` itself when n == 0."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        day = d.toordinal()
        limit = day + n + _MAX_SCAN_DAYS
        while n > 0:
            day += 1
            if day > limit:
                raise ValueError(f"no working day found within {_MAX_SCAN_DAYS} days of {d}")
            if self.is_workday_ordinal(day):
                n -= 1
        return date.fromordinal(day)

    def working_days_between(self, after: date, upto: date) -> int:
        """Number of working days w with after < w <= upto (0 when upto <= after)."""
        lo, hi = after.toordinal(), upto.toordinal()
        return sum(1 for day in range(lo + 1, hi + 1) if self.is_workday_ordinal(day))

    def _decide(self, d: date) -> bool:
        override = self._overrides.get(d.year)
        if override is not None:
            if d in override.workdays:
                return True
            return not _is_weekend(d) and d not in override.holidays
        if self._package_knows(d):
            return bool(chinese_calendar.is_workday(d))
        if d.year not in self._fallback_years:
            self._fallback_years.add(d.year)
            warnings.warn(
                f"no holiday schedule for year {d.year} (neither in calendar overrides nor in "
                f"chinese_calendar): treating only weekends as days off; add the year to "
                f"config/calendar.yaml",
                CalendarFallbackWarning,
                stacklevel=4,
            )
        self.fallback_lookups += 1
        return not _is_weekend(d)

    def _package_knows(self, d: date) -> bool:
        known = self._package_years.get(d.year)
        if known is None:
            # chinese_calendar raises NotImplementedError outside the years it ships.
            try:
                chinese_calendar.is_workday(date(d.year, 1, 1))
                known = True
            except NotImplementedError:
                known = False
            self._package_years[d.year] = known
        return known


def _as_date(value: object, where: str) -> date:
    if isinstance(value, date):  # YAML parses unquoted 2027-01-01 as a date
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a date YYYY-MM-DD, got {value!r}")


def _as_dates(value: object, where: str) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of dates, got {value!r}")
    return frozenset(_as_date(item, where) for item in value)


def parse_overrides(data: object) -> dict[int, YearOverride]:
    """Turn the parsed YAML document (``{"years": {2027: {...}}}``) into overrides."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"calendar: expected a mapping with key 'years', got {data!r}")
    unknown = set(data) - {"years"}
    if unknown:
        raise ValueError(f"calendar: unknown keys {sorted(map(str, unknown))}")
    years = data.get("years")
    if years is None:
        return {}
    if not isinstance(years, dict):
        raise ValueError(f"calendar.years: expected a mapping year -> schedule, got {years!r}")
    result: dict[int, YearOverride] = {}
    for key, entry in years.items():
        try:
            year = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"calendar.years: year must be an integer, got {key!r}") from None
        where = f"calendar.years.{year}"
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected holidays/workdays, got {entry!r}")
        unknown = set(entry) - {"holidays", "workdays"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(map(str, unknown))}")
        override = YearOverride(
            holidays=_as_dates(entry.get("holidays"), f"{where}.holidays"),
            workdays=_as_dates(entry.get("workdays"), f"{where}.workdays"),
        )
        _validate_override(year, override)
        result[year] = override
    return result


def load_calendar(path: str | Path) -> WorkCalendar:
    """Read ``config/calendar.yaml`` and build the calendar."""
    with Path(path).open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return WorkCalendar(parse_overrides(data))
