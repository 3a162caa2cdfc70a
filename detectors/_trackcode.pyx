# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The packed track's bit coder in C (see track.py for the format, the same bits).

`track.py` holds the format's one definition in Python; these two loops are its hot
paths, compiled: `encode` appends fixes, `decode` reads a whole packed part. Both give up
(return None) on a value outside what 64-bit arithmetic holds with room to spare, and
the caller then takes the Python path, which has no limits; the two agree bit for bit
(tests/test_track_code.py).
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint32_t, uint64_t
from libc.math cimport nearbyint
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport malloc, free, realloc

cdef int SHIFT = 3
cdef int64_t A_MAX = (1 << 31) - 1
cdef int QMAX = 16
cdef int RESUME_MASK = 31
cdef int MARK_MASK = 31
cdef int64_t LIMIT = 1LL << 50  # a delta-of-delta beyond this takes the Python path
cdef double SCALE = 1000000.0


cdef inline int bit_length(uint64_t x) nogil:
    return 0 if x == 0 else 64 - __builtin_clzll(x)


cdef extern from *:
    int __builtin_clzll(unsigned long long) nogil


cdef struct Writer:
    unsigned char* buf
    Py_ssize_t size
    Py_ssize_t cap
    uint64_t acc  # the pending bits, fewer than 8 between puts
    int nb


cdef inline int grow(Writer* w) except -1:
    cdef unsigned char* nbuf
    if w.size + 16 > w.cap:
        w.cap = w.cap * 2 + 64
        nbuf = <unsigned char*>realloc(w.buf, w.cap)
        if nbuf == NULL:
            raise MemoryError()
        w.buf = nbuf
    return 0


cdef inline int put(Writer* w, uint64_t value, int m) except -1:
    """Append the m low bits of value (m <= 56)."""
    w.acc = (w.acc << m) | value
    w.nb += m
    grow(w)
    while w.nb >= 8:
        w.nb -= 8
        w.buf[w.size] = <unsigned char>((w.acc >> w.nb) & 0xFF)
        w.size += 1
    w.acc &= (1ULL << w.nb) - 1
    return 0


cdef inline int put_value(Writer* w, int64_t v, int64_t* mean) except -1:
    """One delta-of-delta: a zero flag, or a 1 and the adaptive Rice code of the value
    zigzagged less one (written raw when its quotient is too long)."""
    cdef uint64_t u
    cdef int64_t s
    cdef int k, q, size
    if v == 0:
        put(w, 0, 1)
        mean[0] -= mean[0] >> SHIFT
        return 0
    u = <uint64_t>(2 * v - 1) if v > 0 else <uint64_t>(-2 * v - 2)
    s = mean[0] >> SHIFT
    k = bit_length(<uint64_t>(s | 1)) - 1
    mean[0] += <int64_t>u - s
    if mean[0] > A_MAX:
        mean[0] = A_MAX
    q = <int>(u >> k)
    if (u >> k) < <uint64_t>QMAX:
        # a 1, q zeros, a 1, the k low bits of u
        put(w, (1ULL << (q + 1)) | 1ULL, q + 2)
        if k:
            put(w, u & ((1ULL << k) - 1), k)
    else:
        size = bit_length(u)
        put(w, (1ULL << (QMAX + 7)) | <uint64_t>size, 1 + QMAX + 7)
        put(w, u, size)
    return 0


cdef struct State:
    int64_t n, last, dt0, lat1, dlat0, lon1, dlon0, at, ala, alo


cdef struct Resume:
    int set
    int64_t n, ts, dt, lat, dlat, lon, dlon, at, ala, alo, pos


