"""Working-day deadlines, as `review_overdue` reads them: the end (24:00 local) of the N-th
working day after the local date of an instant. A deadline is met by an event whose `ts`
is strictly before it; it is decided once the clock reaches it."""

from __future__ import annotations

from datetime import date, timedelta
from weakref import WeakKeyDictionary

from detectors.base import Context
from detectors.calendar import WorkCalendar

# calendar -> (local date, N) -> the N-th working day after it: deadlines repeat a lot.
_LAST: WeakKeyDictionary[WorkCalendar, dict[tuple[date, int], date]] = WeakKeyDictionary()


def deadline(ts_ms: int, working_days: int, ctx: Context) -> tuple[int, date]:
    """(the deadline instant, the date whose end it is)."""
    start = ctx.zone.local_date(ts_ms)
    known = _LAST.setdefault(ctx.calendar, {})
    last = known.get((start, working_days))
    if last is None:
        last = known[start, working_days] = ctx.calendar.add_working_days(start, working_days)
    return ctx.zone.date_start_ms(last + timedelta(days=1)), last


def days_off(ts_ms: int, last: date, ctx: Context) -> list[str]:
    """The non-working days skipped between the local date of `ts_ms` and `last`."""
    start = ctx.zone.local_date(ts_ms)
    return [
        (start + timedelta(days=i)).isoformat()
        for i in range(1, (last - start).days + 1)
        if not ctx.calendar.is_workday(start + timedelta(days=i))
    ]


def unit_of(event: dict[str, object]) -> str | None:
    """The unit an alert names: the event's `unit`, else the department it went to."""
    for name in ("unit", "department"):
        value = event.get(name)
        if isinstance(value, str) and value:
            return value
    return None
