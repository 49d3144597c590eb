"""Nasdaq TotalView-ITCH 5.0 framing, decoding and book reconstruction (contract: itch.pyi)."""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

import numpy as np

from ordex.ext.itch_levels cimport (
    BOOK, F_CROSS_TRADE, F_CROSSED, F_NON_PRINTABLE, QUOTE, ST_BROKEN_TRADE, ST_HALTED, ST_PAUSED,
    ST_QUOTE_ONLY, ST_SYSTEM, ST_TRADING, STATUS, TRADE, Event, EventBuffer, LevelBook, ev_push,
)

ITCH_DTYPE = np.dtype([
    ("ref", "<u8"), ("new_ref", "<u8"), ("match", "<u8"), ("ts_ns", "<i8"), ("price", "<i8"),
    ("shares", "<i8"), ("stock", "S8"), ("locate", "<u2"), ("tracking", "<u2"), ("type", "u1"),
    ("side", "u1"), ("code", "u1"), ("code2", "u1"), ("attribution", "<u4"),
], align=True)
assert ITCH_DTYPE.itemsize == sizeof(ItchMsg), "ITCH_DTYPE must mirror struct ItchMsg"

# Message lengths of ITCH 5.0 (the specification's, without the 2-byte length prefix); 0 = unknown.
cdef uint8_t SIZES[256]
MESSAGE_SIZES = {
    b"S": 12, b"R": 39, b"H": 25, b"Y": 20, b"L": 26, b"V": 35, b"W": 12, b"K": 28, b"J": 35,
    b"h": 21, b"A": 36, b"F": 40, b"E": 31, b"C": 36, b"X": 23, b"D": 19, b"U": 35, b"P": 44,
    b"Q": 40, b"B": 19, b"I": 50, b"N": 20, b"O": 48,
}
memset(SIZES, 0, sizeof(SIZES))
for _t, _n in MESSAGE_SIZES.items():
    SIZES[_t[0]] = _n
cdef enum:
    MAX_MESSAGE = 50
    LOOKAHEAD = 8       # frames whose order slots are prefetched ahead of the one being applied

cdef extern from *:
    void __builtin_prefetch(const void* addr) noexcept nogil

REASON_NAMES = (
    "unknown_type", "bad_frame", "skipped_bytes", "truncated", "unknown_order", "duplicate_order",
    "non_positive_size", "non_positive_price", "bad_side", "overfill", "locate_mismatch",
    "crossed", "locked", "soup_packet", "events_dropped",
)
assert len(REASON_NAMES) == N_REASONS


cdef inline uint64_t be16(const uint8_t* p) noexcept nogil:
    return (<uint64_t>p[0] << 8) | p[1]


cdef inline uint64_t be32(const uint8_t* p) noexcept nogil:
    return (<uint64_t>p[0] << 24) | (<uint64_t>p[1] << 16) | (<uint64_t>p[2] << 8) | p[3]


cdef inline uint64_t be48(const uint8_t* p) noexcept nogil:
    return (be16(p) << 32) | be32(p + 2)


cdef inline uint64_t be64(const uint8_t* p) noexcept nogil:
    return (be32(p) << 32) | be32(p + 4)


