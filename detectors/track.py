"""A vehicle's GPS track: fixes kept sorted by time, one per (vehicle, ts)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

# A fix in state: [ts_ms, lat, lon] (a list, so that state round-trips through JSON).
FixList = list[list[Any]]


def _ts(fix: Sequence[Any]) -> int:
    value: int = fix[0]
    return value


def insert(fixes: FixList, ts_ms: int, lat: float, lon: float) -> bool:
    """Insert in time order; False if a fix with this ts is already there."""
    n = len(fixes)
    if n == 0 or fixes[-1][0] < ts_ms:  # the common case: in order
        fixes.append([ts_ms, lat, lon])
        return True
    i = bisect_left(fixes, ts_ms, key=_ts)
    if i < n and fixes[i][0] == ts_ms:
        return False
    fixes.insert(i, [ts_ms, lat, lon])
    return True


def between(fixes: FixList, start_ms: int, end_ms: int) -> FixList:
    """Fixes with start_ms <= ts <= end_ms."""
    lo = bisect_left(fixes, start_ms, key=_ts)
    hi = bisect_right(fixes, end_ms, key=_ts)
    return fixes[lo:hi]


def gaps(window: FixList, start_ms: int, end_ms: int, max_gap_ms: int) -> list[list[int]]:
    """Stretches longer than max_gap_ms without a fix, counting the window's two ends."""
    found: list[list[int]] = []
    prev = start_ms
    for fix in window:
        if fix[0] - prev > max_gap_ms:
            found.append([prev, fix[0]])
        prev = fix[0]
    if end_ms - prev > max_gap_ms:
        found.append([prev, end_ms])
    return found


def nearest(fixes: FixList, ts_ms: int, within_ms: int) -> list[Any] | None:
    """The fix nearest in time to ts_ms within ±within_ms; on a tie, the earlier."""
    i = bisect_left(fixes, ts_ms, key=_ts)
    best: list[Any] | None = None
    best_d = within_ms + 1
    for j in (i - 1, i):  # the last fix before ts and the first at or after it
        if 0 <= j < len(fixes):
            d = abs(fixes[j][0] - ts_ms)
            if d < best_d:  # strict: the earlier (j = i - 1) wins a tie
                best, best_d = fixes[j], d
    return best if best_d <= within_ms else None


def drop_before(fixes: FixList, ts_ms: int) -> None:
    """Forget fixes older than ts_ms."""
    if fixes and fixes[0][0] < ts_ms:
        del fixes[: bisect_left(fixes, ts_ms, key=_ts)]
