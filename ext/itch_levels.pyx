"""Normalised events, the price-level book and decimal/time text parsing (see itch_levels.pyi)."""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport INT64_MAX, int32_t, int64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy, memmove, memset

import numpy as np

EVENT_DTYPE = np.dtype([
    ("ts_ns", "<i8"), ("recv_ns", "<i8"), ("seq", "<i8"), ("price", "<i8"), ("qty", "<i8"),
    ("price2", "<i8"), ("qty2", "<i8"), ("ref", "<i8"), ("instrument", "<i4"), ("kind", "u1"),
    ("side", "i1"), ("action", "u1"), ("flags", "u1"),
], align=True)
assert EVENT_DTYPE.itemsize == sizeof(Event), "EVENT_DTYPE must mirror struct Event"

BID = 1
ASK = -1

_POW10 = [10 ** i for i in range(19)]


cdef class EventBuffer:
    def __cinit__(self, Py_ssize_t capacity=65536):
        if capacity < 8:
            raise ValueError(f"EventBuffer capacity must be >= 8, got {capacity}")
        self.data = <Event*>calloc(capacity, sizeof(Event))
        if self.data == NULL:
            raise MemoryError(f"EventBuffer of {capacity} events")
        self.capacity = capacity
        self.n = 0

    def __dealloc__(self):
        free(self.data)

    def __len__(self):
        return self.n

    @property
    def free(self):
        return self.capacity - self.n

    cdef int reserve_c(self, Py_ssize_t free) except -1:
        """Grow so that `free` more events fit.  Callers that drain after every message keep the
        buffer as small as their largest message (a deep snapshot), so growth stays bounded."""
        cdef Py_ssize_t want = self.n + free, cap = self.capacity
        cdef Event* grown
        if want <= cap:
            return 0
        while cap < want:
            cap *= 2
        grown = <Event*>realloc(self.data, cap * sizeof(Event))
        if grown == NULL:
            raise MemoryError(f"EventBuffer of {cap} events")
        self.data = grown
        self.capacity = cap
        return 0

    def reserve(self, Py_ssize_t free):
        self.reserve_c(free)

    def take(self):
        """The buffered events as a new EVENT_DTYPE array; the buffer is emptied."""
        out = np.empty(self.n, dtype=EVENT_DTYPE)
        cdef unsigned char[::1] raw
        if self.n:
            raw = out.view(np.uint8)
            memcpy(&raw[0], self.data, self.n * sizeof(Event))
        self.n = 0
        return out

    def append(self, *, int32_t instrument, int kind, int64_t ts_ns=0, int64_t recv_ns=0,
               int64_t seq=0, int side=0, int64_t price=0, int64_t qty=0, int64_t price2=0,
               int64_t qty2=0, int64_t ref=0, int action=0, int flags=0):
        """Append one event from Python; False when the buffer is full (take() first)."""
        cdef Event* e = ev_push(self)
        if e == NULL:
            return False
        e.ts_ns = ts_ns
        e.recv_ns = recv_ns
        e.seq = seq
        e.price = price
        e.qty = qty
        e.price2 = price2
        e.qty2 = qty2
        e.ref = ref
        e.instrument = instrument
        e.kind = kind
        e.side = side
        e.action = action
        e.flags = flags
        return True


cdef inline int64_t key_of(int side, int64_t price) noexcept nogil:
    return price if side > 0 else -price