cdef inline void decode(const uint8_t* p, ItchMsg* m) noexcept nogil:
    """Fields of one message whose length has been checked against SIZES."""
    cdef uint8_t t = p[0]
    memset(m, 0, sizeof(ItchMsg))
    m.type = t
    m.locate = <uint16_t>be16(p + 1)
    m.tracking = <uint16_t>be16(p + 3)
    m.ts_ns = <int64_t>be48(p + 5)
    if t == c'A' or t == c'F':
        m.ref = be64(p + 11)
        m.side = p[19]
        m.shares = be32(p + 20)
        memcpy(m.stock, p + 24, 8)
        m.price = be32(p + 32)
        if t == c'F':
            m.attribution = <uint32_t>be32(p + 36)
    elif t == c'E' or t == c'C':
        m.ref = be64(p + 11)
        m.shares = be32(p + 19)
        m.match = be64(p + 23)
        if t == c'C':
            m.code = p[31]
            m.price = be32(p + 32)
    elif t == c'X':
        m.ref = be64(p + 11)
        m.shares = be32(p + 19)
    elif t == c'D':
        m.ref = be64(p + 11)
    elif t == c'U':
        m.ref = be64(p + 11)
        m.new_ref = be64(p + 19)
        m.shares = be32(p + 27)
        m.price = be32(p + 31)
    elif t == c'P':
        m.ref = be64(p + 11)
        m.side = p[19]
        m.shares = be32(p + 20)
        memcpy(m.stock, p + 24, 8)
        m.price = be32(p + 32)
        m.match = be64(p + 36)
    elif t == c'Q':
        m.shares = <int64_t>be64(p + 11)
        memcpy(m.stock, p + 19, 8)
        m.price = be32(p + 27)
        m.match = be64(p + 31)
        m.code = p[39]
    elif t == c'B':
        m.match = be64(p + 11)
    elif t == c'S' or t == c'W':
        m.code = p[11]
    elif t == c'R':
        memcpy(m.stock, p + 11, 8)
        m.code = p[19]
        m.side = p[20]
        m.shares = be32(p + 21)
    elif t == c'H':
        memcpy(m.stock, p + 11, 8)
        m.code = p[19]
        m.attribution = <uint32_t>be32(p + 21)
    elif t == c'Y' or t == c'N':
        memcpy(m.stock, p + 11, 8)
        m.code = p[19]
    elif t == c'L':
        m.attribution = <uint32_t>be32(p + 11)
        memcpy(m.stock, p + 15, 8)
        m.code = p[23]
        m.side = p[24]
        m.code2 = p[25]
    elif t == c'V':
        m.ref = be64(p + 11)
        m.new_ref = be64(p + 19)
        m.match = be64(p + 27)
    elif t == c'K':
        memcpy(m.stock, p + 11, 8)
        m.shares = be32(p + 19)
        m.code = p[23]
        m.price = be32(p + 24)
    elif t == c'J':
        memcpy(m.stock, p + 11, 8)
        m.price = be32(p + 19)
        m.ref = be32(p + 23)
        m.new_ref = be32(p + 27)
        m.match = be32(p + 31)
    elif t == c'h':
        memcpy(m.stock, p + 11, 8)
        m.code = p[19]
        m.code2 = p[20]
    elif t == c'I':
        m.ref = be64(p + 11)
        m.new_ref = be64(p + 19)
        m.side = p[27]
        memcpy(m.stock, p + 28, 8)
        m.price = be32(p + 36)
        m.shares = be32(p + 40)
        m.match = be32(p + 44)
        m.code = p[48]
        m.code2 = p[49]
    elif t == c'O':
        memcpy(m.stock, p + 11, 8)
        m.code = p[19]
        m.ref = be32(p + 20)
        m.new_ref = be32(p + 24)
        m.price = be32(p + 28)
        m.match = be64(p + 32)
        m.shares = be32(p + 40)
        m.attribution = <uint32_t>be32(p + 44)


