# cython: freethreading_compatible = False
"""Price-time priority order book in C memory.  Contract: book.pyi; layout: book.pxd.

Orders live in one preallocated pool, linked into per-level FIFO lists by pool index; levels live in
a second pool; each instrument side keeps its active levels in a sorted array with the best price at
the end, and an open-addressing index maps order id -> pool slot.  Nothing here allocates a Python
object per order; Python sees result codes and the event buffer.
"""
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.number cimport PyNumber_Index
from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint64_t, uint8_t
from libc.string cimport memcpy, memmove, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

import numpy as np

cimport numpy as cnp
from cpython.bytearray cimport PyByteArray_FromStringAndSize

from ordex.ext.idmap cimport idmap_del, idmap_find, idmap_free, idmap_init_grouped, idmap_put

# Order ids are sequential: homing runs of 2**ID_RUN of them side by side in the id index keeps a
# new order's insert (and the lookups and removal soon after) in a cache line the previous orders
# already brought in, where plain Fibonacci hashing missed once per order in a table sized for
# max_orders.  Placement only: lookups, events and state do not depend on it.
cdef enum:
    ID_RUN = 6
from ordex.ext.int128 cimport i128

cnp.import_array()

# Field order and types mirror the Command / Event structs; align=True reproduces C's padding.
COMMAND_DTYPE = np.dtype([
    ("order_id", "<i8"), ("price", "<i8"), ("qty", "<i8"), ("display", "<i8"), ("owner", "<i8"),
    ("instrument", "<i4"), ("op", "u1"), ("side", "u1"), ("tif", "u1"), ("stp", "u1"),
    ("flags", "u1"), ("_pad0", "u1"), ("_pad1", "u1"), ("_pad2", "u1"), ("result", "<i4"),
], align=True)
EVENT_DTYPE = np.dtype([
    ("order_id", "<i8"), ("other_id", "<i8"), ("price", "<i8"), ("qty", "<i8"),
    ("leaves", "<i8"), ("other_leaves", "<i8"), ("instrument", "<i4"), ("kind", "u1"),
    ("side", "u1"), ("reason", "u1"),
], align=True)
# Packed, explicit layout: the rows snapshots store (no padding that could differ by compiler).
RESTING_DTYPE = np.dtype([
    ("id", "<i8"), ("price", "<i8"), ("shown", "<i8"), ("hidden", "<i8"), ("display", "<i8"),
    ("owner", "<i8"), ("instrument", "<i4"), ("side", "u1"), ("stp", "u1"), ("flags", "u1"),
    ("_pad", "u1"),
])
if (COMMAND_DTYPE.itemsize != sizeof(Command) or EVENT_DTYPE.itemsize != sizeof(Event)
        or RESTING_DTYPE.itemsize != sizeof(Resting)):
    raise ImportError("ordex.ext.book: numpy dtypes do not match the C structs")


cdef enum:
    NONE = -1           # "no order / no level" in pool links
    EXPORT_CHAINS = 16  # level lists walked at once by export_resting_c


cdef extern from *:
    """
    #define ordex_prefetch(p) __builtin_prefetch(p)
    """
    void prefetch "ordex_prefetch"(const void* p) noexcept nogil


class BookCorrupted(AssertionError):
    """validate() found a broken internal invariant (always a bug in the book)."""


cdef inline int64_t as_i64(object v) except? -1:
    """Python integers (and numpy integers) only: a float or Decimal must not be truncated into a
    valid-looking price or quantity (DESIGN invariant 3).  Too wide: OverflowError."""
    if not PyLong_CheckExact(v):
        v = PyNumber_Index(v)
    return v


cdef inline int32_t as_int32(object v) except? -1:
    if not PyLong_CheckExact(v):
        v = PyNumber_Index(v)
    return v


cdef inline int as_int(object v) except? -1:
    if not PyLong_CheckExact(v):
        v = PyNumber_Index(v)
    return v


cdef inline int as_code(object v, uint8_t invalid) except? -1:
    """A small code field (side, tif, stp): any int that fits a C int; one outside the byte
    becomes `invalid`, a value its validation rejects with its own Result (never truncated into a
    valid code: 257 must not become BUY)."""
    cdef int x = as_int(v)
    return x if 0 <= x <= 255 else invalid


cdef object i128_to_py(i128 v):
    """Exact Python int of a non-negative 128-bit value (Cython would narrow it implicitly)."""
    return (<object>(<uint64_t>(v >> 64)) << 64) | <object>(<uint64_t>v)


cdef inline int side_index(uint8_t side) noexcept:
    return side - 1     # BUY=1 -> 0, SELL=2 -> 1


cdef inline int64_t ladder_key(int s, int64_t price) noexcept:
    # Both ladders ascend by key with the best at the end: bids by price, asks by -price.
    return price if s == 0 else -price


cdef inline bint acceptable(int s, int64_t level_price, int64_t limit) noexcept:
    """May a taker on side index s with this limit (0 = none) trade at level_price?"""
    if limit == 0:
        return True
    return level_price <= limit if s == 0 else level_price >= limit


