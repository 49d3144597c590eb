"""A durable price-level view of the book for FIX market data (contract: bookview.pyi, layout:
bookview.pxd).  Every durable book event passes through here whether anyone subscribes or not,
so that a snapshot is right the moment one is asked for: it must cost little per event."""
cimport numpy as cnp
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.string cimport memcpy

from ordex.ext.idmap cimport IdMap, idmap_del, idmap_find, idmap_free, idmap_init, idmap_put

from ordex.ext.book import EVENT_DTYPE as BOOK_EVENT_DTYPE, EventKind

cnp.import_array()

cdef Py_ssize_t EVENT_SIZE = BOOK_EVENT_DTYPE.itemsize


cdef Py_ssize_t _off(str name) except -1:
    return BOOK_EVENT_DTYPE.fields[name][1]


cdef Py_ssize_t B_ORDER_ID = _off("order_id"), B_OTHER_ID = _off("other_id")
cdef Py_ssize_t B_PRICE = _off("price"), B_QTY = _off("qty"), B_LEAVES = _off("leaves")
cdef Py_ssize_t B_OTHER_LEAVES = _off("other_leaves"), B_INSTRUMENT = _off("instrument")
cdef Py_ssize_t B_KIND = _off("kind"), B_SIDE = _off("side")
cdef int RESTED = EventKind.RESTED, FILL = EventKind.FILL, CANCELLED = EventKind.CANCELLED
cdef int REDUCED = EventKind.REDUCED, REPLACED = EventKind.REPLACED
cdef int REPLENISHED = EventKind.REPLENISHED


cdef inline int64_t i64(const uint8_t* ev, Py_ssize_t off) noexcept:
    cdef int64_t v
    memcpy(&v, ev + off, 8)
    return v