cdef class OrderMap:
    """Open-addressing hash map order reference -> Order, linear probing, backward-shift delete."""

    def __cinit__(self, Py_ssize_t capacity=1 << 16):
        cdef Py_ssize_t cap = 16
        cdef int bits = 4
        while cap < capacity:
            cap <<= 1
            bits += 1
        self.slots = <Order*>calloc(cap, sizeof(Order))
        if self.slots == NULL:
            raise MemoryError(f"OrderMap of {cap} slots")
        self.cap = cap
        self.shift = 64 - bits
        self.n = 0

    def __dealloc__(self):
        free(self.slots)

    def __len__(self):
        return self.n

    cdef Py_ssize_t home(self, uint64_t ref) noexcept nogil:
        return <Py_ssize_t>((ref * 0x9E3779B97F4A7C15ULL) >> self.shift)

    cdef Order* find(self, uint64_t ref) noexcept nogil:
        cdef Py_ssize_t i = self.home(ref), mask = self.cap - 1
        while self.slots[i].shares:
            if self.slots[i].ref == ref:
                return &self.slots[i]
            i = (i + 1) & mask
        return NULL

    cdef int _grow(self) except -1:
        cdef Order* old = self.slots
        cdef Py_ssize_t old_cap = self.cap, i, j, mask
        cdef Order* fresh = <Order*>calloc(2 * old_cap, sizeof(Order))
        if fresh == NULL:
            raise MemoryError(f"OrderMap of {2 * old_cap} slots")
        self.slots = fresh
        self.cap = 2 * old_cap
        self.shift -= 1
        mask = self.cap - 1
        for i in range(old_cap):
            if old[i].shares:
                j = self.home(old[i].ref)
                while fresh[j].shares:
                    j = (j + 1) & mask
                fresh[j] = old[i]
        free(old)
        return 0

    cdef Order* insert(self, uint64_t ref) except NULL:
        """Slot for a reference known to be absent; the caller sets shares > 0 to occupy it."""
        cdef Py_ssize_t i, mask
        if 2 * (self.n + 1) > self.cap:
            self._grow()
        mask = self.cap - 1
        i = self.home(ref)
        while self.slots[i].shares:
            i = (i + 1) & mask
        self.slots[i].ref = ref
        self.n += 1
        return &self.slots[i]

    cdef void remove(self, Order* slot) noexcept nogil:
        cdef Py_ssize_t mask = self.cap - 1
        cdef Py_ssize_t i = slot - self.slots, j = (i + 1) & mask, k
        while self.slots[j].shares:
            k = self.home(self.slots[j].ref)
            # Move j back into the hole at i unless its home lies cyclically in (i, j].
            if (j > i and (k <= i or k > j)) or (j < i and (k <= i and k > j)):
                self.slots[i] = self.slots[j]
                i = j
            j = (j + 1) & mask
        memset(&self.slots[i], 0, sizeof(Order))
        self.n -= 1

    def get(self, uint64_t ref):
        """(price, shares, locate, side) of a live order, or None."""
        cdef Order* o = self.find(ref)
        if o == NULL:
            return None
        return (o.price, o.shares, o.locate, o.side)


