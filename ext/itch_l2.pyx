"""Level-2 books from venues' JSON (decoded by orjson) to normalised events (see itch_l2.pyi)."""
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memset

from ordex.ext.itch_levels cimport (
    BOOK, DEC_OFF_GRID, DEC_OK, F_CROSSED, F_VENUE, QUOTE, ST_RESET, ST_SNAPSHOT_END, STATUS,
    TRADE, Event, EventBuffer, LevelBook, decimal_of, ev_push, parse_iso8601_c,
)

REASON_NAMES = ("bad_level", "bad_price", "bad_qty", "off_grid", "non_positive_price",
                "non_positive_size", "bad_side", "crossed", "locked")
assert len(REASON_NAMES) == L2_N_REASONS


cdef class L2Books:
    """Books of many instruments, each with its own price / quantity decimals."""

    def __cinit__(self, Py_ssize_t capacity=4096, *, bint quotes=True):
        self.levels = LevelBook()
        self.events = EventBuffer(capacity)
        self.emit_quotes = quotes
        self.price_dec = NULL
        self.qty_dec = NULL
        self.last_top = NULL
        self.n_instruments = 0
        memset(self._reasons, 0, sizeof(self._reasons))

    def __dealloc__(self):
        free(self.price_dec)
        free(self.qty_dec)
        free(self.last_top)

    cdef int _ensure(self, int32_t instrument) except -1:
        cdef Py_ssize_t want, old = self.n_instruments, i
        cdef int* p
        cdef int* q
        cdef int64_t* t
        if instrument < 0:
            raise ValueError(f"instrument id {instrument} out of range")
        if instrument < old:
            return 0
        want = max(instrument + 1, 2 * old, 16)
        p = <int*>realloc(self.price_dec, want * sizeof(int))
        if p == NULL:
            raise MemoryError("L2Books tables")
        self.price_dec = p
        q = <int*>realloc(self.qty_dec, want * sizeof(int))
        if q == NULL:
            raise MemoryError("L2Books tables")
        self.qty_dec = q
        t = <int64_t*>realloc(self.last_top, 4 * want * sizeof(int64_t))
        if t == NULL:
            raise MemoryError("L2Books tables")
        self.last_top = t
        for i in range(old, want):
            self.price_dec[i] = -1
            self.qty_dec[i] = -1
        memset(&self.last_top[4 * old], 0, 4 * (want - old) * sizeof(int64_t))
        self.n_instruments = want
        return 0

    def set_scale(self, int32_t instrument, int price_decimals, int qty_decimals):
        """Prices of `instrument` become int64 counts of 10**-price_decimals, quantities of
        10**-qty_decimals.  Must be called before any update of that instrument."""
        if not (0 <= price_decimals <= 18 and 0 <= qty_decimals <= 18):
            raise ValueError(f"decimals must be 0..18, got {price_decimals}, {qty_decimals}")
        self._ensure(instrument)
        self.price_dec[instrument] = price_decimals
        self.qty_dec[instrument] = qty_decimals

    def scale(self, int32_t instrument):
        if instrument < 0 or instrument >= self.n_instruments or self.price_dec[instrument] < 0:
            return None
        return (self.price_dec[instrument], self.qty_dec[instrument])

    cdef Event* emit(self, int32_t instrument, int kind, int64_t ts_ns, int64_t recv_ns,
                     int64_t seq) except NULL:
        cdef Event* e
        if self.events.n == self.events.capacity:
            self.events.reserve_c(1)
        e = ev_push(self.events)
        memset(e, 0, sizeof(Event))
        e.ts_ns = ts_ns
        e.recv_ns = recv_ns
        e.seq = seq
        e.instrument = instrument
        e.kind = kind
        return e

    cdef int num(self, object text, int scale, int64_t* out, int bad) except -1:
        """0 when text is a decimal at `scale`, else counts why not and returns 1."""
        cdef int rc = decimal_of(text, scale, out)
        if rc == DEC_OK:
            return 0
        self._reasons[L2_OFF_GRID if rc == DEC_OFF_GRID else bad] += 1
        return 1

    cdef int set_one(self, int32_t instrument, int side, object price, object qty, int64_t ts_ns,
                     int64_t recv_ns, int64_t seq, int action, int flags) except -1:
        cdef int64_t px, q
        cdef Event* e
        if self.num(price, self.price_dec[instrument], &px, L2_BAD_PRICE):
            return 0
        if self.num(qty, self.qty_dec[instrument], &q, L2_BAD_QTY):
            return 0
        if px <= 0:
            self._reasons[L2_NON_POSITIVE_PRICE] += 1
            return 0
        if q < 0:
            self._reasons[L2_NON_POSITIVE_SIZE] += 1
            return 0
        self.levels.set_level(instrument, side, px, q)
        e = self.emit(instrument, BOOK, ts_ns, recv_ns, seq)
        e.side = side
        e.price = px
        e.qty = q
        e.action = action
        e.flags = flags
        return 1

    cdef int check(self, int32_t instrument) except -1:
        if instrument < 0 or instrument >= self.n_instruments or self.price_dec[instrument] < 0:
            raise KeyError(f"instrument {instrument} has no scale: call set_scale first")
        return 0

    def mark(self):
        """Index of the next event: pass it to end_update() after applying one message."""
        return self.events.n

    def set_levels(self, int32_t instrument, int side, levels, int64_t ts_ns, int64_t recv_ns,
                   int64_t seq, int action=0, int flags=0):
        """Apply [[price, qty], ...] (absolute level quantities, 0 removes) to one side.
        Returns the number of levels applied; malformed entries are counted and skipped."""
        self.check(instrument)
        return self.levels_c(instrument, side, levels, ts_ns, recv_ns, seq, action, flags)

    cdef Py_ssize_t levels_c(self, int32_t instrument, int side, object levels, int64_t ts_ns,
                             int64_t recv_ns, int64_t seq, int action, int flags) except -1:
        cdef Py_ssize_t applied = 0
        if type(levels) is not list:
            self._reasons[L2_BAD_LEVEL] += 1
            return 0
        self.events.reserve_c(len(<list>levels) + 4)
        for entry in <list>levels:
            if type(entry) is not list or len(<list>entry) < 2:
                self._reasons[L2_BAD_LEVEL] += 1
                continue
            applied += self.set_one(instrument, side, (<list>entry)[0], (<list>entry)[1], ts_ns,
                                    recv_ns, seq, action, flags)
        return applied

    def changes(self, int32_t instrument, changes, int64_t ts_ns, int64_t recv_ns, int64_t seq,
                int action=0):
        """Apply Coinbase-style [[side, price, qty], ...] with side "buy"/"sell"."""
        self.check(instrument)
        return self.changes_c(instrument, changes, ts_ns, recv_ns, seq, action)

    cdef Py_ssize_t changes_c(self, int32_t instrument, object changes, int64_t ts_ns,
                              int64_t recv_ns, int64_t seq, int action) except -1:
        cdef Py_ssize_t applied = 0
        cdef int side
        if type(changes) is not list:
            self._reasons[L2_BAD_LEVEL] += 1
            return 0
        self.events.reserve_c(len(<list>changes) + 4)
        for entry in <list>changes:
            if type(entry) is not list or len(<list>entry) < 3:
                self._reasons[L2_BAD_LEVEL] += 1
                continue
            s = (<list>entry)[0]
            if s == "buy":
                side = 1
            elif s == "sell":
                side = -1
            else:
                self._reasons[L2_BAD_SIDE] += 1
                continue
            applied += self.set_one(instrument, side, (<list>entry)[1], (<list>entry)[2], ts_ns,
                                    recv_ns, seq, action, 0)
        return applied

    def coinbase_update(self, int32_t instrument, dict msg, int64_t recv_ns, int action=0):
        """One Coinbase `l2update` message, start to finish (the hot path of that feed).
        Returns the number of changes applied, or -1 without touching anything when the message
        lacks a list of changes or a valid time (the caller then reports it)."""
        cdef int64_t ts_ns = recv_ns
        cdef const char* p
        cdef Py_ssize_t n, first, applied
        self.check(instrument)
        changes = msg.get("changes")
        t = msg.get("time")
        if type(changes) is not list:
            return -1
        if t is not None:
            if type(t) is not str:
                return -1
            p = PyUnicode_AsUTF8AndSize(t, &n)
            if parse_iso8601_c(p, n, &ts_ns):
                return -1
        if recv_ns == 0:
            recv_ns = ts_ns
        first = self.events.n
        applied = self.changes_c(instrument, changes, ts_ns, recv_ns, 0, action)
        self.end_update_c(instrument, first, ts_ns, recv_ns, 0)
        return applied

    def binance_diff(self, int32_t instrument, dict msg, int64_t recv_ns, int action=0):
        """Apply one Binance depthUpdate already accepted by the sync rule (b and a levels, the
        crossed check, the quote).  Returns the levels applied, or -1 without touching anything
        when b / a are not lists (the caller then reports it)."""
        cdef int64_t ts_ns = recv_ns, seq
        cdef Py_ssize_t first, applied
        self.check(instrument)
        bids = msg.get("b")
        asks = msg.get("a")
        u = msg.get("u")
        E = msg.get("E")
        if type(bids) is not list or type(asks) is not list or type(u) is not int:
            return -1
        seq = u
        if type(E) is int:
            ts_ns = <int64_t>E * 1000000
        if recv_ns == 0:
            recv_ns = ts_ns
        first = self.events.n
        applied = self.levels_c(instrument, 1, bids, ts_ns, recv_ns, seq, action, 0)
        applied += self.levels_c(instrument, -1, asks, ts_ns, recv_ns, seq, action, 0)
        self.end_update_c(instrument, first, ts_ns, recv_ns, seq)
        return applied

    def end_update(self, int32_t instrument, Py_ssize_t first, int64_t ts_ns, int64_t recv_ns,
                   int64_t seq):
        """After one message: flag its events if the book is crossed or locked (and count it),
        and emit a QUOTE if the top of book changed.  Returns 0, or 1 crossed, 2 locked."""
        self.check(instrument)
        return self.end_update_c(instrument, first, ts_ns, recv_ns, seq)

    cdef int end_update_c(self, int32_t instrument, Py_ssize_t first, int64_t ts_ns,
                          int64_t recv_ns, int64_t seq) except -1:
        cdef int64_t top[4]
        cdef int64_t* last
        cdef int state = 0
        cdef Py_ssize_t i
        cdef Event* e
        if self.levels.crossed_c(instrument):
            self.levels.top_c(instrument, top)
            state = 2 if top[0] == top[2] else 1
            self._reasons[L2_LOCKED if state == 2 else L2_CROSSED] += 1
            for i in range(max(first, 0), self.events.n):
                self.events.data[i].flags |= F_CROSSED
        if not self.emit_quotes:
            return state
        self.levels.top_c(instrument, top)
        last = &self.last_top[4 * instrument]
        if top[0] != last[0] or top[1] != last[1] or top[2] != last[2] or top[3] != last[3]:
            memcpy(last, top, 4 * sizeof(int64_t))
            e = self.emit(instrument, QUOTE, ts_ns, recv_ns, seq)
            e.price = top[0]
            e.qty = top[1]
            e.price2 = top[2]
            e.qty2 = top[3]
            if state:
                e.flags = F_CROSSED
        return state

    def reset(self, int32_t instrument, int64_t ts_ns, int64_t recv_ns, int64_t seq,
              int64_t ref=0):
        """Clear the instrument's book (before a snapshot, or on a gap) and say so."""
        self.check(instrument)
        cdef Event* e
        self.levels.clear_c(instrument)
        memset(&self.last_top[4 * instrument], 0, 4 * sizeof(int64_t))
        e = self.emit(instrument, STATUS, ts_ns, recv_ns, seq)
        e.action = ST_RESET
        e.ref = ref

    def snapshot_end(self, int32_t instrument, int64_t ts_ns, int64_t recv_ns, int64_t seq):
        cdef Event* e
        self.check(instrument)
        e = self.emit(instrument, STATUS, ts_ns, recv_ns, seq)
        e.action = ST_SNAPSHOT_END

    def trade(self, int32_t instrument, price, qty, int side, int64_t ts_ns, int64_t recv_ns,
              int64_t seq, int64_t ref, int action=0):
        """One trade (side = aggressor, 0 unknown).  False when it was malformed (counted)."""
        cdef int64_t px, q
        cdef Event* e
        self.check(instrument)
        if self.num(price, self.price_dec[instrument], &px, L2_BAD_PRICE):
            return False
        if self.num(qty, self.qty_dec[instrument], &q, L2_BAD_QTY):
            return False
        if px <= 0:
            self._reasons[L2_NON_POSITIVE_PRICE] += 1
            return False
        if q <= 0:
            self._reasons[L2_NON_POSITIVE_SIZE] += 1
            return False
        e = self.emit(instrument, TRADE, ts_ns, recv_ns, seq)
        e.price = px
        e.qty = q
        e.side = side
        e.ref = ref
        e.action = action
        return True

    def venue_quote(self, int32_t instrument, bid, bid_qty, ask, ask_qty, int64_t ts_ns,
                    int64_t recv_ns, int64_t seq):
        """The venue's own best bid/offer (quantities may be None): emits a QUOTE flagged F_VENUE
        and returns (bid, bid_qty, ask, ask_qty) in fixed point, or None when malformed."""
        cdef int64_t b = 0, bq = 0, a = 0, aq = 0
        cdef int pd, qd
        cdef Event* e
        self.check(instrument)
        pd = self.price_dec[instrument]
        qd = self.qty_dec[instrument]
        if self.num(bid, pd, &b, L2_BAD_PRICE) or self.num(ask, pd, &a, L2_BAD_PRICE):
            return None
        if bid_qty is not None and self.num(bid_qty, qd, &bq, L2_BAD_QTY):
            return None
        if ask_qty is not None and self.num(ask_qty, qd, &aq, L2_BAD_QTY):
            return None
        if b <= 0 or a <= 0:
            self._reasons[L2_NON_POSITIVE_PRICE] += 1
            return None
        e = self.emit(instrument, QUOTE, ts_ns, recv_ns, seq)
        e.price = b
        e.qty = bq
        e.price2 = a
        e.qty2 = aq
        e.flags = F_VENUE | (F_CROSSED if b >= a else 0)
        return (b, bq, a, aq)

    def top(self, int32_t instrument):
        return self.levels.top(instrument)

    def depth(self, int32_t instrument, int side, Py_ssize_t n=-1):
        return self.levels.depth(instrument, side, n)

    def reasons(self):
        """{reason name: count} of the non-zero counters."""
        return {REASON_NAMES[i]: self._reasons[i] for i in range(L2_N_REASONS) if self._reasons[i]}
