"""The replay's fast paths decide exactly as the full paths they skip."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.geo import distance_km, walk
from detectors.timeutil import Zone
from streams.batch import gctune


@settings(max_examples=400, deadline=None)
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2199, 12, 30)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_iso_times_parse_as_the_full_parse(moment: datetime, offset_min: int) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    text = moment.replace(microsecond=0, tzinfo=tz).isoformat()
    zone = Zone()
    full = zone._parse_iso_full(text)
    assert zone.parse(text) == full  # fills the hour's cache
    assert zone.parse(text) == full  # from the cache
    later = text[:14] + "59:59" + text[19:]
    assert zone.parse(later) == zone._parse_iso_full(later)


@pytest.mark.parametrize("text", ["2026-02-30T10:00:00+08:00", "2026-04-27T24:00:00+08:00",
                                  "2026-04-27T10:60:00+08:00", "2026-04-27T10:00:60+08:00",
                                  "2026-04-27T10:0٥:00+08:00", "2026-04-27T10:00:00+08:0x"])
def test_bad_iso_times_are_rejected_after_a_good_one_of_the_hour(text: str) -> None:
    zone = Zone()
    for good in ("2026-04-27T10:00:00+08:00", "2026-02-28T10:00:00+08:00"):
        zone.parse(good)  # the hours next to the bad ones are cached
    with pytest.raises(ValueError):
        zone.parse(text)


def _walk_reference(fixes: list[list[float]], jitter_km: float) -> list[tuple[object, ...]]:
    steps, last = [], None
    for fix in fixes:
        if last is None:
            last = fix
            continue
        km = distance_km(last[1], last[2], fix[1], fix[2])
        if km <= jitter_km:
            continue
        steps.append((last, fix, km))
        last = fix
    return steps


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.0004, 0.0004), st.floats(-0.0004, 0.0004)),
                min_size=2, max_size=60),
       st.floats(-80, 80), st.floats(-179, 179))
def test_walk_skips_only_what_the_exact_distance_skips(
    moves: list[tuple[float, float]], lat: float, lon: float
) -> None:
    fixes = []
    for i, (dlat, dlon) in enumerate(moves):
        lat, lon = lat + dlat, lon + dlon
        fixes.append([i * 15_000, lat, lon])
    for jitter in (0.01, 0.03, 0.05):
        assert list(walk(fixes, jitter)) == _walk_reference(fixes, jitter)


def test_gc_settings_come_back() -> None:
    import gc

    before = gc.get_threshold()
    with gctune.tuned():
        assert gc.get_threshold() == gctune.THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("name", ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe",
                                  "Asia/Kolkata", "Europe/Amsterdam"])
@settings(max_examples=400, deadline=None)
@given(ms=st.one_of(st.integers(0, 7_258_118_400_000),  # 1970..2200
                    st.integers(0, 7_258_118_400).map(lambda s: s * 1000),  # whole seconds
                    st.sampled_from([t + d for t in (1_711_846_800_000, 1_728_142_200_000)
                                    for d in (-1_800_000, -1, 0, 1, 1_799_999)])))
def test_iso_writes_what_datetime_writes(name: str, ms: int) -> None:
    """The cached ISO writer gives `datetime.isoformat`'s text, DST changes (and Lord
    Howe's half-hour one, inside an hour) included."""
    from zoneinfo import ZoneInfo

    zone = Zone(name)
    spec = "seconds" if ms % 1000 == 0 else "milliseconds"
    want = datetime.fromtimestamp(ms / 1000, ZoneInfo(name)).isoformat(timespec=spec)
    assert zone.iso(ms) == want
    assert zone.iso(ms) == want  # from the caches too