cdef class ItchFramer:
    """Splits a byte stream into ITCH messages and hands each to on_message (subclasses)."""

    def __cinit__(self, *args, bint soup=False, **kwargs):
        self.soup = soup
        self.frames = 0
        self.soup_seq = 1
        self.heartbeats = 0
        self.control = None
        self._resyncing = False
        self._stopped = False
        self.lookahead = False
        memset(self._types, 0, sizeof(self._types))
        memset(self._reasons, 0, sizeof(self._reasons))

    cdef int on_message(self, const uint8_t* p, Py_ssize_t n) except -1:
        return 0

    cdef void prefetch(self, const uint8_t* p, Py_ssize_t n) noexcept:
        pass

    cdef bint valid_at(self, const uint8_t* buf, Py_ssize_t q, Py_ssize_t n) noexcept:
        """Could a frame start at q?  Unknown when fewer than 4 bytes remain (answered True)."""
        cdef Py_ssize_t length
        if n - q < 4:
            return True
        length = <Py_ssize_t>be16(buf + q)
        if self.soup:
            if buf[q + 2] == c'H':
                return length == 1
            return buf[q + 2] == c'S' and length >= 2 and SIZES[buf[q + 3]] == length - 1
        return length >= 1 and SIZES[buf[q + 2]] == length

    cdef Py_ssize_t resync(self, const uint8_t* buf, Py_ssize_t pos, Py_ssize_t n,
                           bint final) noexcept:
        """First q >= pos where a valid frame starts and the next one is valid too, or where too
        few bytes remain to tell (then _resyncing stays set and scanning resumes with more data)."""
        cdef Py_ssize_t q = pos
        while n - q >= 4:
            if self.valid_at(buf, q, n) and \
                    self.valid_at(buf, q + 2 + <Py_ssize_t>be16(buf + q), n):
                self._resyncing = False
                return q
            q += 1
        if final:
            self._resyncing = False
            return n
        self._resyncing = True
        return q

    cdef Py_ssize_t run(self, const uint8_t* buf, Py_ssize_t n, bint final) except -1:
        cdef Py_ssize_t pos = 0, length, mlen, start, ahead = 0, pending = 0
        cdef const uint8_t* p
        cdef uint8_t t
        self._stopped = False
        if self._resyncing:
            start = pos
            pos = self.resync(buf, pos, n, final)
            self._reasons[R_SKIPPED_BYTES] += pos - start
        while not self._resyncing and n - pos >= 2:
            if self.lookahead:
                # Order lookups miss the cache; start them a few frames early.
                if ahead < pos:
                    ahead = pos
                    pending = 0
                while pending < LOOKAHEAD and n - ahead >= 2:
                    length = <Py_ssize_t>be16(buf + ahead)
                    if length < 2 or n - ahead - 2 < length:
                        break
                    self.prefetch(buf + ahead + 2, length)
                    ahead += 2 + length
                    pending += 1
                pending -= 1
            length = <Py_ssize_t>be16(buf + pos)
            p = buf + pos + 2
            mlen = length
            if self.soup and length >= 1:
                mlen = length - 1
                if n - pos - 2 >= length and p[0] != c'S':
                    pos += 2 + length
                    if p[0] == c'H' and length == 1:
                        self.heartbeats += 1
                        continue
                    self.control = bytes(p[:length])
                    self._stopped = True
                    return pos
                p += 1
            if mlen < 1 or mlen > MAX_MESSAGE:
                self._reasons[R_BAD_FRAME] += 1
                start = pos
                pos = self.resync(buf, pos + 1, n, final)
                self._reasons[R_SKIPPED_BYTES] += pos - start
                continue
            if n - pos - 2 < length:
                break
            t = p[0]
            if SIZES[t] == 0:
                self._reasons[R_UNKNOWN_TYPE] += 1
                self._types[t] += 1
                pos += 2 + length
                continue
            if SIZES[t] != mlen:
                self._reasons[R_BAD_FRAME] += 1
                start = pos
                pos = self.resync(buf, pos + 1, n, final)
                self._reasons[R_SKIPPED_BYTES] += pos - start
                continue
            self.frames += 1
            if self.on_message(p, mlen):
                self.frames -= 1
                self._stopped = True
                return pos
            self._types[t] += 1
            if self.soup:
                self.soup_seq += 1
            pos += 2 + length
        if final and pos < n:
            self._reasons[R_TRUNCATED] += 1
            self._reasons[R_SKIPPED_BYTES] += n - pos
            pos = n
        return pos

    def step(self, data, Py_ssize_t start=0, bint final=False):
        """Consume frames of data[start:]; returns the offset where it stopped: at a partial frame
        (keep the rest for the next call), at the end, or early when the consumer is full or a
        SoupBinTCP control packet arrived (see `stopped` and `control`).  final=True means no more
        input follows: a partial frame is then counted as truncated and skipped."""
        cdef const uint8_t[::1] view = data
        cdef Py_ssize_t n = view.shape[0]
        if not 0 <= start <= n:
            raise ValueError(f"start {start} outside the data (0..{n})")
        self._stopped = False
        if start == n:
            if final and self._resyncing:
                self._resyncing = False
            return n
        return start + self.run(&view[start], n - start, final)

    def take_control(self):
        """The SoupBinTCP control packet (type byte + payload) that stopped step(), or None."""
        packet, self.control = self.control, None
        return packet

    @property
    def stopped(self):
        """True when the last step() returned early (consumer full or control packet)."""
        return self._stopped

    def counts(self):
        """{type (1-byte bytes): messages seen}, including types ITCH 5.0 does not define."""
        return {bytes([i]): self._types[i] for i in range(256) if self._types[i]}

    def reasons(self):
        """{reason name: count} of the non-zero counters (see Reason)."""
        return {REASON_NAMES[i]: self._reasons[i] for i in range(N_REASONS) if self._reasons[i]}