cdef inline int code_one(Writer* w, State* s, int64_t ts, int64_t qlat, int64_t qlon,
                         Py_ssize_t base_bytes, Resume* r) except -1:
    """Code one fix after the state s; 1 if a value is too large for here."""
    cdef int64_t dt, dlat, dlon
    if not (-LIMIT < ts < LIMIT and -LIMIT < qlat < LIMIT and -LIMIT < qlon < LIMIT):
        return 1
    dt = ts - s.last
    dlat = qlat - s.lat1
    dlon = qlon - s.lon1
    if not (-LIMIT < dt - s.dt0 < LIMIT and -LIMIT < dlat - s.dlat0 < LIMIT
            and -LIMIT < dlon - s.dlon0 < LIMIT):
        return 1
    put_value(w, dt - s.dt0, &s.at)
    put_value(w, dlat - s.dlat0, &s.ala)
    put_value(w, dlon - s.dlon0, &s.alo)
    s.n += 1
    s.last, s.dt0, s.lat1, s.dlat0, s.lon1, s.dlon0 = ts, dt, qlat, dlat, qlon, dlon
    if not s.n & RESUME_MASK:
        r.set = 1
        r.n, r.ts, r.dt, r.lat, r.dlat, r.lon, r.dlon = s.n, ts, dt, qlat, dlat, qlon, dlon
        r.at, r.ala, r.alo = s.at, s.ala, s.alo
        r.pos = ((base_bytes + w.size) << 3) + w.nb
    return 0


def encode(tuple state, object fixes, Py_ssize_t first, Py_ssize_t base_bytes):
    """Code fixes[first:] after the coder `state` (n, last, dt0, lat1, dlat0, lon1, dlon0,
    at, ala, alo, code, bits); `base_bytes` are already in the stream. Returns (the new
    state, the whole bytes written, the last resume point or None), or None to say: take
    the Python path."""
    cdef State s
    cdef Resume r
    cdef Writer w
    cdef Py_ssize_t j
    cdef int64_t ts, qlat, qlon
    r.set = 0
    try:
        s.n, s.last, s.dt0, s.lat1, s.dlat0, s.lon1, s.dlon0, s.at, s.ala, s.alo = state[:10]
        w.acc = <uint64_t>state[10]
        w.nb = <int>state[11]
    except OverflowError:
        return None
    w.buf = NULL
    w.size = 0
    w.cap = 0
    try:
        for j in range(first, len(fixes)):
            fix = fixes[j]
            try:
                ts = fix[0]
                qlat = fix[1]
                qlon = fix[2]
            except OverflowError:
                return None
            if code_one(&w, &s, ts, qlat, qlon, base_bytes, &r):
                return None
        out = PyBytes_FromStringAndSize(<char*>w.buf, w.size) if w.size else b""
    finally:
        free(w.buf)
    resumed = ((r.n, r.ts, r.dt, r.lat, r.dlat, r.lon, r.dlon, r.at, r.ala, r.alo, r.pos)
               if r.set else None)
    return ((s.n, s.last, s.dt0, s.lat1, s.dlat0, s.lon1, s.dlon0, s.at, s.ala, s.alo,
             <int64_t>w.acc, w.nb), out, resumed)


# The header's fields that an append reads and writes (track.py's _HEAD, little-endian).
cdef enum:
    HEAD_SIZE = 147
    RAW_SIZE = 8
    MAX_BLOCK = 64


cdef inline int64_t rd64(const unsigned char* p) nogil:
    cdef int64_t v
    memcpy(&v, p, 8)
    return v


cdef inline int32_t rd32(const unsigned char* p) nogil:
    cdef int32_t v
    memcpy(&v, p, 4)
    return v


cdef inline void wr64(unsigned char* p, int64_t v) nogil:
    memcpy(p, &v, 8)


cdef inline void wr32(unsigned char* p, int32_t v) nogil:
    memcpy(p, &v, 4)


cdef inline void wr_coder(unsigned char* p, int64_t ts, int64_t dt, int64_t lat,
                          int64_t dlat, int64_t lon, int64_t dlon, int64_t at, int64_t ala,
                          int64_t alo) nogil:
    """A coder state as the header keeps it (after the last fix, or at the resume
    point): ts and dt as int64, the rest as int32."""
    wr64(p, ts)
    wr64(p + 8, dt)
    wr32(p + 16, <int32_t>lat)
    wr32(p + 20, <int32_t>dlat)
    wr32(p + 24, <int32_t>lon)
    wr32(p + 28, <int32_t>dlon)
    wr32(p + 32, <int32_t>at)
    wr32(p + 36, <int32_t>ala)
    wr32(p + 40, <int32_t>alo)


cdef inline bint i32(int64_t v) nogil:
    return -2147483648 <= v <= 2147483647


