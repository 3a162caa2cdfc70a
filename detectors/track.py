"""A vehicle's GPS track: fixes kept sorted by time, one per (vehicle, ts), packed.

The fixes are held as integers (ts in ms; lat and lon in 1e-6 degree, the precision of
the contract's feeds, so a coordinate of up to 6 decimals comes back as the same float)
and written as a bit stream of delta-of-deltas, each zigzagged and coded with a zero flag
and an adaptive Rice code (Gorilla's idea for timestamps; the same coder for positions,
which move at a nearly constant velocity over 15 s). A fix every 15 s costs 1 bit of
time; a parked vehicle a few bits more; a driving one about 12-20 bits.

Appending in time order (the hot path) writes a few bytes at the end; the values needed
to go on (the last fix, its deltas, the coder's state) live in a fixed header at the
start of the same bytearray, so a track is one small object and one buffer. A fix older
than the last one switches the track to a plain list (a late upload arrives as a burst);
it is packed again once 64 fixes have arrived in order, or when it is serialised.

Code touches a track only through this module's functions (see notes/track-api.md).
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from typing import Any

SCALE = 1_000_000  # coordinates kept to 1e-6 degree (0.11 m)
FORMAT = 1  # the packed layout below; `codec` refuses another
REPACK_AFTER = 64  # in-order fixes after a late one before the list is packed again

# n, first (ts, lat, lon), last (ts, dt, lat, dlat, lon, dlon), coder state (3), and
# the last bits written (fewer than 8) with their count.
_HEAD = struct.Struct("<IqiiqqiiiiiiiBB")
HEAD_SIZE = _HEAD.size
_LAST_TS = struct.Struct("<q")  # at offset 20 of the header
_SHIFT = 3  # the coder's running mean reaches over about 2**_SHIFT values
_A0 = 16 << _SHIFT
_A_MAX = (1 << 31) - 1
_QMAX = 16  # a quotient this long is written raw instead
_REFILL = 128

Fix = list[Any]  # [ts_ms, lat, lon]
Window = list[Fix]


class Track:
    """A vehicle's fixes; create with `new()`, use through this module's functions."""

    __slots__ = ("_b", "_l", "_run")

    def __init__(self) -> None:
        self._b: bytearray | None = None  # packed
        self._l: list[Fix] | None = None  # unpacked, after a late fix
        self._run = 0  # in-order fixes since the track was unpacked

    def __len__(self) -> int:
        if self._l is not None:
            return len(self._l)
        if self._b is None:
            return 0
        n: int = _HEAD.unpack_from(self._b)[0]
        return n

    def __bool__(self) -> bool:
        return self._b is not None or bool(self._l)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Track) and _all(self) == _all(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Track of {len(self)} fixes, {len(self.packed())} bytes packed>"

    def packed(self) -> bytes:
        """The packed form (header and bits); packs the track if it is a list."""
        if self._l is not None:
            self._pack(self._l)
        return bytes(self._b) if self._b is not None else b""

    @classmethod
    def from_packed(cls, data: bytes) -> Track:
        t = cls()
        if data:
            if len(data) < HEAD_SIZE:
                raise ValueError(f"track: {len(data)} bytes is shorter than its header")
            t._b = bytearray(data)
        return t

    def _pack(self, fixes: Sequence[Sequence[Any]]) -> None:
        self._b, self._l, self._run = None, None, 0
        for ts, lat, lon in fixes:
            self._append(ts, round(lat * SCALE), round(lon * SCALE))

    def _append(self, ts: int, qlat: int, qlon: int) -> None:
        b = self._b
        if b is None:
            self._b = bytearray(
                _HEAD.pack(1, ts, qlat, qlon, ts, 0, qlat, 0, qlon, 0, _A0, _A0, _A0, 0, 0)
            )
            return
        # The coder (`_put`, inlined three times: this is the hot path).
        (n, t0, lat0, lon0, last, dt0, lat1, dlat0, lon1, dlon0, at, ala, alo,
         code, bits) = _HEAD.unpack_from(b)
        dt = ts - last
        v = dt - dt0
        if v == 0:
            code <<= 1
            bits += 1
            at -= at >> _SHIFT
        else:
            c, m, at = _put(v, at)
            code = (code << m) | c
            bits += m
        dlat = qlat - lat1
        v = dlat - dlat0
        if v == 0:
            code <<= 1
            bits += 1
            ala -= ala >> _SHIFT
        else:
            c, m, ala = _put(v, ala)
            code = (code << m) | c
            bits += m
        dlon = qlon - lon1
        v = dlon - dlon0
        if v == 0:
            code <<= 1
            bits += 1
            alo -= alo >> _SHIFT
        else:
            c, m, alo = _put(v, alo)
            code = (code << m) | c
            bits += m
        if bits >= 8:  # whole bytes go to the buffer, the rest waits in the header
            rest = bits & 7
            b += (code >> rest).to_bytes(bits >> 3, "big")
            code &= (1 << rest) - 1
            bits = rest
        _HEAD.pack_into(b, 0, n + 1, t0, lat0, lon0, ts, dt, qlat, dlat, qlon, dlon,
                        at, ala, alo, code, bits)


def new() -> Track:
    return Track()


# A name kept for annotations written before the track was packed.
FixList = Track


def _zigzag(v: int) -> int:
    return v << 1 if v >= 0 else ((-v) << 1) - 1


def _put(v: int, a: int) -> tuple[int, int, int]:
    """(code, length in bits, new coder state) for one delta-of-delta."""
    if v == 0:
        return 0, 1, a - (a >> _SHIFT)
    u = (v << 1) - 1 if v > 0 else ((-v) << 1) - 2  # zigzag, less the zero
    k = (a >> _SHIFT).bit_length() - 1
    if k < 0:
        k = 0
    a += u - (a >> _SHIFT)
    if a > _A_MAX:
        a = _A_MAX
    q = u >> k
    if q < _QMAX:  # flag, q zeros, a one, k low bits
        n = q + 2 + k
        return (1 << (n - 1)) | (1 << k) | (u & ((1 << k) - 1)), n, a
    size = u.bit_length()  # flag, _QMAX zeros, 7 bits of size, the value
    n = 1 + _QMAX + 7 + size
    return (1 << (n - 1)) | (size << size) | u, n, a


def _unpacked(b: bytes | bytearray) -> Iterator[tuple[int, int, int]]:
    """(ts, lat, lon) of every fix of a packed track, lat and lon in 1e-6 degree."""
    head = _HEAD.unpack_from(b)
    n, ts, lat, lon, code, bits = head[0], head[1], head[2], head[3], head[13], head[14]
    yield ts, lat, lon
    tail = bytes([code << (8 - bits)]) if bits else b""
    data = bytes(b[HEAD_SIZE:]) + tail + bytes(_REFILL // 8)
    bi, w, pos = 0, 0, 0
    dt = dlat = dlon = 0
    a = [_A0, _A0, _A0]
    for _ in range(n - 1):
        d = [0, 0, 0]
        for i in range(3):
            if pos < 96:
                w = ((w & ((1 << pos) - 1)) << _REFILL) | int.from_bytes(
                    data[bi:bi + _REFILL // 8], "big")
                pos += _REFILL
                bi += _REFILL // 8
            ai = a[i]
            pos -= 1
            if not (w >> pos) & 1:
                a[i] = ai - (ai >> _SHIFT)
                continue
            zeros = pos - (w & ((1 << pos) - 1)).bit_length()
            if zeros < _QMAX:
                k = (ai >> _SHIFT).bit_length() - 1
                if k < 0:
                    k = 0
                pos -= zeros + 1 + k
                u = (zeros << k) | ((w >> pos) & ((1 << k) - 1))
            else:  # at most 1 + 16 + 7 + 66 bits: within the 96 buffered
                pos -= _QMAX + 7
                size = (w >> pos) & 127
                pos -= size
                u = (w >> pos) & ((1 << size) - 1)
            ai += u - (ai >> _SHIFT)
            a[i] = ai if ai <= _A_MAX else _A_MAX
            u += 1
            d[i] = u >> 1 if not u & 1 else -((u + 1) >> 1)
        dt += d[0]
        dlat += d[1]
        dlon += d[2]
        ts += dt
        lat += dlat
        lon += dlon
        yield ts, lat, lon


def _fixes(t: Track) -> Iterator[Fix]:
    if t._l is not None:
        yield from t._l
    elif t._b is not None:
        for ts, lat, lon in _unpacked(t._b):
            yield [ts, lat / SCALE, lon / SCALE]


def _all(t: Track) -> Window:
    return t._l if t._l is not None else list(_fixes(t))


def _ts(fix: Sequence[Any]) -> int:
    value: int = fix[0]
    return value


def insert(fixes: Track, ts_ms: int, lat: float, lon: float) -> bool:
    """Insert in time order; False if a fix with this ts is already there."""
    qlat, qlon = round(lat * SCALE), round(lon * SCALE)
    fl = fixes._l
    if fl is None:
        b = fixes._b
        if b is None or _LAST_TS.unpack_from(b, 20)[0] < ts_ms:  # the common case: in order
            fixes._append(ts_ms, qlat, qlon)
            return True
        fl = fixes._l = list(_fixes(fixes))  # a late fix: hold a list until in order again
        fixes._b, fixes._run = None, 0
    fix = [ts_ms, qlat / SCALE, qlon / SCALE]
    if not fl or fl[-1][0] < ts_ms:
        fl.append(fix)
        fixes._run += 1
        if fixes._run >= REPACK_AFTER:
            fixes._pack(fl)
        return True
    fixes._run = 0
    i = bisect_left(fl, ts_ms, key=_ts)
    if i < len(fl) and fl[i][0] == ts_ms:
        return False
    fl.insert(i, fix)
    return True


def between(fixes: Track, start_ms: int, end_ms: int) -> Window:
    """Fixes with start_ms <= ts <= end_ms, in time order."""
    if fixes._l is not None:
        fl = fixes._l
        return fl[bisect_left(fl, start_ms, key=_ts):bisect_right(fl, end_ms, key=_ts)]
    found: Window = []
    if fixes._b is None:
        return found
    for ts, lat, lon in _unpacked(fixes._b):
        if ts > end_ms:
            break
        if ts >= start_ms:
            found.append([ts, lat / SCALE, lon / SCALE])
    return found


def gaps(
    window: Sequence[Sequence[Any]], start_ms: int, end_ms: int, max_gap_ms: int
) -> list[list[int]]:
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


def nearest(fixes: Track, ts_ms: int, within_ms: int) -> Fix | None:
    """The fix nearest in time to ts_ms within ±within_ms; on a tie, the earlier."""
    near = between(fixes, ts_ms - within_ms, ts_ms + within_ms)
    i = bisect_left(near, ts_ms, key=_ts)
    best: Fix | None = None
    best_d = within_ms + 1
    for j in (i - 1, i):  # the last fix before ts and the first at or after it
        if 0 <= j < len(near):
            d = abs(near[j][0] - ts_ms)
            if d < best_d:  # strict: the earlier (j = i - 1) wins a tie
                best, best_d = near[j], d
    return best if best_d <= within_ms else None


def span(fixes: Track) -> tuple[int, int] | None:
    """(first ts, last ts), or None for an empty track."""
    if fixes._l is not None:
        return (fixes._l[0][0], fixes._l[-1][0]) if fixes._l else None
    if fixes._b is None:
        return None
    head = _HEAD.unpack_from(fixes._b)
    return head[1], head[4]


def drop_before(fixes: Track, ts_ms: int) -> None:
    """Forget fixes older than ts_ms."""
    fl = fixes._l
    if fl is not None:
        if fl and fl[0][0] < ts_ms:
            del fl[: bisect_left(fl, ts_ms, key=_ts)]
        if not fl:
            fixes._l = None
        return
    b = fixes._b
    if b is None or _HEAD.unpack_from(b)[1] >= ts_ms:
        return
    if _LAST_TS.unpack_from(b, 20)[0] < ts_ms:
        fixes._b = None
        return
    kept = [(t, lat, lon) for t, lat, lon in _unpacked(b) if t >= ts_ms]
    fixes._b = None
    for t, lat, lon in kept:
        fixes._append(t, lat, lon)