cdef inline Py_ssize_t lower_bound(SideLevels* s, int64_t key) noexcept nogil:
    # Most updates land near the best level, at the end of the array: check it first.
    cdef Py_ssize_t lo = 0, hi = s.n, mid
    if hi and s.levels[hi - 1].key < key:
        return hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if s.levels[mid].key < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef class LevelBook:
    """Aggregated depth per instrument and side, as sorted arrays with the best level last."""

    def __cinit__(self):
        self.sides = NULL
        self.n_instruments = 0

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.sides != NULL:
            for i in range(2 * self.n_instruments):
                free(self.sides[i].levels)
            free(self.sides)

    cdef int _ensure(self, Py_ssize_t instrument) except -1:
        cdef Py_ssize_t want, old = self.n_instruments
        cdef SideLevels* grown
        if instrument < 0 or instrument > 0x7FFFFFFF:
            raise ValueError(f"instrument id {instrument} out of range")
        if instrument < old:
            return 0
        want = max(instrument + 1, 2 * old, 16)
        grown = <SideLevels*>realloc(self.sides, 2 * want * sizeof(SideLevels))
        if grown == NULL:
            raise MemoryError(f"LevelBook for {want} instruments")
        memset(&grown[2 * old], 0, 2 * (want - old) * sizeof(SideLevels))
        self.sides = grown
        self.n_instruments = want
        return 0

    cdef SideLevels* side_of(self, int32_t instrument, int side) except NULL:
        if instrument >= self.n_instruments:
            self._ensure(instrument)
        elif instrument < 0:
            raise ValueError(f"instrument id {instrument} out of range")
        return &self.sides[2 * instrument + (0 if side > 0 else 1)]

    cdef int64_t set_level(self, int32_t instrument, int side, int64_t price,
                           int64_t qty) except -1:
        """Level (side, price) now holds qty (0 removes it).  Returns the previous qty."""
        cdef SideLevels* s = self.side_of(instrument, side)
        cdef int64_t key = key_of(side, price), old
        cdef Py_ssize_t i = lower_bound(s, key)
        cdef Level* grown
        if i < s.n and s.levels[i].key == key:
            old = s.levels[i].qty
            if qty > 0:
                s.levels[i].qty = qty
            else:
                memmove(&s.levels[i], &s.levels[i + 1], (s.n - i - 1) * sizeof(Level))
                s.n -= 1
            return old
        if qty <= 0:
            return 0
        if s.n == s.cap:
            grown = <Level*>realloc(s.levels, max(16, 2 * s.cap) * sizeof(Level))
            if grown == NULL:
                raise MemoryError("LevelBook level array")
            s.levels = grown
            s.cap = max(16, 2 * s.cap)
        memmove(&s.levels[i + 1], &s.levels[i], (s.n - i) * sizeof(Level))
        s.levels[i].key = key
        s.levels[i].qty = qty
        s.levels[i].count = 0
        s.n += 1
        return 0

    cdef int64_t add_level(self, int32_t instrument, int side, int64_t price, int64_t dqty,
                           int64_t dcount) except -1:
        """Add dqty (and dcount orders) to a level, creating or removing it; returns the new
        qty."""
        cdef SideLevels* s = self.side_of(instrument, side)
        cdef int64_t key = key_of(side, price)
        cdef Py_ssize_t i = lower_bound(s, key)
        cdef Level* grown
        if i < s.n and s.levels[i].key == key:
            s.levels[i].qty += dqty
            s.levels[i].count += dcount
            if s.levels[i].qty > 0 and s.levels[i].count > 0:
                return s.levels[i].qty
            memmove(&s.levels[i], &s.levels[i + 1], (s.n - i - 1) * sizeof(Level))
            s.n -= 1
            return 0
        if dqty <= 0:
            return 0
        if s.n == s.cap:
            grown = <Level*>realloc(s.levels, max(16, 2 * s.cap) * sizeof(Level))
            if grown == NULL:
                raise MemoryError("LevelBook level array")
            s.levels = grown
            s.cap = max(16, 2 * s.cap)
        memmove(&s.levels[i + 1], &s.levels[i], (s.n - i) * sizeof(Level))
        s.levels[i].key = key
        s.levels[i].qty = dqty
        s.levels[i].count = dcount
        s.n += 1
        return dqty

    cdef void clear_c(self, int32_t instrument) noexcept:
        if 0 <= instrument < self.n_instruments:
            self.sides[2 * instrument].n = 0
            self.sides[2 * instrument + 1].n = 0

    cdef int top_c(self, int32_t instrument, int64_t* out) noexcept:
        """out[0..3] = bid price, bid qty, ask price, ask qty (zeros for an empty side)."""
        cdef SideLevels* b
        cdef SideLevels* a
        out[0] = out[1] = out[2] = out[3] = 0
        if instrument < 0 or instrument >= self.n_instruments:
            return 0
        b = &self.sides[2 * instrument]
        a = &self.sides[2 * instrument + 1]
        if b.n:
            out[0] = b.levels[b.n - 1].key
            out[1] = b.levels[b.n - 1].qty
        if a.n:
            out[2] = -a.levels[a.n - 1].key
            out[3] = a.levels[a.n - 1].qty
        return 0

    cdef int crossed_c(self, int32_t instrument) noexcept:
        """1 when the best bid >= the best ask (crossed or locked), else 0."""
        cdef SideLevels* b
        cdef SideLevels* a
        if instrument < 0 or instrument >= self.n_instruments:
            return 0
        b = &self.sides[2 * instrument]
        a = &self.sides[2 * instrument + 1]
        return 1 if b.n and a.n and b.levels[b.n - 1].key >= -a.levels[a.n - 1].key else 0

    # Python view, for tests, the CLI summary and snapshots.
    def set(self, int32_t instrument, int side, int64_t price, int64_t qty):
        return self.set_level(instrument, side, price, qty)

    def add(self, int32_t instrument, int side, int64_t price, int64_t dqty, int64_t dcount=1):
        return self.add_level(instrument, side, price, dqty, dcount)

    def clear(self, int32_t instrument):
        self.clear_c(instrument)

    def depth(self, int32_t instrument, int side, Py_ssize_t n=-1):
        """[(price, qty, orders), ...] best first; n < 0 means all levels."""
        if instrument < 0 or instrument >= self.n_instruments:
            return []
        cdef SideLevels* s = &self.sides[2 * instrument + (0 if side > 0 else 1)]
        cdef Py_ssize_t i, stop = 0 if n < 0 else max(0, s.n - n)
        cdef int sign = 1 if side > 0 else -1
        return [(sign * s.levels[i].key, s.levels[i].qty, s.levels[i].count)
                for i in range(s.n - 1, stop - 1, -1)]

    def top(self, int32_t instrument):
        """(bid_price, bid_qty, ask_price, ask_qty); zeros for an empty side."""
        cdef int64_t t[4]
        self.top_c(instrument, t)
        return (t[0], t[1], t[2], t[3])

    def crossed(self, int32_t instrument):
        return bool(self.crossed_c(instrument))

    def instruments(self):
        """Ids of instruments with at least one level."""
        cdef Py_ssize_t i
        return [i for i in range(self.n_instruments)
                if self.sides[2 * i].n or self.sides[2 * i + 1].n]


