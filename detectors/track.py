"""A vehicle's GPS track: fixes kept sorted by time, one per (vehicle, ts), packed.

The fixes are held as integers (ts in ms; lat and lon in 1e-6 degree, the precision of
the contract's feeds, so a coordinate of up to 6 decimals comes back as the same float)
and written as a bit stream of delta-of-deltas, each zigzagged and coded with a zero flag
and an adaptive Rice code (Gorilla's idea for timestamps; the same coder for positions,
which move at a nearly constant velocity over 15 s). A fix every 15 s costs 1 bit of
time; a parked vehicle a few bits more; a driving one about 12-20 bits.

Appending in time order (the hot path) adds the fix raw at the end (8 bytes: its
differences from the last coded fix), and every BLOCK fixes the raw ones are coded
together; the values needed to go on (the last fix, its deltas, the coder's state) live
in a fixed header at the start of the same bytes, so a track is one small object and one
buffer. `packed()` codes the raw fixes first, so the packed form does not depend on them.
Questions asked in a row of one track (a timer's) share one decode, kept with marks of
the decoder's state every 32 fixes, from which `drop_before` cuts the front. A fix older
than the last one (a late upload, which comes as a burst) cuts the packed part before it
and holds the fixes from there on as a plain list, where the rest of the burst lands; the
list is packed onto the end again once 64 fixes have arrived in order after it, or when
the track is serialised. Two saved coder states make the other changes cheap: one after
the first fix (so `drop_before` cuts whole bytes off the front, without re-encoding) and
a resume point every 32 fixes (so a late fix decodes only the last few minutes).

The coder's hot paths (an append in order, with its block coded when full; the coding
of fixes; the decode of a whole packed part) run compiled, from `_trackcode.pyx`, which
writes and reads the same bits and hands back to the Python loops here for what they
alone take (values beyond 2**50, a late fix, a cut); without the extension built, the
Python loops do everything, about 8 times slower.

Code touches a track only through this module's functions (see notes/track-api.md).
"""

from __future__ import annotations

import struct
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_compiled: ModuleType | None
try:  # the coder's hot loops, compiled (detectors/_trackcode.pyx): the same bits
    from detectors import _trackcode as _compiled
except ImportError:  # pragma: no cover - a source tree not built: the Python loops below
    _compiled = None

SCALE = 1_000_000  # coordinates kept to 1e-6 degree (0.11 m)
FORMAT = 1  # the packed layout below; `codec` refuses another
REPACK_AFTER = 64  # in-order fixes after a late one before the list is packed again