cdef class ItchParser(ItchFramer):
    """Decodes messages into ITCH_DTYPE records (a batch of `capacity` at a time)."""

    def __cinit__(self, Py_ssize_t capacity=65536, *, bint soup=False):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.out = <ItchMsg*>calloc(capacity, sizeof(ItchMsg))
        if self.out == NULL:
            raise MemoryError(f"ItchParser batch of {capacity}")
        self.capacity = capacity
        self.n_out = 0

    def __dealloc__(self):
        free(self.out)

    cdef int on_message(self, const uint8_t* p, Py_ssize_t n) except -1:
        if self.n_out == self.capacity:
            return 1
        decode(p, &self.out[self.n_out])
        self.n_out += 1
        return 0

    def take(self):
        """The decoded batch as an ITCH_DTYPE array; the batch is emptied."""
        out = np.empty(self.n_out, dtype=ITCH_DTYPE)
        cdef unsigned char[::1] raw
        if self.n_out:
            raw = out.view(np.uint8)
            memcpy(&raw[0], self.out, self.n_out * sizeof(ItchMsg))
        self.n_out = 0
        return out

    def parse(self, data, bint final=True):
        """All messages of data as one ITCH_DTYPE array (for tools and tests; use scan() or
        step()/take() on large inputs)."""
        parts = []
        cdef Py_ssize_t pos = 0, n = len(data)
        while True:
            pos = self.step(data, pos, final)
            parts.append(self.take())
            if pos >= n or not self._stopped:
                break
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def scan(self, data, bint final=True):
        """Decode every message of data, overwriting the batch as it fills; returns the number of
        messages decoded.  This is the parse-only unit of work of the benchmarks."""
        cdef const uint8_t[::1] view = data
        cdef Py_ssize_t pos = 0, n = view.shape[0]
        cdef int64_t before = self.frames
        while pos < n:
            pos += self.run(&view[pos], n - pos, final)
            if not self._stopped:
                break
            self.n_out = 0
        self.n_out = 0
        return self.frames - before