cdef int parse_decimal_c(const char* s, Py_ssize_t n, int scale, int64_t* out) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef int64_t v = 0
    cdef int neg = 0, digits = 0, frac = -1, d
    if n <= 0:
        return DEC_SYNTAX
    if s[0] == b'-' or s[0] == b'+':
        neg = s[0] == b'-'
        i = 1
    while i < n:
        d = s[i] - 48
        if 0 <= d <= 9:
            digits += 1
            if frac >= 0:
                frac += 1
                if frac > scale:
                    if d != 0:
                        return DEC_OFF_GRID
                    i += 1
                    continue
            if v > (INT64_MAX - d) // 10:
                return DEC_OVERFLOW
            v = v * 10 + d
        elif s[i] == b'.' and frac < 0:
            frac = 0
        else:
            return DEC_SYNTAX
        i += 1
    if digits == 0:
        return DEC_SYNTAX
    if frac < 0:
        frac = 0
    while frac < scale:
        if v > INT64_MAX // 10:
            return DEC_OVERFLOW
        v *= 10
        frac += 1
    out[0] = -v if neg else v
    return DEC_OK


cdef int decimal_of(object text, int scale, int64_t* out) except -1:
    """Parse a str/bytes decimal (or an exact int) at `scale` decimals into out[0]."""
    cdef const char* p
    cdef Py_ssize_t n
    if type(text) is str:
        p = PyUnicode_AsUTF8AndSize(text, &n)
        return parse_decimal_c(p, n, scale, out)
    if type(text) is bytes:
        return parse_decimal_c(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), scale, out)
    if type(text) is int:
        if not (-(2 ** 63) < text * _POW10[scale] < 2 ** 63):
            return DEC_OVERFLOW
        out[0] = text * _POW10[scale]
        return DEC_OK
    # Floats (and anything else) are refused: a binary float cannot say which decimal it meant.
    return DEC_SYNTAX