cdef inline int32_t lower_bound(SideLadder* lad, int64_t key) noexcept:
    cdef int32_t lo = 0, hi = lad.n, mid
    # Most activity is near the best (the end): check it before bisecting.
    if hi > 0 and lad.prices[hi - 1] < key:
        return hi
    while lo < hi:
        mid = (lo + hi) >> 1
        if lad.prices[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef class OrderBook:

    def __cinit__(self, int32_t max_orders=1 << 20, int32_t max_instruments=1024):
        cdef int32_t i
        if max_orders <= 0 or max_instruments <= 0:
            raise ValueError("max_orders and max_instruments must be positive")
        self.max_orders = max_orders
        self.max_instruments = max_instruments
        idmap_init_grouped(&self.index, max_orders, ID_RUN)
        self.orders = <Order*>PyMem_Malloc(max_orders * sizeof(Order))
        self.levels = <Level*>PyMem_Malloc(max_orders * sizeof(Level))
        self.instruments = <Instrument*>PyMem_Malloc(max_instruments * sizeof(Instrument))
        self.events_cap = 1024
        self.events = <Event*>PyMem_Malloc(self.events_cap * sizeof(Event))
        if (self.orders == NULL or self.levels == NULL or self.instruments == NULL
                or self.events == NULL):
            raise MemoryError()
        memset(self.instruments, 0, max_instruments * sizeof(Instrument))
        for i in range(max_orders):
            self.orders[i].next = i + 1
            self.levels[i].next_free = i + 1
        self.orders[max_orders - 1].next = NONE
        self.levels[max_orders - 1].next_free = NONE
        self.free_order = 0
        self.free_level = 0
        self.live_orders = 0
        self.n_events = 0

    def __dealloc__(self):
        cdef int32_t i
        if self.instruments != NULL:
            for i in range(self.max_instruments):
                PyMem_Free(self.instruments[i].sides[0].prices)
                PyMem_Free(self.instruments[i].sides[0].levels)
                PyMem_Free(self.instruments[i].sides[1].prices)
                PyMem_Free(self.instruments[i].sides[1].levels)
        PyMem_Free(self.orders)
        PyMem_Free(self.levels)
        PyMem_Free(self.instruments)
        idmap_free(&self.index)
        PyMem_Free(self.events)

    def add_instrument(self, int32_t instrument, int64_t tick=1, int64_t lot=1):
        if not 0 <= instrument < self.max_instruments:
            raise ValueError(f"instrument {instrument} outside 0..{self.max_instruments - 1}")
        if tick <= 0 or lot <= 0:
            raise ValueError("tick and lot must be positive")
        cdef Instrument* ins = &self.instruments[instrument]
        if ins.active:
            raise ValueError(f"instrument {instrument} already defined")
        ins.tick = tick
        ins.lot = lot
        ins.active = True

    cdef inline int32_t find(self, int64_t order_id) noexcept:
        return idmap_find(&self.index, order_id)

    # ---------------------------------------------------------------- events

    cdef inline Event* emit(self) except NULL:
        cdef Event* grown
        if self.n_events == self.events_cap:
            grown = <Event*>PyMem_Realloc(self.events, 2 * self.events_cap * sizeof(Event))
            if grown == NULL:
                raise MemoryError()
            self.events = grown
            self.events_cap *= 2
        cdef Event* e = &self.events[self.n_events]
        self.n_events += 1
        return e

    cdef inline int put(self, uint8_t kind, int64_t order_id, int64_t other_id, int64_t price,
                        int64_t qty, int64_t leaves, int64_t other_leaves, int32_t instrument,
                        uint8_t side, uint8_t reason) except -1:
        cdef Event* e = self.emit()
        e.order_id = order_id
        e.other_id = other_id
        e.price = price
        e.qty = qty
        e.leaves = leaves
        e.other_leaves = other_leaves
        e.instrument = instrument
        e.kind = kind
        e.side = side
        e.reason = reason
        e._pad = 0
        return 0

    cdef inline int reject(self, int result, int64_t order_id, int32_t instrument, uint8_t side,
                           int64_t price, int64_t qty) except -1:
        self.put(REJECTED, order_id, 0, price, qty, 0, 0, instrument, side, result)
        return result

    # ---------------------------------------------------------------- levels

    cdef int32_t level_for(self, Instrument* ins, int s, int64_t price) except -1:
        """The level at price on side s, created (and inserted in the ladder) if absent."""
        cdef SideLadder* lad = &ins.sides[s]
        cdef int64_t key = ladder_key(s, price)
        cdef int32_t pos = lower_bound(lad, key), li, new_cap
        cdef int64_t* p
        cdef int32_t* l
        if pos < lad.n and lad.prices[pos] == key:
            return lad.levels[pos]
        if lad.n == lad.cap:
            new_cap = 64 if lad.cap == 0 else 2 * lad.cap
            p = <int64_t*>PyMem_Realloc(lad.prices, new_cap * sizeof(int64_t))
            if p == NULL:
                raise MemoryError()
            lad.prices = p
            l = <int32_t*>PyMem_Realloc(lad.levels, new_cap * sizeof(int32_t))
            if l == NULL:
                raise MemoryError()
            lad.levels = l
            lad.cap = new_cap
        li = self.free_level    # never exhausted: a level holds >= 1 order and there are as many
        self.free_level = self.levels[li].next_free
        self.levels[li].price = price
        self.levels[li].total = 0
        self.levels[li].count = 0
        self.levels[li].head = NONE
        self.levels[li].tail = NONE
        if pos < lad.n:
            memmove(&lad.prices[pos + 1], &lad.prices[pos], (lad.n - pos) * sizeof(int64_t))
            memmove(&lad.levels[pos + 1], &lad.levels[pos], (lad.n - pos) * sizeof(int32_t))
        lad.prices[pos] = key
        lad.levels[pos] = li
        lad.n += 1
        return li

    cdef void drop_level(self, Instrument* ins, int s, int32_t li) noexcept:
        """Remove an empty level from its ladder and return it to the pool."""
        cdef SideLadder* lad = &ins.sides[s]
        cdef int32_t pos
        if lad.levels[lad.n - 1] == li:          # the usual case: the best level emptied
            pos = lad.n - 1
        else:
            pos = lower_bound(lad, ladder_key(s, self.levels[li].price))
            memmove(&lad.prices[pos], &lad.prices[pos + 1], (lad.n - pos - 1) * sizeof(int64_t))
            memmove(&lad.levels[pos], &lad.levels[pos + 1], (lad.n - pos - 1) * sizeof(int32_t))
        lad.n -= 1
        self.levels[li].next_free = self.free_level
        self.free_level = li

    cdef inline void link_tail(self, int32_t li, int32_t oi) noexcept:
        cdef Level* L = &self.levels[li]
        cdef Order* o = &self.orders[oi]
        o.level = li
        o.next = NONE
        o.prev = L.tail
        if L.tail != NONE:
            self.orders[L.tail].next = oi
        else:
            L.head = oi
        L.tail = oi
        L.count += 1
        L.total += o.shown

    cdef inline void unlink(self, int32_t oi) noexcept:
        cdef Order* o = &self.orders[oi]
        cdef Level* L = &self.levels[o.level]
        if o.prev != NONE:
            self.orders[o.prev].next = o.next
        else:
            L.head = o.next
        if o.next != NONE:
            self.orders[o.next].prev = o.prev
        else:
            L.tail = o.prev
        L.count -= 1
        L.total -= o.shown

    cdef inline void free_slot(self, int32_t oi) noexcept:
        idmap_del(&self.index, self.orders[oi].id)
        self.orders[oi].next = self.free_order
        self.free_order = oi
        self.live_orders -= 1

    cdef inline void remove_resting(self, Instrument* ins, int32_t oi) noexcept:
        """Take a resting order out of the book entirely (level dropped if it empties)."""
        cdef int32_t li = self.orders[oi].level
        self.unlink(oi)
        if self.levels[li].count == 0:
            self.drop_level(ins, side_index(self.orders[oi].side), li)
        self.free_slot(oi)

    cdef inline void shrink(self, int32_t oi, int64_t by) noexcept:
        """Reduce a resting order's total by `by` (< total): hidden reserve first, then shown."""
        cdef Order* o = &self.orders[oi]
        cdef int64_t from_hidden = by if by <= o.hidden else o.hidden
        o.hidden -= from_hidden
        o.shown -= by - from_hidden
        self.levels[o.level].total -= by - from_hidden

    # ---------------------------------------------------------------- matching

    cdef bint fok_fillable(self, Instrument* ins, int s, int64_t limit, int64_t qty,
                           int64_t owner, uint8_t stp) noexcept:
        cdef SideLadder* opp = &ins.sides[1 - s]
        cdef int32_t pos = opp.n - 1, oi
        cdef i128 count = 0, shown_ahead, total_level
        cdef bint self_match = owner != 0 and stp != STP_NONE
        cdef bint blocked
        cdef Order* o
        cdef Level* L
        while pos >= 0:
            L = &self.levels[opp.levels[pos]]
            if not acceptable(s, L.price, limit):
                break
            shown_ahead = 0
            total_level = 0
            blocked = False
            oi = L.head
            while oi != NONE:
                o = &self.orders[oi]
                if self_match and o.owner == owner:
                    if stp != CANCEL_RESTING:
                        blocked = True
                        break
                else:
                    shown_ahead += o.shown
                    total_level += o.shown + o.hidden
                oi = o.next
            if blocked:
                return count + shown_ahead >= qty
            count += total_level
            if count >= qty:
                return True
            pos -= 1
        return count >= qty

    cdef int64_t match(self, Instrument* ins, int32_t instrument, int64_t taker_id, uint8_t side,
                       int64_t limit, int64_t event_price, int64_t qty, int64_t owner,
                       uint8_t stp, bint* killed) except -1:
        """Match an incoming quantity against the opposite side; return what remains.

        `killed` is set when self-trade prevention ended the taker (its CANCELLED is emitted)."""
        cdef int s = side_index(side)
        cdef SideLadder* opp = &ins.sides[1 - s]
        cdef bint self_match = owner != 0 and stp != STP_NONE
        cdef int64_t rem = qty, q, d, maker_total
        cdef int32_t li, oi, nxt
        cdef Level* L
        cdef Order* o
        killed[0] = False
        while rem > 0 and opp.n > 0:
            li = opp.levels[opp.n - 1]
            L = &self.levels[li]
            if not acceptable(s, L.price, limit):
                break
            oi = L.head
            while oi != NONE and rem > 0:
                o = &self.orders[oi]
                if self_match and o.owner == owner:
                    maker_total = o.shown + o.hidden
                    if stp == CANCEL_RESTING or stp == CANCEL_BOTH:
                        nxt = o.next
                        self.put(CANCELLED, o.id, 0, o.price, maker_total, 0, 0, instrument,
                                 o.side, SELF_TRADE)
                        self.unlink(oi)
                        self.free_slot(oi)
                        oi = nxt
                        if stp == CANCEL_RESTING:
                            continue
                    if stp == CANCEL_INCOMING or stp == CANCEL_BOTH:
                        self.put(CANCELLED, taker_id, 0, event_price, rem, 0, 0, instrument,
                                 side, SELF_TRADE)
                        killed[0] = True
                        rem = 0
                        break
                    # DECREMENT_AND_CANCEL
                    d = rem if rem < maker_total else maker_total
                    if maker_total == d:
                        nxt = o.next
                        self.put(CANCELLED, o.id, 0, o.price, maker_total, 0, 0, instrument,
                                 o.side, SELF_TRADE)
                        self.unlink(oi)
                        self.free_slot(oi)
                        oi = nxt
                    else:
                        self.shrink(oi, d)
                        self.put(REDUCED, o.id, 0, o.price, d, maker_total - d, 0, instrument,
                                 o.side, SELF_TRADE)
                    if rem == d:
                        self.put(CANCELLED, taker_id, 0, event_price, rem, 0, 0, instrument,
                                 side, SELF_TRADE)
                        killed[0] = True
                        rem = 0
                        break
                    rem -= d
                    self.put(REDUCED, taker_id, 0, event_price, d, rem, 0, instrument, side,
                             SELF_TRADE)
                    continue
                q = rem if rem < o.shown else o.shown
                o.shown -= q
                L.total -= q
                rem -= q
                self.put(FILL, taker_id, o.id, L.price, q, rem, o.shown + o.hidden, instrument,
                         side, 0)
                if o.shown == 0:
                    if o.hidden > 0:
                        q = o.display if o.display < o.hidden else o.hidden
                        o.hidden -= q
                        self.unlink(oi)      # shown is 0 now, so the level total is unaffected
                        o.shown = q
                        self.link_tail(li, oi)
                        self.put(REPLENISHED, o.id, 0, o.price, o.shown, o.shown + o.hidden, 0,
                                 instrument, o.side, 0)
                        oi = L.head
                    else:
                        nxt = o.next
                        self.unlink(oi)
                        self.free_slot(oi)
                        oi = nxt
            if L.count == 0:
                self.drop_level(ins, 1 - s, li)
            if killed[0]:
                break
        return rem

    cdef int rest(self, Instrument* ins, int32_t instrument, int32_t oi) except -1:
        """Link a prepared order slot (price, side, quantities set) at the tail of its level."""
        cdef Order* o = &self.orders[oi]
        cdef int s = side_index(o.side)
        cdef int32_t li = self.level_for(ins, s, o.price)
        self.link_tail(li, oi)
        self.put(RESTED, o.id, 0, o.price, o.shown, o.shown + o.hidden, 0, instrument, o.side, 0)
        return 0

    cdef inline void set_quantity(self, Order* o, int64_t total) noexcept:
        if o.display > 0 and o.display < total:
            o.shown = o.display
            o.hidden = total - o.display
        else:
            o.shown = total
            o.hidden = 0

    # ---------------------------------------------------------------- operations

    cdef int new_order(self, Command* c) except -1:
        cdef int32_t instrument = c.instrument, oi
        cdef Instrument* ins
        cdef bint is_limit = c.op == LIMIT, killed
        cdef uint8_t tif = c.tif
        cdef int s
        cdef int64_t rem, display, event_price
        cdef SideLadder* opp
        cdef Order* o
        if instrument < 0 or instrument >= self.max_instruments or not self.instruments[instrument].active:
            return self.reject(UNKNOWN_INSTRUMENT, c.order_id, instrument, c.side, c.price, c.qty)
        ins = &self.instruments[instrument]
        if c.side != BUY and c.side != SELL:
            return self.reject(INVALID_SIDE, c.order_id, instrument, c.side, c.price, c.qty)
        if tif > FOK:
            return self.reject(INVALID_TIF, c.order_id, instrument, c.side, c.price, c.qty)
        if c.stp > DECREMENT_AND_CANCEL:
            return self.reject(INVALID_STP, c.order_id, instrument, c.side, c.price, c.qty)
        if c.price < 0 or (is_limit and c.price == 0):
            return self.reject(INVALID_PRICE, c.order_id, instrument, c.side, c.price, c.qty)
        if c.price % ins.tick != 0:
            return self.reject(PRICE_OFF_TICK, c.order_id, instrument, c.side, c.price, c.qty)
        if c.qty <= 0:
            return self.reject(INVALID_QTY, c.order_id, instrument, c.side, c.price, c.qty)
        if c.qty % ins.lot != 0:
            return self.reject(QTY_OFF_LOT, c.order_id, instrument, c.side, c.price, c.qty)
        if c.display < 0:
            return self.reject(INVALID_QTY, c.order_id, instrument, c.side, c.price, c.qty)
        if c.display % ins.lot != 0:
            return self.reject(QTY_OFF_LOT, c.order_id, instrument, c.side, c.price, c.qty)
        if self.find(c.order_id) != NONE:
            return self.reject(DUPLICATE_ORDER_ID, c.order_id, instrument, c.side, c.price, c.qty)
        s = side_index(c.side)
        opp = &ins.sides[1 - s]
        if is_limit and (c.flags & FLAG_POST_ONLY) and opp.n > 0 and acceptable(
                s, self.levels[opp.levels[opp.n - 1]].price, c.price):
            return self.reject(POST_ONLY_WOULD_TAKE, c.order_id, instrument, c.side, c.price, c.qty)
        if not is_limit and tif == GTC:
            tif = IOC      # market orders never rest
        if tif == GTC and self.free_order == NONE:
            return self.reject(POOL_EXHAUSTED, c.order_id, instrument, c.side, c.price, c.qty)
        event_price = c.price if is_limit else 0
        if tif == FOK and not self.fok_fillable(ins, s, c.price, c.qty, c.owner, c.stp):
            self.put(CANCELLED, c.order_id, 0, event_price, c.qty, 0, 0, instrument, c.side,
                     FOK_UNFILLABLE)
            return OK
        rem = self.match(ins, instrument, c.order_id, c.side, c.price, event_price, c.qty,
                         c.owner, c.stp, &killed)
        if rem == 0 or killed:
            return OK
        if tif != GTC:
            self.put(CANCELLED, c.order_id, 0, event_price, rem, 0, 0, instrument, c.side,
                     IOC_REMAINDER)
            return OK
        oi = self.free_order
        o = &self.orders[oi]
        self.free_order = o.next
        self.live_orders += 1
        o.id = c.order_id
        o.price = c.price
        o.display = c.display if c.display < c.qty else 0
        self.set_quantity(o, rem)
        o.owner = c.owner
        o.instrument = instrument
        o.side = c.side
        o.stp = c.stp
        o.flags = c.flags
        idmap_put(&self.index, c.order_id, oi)
        return self.rest(ins, instrument, oi)

    cdef int cancel_c(self, int64_t order_id) except -1:
        cdef int32_t oi = self.find(order_id)
        if oi == NONE:
            return self.reject(UNKNOWN_ORDER, order_id, 0, 0, 0, 0)
        cdef Order* o = &self.orders[oi]
        self.put(CANCELLED, order_id, 0, o.price, o.shown + o.hidden, 0, 0, o.instrument, o.side,
                 USER)
        self.remove_resting(&self.instruments[o.instrument], oi)
        return OK

    cdef int reduce_c(self, int64_t order_id, int64_t new_qty) except -1:
        cdef int32_t oi = self.find(order_id)
        if oi == NONE:
            return self.reject(UNKNOWN_ORDER, order_id, 0, 0, 0, new_qty)
        cdef Order* o = &self.orders[oi]
        cdef int64_t total = o.shown + o.hidden
        # The contract's order: positive, on the lot, then smaller than what remains.
        if new_qty <= 0:
            return self.reject(INVALID_QTY, order_id, o.instrument, o.side, 0, new_qty)
        if new_qty % self.instruments[o.instrument].lot != 0:
            return self.reject(QTY_OFF_LOT, order_id, o.instrument, o.side, 0, new_qty)
        if new_qty >= total:
            return self.reject(INVALID_QTY, order_id, o.instrument, o.side, 0, new_qty)
        self.shrink(oi, total - new_qty)
        self.put(REDUCED, order_id, 0, o.price, total - new_qty, new_qty, 0, o.instrument, o.side,
                 USER)
        return OK

    cdef int replace_c(self, int64_t order_id, int64_t new_price, int64_t new_qty) except -1:
        cdef int32_t oi = self.find(order_id), li, instrument
        if oi == NONE:
            return self.reject(UNKNOWN_ORDER, order_id, 0, 0, new_price, new_qty)
        cdef Order* o = &self.orders[oi]
        cdef Instrument* ins = &self.instruments[o.instrument]
        cdef int s = side_index(o.side)
        cdef SideLadder* opp = &ins.sides[1 - s]
        cdef int64_t total = o.shown + o.hidden, rem
        cdef bint killed
        instrument = o.instrument
        if new_price <= 0:
            return self.reject(INVALID_PRICE, order_id, instrument, o.side, new_price, new_qty)
        if new_price % ins.tick != 0:
            return self.reject(PRICE_OFF_TICK, order_id, instrument, o.side, new_price, new_qty)
        if new_qty <= 0:
            return self.reject(INVALID_QTY, order_id, instrument, o.side, new_price, new_qty)
        if new_qty % ins.lot != 0:
            return self.reject(QTY_OFF_LOT, order_id, instrument, o.side, new_price, new_qty)
        if new_price == o.price and new_qty < total:
            return self.reduce_c(order_id, new_qty)
        if (o.flags & FLAG_POST_ONLY) and opp.n > 0 and acceptable(
                s, self.levels[opp.levels[opp.n - 1]].price, new_price):
            return self.reject(POST_ONLY_WOULD_TAKE, order_id, instrument, o.side, new_price,
                               new_qty)
        li = o.level
        self.unlink(oi)
        if self.levels[li].count == 0:
            self.drop_level(ins, s, li)
        self.put(REPLACED, order_id, 0, new_price, new_qty, new_qty, 0, instrument, o.side, 0)
        rem = self.match(ins, instrument, order_id, o.side, new_price, new_price, new_qty,
                         o.owner, o.stp, &killed)
        o = &self.orders[oi]
        if rem == 0 or killed:
            self.free_slot(oi)
            return OK
        o.price = new_price
        self.set_quantity(o, rem)
        return self.rest(ins, instrument, oi)

    cdef int apply(self, Command* c) except -1:
        cdef int op = c.op
        if op == LIMIT or op == MARKET:
            return self.new_order(c)
        if op == CANCEL:
            return self.cancel_c(c.order_id)
        if op == REDUCE:
            return self.reduce_c(c.order_id, c.qty)
        if op == REPLACE:
            return self.replace_c(c.order_id, c.price, c.qty)
        return self.reject(INVALID_OP, c.order_id, c.instrument, c.side, c.price, c.qty)

    # ---------------------------------------------------------------- Python API

    def limit(self, instrument, order_id, side, price, qty, tif=GTC, owner=0, stp=STP_NONE,
              bint post_only=False, display=0):
        cdef Command c
        c.instrument = as_int32(instrument)
        c.order_id = as_i64(order_id)
        c.side = as_code(side, 0)
        c.price = as_i64(price)
        c.qty = as_i64(qty)
        c.tif = as_code(tif, 255)
        c.owner = as_i64(owner)
        c.stp = as_code(stp, 255)
        c.display = as_i64(display)
        c.op = LIMIT
        c.flags = FLAG_POST_ONLY if post_only else 0
        return self.new_order(&c)

    def market(self, instrument, order_id, side, qty, protection=0, tif=IOC, owner=0,
               stp=STP_NONE):
        cdef Command c
        c.instrument = as_int32(instrument)
        c.order_id = as_i64(order_id)
        c.side = as_code(side, 0)
        c.qty = as_i64(qty)
        c.price = as_i64(protection)
        c.tif = as_code(tif, 255)
        c.owner = as_i64(owner)
        c.stp = as_code(stp, 255)
        c.op = MARKET
        c.flags = 0
        c.display = 0
        return self.new_order(&c)

    def cancel(self, order_id):
        return self.cancel_c(as_i64(order_id))

    def reduce(self, order_id, new_qty):
        return self.reduce_c(as_i64(order_id), as_i64(new_qty))

    def replace(self, order_id, new_price, new_qty):
        return self.replace_c(as_i64(order_id), as_i64(new_price), as_i64(new_qty))

    def execute(self, cnp.ndarray commands not None):
        if commands.dtype != COMMAND_DTYPE:
            raise TypeError(f"commands must have dtype COMMAND_DTYPE, not {commands.dtype}")
        if commands.ndim != 1 or not commands.flags.c_contiguous or not commands.flags.writeable:
            raise ValueError("commands must be a one-dimensional, writeable, C-contiguous array")
        cdef Command* c = <Command*>cnp.PyArray_DATA(commands)
        cdef Py_ssize_t i, n = commands.shape[0]
        cdef int64_t before = self.n_events
        for i in range(n):
            c[i].result = self.apply(&c[i])
        return self.n_events - before

    def execute_timed(self, cnp.ndarray commands not None, cnp.ndarray latency_ns not None,
                      bint clear_events=True):
        """execute(), also recording each command's latency (CLOCK_MONOTONIC, ns) in latency_ns.

        For benchmarks: the clock reads cost ~20-40 ns per command and are included.  With
        clear_events the buffer is emptied before each command, as a consumer draining it would."""
        if commands.dtype != COMMAND_DTYPE or latency_ns.dtype != np.int64:
            raise TypeError("commands must be COMMAND_DTYPE and latency_ns int64")
        if latency_ns.shape[0] < commands.shape[0] or not latency_ns.flags.c_contiguous:
            raise ValueError("latency_ns must be C-contiguous and as long as commands")
        cdef Command* c = <Command*>cnp.PyArray_DATA(commands)
        cdef int64_t* lat = <int64_t*>cnp.PyArray_DATA(latency_ns)
        cdef Py_ssize_t i, n = commands.shape[0]
        cdef timespec t0, t1
        for i in range(n):
            if clear_events:
                self.n_events = 0
            clock_gettime(CLOCK_MONOTONIC, &t0)
            c[i].result = self.apply(&c[i])
            clock_gettime(CLOCK_MONOTONIC, &t1)
            lat[i] = (t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec)
        return n

    def events_array(self):
        # over a bytearray copy: np.empty of this aligned struct dtype costs several times more
        # (~1 us for the engine's, per order on the order path)
        return np.frombuffer(PyByteArray_FromStringAndSize(
            <char*>self.events, self.n_events * sizeof(Event)), EVENT_DTYPE)

    def take_events(self):
        out = self.events_array().tolist()
        self.n_events = 0
        return out

    def clear_events(self):
        self.n_events = 0

    @property
    def event_count(self):
        return self.n_events

    @property
    def order_count(self):
        return self.live_orders

    cdef Instrument* checked_instrument(self, int32_t instrument) except NULL:
        if not 0 <= instrument < self.max_instruments or not self.instruments[instrument].active:
            raise KeyError(f"unknown instrument {instrument}")
        return &self.instruments[instrument]

    def best_bid(self, int32_t instrument):
        cdef SideLadder* lad = &self.checked_instrument(instrument).sides[0]
        return self.levels[lad.levels[lad.n - 1]].price if lad.n else 0

    def best_ask(self, int32_t instrument):
        cdef SideLadder* lad = &self.checked_instrument(instrument).sides[1]
        return self.levels[lad.levels[lad.n - 1]].price if lad.n else 0

    def depth(self, int32_t instrument, int side, int n=10):
        if side != BUY and side != SELL:
            raise ValueError(f"side must be BUY (1) or SELL (2), not {side}")
        cdef SideLadder* lad = &self.checked_instrument(instrument).sides[side - 1]
        cdef int32_t pos
        cdef Level* L
        out = []
        for pos in range(lad.n - 1, max(lad.n - 1 - n, -1), -1):
            L = &self.levels[lad.levels[pos]]
            out.append((L.price, i128_to_py(L.total), L.count))
        return out

    def order(self, int64_t order_id):
        cdef int32_t oi = self.find(order_id)
        if oi == NONE:
            return None
        cdef Order* o = &self.orders[oi]
        return {"id": o.id, "instrument": o.instrument, "side": o.side, "price": o.price,
                "shown": o.shown, "hidden": o.hidden, "leaves": o.shown + o.hidden,
                "display": o.display, "owner": o.owner, "stp": o.stp}

    # ---------------------------------------------------------------- snapshots

    cdef int64_t export_resting_c(self, Resting* out) noexcept:
        """Write every resting order into out (room for order_count rows) in priority order:
        instrument, bids then asks, levels from the best, FIFO within a level.

        Each level's rows go to a known place (levels know their counts), so up to EXPORT_CHAINS
        levels are walked at once: their FIFO lists are pointer chases through a large pool, and
        interleaving them lets the cache misses overlap instead of queueing one behind another."""
        cdef int32_t i, s, pos, oi, j, active
        cdef int64_t n = 0
        cdef int32_t cur[EXPORT_CHAINS]
        cdef int64_t at[EXPORT_CHAINS]
        cdef SideLadder* lad
        cdef Level* L
        cdef Order* o
        cdef Resting* r
        for i in range(self.max_instruments):
            if not self.instruments[i].active:
                continue
            for s in range(2):
                lad = &self.instruments[i].sides[s]
                pos = lad.n - 1
                active = 0
                while True:
                    while active < EXPORT_CHAINS and pos >= 0:
                        L = &self.levels[lad.levels[pos]]
                        cur[active] = L.head
                        at[active] = n
                        n += L.count
                        active += 1
                        pos -= 1
                    if active == 0:
                        break
                    j = 0
                    while j < active:
                        oi = cur[j]
                        o = &self.orders[oi]
                        r = &out[at[j]]
                        r.id = o.id
                        r.price = o.price
                        r.shown = o.shown
                        r.hidden = o.hidden
                        r.display = o.display
                        r.owner = o.owner
                        r.instrument = i
                        r.side = o.side
                        r.stp = o.stp
                        r.flags = o.flags
                        r._pad = 0
                        at[j] += 1
                        if o.next == NONE:          # level done: its slot goes to the last chain
                            active -= 1
                            cur[j] = cur[active]
                            at[j] = at[active]
                        else:
                            cur[j] = o.next
                            prefetch(&self.orders[o.next])
                            j += 1
        return n

    cdef int restore_resting_c(self, const Resting* r) except -1:
        """Place an exported order at the tail of its level without matching or events.

        Everything a resting order can be is checked, so that a restored book is one the book
        itself could have built; a violation raises ValueError and leaves the book unchanged."""
        cdef int32_t oi, instrument = r.instrument
        cdef Instrument* ins
        cdef SideLadder* opp
        cdef Order* o
        cdef int s
        cdef int64_t best
        if instrument < 0 or instrument >= self.max_instruments or not self.instruments[instrument].active:
            raise ValueError(f"resting order {r.id}: unknown instrument {instrument}")
        ins = &self.instruments[instrument]
        if r.side != BUY and r.side != SELL:
            raise ValueError(f"resting order {r.id}: side {r.side} is neither BUY nor SELL")
        if r.price <= 0 or r.price % ins.tick:
            raise ValueError(f"resting order {r.id}: price {r.price} is not a positive multiple of the tick {ins.tick}")
        if r.shown <= 0 or r.hidden < 0 or r.display < 0 or r.hidden > INT64_MAX - r.shown:
            raise ValueError(f"resting order {r.id}: impossible quantities shown={r.shown} hidden={r.hidden} display={r.display}")
        if (r.shown + r.hidden) % ins.lot or r.display % ins.lot:
            raise ValueError(f"resting order {r.id}: quantities off the lot {ins.lot}")
        if (r.hidden > 0 and r.display == 0) or (r.display > 0 and r.shown > r.display):
            raise ValueError(f"resting order {r.id}: shown={r.shown} hidden={r.hidden} do not fit display={r.display}")
        if r.stp > DECREMENT_AND_CANCEL or r.flags & ~FLAG_POST_ONLY:
            raise ValueError(f"resting order {r.id}: stp {r.stp} or flags {r.flags} unknown")
        if self.find(r.id) != NONE:
            raise ValueError(f"resting order {r.id}: duplicate order id")
        if self.free_order == NONE:
            raise ValueError(f"resting order {r.id}: the book's pool of {self.max_orders} orders is full")
        s = side_index(r.side)
        opp = &ins.sides[1 - s]
        if opp.n:
            best = self.levels[opp.levels[opp.n - 1]].price
            if acceptable(s, best, r.price):
                raise ValueError(f"resting order {r.id}: price {r.price} would cross the best opposite price {best}")
        oi = self.free_order
        o = &self.orders[oi]
        self.free_order = o.next
        self.live_orders += 1
        o.id = r.id
        o.price = r.price
        o.shown = r.shown
        o.hidden = r.hidden
        o.display = r.display
        o.owner = r.owner
        o.instrument = instrument
        o.side = r.side
        o.stp = r.stp
        o.flags = r.flags
        idmap_put(&self.index, r.id, oi)
        self.link_tail(self.level_for(ins, s, r.price), oi)
        return 0

    def resting_orders(self):
        """Every resting order as a RESTING_DTYPE array, in priority order (see export_resting_c)."""
        out = np.empty(self.live_orders, dtype=RESTING_DTYPE)
        if self.live_orders:
            self.export_resting_c(<Resting*>cnp.PyArray_DATA(out))
        return out

    def restore_resting(self, instrument, order_id, side, price, shown, hidden=0, display=0,
                        owner=0, stp=STP_NONE, flags=0):
        cdef Resting r
        r.instrument = as_int32(instrument)
        r.id = as_i64(order_id)
        r.side = as_code(side, 0)
        r.price = as_i64(price)
        r.shown = as_i64(shown)
        r.hidden = as_i64(hidden)
        r.display = as_i64(display)
        r.owner = as_i64(owner)
        r.stp = as_code(stp, 255)
        r.flags = as_code(flags, 255)
        r._pad = 0
        self.restore_resting_c(&r)

    def restore_resting_array(self, cnp.ndarray rows not None):
        """restore_resting() for each RESTING_DTYPE row in order; returns how many.  A bad row
        raises ValueError naming it, with the rows before it already placed."""
        if rows.dtype != RESTING_DTYPE or rows.ndim != 1 or not rows.flags.c_contiguous:
            raise TypeError("rows must be a one-dimensional, C-contiguous RESTING_DTYPE array")
        cdef const Resting* r = <const Resting*>cnp.PyArray_DATA(rows)
        cdef Py_ssize_t i, n = rows.shape[0]
        for i in range(n):
            try:
                self.restore_resting_c(&r[i])
            except ValueError as e:
                raise ValueError(f"row {i}: {e}") from None
        return n

    def validate(self):
        """Walk every structure and cross-check it; raise BookCorrupted on the first violation."""
        cdef int32_t i, s, pos, oi, prev, count, li, linked = 0, free_orders = 0, free_levels = 0
        cdef int32_t levels_used = 0
        cdef i128 total
        cdef int64_t indexed = self.index.count
        cdef Instrument* ins
        cdef SideLadder* lad
        cdef Level* L
        cdef Order* o
        for i in range(self.max_instruments):
            ins = &self.instruments[i]
            if not ins.active:
                continue
            for s in range(2):
                lad = &ins.sides[s]
                for pos in range(lad.n):
                    if pos and lad.prices[pos - 1] >= lad.prices[pos]:
                        raise BookCorrupted(f"instrument {i} side {s + 1}: ladder not strictly sorted at {pos}")
                    li = lad.levels[pos]
                    L = &self.levels[li]
                    levels_used += 1
                    if ladder_key(s, L.price) != lad.prices[pos]:
                        raise BookCorrupted(f"level {li}: price {L.price} does not match ladder key")
                    if L.count <= 0 or L.head == NONE:
                        raise BookCorrupted(f"instrument {i} level {L.price}: empty level in ladder")
                    count = 0
                    total = 0
                    prev = NONE
                    oi = L.head
                    while oi != NONE:
                        o = &self.orders[oi]
                        if o.prev != prev or o.level != li:
                            raise BookCorrupted(f"order {o.id}: broken level links")
                        if o.price != L.price or o.instrument != i or o.side != s + 1:
                            raise BookCorrupted(f"order {o.id}: on the wrong level")
                        if o.shown <= 0 or o.hidden < 0 or (o.hidden > 0 and o.display <= 0):
                            raise BookCorrupted(f"order {o.id}: bad quantities shown={o.shown} hidden={o.hidden}")
                        if (o.shown + o.hidden) % ins.lot or o.price % ins.tick:
                            raise BookCorrupted(f"order {o.id}: off the tick/lot grid")
                        if self.find(o.id) != oi:
                            raise BookCorrupted(f"order {o.id}: id index points elsewhere")
                        count += 1
                        total += o.shown
                        prev = oi
                        oi = o.next
                    if prev != L.tail or count != L.count or total != L.total:
                        raise BookCorrupted(
                            f"instrument {i} level {L.price}: count {L.count}/{count} "
                            f"total {i128_to_py(L.total)}/{i128_to_py(total)}")
                    linked += count
            if ins.sides[0].n and ins.sides[1].n:
                if self.levels[ins.sides[0].levels[ins.sides[0].n - 1]].price >= \
                        self.levels[ins.sides[1].levels[ins.sides[1].n - 1]].price:
                    raise BookCorrupted(f"instrument {i}: book crossed")
        oi = self.free_order
        while oi != NONE:
            free_orders += 1
            oi = self.orders[oi].next
        li = self.free_level
        while li != NONE:
            free_levels += 1
            li = self.levels[li].next_free
        if not (linked == indexed == self.live_orders == self.max_orders - free_orders):
            raise BookCorrupted(f"order accounting: linked {linked}, indexed {indexed}, "
                                f"live {self.live_orders}, free {free_orders}/{self.max_orders}")
        if levels_used != self.max_orders - free_levels:
            raise BookCorrupted(f"level accounting: used {levels_used}, free {free_levels}")


# book.pyi promises FLAG_POST_ONLY at module level; in Cython that C name belongs to the enum member.
globals()["FLAG_POST_ONLY"] = int(CommandFlag.FLAG_POST_ONLY)