cdef class ItchBook(ItchFramer):
    """Rebuilds every instrument's book from the messages and emits normalised events."""

    def __cinit__(self, Py_ssize_t capacity=65536, *, int64_t day_ns=0, bint quotes=True,
                  bint soup=False, Py_ssize_t orders=1 << 16):
        self.orders = OrderMap(orders)
        self.levels = LevelBook()
        self.events = EventBuffer(capacity)
        self.day_ns = day_ns
        self.recv_ns = 0
        self.emit_quotes = quotes
        self.lookahead = True
        self.last_top = <int64_t*>calloc(4 * 65536, sizeof(int64_t))
        self.names = <char*>calloc(8 * 65536, 1)
        if self.last_top == NULL or self.names == NULL:
            raise MemoryError("ItchBook per-locate tables")

    def __dealloc__(self):
        free(self.last_top)
        free(self.names)

    cdef void prefetch(self, const uint8_t* p, Py_ssize_t n) noexcept:
        cdef uint8_t t
        if self.soup:
            p += 1
            n -= 1
        if n < 19:
            return
        t = p[0]
        if t == c'A' or t == c'F' or t == c'E' or t == c'C' or t == c'X' or t == c'D' \
                or t == c'U':
            __builtin_prefetch(&self.orders.slots[self.orders.home(be64(p + 11))])

    cdef int on_message(self, const uint8_t* p, Py_ssize_t n) except -1:
        cdef ItchMsg m
        # The largest message (replace) emits two book events and a quote: keep room for them.
        if self.events.capacity - self.events.n < 4:
            return 1
        decode(p, &m)
        self.apply(&m)
        return 0

    cdef Event* emit(self, ItchMsg* m, int kind, int32_t instrument) noexcept:
        cdef Event* e = ev_push(self.events)
        if e == NULL:
            self._reasons[R_EVENTS_DROPPED] += 1
            return NULL
        e.ts_ns = self.day_ns + m.ts_ns
        e.recv_ns = self.recv_ns if self.recv_ns else e.ts_ns
        e.seq = self.soup_seq if self.soup else self.frames
        e.price = 0
        e.qty = 0
        e.price2 = 0
        e.qty2 = 0
        e.ref = 0
        e.instrument = instrument
        e.kind = kind
        e.side = 0
        e.action = m.type
        e.flags = 0
        return e

    cdef void book_event(self, ItchMsg* m, Order* o, uint64_t ref, int64_t level_qty) noexcept:
        cdef Event* e = self.emit(m, BOOK, o.locate)
        if e != NULL:
            e.side = o.side
            e.price = o.price
            e.qty = level_qty
            e.ref = <int64_t>ref

    cdef void after_update(self, ItchMsg* m, int32_t locate, Py_ssize_t first) noexcept:
        """Flag this message's events if the book is now crossed/locked; emit a changed top."""
        cdef int64_t top[4]
        cdef int64_t* last
        cdef Py_ssize_t i
        cdef Event* e
        cdef int crossed = self.levels.crossed_c(locate)
        if crossed:
            self.levels.top_c(locate, top)
            self._reasons[R_LOCKED if top[0] == top[2] else R_CROSSED] += 1
            for i in range(first, self.events.n):
                self.events.data[i].flags |= F_CROSSED
        if not self.emit_quotes:
            return
        self.levels.top_c(locate, top)
        last = &self.last_top[4 * locate]
        if top[0] == last[0] and top[1] == last[1] and top[2] == last[2] and top[3] == last[3]:
            return
        memcpy(last, top, 4 * sizeof(int64_t))
        e = self.emit(m, QUOTE, locate)
        if e != NULL:
            e.price = top[0]
            e.qty = top[1]
            e.price2 = top[2]
            e.qty2 = top[3]
            if crossed:
                e.flags = F_CROSSED

    cdef int reduce(self, ItchMsg* m, Order* o, int64_t shares, bint trade) except -1:
        """Executed (trade) or cancelled shares of a live order; removes it when nothing is left."""
        cdef int64_t q, price
        cdef Event* e
        cdef uint64_t ref = o.ref
        cdef Order copy
        cdef Py_ssize_t first = self.events.n
        if shares <= 0:
            self._reasons[R_NON_POSITIVE_SIZE] += 1
            return 0
        if m.locate != o.locate:
            self._reasons[R_LOCATE_MISMATCH] += 1
        if shares > o.shares:
            self._reasons[R_OVERFILL] += 1
            shares = o.shares
        if trade:
            price = m.price if m.type == c'C' else o.price
            e = self.emit(m, TRADE, o.locate)
            if e != NULL:
                e.side = -o.side
                e.price = price
                e.qty = shares
                e.ref = <int64_t>m.match
                if m.type == c'C' and m.code == c'N':
                    e.flags = F_NON_PRINTABLE
        copy = o[0]
        if shares == o.shares:
            q = self.levels.add_level(o.locate, o.side, o.price, -shares, -1)
            self.orders.remove(o)
        else:
            o.shares -= <uint32_t>shares
            q = self.levels.add_level(o.locate, o.side, o.price, -shares, 0)
        self.book_event(m, &copy, ref, q)
        self.after_update(m, copy.locate, first)
        return 0

    cdef int add(self, ItchMsg* m, uint64_t ref, int side, uint16_t locate) except -1:
        cdef Order* o
        cdef int64_t q
        if m.shares <= 0 or m.shares > 0xFFFFFFFF:
            self._reasons[R_NON_POSITIVE_SIZE] += 1
            return 0
        if m.price <= 0:
            self._reasons[R_NON_POSITIVE_PRICE] += 1
            return 0
        if self.orders.find(ref) != NULL:
            self._reasons[R_DUPLICATE_ORDER] += 1
            return 0
        o = self.orders.insert(ref)
        o.price = m.price
        o.shares = <uint32_t>m.shares
        o.locate = locate
        o.side = side
        q = self.levels.add_level(locate, side, m.price, m.shares, 1)
        self.book_event(m, o, ref, q)
        return 0

    cdef int apply(self, ItchMsg* m) except -1:
        cdef uint8_t t = m.type
        cdef Order* o
        cdef Order old
        cdef Event* e
        cdef int side
        cdef int64_t q
        cdef Py_ssize_t first = self.events.n
        if t == c'A' or t == c'F':
            if m.side != c'B' and m.side != c'S':
                self._reasons[R_BAD_SIDE] += 1
                return 0
            self.add(m, m.ref, 1 if m.side == c'B' else -1, m.locate)
            self.after_update(m, m.locate, first)
        elif t == c'E' or t == c'C' or t == c'X':
            o = self.orders.find(m.ref)
            if o == NULL:
                self._reasons[R_UNKNOWN_ORDER] += 1
                return 0
            self.reduce(m, o, m.shares, t != c'X')
        elif t == c'D':
            o = self.orders.find(m.ref)
            if o == NULL:
                self._reasons[R_UNKNOWN_ORDER] += 1
                return 0
            if m.locate != o.locate:
                self._reasons[R_LOCATE_MISMATCH] += 1
            old = o[0]
            q = self.levels.add_level(old.locate, old.side, old.price, -<int64_t>old.shares, -1)
            self.orders.remove(o)
            self.book_event(m, &old, old.ref, q)
            self.after_update(m, old.locate, first)
        elif t == c'U':
            o = self.orders.find(m.ref)
            if o == NULL:
                self._reasons[R_UNKNOWN_ORDER] += 1
                return 0
            if m.new_ref != m.ref and self.orders.find(m.new_ref) != NULL:
                self._reasons[R_DUPLICATE_ORDER] += 1
                return 0
            if m.locate != o.locate:
                self._reasons[R_LOCATE_MISMATCH] += 1
            old = o[0]
            q = self.levels.add_level(old.locate, old.side, old.price, -<int64_t>old.shares, -1)
            self.orders.remove(o)
            self.book_event(m, &old, old.ref, q)
            self.add(m, m.new_ref, old.side, old.locate)
            self.after_update(m, old.locate, first)
        elif t == c'P' or t == c'Q':
            if m.shares <= 0:
                if t == c'P':
                    self._reasons[R_NON_POSITIVE_SIZE] += 1
                return 0
            e = self.emit(m, TRADE, m.locate)
            if e != NULL:
                e.price = m.price
                e.qty = m.shares
                e.ref = <int64_t>m.match
                if t == c'Q':
                    e.flags = F_CROSS_TRADE
        elif t == c'H':
            e = self.emit(m, STATUS, m.locate)
            if e != NULL:
                e.action = (ST_TRADING if m.code == c'T' else ST_HALTED if m.code == c'H' else
                            ST_PAUSED if m.code == c'P' else ST_QUOTE_ONLY if m.code == c'Q' else 0)
                e.ref = m.code
        elif t == c'S':
            e = self.emit(m, STATUS, m.locate)
            if e != NULL:
                e.action = ST_SYSTEM
                e.ref = m.code
        elif t == c'B':
            e = self.emit(m, STATUS, m.locate)
            if e != NULL:
                e.action = ST_BROKEN_TRADE
                e.ref = <int64_t>m.match
        elif t == c'R':
            memcpy(&self.names[8 * m.locate], m.stock, 8)
        return 0

    def symbol(self, int locate):
        """The symbol of one stock locate from its directory message, or None."""
        if not 0 <= locate < 65536 or not self.names[8 * locate]:
            return None
        return self.names[8 * locate: 8 * locate + 8].decode("ascii", "replace").rstrip()

    def symbols(self):
        """{stock locate: symbol} from the stock directory messages seen so far."""
        cdef int i
        out = {}
        for i in range(65536):
            if self.names[8 * i]:
                out[i] = self.names[8 * i: 8 * i + 8].decode("ascii", "replace").rstrip()
        return out

    def depth(self, int locate, int side, Py_ssize_t n=-1):
        """[(price, shares, orders), ...] best first, side +1 bids / -1 asks."""
        return self.levels.depth(locate, side, n)

    def top(self, int locate):
        return self.levels.top(locate)

    def order(self, uint64_t ref):
        return self.orders.get(ref)