_DECIMAL_ERRORS = {DEC_SYNTAX: "not a decimal number", DEC_OFF_GRID: "more decimals than the scale",
                   DEC_OVERFLOW: "out of int64 range"}


def parse_decimal(text, int scale):
    """Decimal text -> int64 count of 10**-scale units; ValueError says why it cannot."""
    cdef int64_t v = 0
    if not 0 <= scale <= 18:
        raise ValueError(f"scale must be 0..18, got {scale}")
    cdef int rc = decimal_of(text, scale, &v)
    if rc != DEC_OK:
        raise ValueError(f"{text!r}: {_DECIMAL_ERRORS[rc]} (scale {scale})")
    return v


cdef inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    # Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
    cdef int64_t era, yoe, doy, doe
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int digits_at(const char* s, Py_ssize_t i, int k, int64_t* out) noexcept nogil:
    cdef int64_t v = 0
    cdef int j, d
    for j in range(k):
        d = s[i + j] - 48
        if d < 0 or d > 9:
            return 0
        v = v * 10 + d
    out[0] = v
    return 1


cdef int parse_iso8601_c(const char* s, Py_ssize_t n, int64_t* out) noexcept nogil:
    """YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00) -> ns since the epoch.  Returns 0 on success."""
    cdef int64_t y, mo, d, h, mi, sec, frac = 0, scale = 100000000
    cdef Py_ssize_t i = 19
    cdef int dd
    if n < 20 or s[4] != b'-' or s[7] != b'-' or (s[10] != b'T' and s[10] != b' ') \
            or s[13] != b':' or s[16] != b':':
        return 1
    if not (digits_at(s, 0, 4, &y) and digits_at(s, 5, 2, &mo) and digits_at(s, 8, 2, &d)
            and digits_at(s, 11, 2, &h) and digits_at(s, 14, 2, &mi) and digits_at(s, 17, 2, &sec)):
        return 1
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and sec <= 60):
        return 1
    if s[i] == b'.':
        i += 1
        while i < n and 48 <= s[i] <= 57:
            dd = s[i] - 48
            frac += dd * scale
            scale //= 10
            i += 1
    if i == n - 1 and s[i] == b'Z':
        pass
    elif i == n - 6 and (s[i] == b'+' or s[i] == b'-') and s[i + 1] == b'0' and s[i + 2] == b'0' \
            and s[i + 3] == b':' and s[i + 4] == b'0' and s[i + 5] == b'0':
        pass
    else:
        return 1
    out[0] = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000000000 + frac)
    return 0


def parse_iso8601(text):
    """UTC ISO-8601 timestamp text -> int ns since the epoch; ValueError if it is not one."""
    cdef int64_t v = 0
    cdef const char* p
    cdef Py_ssize_t n
    if isinstance(text, str):
        p = PyUnicode_AsUTF8AndSize(text, &n)
    elif isinstance(text, bytes):
        p = PyBytes_AS_STRING(text)
        n = PyBytes_GET_SIZE(text)
    else:
        raise ValueError(f"{text!r}: not an ISO-8601 UTC timestamp")
    if parse_iso8601_c(p, n, &v):
        raise ValueError(f"{text!r}: not an ISO-8601 UTC timestamp")
    return v
