"""The compiled bit coder (detectors/_trackcode.pyx) against the Python one in
detectors/track.py: the same bytes after every change, the same fixes from every decode,
and each decodes what the other wrote, including values too large for the compiled loops
(which then hand over to the Python path)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from detectors import _trackcode, track


def test_the_compiled_coder_is_built_and_used() -> None:
    """`make venv` builds it; the README's throughput figures depend on it."""
    assert track._compiled is _trackcode


@contextmanager
def python_path() -> Iterator[None]:
    saved = track._compiled
    track._compiled = None
    try:
        yield
    finally:
        track._compiled = saved


def fresh_decode(t: track.Track) -> list[list[float]]:
    """All fixes, decoded now (not from the cache of the last decode)."""
    track._cached = (None, [], [])
    return track.between(t, -(1 << 63), 1 << 63)


def moves(rng: random.Random, n: int) -> list[tuple[int, float, float]]:
    """Fixes in time order: regular, jittered, parked, teleporting, huge steps."""
    ts, lat, lon = 1_789_000_000_000 + rng.randint(0, 10**6), 41.8, 123.4
    out = []
    for _ in range(n):
        ts += rng.choice([15_000, 15_000, 15_000, 14_999, 1, 31_000, 3_600_000,
                          2**31 + 5, 10**12])
        r = rng.random()
        if r < 0.5:
            lat += rng.uniform(-2e-3, 2e-3)
            lon += rng.uniform(-2e-3, 2e-3)
        elif r < 0.55:  # a jump across the map: escapes and raw fixes that do not fit
            lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        lat, lon = max(-90.0, min(90.0, lat)), max(-180.0, min(180.0, lon))
        out.append((ts, round(lat, 6), round(lon, rng.choice([6, 7]))))
    return out


@pytest.mark.parametrize("block", [1, 3, 4, 8])
@pytest.mark.parametrize("seed", range(15))
def test_compiled_and_python_write_the_same_bytes(
    seed: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(track, "BLOCK", block)
    rng = random.Random(seed)
    fixes = moves(rng, rng.randint(40, 400))
    ops: list[tuple[str, tuple[int, float, float] | int]] = []
    for f in fixes:
        ops.append(("insert", f))
        if rng.random() < 0.03:  # a late fix
            ops.append(("insert", (f[0] - rng.randint(1, 400_000), f[1], f[2])))
        if rng.random() < 0.02:
            ops.append(("drop", f[0] - rng.randint(0, 3_600_000)))
    compiled, python = track.new(), track.new()
    for op, arg in ops:
        for t, compiled_path in ((compiled, True), (python, False)):
            saved = track._compiled
            track._compiled = saved if compiled_path else None
            try:
                if op == "insert":
                    assert isinstance(arg, tuple)
                    track.insert(t, *arg)
                else:
                    assert isinstance(arg, int)
                    track.drop_before(t, arg)
            finally:
                track._compiled = saved
        assert compiled._b == python._b and compiled._run == python._run
        assert compiled._l == python._l
    with python_path():
        expected = fresh_decode(python)
        packed = compiled.packed()
    assert fresh_decode(compiled) == expected
    assert packed == python.packed()
    # each reads what the other wrote
    assert fresh_decode(track.Track.from_packed(packed)) == expected
    with python_path():
        assert fresh_decode(track.Track.from_packed(packed)) == expected


def test_values_beyond_the_compiled_range_take_the_python_path() -> None:
    """A ts far beyond any real clock codes a delta the 64-bit loops do not take: the
    Python path codes it, and both decoders (the compiled one handing over) agree."""
    fixes = [(0, 1.0, 2.0), (15_000, 1.0, 2.0), (2**61, 1.5, 2.5), (2**61 + 15_000, 1.5, 2.5),
             (2**62, -1.0, -2.0)] + [(2**62 + i * 15_000, -1.0, -2.0) for i in range(1, 40)]
    compiled, python = track.new(), track.new()
    for f in fixes:
        track.insert(compiled, *f)
        with python_path():
            track.insert(python, *f)
        assert compiled._b == python._b
    expected = [list(f) for f in fixes]
    assert fresh_decode(compiled) == expected
    with python_path():
        assert fresh_decode(compiled) == expected