cdef class BookView:
    """Price levels per instrument and side, from durable book events only."""

    def __cinit__(self):
        self.opool = NULL
        self.lpool = NULL
        self.levels = NULL
        self.orders.keys = NULL
        self.orders.vals = NULL
        self.n_instruments = 0

    def __dealloc__(self):
        cdef Py_ssize_t k
        idmap_free(&self.orders)
        if self.levels != NULL:
            for k in range(2 * self.n_instruments):
                idmap_free(&self.levels[k])
        PyMem_Free(self.levels)
        PyMem_Free(self.opool)
        PyMem_Free(self.lpool)

    def __init__(self, Py_ssize_t n_instruments):
        cdef Py_ssize_t k
        if n_instruments < 0:
            raise ValueError("n_instruments must be >= 0")
        idmap_init(&self.orders, 1024)
        self.levels = <IdMap*>PyMem_Malloc(sizeof(IdMap) * (2 * n_instruments + 1))
        if self.levels == NULL:
            raise MemoryError()
        for k in range(2 * n_instruments):
            self.levels[k].keys = NULL
            self.levels[k].vals = NULL
        self.n_instruments = n_instruments
        for k in range(2 * n_instruments):
            idmap_init(&self.levels[k], 64)
        self.ocap = self.lcap = 0
        self.ofree = self.lfree = -1

    cdef int32_t new_order(self) except -1:
        cdef int32_t i, cap
        cdef ViewOrder* p
        if self.ofree < 0:
            cap = max(1024, 2 * self.ocap)
            p = <ViewOrder*>PyMem_Realloc(self.opool, sizeof(ViewOrder) * cap)
            if p == NULL:
                raise MemoryError()
            self.opool = p
            for i in range(self.ocap, cap):
                p[i].next_free = i + 1 if i + 1 < cap else -1
            self.ofree = self.ocap
            self.ocap = cap
        i = self.ofree
        self.ofree = self.opool[i].next_free
        return i

    cdef int32_t new_level(self) except -1:
        cdef int32_t i, cap
        cdef ViewLevel* p
        if self.lfree < 0:
            cap = max(256, 2 * self.lcap)
            p = <ViewLevel*>PyMem_Realloc(self.lpool, sizeof(ViewLevel) * cap)
            if p == NULL:
                raise MemoryError()
            self.lpool = p
            for i in range(self.lcap, cap):
                p[i].next_free = i + 1 if i + 1 < cap else -1
            self.lfree = self.lcap
            self.lcap = cap
        i = self.lfree
        self.lfree = self.lpool[i].next_free
        return i

    cdef int grow_map(self, IdMap* m) except -1:
        """Keep the map at most half full (idmap probes need empty slots)."""
        cdef IdMap bigger
        cdef int64_t k
        if 2 * (m.count + 1) <= m.mask + 1:
            return 0
        idmap_init(&bigger, m.mask + 1)
        for k in range(m.mask + 1):
            if m.vals[k] != -1:
                idmap_put(&bigger, m.keys[k], m.vals[k])
        idmap_free(m)
        m[0] = bigger
        return 0

    cdef IdMap* side_map(self, int32_t inst, int side) except NULL:
        if not 0 <= inst < self.n_instruments or side not in (1, 2):
            raise ValueError(f"book event for instrument {inst}, side {side}: not in the view")
        return &self.levels[2 * inst + side - 1]

    cdef int add(self, int32_t inst, int side, int64_t price, int64_t delta,
                 int count_delta) except -1:
        """Change a level's visible quantity and order count; a level with no orders goes."""
        cdef IdMap* m = self.side_map(inst, side)
        cdef int32_t i = idmap_find(m, price)
        cdef ViewLevel* lvl
        if i < 0:
            self.grow_map(m)
            i = self.new_level()
            lvl = &self.lpool[i]
            lvl.price, lvl.qty, lvl.count = price, 0, 0
            idmap_put(m, price, i)
        lvl = &self.lpool[i]
        lvl.qty += delta
        lvl.count += count_delta
        if lvl.count == 0:
            idmap_del(m, price)
            lvl.next_free = self.lfree
            self.lfree = i
        return 0

    def apply(self, cnp.ndarray events not None, bint collect=True):
        """Apply book events (ordex.ext.book EVENT_DTYPE).  With collect, returns ({instrument:
        {(side, price)}} of the levels changed, [(instrument, price, qty)] of the trades);
        without, ({}, []): nothing is built (no subscriber would read it)."""
        cdef Py_ssize_t i, n
        cdef const uint8_t* ev
        cdef int kind
        cdef int32_t slot, inst
        cdef int64_t qty, from_hidden
        cdef ViewOrder* o
        cdef dict changed = {}
        cdef list trades = []
        if events.dtype != BOOK_EVENT_DTYPE or not cnp.PyArray_IS_C_CONTIGUOUS(events):
            raise TypeError("events must be a C-contiguous book EVENT_DTYPE array")
        n = events.shape[0]
        for i in range(n):
            ev = <const uint8_t*>cnp.PyArray_DATA(events) + i * EVENT_SIZE
            kind = ev[B_KIND]
            qty = i64(ev, B_QTY)
            if kind == RESTED:
                inst = (<const int32_t*>(ev + B_INSTRUMENT))[0]
                self.side_map(inst, ev[B_SIDE])
                slot = idmap_find(&self.orders, i64(ev, B_ORDER_ID))
                if slot < 0:                  # (an id seen again replaces what it was)
                    self.grow_map(&self.orders)
                    slot = self.new_order()
                    idmap_put(&self.orders, i64(ev, B_ORDER_ID), slot)
                o = &self.opool[slot]
                o.inst, o.side, o.price = inst, ev[B_SIDE], i64(ev, B_PRICE)
                o.shown, o.hidden = qty, i64(ev, B_LEAVES) - qty
                self.add(inst, o.side, o.price, qty, 1)
            elif kind == FILL:
                if collect:
                    trades.append(((<const int32_t*>(ev + B_INSTRUMENT))[0], i64(ev, B_PRICE), qty))
                slot = idmap_find(&self.orders, i64(ev, B_OTHER_ID))
                if slot < 0:
                    continue
                o = &self.opool[slot]
                o.shown -= qty
                if i64(ev, B_OTHER_LEAVES) == 0:
                    self.drop(i64(ev, B_OTHER_ID), slot)
                    self.add(o.inst, o.side, o.price, -qty, -1)
                else:
                    self.add(o.inst, o.side, o.price, -qty, 0)
            elif kind == CANCELLED or kind == REPLACED:
                slot = idmap_find(&self.orders, i64(ev, B_ORDER_ID))
                if slot < 0:
                    continue
                o = &self.opool[slot]
                self.drop(i64(ev, B_ORDER_ID), slot)
                self.add(o.inst, o.side, o.price, -o.shown, -1)
            elif kind == REDUCED:
                slot = idmap_find(&self.orders, i64(ev, B_ORDER_ID))
                if slot < 0:
                    continue
                o = &self.opool[slot]
                from_hidden = min(qty, o.hidden)
                o.hidden -= from_hidden
                o.shown -= qty - from_hidden
                self.add(o.inst, o.side, o.price, -(qty - from_hidden), 0)
            elif kind == REPLENISHED:
                slot = idmap_find(&self.orders, i64(ev, B_ORDER_ID))
                if slot < 0:
                    continue
                o = &self.opool[slot]
                o.shown, o.hidden = qty, i64(ev, B_LEAVES) - qty
                self.add(o.inst, o.side, o.price, qty, 0)
            else:
                continue
            if collect:
                levels = changed.get(o.inst)
                if levels is None:
                    changed[o.inst] = levels = set()
                levels.add((o.side, o.price))
        return changed, trades

    cdef int drop(self, int64_t order_id, int32_t slot) except -1:
        idmap_del(&self.orders, order_id)
        self.opool[slot].next_free = self.ofree
        self.ofree = slot
        return 0

    def level(self, int32_t inst, int side, int64_t price):
        """(visible qty, order count) of a level, None when it has no orders."""
        cdef int32_t i = idmap_find(self.side_map(inst, side), price)
        if i < 0:
            return None
        return (self.lpool[i].qty, self.lpool[i].count)

    def depth(self, int32_t inst, int side, Py_ssize_t n=0):
        """[(price, qty, count)] best first (bids high to low, offers low to high); n > 0: the
        best n levels."""
        cdef IdMap* m = self.side_map(inst, side)
        cdef int64_t k
        cdef ViewLevel* lvl
        out = []
        for k in range(m.mask + 1):
            if m.vals[k] != -1:
                lvl = &self.lpool[m.vals[k]]
                out.append((lvl.price, lvl.qty, lvl.count))
        out.sort(reverse=(side == 1))
        return out[:n] if n else out

    @property
    def order_count(self):
        return self.orders.count