# A coder state after one fix: ts, dt, lat, dlat, lon, dlon (lat and lon in 1e-6 degree)
# and the coder's running means for the three deltas-of-deltas.
# The header: n; the first fix (ts, lat, lon); the state after the last fix; the last
# bits written (fewer than 8) and their count; the state after the first fix and the
# bits to skip at the start of the stream; a resume point (n, state, bits written).
_HEAD = struct.Struct("<Iqii" "qqiiiiiii" "BB" "qiiiiiB" "Iqqiiiiiii" "I")
HEAD_SIZE = _HEAD.size
_TAIL = struct.Struct("<Iqii" "qqiiiiiii" "BB")  # what an append reads and writes
_LAST_TS = struct.Struct("<q")  # at offset 20
# The raw tail: fixes appended in order and not coded yet, at the end of the bytes, each
# the difference from the last coded fix (ts in ms, lat and lon in 1e-6 degree, within
# ±3.2 km); `Track._run` counts them (while there is no list part), and BLOCK of them
# are coded together (a fix that does not fit is coded at once, with the tail).
BLOCK = 4
_RAW = struct.Struct("<ihh")
_RAW_DT = struct.Struct("<i")
_LAST = struct.Struct("<qqiii")  # at offset 20: the last coded fix's ts, dt, lat, dlat, lon
_FIRST_TS = struct.Struct("<q")  # at offset 4
_RESUME = struct.Struct("<Iqqiiiiiii" "I")
_RESUME_AT = HEAD_SIZE - _RESUME.size
_RESUME_EVERY = 32
_RESUME_MASK = _RESUME_EVERY - 1
_FLUSH_BITS = 512  # bits the coder holds before it writes whole bytes out
_SHIFT = 3  # the coder's running mean reaches over about 2**_SHIFT values
_A0 = 16 << _SHIFT
_A_MAX = (1 << 31) - 1
_QMAX = 16  # a quotient this long is written raw instead
# A Rice code of u with parameter k and quotient q = u >> k < _QMAX: a 1 (not zero), q
# zeros, a 1, the k low bits of u; as a number, (_HI[q] << k) + u.
_HI = [(2 << q) + 1 - q for q in range(_QMAX)]
_REFILL = 384  # bits read at a time: three codes of up to 96 bits fit
_PAD = bytes(2 * _REFILL // 8)
_BIT = [1 << p for p in range(4 * 96 + _REFILL)]  # by the bits a decoder holds
_MASK = [(1 << p) - 1 for p in range(4 * 96 + _REFILL)]
_END = 1 << 63

Fix = list[Any]  # [ts_ms, lat, lon]
Window = list[Fix]
# A decoder state before fix i: (i, and after fix i - 1: ts, dt, lat, dlat, lon, dlon,
# the three running means, the bit position in the stream).
Mark = tuple[int, int, int, int, int, int, int, int, int, int, int]
_MARK_EVERY = 32  # a mark every so many fixes in a decoded track (a power of 2)
_MARK_MASK = _MARK_EVERY - 1
_MARK_SHIFT = _MARK_EVERY.bit_length() - 1


class Track:
    """A vehicle's fixes; create with `new()`, use through this module's functions."""

    __slots__ = ("_b", "_l", "_run")

    def __init__(self) -> None:
        self._b: bytes | None = None  # the packed fixes, older than any in _l
        self._l: list[Fix] | None = None  # the newest fixes, unpacked, after a late fix
        # with a list part, the fixes appended in order to it since the last late one;
        # without, the fixes in the raw tail of _b
        self._run = 0

    def __len__(self) -> int:
        b = self._b
        n: int = 0 if b is None else _HEAD.unpack_from(b)[0] + _raw_count(self)
        return n + (len(self._l) if self._l is not None else 0)

    def __bool__(self) -> bool:
        return self._b is not None or bool(self._l)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Track) and _all(self) == _all(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Track of {len(self)} fixes>"

    def __sizeof__(self) -> int:
        """With its buffer and list part, so `sys.getsizeof` tells what a track holds."""
        size = object.__sizeof__(self) + (sys.getsizeof(self._b) if self._b is not None else 0)
        if self._l is not None:
            size += sys.getsizeof(self._l) + sum(
                sys.getsizeof(f) + sum(sys.getsizeof(x) for x in f) for f in self._l)
        return size

    def packed(self) -> bytes:
        """The packed form (header and bits), the raw tail and list part packed first."""
        self._flush()
        b = self._b
        k = _raw_count(self)
        if b is not None and k:  # coded here, not stored: packing leaves the track as it is
            b = _code(b, k, ())
        return b if b is not None else b""

    @classmethod
    def from_packed(cls, data: bytes) -> Track:
        t = cls()
        if data:
            if len(data) < HEAD_SIZE:
                raise ValueError(f"track: {len(data)} bytes is shorter than its header")
            t._b = bytes(data)
        return t

    def _flush(self) -> None:
        fl = self._l
        if fl is None:
            return  # (and _run counts the raw tail)
        self._l, self._run = None, 0
        if fl:
            self._extend([(ts, round(lat * SCALE), round(lon * SCALE)) for ts, lat, lon in fl])

    def _extend(self, fixes: Sequence[tuple[int, int, int]]) -> None:
        """Append fixes later than the last one: (ts, lat, lon), lat and lon in 1e-6 degree;
        the raw tail is coded first."""
        self._b = _code(self._b, _raw_count(self), fixes)
        if self._l is None:
            self._run = 0


def _code(b: bytes | None, raw: int, fixes: Sequence[tuple[int, int, int]]) -> bytes | None:
    """The packed bytes `b` (with `raw` fixes in its raw tail) with these fixes appended,
    all coded: (ts, lat, lon), lat and lon in 1e-6 degree, later than the last fix."""
    first = 0
    if raw and b is not None:
        fixes = [*_raw_tail(b, raw), *fixes]
        b = b[:len(b) - _RAW.size * raw]
    if not fixes:
        return b
    if b is None:
        ts, qlat, qlon = fixes[0]
        b = _HEAD.pack(
            1, ts, qlat, qlon, ts, 0, qlat, 0, qlon, 0, _A0, _A0, _A0, 0, 0,
            0, 0, 0, _A0, _A0, _A0, 0, 1, ts, 0, qlat, 0, qlon, 0, _A0, _A0, _A0, 0)
        first = 1
    # An immutable `bytes`, made anew at each append: a copy of a kilobyte or two
    # costs less than the eighth a bytearray keeps spare to grow.
    out = bytearray()
    resumed: bytes | None = None
    # The coder, inlined three times (this is the hot path): a zero flag, then an
    # adaptive Rice code of the zigzagged value less one (`_raw` if too large).
    (n, t0, lat0, lon0, last, dt0, lat1, dlat0, lon1, dlon0, at, ala, alo,
     code, bits) = _TAIL.unpack_from(b)
    done = None if _compiled is None else _compiled.encode(
        (n, last, dt0, lat1, dlat0, lon1, dlon0, at, ala, alo, code, bits), fixes, first,
        len(b) - HEAD_SIZE)
    if done is not None:
        state, coded, at_n = done
        return _joined(b, _TAIL.pack(state[0], t0, lat0, lon0, *state[1:]),
                       None if at_n is None else _RESUME.pack(*at_n), coded)
    for j in range(first, len(fixes)):
        ts, qlat, qlon = fixes[j]
        dt = ts - last
        v = dt - dt0
        if v:
            u = (v << 1) - 1 if v > 0 else -(v << 1) - 2
            s = at >> _SHIFT
            k = (s | 1).bit_length() - 1
            at += u - s
            if at > _A_MAX:
                at = _A_MAX
            q = u >> k
            if q < _QMAX:
                m = q + 2 + k
                code = (code << m) | ((_HI[q] << k) + u)
            else:
                c, m = _raw(u)
                code = (code << m) | c
            bits += m
        else:
            code <<= 1
            bits += 1
            at -= at >> _SHIFT
        dlat = qlat - lat1
        v = dlat - dlat0
        if v:
            u = (v << 1) - 1 if v > 0 else -(v << 1) - 2
            s = ala >> _SHIFT
            k = (s | 1).bit_length() - 1
            ala += u - s
            if ala > _A_MAX:
                ala = _A_MAX
            q = u >> k
            if q < _QMAX:
                m = q + 2 + k
                code = (code << m) | ((_HI[q] << k) + u)
            else:
                c, m = _raw(u)
                code = (code << m) | c
            bits += m
        else:
            code <<= 1
            bits += 1
            ala -= ala >> _SHIFT
        dlon = qlon - lon1
        v = dlon - dlon0
        if v:
            u = (v << 1) - 1 if v > 0 else -(v << 1) - 2
            s = alo >> _SHIFT
            k = (s | 1).bit_length() - 1
            alo += u - s
            if alo > _A_MAX:
                alo = _A_MAX
            q = u >> k
            if q < _QMAX:
                m = q + 2 + k
                code = (code << m) | ((_HI[q] << k) + u)
            else:
                c, m = _raw(u)
                code = (code << m) | c
            bits += m
        else:
            code <<= 1
            bits += 1
            alo -= alo >> _SHIFT
        n += 1
        last, dt0, lat1, dlat0, lon1, dlon0 = ts, dt, qlat, dlat, qlon, dlon
        if not n & _RESUME_MASK:
            resumed = _RESUME.pack(n, ts, dt, qlat, dlat, qlon, dlon, at, ala, alo,
                                   ((len(b) - HEAD_SIZE + len(out)) << 3) + bits)
        if bits >= _FLUSH_BITS:
            rest = bits & 7
            out += (code >> rest).to_bytes(bits >> 3, "big")
            code &= (1 << rest) - 1
            bits = rest
    if bits >= 8:  # whole bytes go to the stream, the rest waits in the header
        rest = bits & 7
        out += (code >> rest).to_bytes(bits >> 3, "big")
        code &= (1 << rest) - 1
        bits = rest
    tail = _TAIL.pack(n, t0, lat0, lon0, last, dt0, lat1, dlat0, lon1, dlon0, at, ala,
                      alo, code, bits)
    return _joined(b, tail, resumed, out)


def _joined(b: bytes, tail: bytes, resumed: bytes | None, coded: bytes | bytearray) -> bytes:
    """The packed bytes `b` with a new header tail, resume point (None: unchanged) and
    coded bytes appended."""
    if resumed is None:
        return b"".join((tail, memoryview(b)[_TAIL.size:], coded))
    return b"".join((tail, memoryview(b)[_TAIL.size:_RESUME_AT], resumed,
                     memoryview(b)[HEAD_SIZE:], coded))


def new() -> Track:
    return Track()


# A name kept for annotations written before the track was packed.
FixList = Track


def _raw(u: int) -> tuple[int, int]:
    """(code, length) of a value too large for its Rice code: flag, _QMAX zeros, 7 bits
    of size, the value."""
    size = u.bit_length()
    n = 1 + _QMAX + 7 + size
    return (1 << (n - 1)) | (size << size) | u, n


def _escape(w: int, pos: int) -> tuple[int, int]:
    """A value written raw: 7 bits of size after the zeros, then the value."""
    pos -= _QMAX + 7  # at most 1 + 16 + 7 + 66 bits: within the 96 buffered
    size = (w >> pos) & 127
    pos -= size
    return (w >> pos) & ((1 << size) - 1), pos


def _scan(
    b: bytes, until: int = _END, cut: int | None = None, resume: bool = False,
    front: int | None = None, at_mark: Mark | None = None, marks: list[Mark] | None = None,
    raw: int = 0,
) -> tuple[Window, bytes | None]:
    """The fixes of a packed track, up to the first after `until`, and:
    with `cut`, the packed track of the fixes before the first at or after `cut` (None
    if there are none); with `front`, instead of the fixes, the packed track of the
    fixes at or after `front` (None if there are none). With `resume`, from the resume
    point's fix on; with `at_mark`, from that saved state on (see `_decoded`). With
    `marks`, the coder's state before every fix whose index is a multiple of
    _MARK_EVERY is added to it. `raw`: the fixes in the raw tail, not read here (a
    front cut keeps them as they are)."""
    head = _HEAD.unpack_from(b)
    n, t0, lat0, lon0, code, bits = head[0], head[1], head[2], head[3], head[13], head[14]
    tail = bytes([code << (8 - bits)]) if bits else b""
    data = bytes(b[HEAD_SIZE:len(b) - _RAW.size * raw]) + tail + _PAD
    if at_mark is not None:
        first, ts, dt, lat, dlat, lon, dlon, at, ala, alo, start = at_mark
    elif resume:
        first, ts, dt, lat, dlat, lon, dlon, at, ala, alo, start = head[22:]
    else:
        first, ts, lat, lon = 1, t0, lat0, lon0
        dt, dlat, dlon, at, ala, alo, start = head[15:22]
        if marks is not None:
            marks.append((first, ts, dt, lat, dlat, lon, dlon, at, ala, alo, start))
    bi = start >> 3
    pos = _REFILL - (start & 7)
    w = int.from_bytes(data[bi:bi + _REFILL // 8], "big") & _MASK[pos]
    bi += _REFILL // 8
    found = [[ts, lat / SCALE, lon / SCALE]]
    kept: bytes | None = None
    if cut is not None and ts >= cut:
        cut = None
    if front is not None and ts >= front:
        return found, b
    if cut is not None and raw:
        raise AssertionError("track: a cut of a track with a raw tail")  # pragma: no cover
    if (cut is None and front is None and until == _END and _compiled is not None
            and _compiled.decode(data, (first, ts, dt, lat, dlat, lon, dlon, at, ala, alo,
                                        start), n, found, marks)):
        return found, None
    for i in range(first, n):
        if ts > until:
            break
        if cut is not None:
            was = (ts, dt, lat, dlat, lon, dlon, at, ala, alo, bi * 8 - pos)
        elif marks is not None and not i & _MARK_MASK:
            marks.append((i, ts, dt, lat, dlat, lon, dlon, at, ala, alo, bi * 8 - pos))
        if pos < 3 * 96:  # room for three codes
            w = (w << _REFILL) | int.from_bytes(data[bi:bi + _REFILL // 8], "big")
            pos += _REFILL
            bi += _REFILL // 8
        # The decoder for one delta-of-delta, inlined three times. `w` holds the `pos`
        # bits not read yet (so a flag is a comparison, and a run of zeros a bit_length).
        pos -= 1
        if w >= _BIT[pos]:
            w -= _BIT[pos]
            zeros = pos - w.bit_length()
            if zeros < _QMAX:
                k = ((at >> _SHIFT) | 1).bit_length() - 1
                pos -= zeros + 1 + k
                u = ((zeros - 1) << k) + (w >> pos)
            else:
                u, pos = _escape(w, pos)
            w &= _MASK[pos]
            at += u - (at >> _SHIFT)
            if at > _A_MAX:
                at = _A_MAX
            dt += (u + 1) >> 1 if u & 1 else -((u + 2) >> 1)
        else:
            at -= at >> _SHIFT
        pos -= 1
        if w >= _BIT[pos]:
            w -= _BIT[pos]
            zeros = pos - w.bit_length()
            if zeros < _QMAX:
                k = ((ala >> _SHIFT) | 1).bit_length() - 1
                pos -= zeros + 1 + k
                u = ((zeros - 1) << k) + (w >> pos)
            else:
                u, pos = _escape(w, pos)
            w &= _MASK[pos]
            ala += u - (ala >> _SHIFT)
            if ala > _A_MAX:
                ala = _A_MAX
            dlat += (u + 1) >> 1 if u & 1 else -((u + 2) >> 1)
        else:
            ala -= ala >> _SHIFT
        pos -= 1
        if w >= _BIT[pos]:
            w -= _BIT[pos]
            zeros = pos - w.bit_length()
            if zeros < _QMAX:
                k = ((alo >> _SHIFT) | 1).bit_length() - 1
                pos -= zeros + 1 + k
                u = ((zeros - 1) << k) + (w >> pos)
            else:
                u, pos = _escape(w, pos)
            w &= _MASK[pos]
            alo += u - (alo >> _SHIFT)
            if alo > _A_MAX:
                alo = _A_MAX
            dlon += (u + 1) >> 1 if u & 1 else -((u + 2) >> 1)
        else:
            alo -= alo >> _SHIFT
        ts += dt
        lat += dlat
        lon += dlon
        if front is None:  # a front cut needs only the state at the cut
            found.append([ts, lat / SCALE, lon / SCALE])
        if cut is not None and ts >= cut:
            used = was[-1]
            rest = used & 7
            part = data[used >> 3] >> (8 - rest) if rest else 0
            kept = _HEAD.pack(i, t0, lat0, lon0, *was[:-1], part, rest, *head[15:22],
                              i, *was) + b[HEAD_SIZE:HEAD_SIZE + (used >> 3)]
            cut = None
        elif front is not None and ts >= front:
            used = bi * 8 - pos
            state = (dt, dlat, dlon, at, ala, alo)
            resumed = head[22:]
            if resumed[0] <= i:  # the resume point is cut off: resume at the new first fix
                resumed = (i + 1, ts, dt, lat, dlat, lon, dlon, at, ala, alo, used)
            kept = _HEAD.pack(n - i, ts, lat, lon, *head[4:15], *state, used & 7,
                              resumed[0] - i, *resumed[1:10],
                              resumed[10] - ((used >> 3) << 3)) + b[HEAD_SIZE + (used >> 3):]
            return found, kept
    return found, kept


# The last packed part decoded whole: its bytes (immutable, and a new object at every
# change, so the same object means the same fixes), its fixes and decoder marks. A
# vehicle's timer asks several questions of the same track in a row (the day's
# off-hours walk, place stays, distance; then the prune): one decode serves them all.
# One tuple, replaced whole, so that a reader never sees one track's bytes with
# another's fixes.
_cached: tuple[bytes | None, Window, list[Mark]] = (None, [], [])


def _raw_count(t: Track) -> int:
    """The fixes in a track's raw tail."""
    return t._run if t._l is None else 0


def _raw_tail(b: bytes, k: int) -> list[tuple[int, int, int]]:
    """The k fixes of the raw tail: (ts, lat, lon), lat and lon in 1e-6 degree."""
    last, _, lat, _, lon = _LAST.unpack_from(b, 20)
    return [(last + dt, lat + dlat, lon + dlon)
            for dt, dlat, dlon in _RAW.iter_unpack(b[len(b) - _RAW.size * k:])]


def _last_ts(b: bytes, k: int) -> int:
    """The ts of the last fix, coded or in the raw tail of k fixes."""
    last: int = _LAST_TS.unpack_from(b, 20)[0]
    if k:
        last += _RAW_DT.unpack_from(b, len(b) - _RAW.size)[0]
    return last


def _decoded(b: bytes, k: int) -> tuple[Window, list[Mark]]:
    """All fixes of the packed part `b` (shared: callers must not change them) and the
    decoder's marks (of the coded fixes), from the cache when `b` was the last decoded
    (a given `b` always has the same raw tail: k is part of what the bytes are)."""
    global _cached
    cached = _cached
    if cached[0] is not b:
        marks: list[Mark] = []
        found = _scan(b, marks=marks, raw=k)[0]
        if k:
            found += [[ts, lat / SCALE, lon / SCALE] for ts, lat, lon in _raw_tail(b, k)]
        _cached = cached = (b, found, marks)
    return cached[1], cached[2]


def _all(t: Track) -> Window:
    return between(t, -_END, _END)


def _ts(fix: Sequence[Any]) -> int:
    value: int = fix[0]
    return value


def insert(fixes: Track, ts_ms: int, lat: float, lon: float) -> bool:
    """Insert in time order; False if a fix with this ts is already there."""
    fl, b = fixes._l, fixes._b
    if fl is None and b is not None and _compiled is not None:  # in order: compiled
        done = _compiled.append(b, fixes._run, ts_ms, lat, lon, BLOCK)
        if done is not None:
            fixes._b, fixes._run = done
            return True
    qlat, qlon = round(lat * SCALE), round(lon * SCALE)
    if fl is None:
        if b is None:
            fixes._extend(((ts_ms, qlat, qlon),))
            return True
        # The common case, in order: to the raw tail, coded with it once it is a block.
        k = fixes._run
        last, _, lat1, _, lon1 = _LAST.unpack_from(b, 20)
        dt = ts_ms - last
        if dt > (_RAW_DT.unpack_from(b, len(b) - _RAW.size)[0] if k else 0):
            if k < BLOCK - 1:
                try:
                    fixes._b = b + _RAW.pack(dt, qlat - lat1, qlon - lon1)
                except struct.error:  # too far from the last coded fix: coded at once
                    pass
                else:
                    fixes._run = k + 1
                    return True
            fixes._extend(((ts_ms, qlat, qlon),))
            return True
        if k:  # a late fix: the raw tail is coded first
            fixes._extend(())
            b = fixes._b
            assert b is not None
        return _late(fixes, b, ts_ms, [ts_ms, qlat / SCALE, qlon / SCALE])
    fix = [ts_ms, qlat / SCALE, qlon / SCALE]
    if fl[-1][0] < ts_ms:
        fl.append(fix)
        fixes._run += 1
        if fixes._run >= REPACK_AFTER:
            fixes._flush()
        return True
    fixes._run = 0
    if fl[0][0] <= ts_ms:
        i = bisect_left(fl, ts_ms, key=_ts)
        if fl[i][0] == ts_ms:
            return False
        fl.insert(i, fix)
        return True
    if b is None or _LAST_TS.unpack_from(b, 20)[0] < ts_ms:  # no raw tail with a list
        fl.insert(0, fix)
        return True
    return _late(fixes, b, ts_ms, fix)


def _late(fixes: Track, b: bytes, ts_ms: int, fix: Fix) -> bool:
    """A fix older than the last packed one: cut the packed part before it and move the
    fixes from there on to the list part."""
    resume = _RESUME.unpack_from(b, _RESUME_AT)[1] < ts_ms
    found, kept = _scan(b, cut=ts_ms, resume=resume)
    i = bisect_left(found, ts_ms, key=_ts)  # the first fix at or after ts_ms
    if found[i][0] == ts_ms:
        return False
    fixes._b = kept
    fixes._l = [fix] + found[i:] + (fixes._l or [])
    fixes._run = 0
    return True


def between(fixes: Track, start_ms: int, end_ms: int) -> Window:
    """Fixes with start_ms <= ts <= end_ms, in time order."""
    found: Window = []
    b = fixes._b
    k = _raw_count(fixes)
    if b is not None and start_ms <= _last_ts(b, k):
        scanned = _decoded(b, k)[0]
        lo = bisect_left(scanned, start_ms, key=_ts)
        found = scanned[lo:bisect_right(scanned, end_ms, lo=lo, key=_ts)]
    fl = fixes._l
    if fl:
        found += fl[bisect_left(fl, start_ms, key=_ts):bisect_right(fl, end_ms, key=_ts)]
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
    b, fl = fixes._b, fixes._l
    if b is None:
        return (fl[0][0], fl[-1][0]) if fl else None
    return _FIRST_TS.unpack_from(b, 4)[0], (fl[-1][0] if fl else _last_ts(b, _raw_count(fixes)))


def drop_before(fixes: Track, ts_ms: int) -> None:
    """Forget fixes older than ts_ms."""
    b = fixes._b
    if b is not None:
        k = _raw_count(fixes)
        if _FIRST_TS.unpack_from(b, 4)[0] >= ts_ms:
            return
        if _LAST_TS.unpack_from(b, 20)[0] >= ts_ms:
            cached = _cached
            if cached[0] is b:  # decoded just before: go on from the last mark before
                found, marks = cached[1], cached[2]
                i = bisect_left(found, ts_ms, key=_ts)  # the first fix kept (i >= 1)
                fixes._b = _scan(b, front=ts_ms, at_mark=marks[i >> _MARK_SHIFT], raw=k)[1]
            else:
                fixes._b = _scan(b, front=ts_ms, raw=k)[1]
            return
        fixes._b = None
        if k:  # the raw tail's fixes at or after ts_ms are kept
            fixes._run = 0
            kept = [f for f in _raw_tail(b, k) if f[0] >= ts_ms]
            if kept:
                fixes._extend(kept)
    fl = fixes._l
    if fl:
        del fl[: bisect_left(fl, ts_ms, key=_ts)]
        if not fl:
            fixes._l, fixes._run = None, 0
