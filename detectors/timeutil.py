"""Event time: parsing the contract's three `ts` forms and local-calendar arithmetic.

Inside the engine every instant is an integer of epoch milliseconds (`_ms` names);
ISO strings and `datetime` exist only at the edges.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Epoch milliseconds accepted for `ts`: 1970-01-01 .. 2200-01-01.
MAX_TS_MS = 7_258_118_400_000
# "MM:SS" -> its milliseconds past the hour: the ISO fast paths (here and in
# detectors.gps_fast) read both with one lookup.
MMSS = {f"{m:02d}:{s:02d}": m * MINUTE_MS + s * 1000 for m in range(60) for s in range(60)}


class Zone:
    """A time zone with cached offsets, so that local dates cost a dict lookup."""

    def __init__(self, name: str = "Asia/Shanghai") -> None:
        self.name = name
        self.tz = ZoneInfo(name)
        self._offsets: dict[int, int] = {}
        self._iso_days: dict[int, str] = {}  # local day -> "YYYY-MM-DDT" (`iso`)
        self._iso_offsets: dict[int, str] = {}  # offset ms -> "+08:00" (`iso`)
        self._day_starts: dict[int, int] = {}
        self._day_lo, self._day_hi, self._day = 0, 0, 0  # an hour within one local day
        # "YYYY-MM-DDTHH" + "+hh:mm" -> epoch ms of that hour (texts with an explicit offset)
        self.iso_hours: dict[str, int] = {}

    def offset_ms(self, ms: int) -> int:
        hour = ms // HOUR_MS
        off = self._offsets.get(hour)
        if off is None:
            dt = datetime.fromtimestamp(hour * 3600, self.tz)
            delta = dt.utcoffset() or timedelta(0)
            off = int(delta.total_seconds() * 1000)
            self._offsets[hour] = off
        return off

    def local_day(self, ms: int) -> int:
        """Days since 1970-01-01 of the local date of `ms`."""
        if self._day_lo <= ms < self._day_hi:  # the hour asked last (events come in order)
            return self._day
        off = self.offset_ms(ms)
        day = (ms + off) // DAY_MS
        lo = ms - ms % HOUR_MS
        if (lo + off) // DAY_MS == day == (lo + HOUR_MS - 1 + off) // DAY_MS:
            self._day_lo, self._day_hi, self._day = lo, lo + HOUR_MS, day
        return day

    def local_date(self, ms: int) -> date:
        return date.fromordinal(self.local_day(ms) + _EPOCH_ORDINAL)

    def local_hour(self, ms: int) -> int:
        return ((ms + self.offset_ms(ms)) % DAY_MS) // HOUR_MS

    def day_start_ms(self, day: int) -> int:
        """The instant of local midnight that starts local day number `day`."""
        start = self._day_starts.get(day)
        if start is None:
            d = date.fromordinal(day + _EPOCH_ORDINAL)
            local = datetime(d.year, d.month, d.day, tzinfo=self.tz)
            start = int(local.timestamp() * 1000)
            self._day_starts[day] = start
        return start

    def date_start_ms(self, d: date) -> int:
        return self.day_start_ms(d.toordinal() - _EPOCH_ORDINAL)

    def iso(self, ms: int) -> str:
        """`ms` as ISO-8601 local time with its offset, to the second or, when it has
        them, the millisecond (alert times and evidence): the text of
        `datetime.isoformat`, built from cached parts (2.0 against 3.5 µs). An hour with an
        offset change inside it takes `datetime` itself."""
        off = self.offset_ms(ms)
        if off != self.offset_ms(ms + HOUR_MS - ms % HOUR_MS):
            spec = "seconds" if ms % 1000 == 0 else "milliseconds"
            return datetime.fromtimestamp(ms / 1000, self.tz).isoformat(timespec=spec)
        day, rem = divmod(ms + off, DAY_MS)
        prefix = self._iso_days.get(day)
        if prefix is None:
            prefix = self._iso_days[day] = (date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
                                            + "T")
        suffix = self._iso_offsets.get(off)
        if suffix is None:  # "+08:00" (with seconds where an old offset has them)
            zone = timezone(timedelta(milliseconds=off))
            suffix = self._iso_offsets[off] = datetime(2000, 1, 1, tzinfo=zone).isoformat()[19:]
        hours, rem = divmod(rem, HOUR_MS)
        minutes, rem = divmod(rem, 60_000)
        seconds, millis = divmod(rem, 1000)
        if millis:
            return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}{suffix}"
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}{suffix}"

    def parse(self, value: object) -> int:
        """Parse a contract `ts` into epoch ms, or raise ValueError naming the rule."""
        if type(value) is str:  # the common case first
            ms = self._parse_iso(value)
            if not 0 <= ms < MAX_TS_MS:
                raise ValueError(f"{value!r} is outside 1970..2200")
            return ms
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an ISO-8601 time or epoch milliseconds")
        if isinstance(value, int):
            ms = value
        elif isinstance(value, float) and value.is_integer():
            ms = int(value)
        elif isinstance(value, str):
            ms = self._parse_iso(value)
        else:
            raise ValueError(f"{value!r} is not an ISO-8601 time or epoch milliseconds")
        if not 0 <= ms < MAX_TS_MS:
            raise ValueError(f"{value!r} is outside 1970..2200")
        return ms

    def _parse_iso(self, text: str) -> int:
        # The common form, "2026-04-27T08:15:30+08:00": its hour (with the offset) parsed
        # once, then only minutes and seconds. The offset is explicit, so the instant is
        # the hour's plus mm:ss; anything else (and any hour not yet seen) takes the
        # full parse below, which alone decides what is valid.
        if len(text) == 25 and text[13] == ":":
            past = MMSS.get(text[14:19])
            if past is not None:
                key = text[:13] + text[19:]
                base = self.iso_hours.get(key)
                if base is not None:
                    return base + past
                ms = self._parse_iso_full(text)
                if text[19] in "+-":
                    self.iso_hours[key] = ms - past
                return ms
        return self._parse_iso_full(text)

    def _parse_iso_full(self, text: str) -> int:
        if len(text) > 64 or len(text) < 10:
            raise ValueError(f"{_clip(text)!r} is not an ISO-8601 time")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{_clip(text)!r} is not an ISO-8601 time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return round(dt.timestamp() * 1000)


def day_to_date(day: int) -> date:
    return date.fromordinal(day + _EPOCH_ORDINAL)


def date_to_day(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def utc_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "…"