def append(bytes b, Py_ssize_t k, int64_t ts, double lat, double lon, Py_ssize_t block):
    """The packed bytes `b` (with k fixes in its raw tail) with the fix (ts, lat, lon)
    appended after its last: raw, or, when the tail is a block, coded with the tail.
    Returns (new bytes, fixes now in the raw tail), or None: not after the last fix, a
    value out of range here (the Python path decides)."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(b)
    cdef const unsigned char* d = <const unsigned char*>PyBytes_AS_STRING(b)
    cdef double flat, flon
    cdef int64_t qlat, qlon, dt, dlat, dlon, last, lat1, lon1, prev
    cdef int64_t tss[MAX_BLOCK]
    cdef int64_t lats[MAX_BLOCK]
    cdef int64_t lons[MAX_BLOCK]
    cdef const unsigned char* raw
    cdef unsigned char* o
    cdef Py_ssize_t i, body
    cdef State s
    cdef Resume r
    cdef Writer w
    if k < 0 or block > MAX_BLOCK or k >= block or size < HEAD_SIZE + RAW_SIZE * k:
        return None
    flat = nearbyint(lat * SCALE)
    flon = nearbyint(lon * SCALE)
    if not (-2147483648.0 <= flat <= 2147483647.0 and -2147483648.0 <= flon <= 2147483647.0):
        return None
    qlat = <int64_t>flat
    qlon = <int64_t>flon
    if not (-LIMIT < ts < LIMIT):
        return None
    last = rd64(d + 20)
    lat1 = rd32(d + 36)
    lon1 = rd32(d + 44)
    dt = ts - last
    prev = rd32(d + size - RAW_SIZE) if k else 0
    if dt <= prev:
        return None
    dlat = qlat - lat1
    dlon = qlon - lon1
    if k < block - 1 and dt <= 2147483647 and -32768 <= dlat <= 32767 and -32768 <= dlon <= 32767:
        out = PyBytes_FromStringAndSize(NULL, size + RAW_SIZE)
        o = <unsigned char*>PyBytes_AS_STRING(out)
        memcpy(o, d, size)
        wr32(o + size, <int32_t>dt)
        (<int16_t*>(o + size + 4))[0] = <int16_t>dlat
        (<int16_t*>(o + size + 6))[0] = <int16_t>dlon
        return out, k + 1
    # the raw tail and this fix, coded
    raw = d + size - RAW_SIZE * k
    for i in range(k):
        tss[i] = last + rd32(raw + RAW_SIZE * i)
        lats[i] = lat1 + (<const int16_t*>(raw + RAW_SIZE * i + 4))[0]
        lons[i] = lon1 + (<const int16_t*>(raw + RAW_SIZE * i + 6))[0]
    tss[k], lats[k], lons[k] = ts, qlat, qlon
    body = size - RAW_SIZE * k - HEAD_SIZE
    s.n = (<const uint32_t*>d)[0]
    s.last, s.dt0 = last, rd64(d + 28)
    s.lat1, s.dlat0, s.lon1, s.dlon0 = lat1, rd32(d + 40), lon1, rd32(d + 48)
    s.at, s.ala, s.alo = rd32(d + 52), rd32(d + 56), rd32(d + 60)
    w.acc = d[64]
    w.nb = d[65]
    w.buf = NULL
    w.size = 0
    w.cap = 0
    r.set = 0
    try:
        for i in range(k + 1):
            if code_one(&w, &s, tss[i], lats[i], lons[i], body, &r):
                return None
        if not (s.n <= 4294967295 and i32(s.lat1) and i32(s.dlat0) and i32(s.lon1)
                and i32(s.dlon0) and w.nb < 8):
            return None
        if r.set and not (i32(r.lat) and i32(r.dlat) and i32(r.lon) and i32(r.dlon)
                          and 0 <= r.pos <= 4294967295):
            return None
        out = PyBytes_FromStringAndSize(NULL, HEAD_SIZE + body + w.size)
        o = <unsigned char*>PyBytes_AS_STRING(out)
        memcpy(o, d, HEAD_SIZE + body)
        if w.size:
            memcpy(o + HEAD_SIZE + body, w.buf, w.size)
    finally:
        free(w.buf)
    (<uint32_t*>o)[0] = <uint32_t>s.n
    wr_coder(o + 20, s.last, s.dt0, s.lat1, s.dlat0, s.lon1, s.dlon0, s.at, s.ala, s.alo)
    o[64] = <unsigned char>w.acc
    o[65] = <unsigned char>w.nb
    if r.set:
        (<uint32_t*>(o + 95))[0] = <uint32_t>r.n
        wr_coder(o + 99, r.ts, r.dt, r.lat, r.dlat, r.lon, r.dlon, r.at, r.ala, r.alo)
        (<uint32_t*>(o + 143))[0] = <uint32_t>r.pos
    return out, 0


cdef inline uint64_t peek(const unsigned char* d, int64_t p) nogil:
    """The 64 bits from bit p on."""
    cdef const unsigned char* b = d + (p >> 3)
    cdef int r = p & 7
    cdef uint64_t x = 0
    cdef int i
    for i in range(8):
        x = (x << 8) | b[i]
    if r:
        x = (x << r) | (b[8] >> (8 - r))
    return x


cdef inline int get_value(const unsigned char* d, int64_t* p, int64_t* mean,
                          int64_t* value) nogil:
    """Read one delta-of-delta (see put_value) into value; 1 if it is too large for here."""
    cdef uint64_t w, u
    cdef int zeros, k, size
    w = peek(d, p[0])
    p[0] += 1
    if not (w >> 63):
        mean[0] -= mean[0] >> SHIFT
        value[0] = 0
        return 0
    w <<= 1
    zeros = 64 if w == 0 else __builtin_clzll(w)
    if zeros < QMAX:
        k = bit_length(<uint64_t>((mean[0] >> SHIFT) | 1)) - 1
        u = (<uint64_t>zeros) << k
        if k:
            u += (w << (zeros + 1)) >> (64 - k)
        p[0] += zeros + 1 + k
    else:
        p[0] += QMAX
        size = <int>(peek(d, p[0]) >> (64 - 7))
        p[0] += 7
        if size > 56:
            return 1
        u = (peek(d, p[0]) >> (64 - size)) if size else 0
        p[0] += size
    mean[0] += <int64_t>u - (mean[0] >> SHIFT)
    if mean[0] > A_MAX:
        mean[0] = A_MAX
    value[0] = <int64_t>((u + 1) >> 1) if u & 1 else -<int64_t>((u + 2) >> 1)
    return 0


def decode(bytes data, tuple start, Py_ssize_t n, list found, object marks):
    """Append to `found` the fixes first..n-1 of a packed part whose stream (with its
    pending bits and padding) is `data`, from the decoder state `start` (first, ts, dt,
    lat, dlat, lon, dlon, at, ala, alo, bit position); with `marks` (a list), add the
    state before every fix whose index is a multiple of 32. Returns True, or False to
    say: take the Python path (nothing is then added)."""
    cdef int64_t first, ts, dt, lat, dlat, lon, dlon, at, ala, alo, p, v
    cdef Py_ssize_t i
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef const unsigned char* d = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef list out = []
    cdef list mk = []
    try:
        first, ts, dt, lat, dlat, lon, dlon, at, ala, alo, p = start
    except OverflowError:
        return False
    if p < 0 or size < 16:
        return False
    for i in range(first, n):
        if (p >> 3) + 3 * 12 + 16 > size:  # three escapes of up to 80 bits, and a peek
            return False
        if marks is not None and not i & MARK_MASK:
            mk.append((i, ts, dt, lat, dlat, lon, dlon, at, ala, alo, p))
        if get_value(d, &p, &at, &v):
            return False
        dt += v
        if get_value(d, &p, &ala, &v):
            return False
        dlat += v
        if get_value(d, &p, &alo, &v):
            return False
        dlon += v
        if not (-LIMIT < dt < LIMIT and -LIMIT < dlat < LIMIT and -LIMIT < dlon < LIMIT):
            return False
        ts += dt
        lat += dlat
        lon += dlon
        if not (-LIMIT < ts < LIMIT and -LIMIT < lat < LIMIT and -LIMIT < lon < LIMIT):
            return False
        out.append([ts, lat / SCALE, lon / SCALE])
    found.extend(out)
    if marks is not None:
        marks.extend(mk)
    return True
