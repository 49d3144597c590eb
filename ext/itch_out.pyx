"""The ITCH 5.0 feed's encoder: book events -> Sequenced Data packets, with the published view of
the book kept in C memory (see itch_out.pyi)."""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from ordex.ext.bigendian cimport put_be
from ordex.ext.book cimport CANCELLED, FILL, REDUCED, REPLACED, REPLENISHED, RESTED, Event
from ordex.ext.idmap cimport IdMap, idmap_del, idmap_find, idmap_free, idmap_init, idmap_put

import numpy as np

from ordex.ext.book import EVENT_DTYPE as BOOK_EVENT_DTYPE

assert BOOK_EVENT_DTYPE.itemsize == sizeof(Event), "the book's EVENT_DTYPE must mirror struct Event"

cdef int64_t MAX_U32 = 0xFFFFFFFF
cdef const char* SIDES = b" BS"

# field -> the numpy type it must have in the schema (what the C writers below emit)
_WIDTH = {"locate": ">u2", "timestamp": "|V6", "ref": ">u8", "ref2": ">u8", "side": "|S1",
          "shares": ">u4", "stock": "|S8", "price": ">u4", "match": ">u8"}
_NAMES = {"StockLocate": "locate", "Timestamp": "timestamp", "OrderReferenceNumber": "ref",
          "OriginalOrderReferenceNumber": "ref", "NewOrderReferenceNumber": "ref2",
          "BuySellIndicator": "side", "Shares": "shares", "ExecutedShares": "shares",
          "CanceledShares": "shares", "Stock": "stock", "Price": "price", "MatchNumber": "match"}


cdef int layout_of(MsgLayout* m, object dt, bytes mtype) except -1:
    """Fill m from a framed dtype (schema.framed_dtype): offsets of the fields the writers use."""
    memset(m, 0xFF, sizeof(MsgLayout))
    m.size = dt.itemsize
    m.type = (<char*>mtype)[0]
    if dt.fields["soup_len"][1] != 0 or dt.fields["type"][1] != 3:
        raise ValueError(f"ITCH {mtype!r}: framing is not length(2), 'S', type")
    for name in dt.names:
        key = _NAMES.get(name)
        if key is None:
            continue
        sub, off = dt.fields[name][:2]
        if sub.str != _WIDTH[key]:
            raise ValueError(f"ITCH {mtype!r} field {name} is {sub.str}, the encoder writes "
                             f"{_WIDTH[key]}")
        if key == "locate": m.locate = off
        elif key == "timestamp": m.timestamp = off
        elif key == "ref": m.ref = off
        elif key == "ref2": m.ref2 = off
        elif key == "side": m.side = off
        elif key == "shares": m.shares = off
        elif key == "stock": m.stock = off
        elif key == "price": m.price = off
        elif key == "match": m.match = off
    return 0


cdef inline int64_t clip32(int64_t v) noexcept:
    return MAX_U32 if v > MAX_U32 else (0 if v < 0 else v)


cdef inline char* start(MsgLayout* m, char* p, uint16_t locate, int64_t ts) noexcept:
    """The common head of a packet: length, 'S', type, locate, tracking number 0, timestamp."""
    memset(p, 0, m.size)
    put_be(p, m.size - 2, 2)
    p[2] = 0x53                   # S: Sequenced Data
    p[3] = m.type
    put_be(p + m.locate, locate, 2)
    put_be(p + m.timestamp, <uint64_t>ts, 6)
    return p


cdef inline char* add_order(MsgLayout* m, char* p, uint16_t locate, int64_t ts, int64_t ref,
                            char side, int64_t shares, const char* stock, int64_t price4) noexcept:
    """An Add Order at p; returns the end of its packet."""
    start(m, p, locate, ts)
    put_be(p + m.ref, ref, 8)
    p[m.side] = side
    put_be(p + m.shares, clip32(shares), 4)
    memcpy(p + m.stock, stock, 8)
    put_be(p + m.price, <uint64_t>price4, 4)
    return p + m.size


cdef class ItchEncoder:
    def __cinit__(self, object layouts, object pstep, object stocks, int64_t next_ref):
        cdef int32_t i
        cdef bytes name
        layout_of(&self.add, layouts["AddOrder"], b"A")
        layout_of(&self.exe, layouts["OrderExecuted"], b"E")
        layout_of(&self.cxl, layouts["OrderCancel"], b"X")
        layout_of(&self.dele, layouts["OrderDelete"], b"D")
        layout_of(&self.rep, layouts["OrderReplace"], b"U")
        layout_of(&self.trd, layouts["Trade"], b"P")
        steps = np.ascontiguousarray(pstep, dtype=np.int64)
        names = [bytes(s) for s in stocks]
        self.n_instruments = len(steps)
        if len(names) != self.n_instruments:
            raise ValueError("pstep and stocks must have one entry per instrument")
        self.pstep = <int64_t*>PyMem_Malloc(max(self.n_instruments, 1) * sizeof(int64_t))
        self.stocks = <char*>PyMem_Malloc(max(self.n_instruments, 1) * 8)
        if self.pstep == NULL or self.stocks == NULL:
            raise MemoryError()
        for i in range(self.n_instruments):
            self.pstep[i] = steps[i]
            name = names[i].ljust(8)[:8]
            memcpy(self.stocks + 8 * i, <char*>name, 8)
        self.capacity = 0
        self.slots = NULL
        self.free_head = self.head = self.tail = -1
        self.count = 0
        self.next_ref = next_ref
        self.match = 0
        self.out = NULL
        self.out_cap = 0
        idmap_init(&self.index, 1024)
        self.grow()

    def __dealloc__(self):
        idmap_free(&self.index)
        PyMem_Free(self.slots)
        PyMem_Free(self.pstep)
        PyMem_Free(self.stocks)
        PyMem_Free(self.out)

    def __len__(self):
        return self.count

    # -- the view ---------------------------------------------------------------------------------
    cdef int grow(self) except -1:
        cdef int32_t old = self.capacity, cap = max(2 * self.capacity, 1024), i, s
        cdef Shown* slots = <Shown*>PyMem_Realloc(self.slots, cap * sizeof(Shown))
        if slots == NULL:
            raise MemoryError()
        self.slots = slots
        self.capacity = cap
        for i in range(cap - 1, old - 1, -1):
            slots[i].next = self.free_head
            self.free_head = i
        if cap > 1024:                   # the index is sized for the slots it maps
            idmap_free(&self.index)
            idmap_init(&self.index, cap)
            s = self.head
            while s != -1:
                idmap_put(&self.index, slots[s].oid, s)
                s = slots[s].next
        return 0

    cdef int32_t put(self, int64_t oid, int64_t ref, uint16_t locate, char side, int64_t price4,
                     int64_t shown) except -1:
        """Publish an order (or update it in place, keeping its place in time priority)."""
        cdef int32_t s = idmap_find(&self.index, oid)
        cdef Shown* o
        if s == -1:
            if self.free_head == -1:
                self.grow()
            s = self.free_head
            o = &self.slots[s]
            self.free_head = o.next
            o.oid = oid
            o.prev = self.tail
            o.next = -1
            if self.tail != -1:
                self.slots[self.tail].next = s
            else:
                self.head = s
            self.tail = s
            idmap_put(&self.index, oid, s)
            self.count += 1
        o = &self.slots[s]
        o.ref, o.locate, o.side, o.price4, o.shown = ref, locate, side, price4, shown
        return s

    cdef void drop(self, int32_t s) noexcept:
        cdef Shown* o = &self.slots[s]
        if o.prev != -1:
            self.slots[o.prev].next = o.next
        else:
            self.head = o.next
        if o.next != -1:
            self.slots[o.next].prev = o.prev
        else:
            self.tail = o.prev
        idmap_del(&self.index, o.oid)
        o.next = self.free_head
        self.free_head = s
        self.count -= 1

    def load(self, order_id, instrument, side, price, shown) -> None:
        """Publish resting orders (the engine's book after recovery), reference = order id."""
        cdef int64_t[::1] oid = np.ascontiguousarray(order_id, dtype=np.int64)
        cdef int64_t[::1] inst = np.ascontiguousarray(instrument, dtype=np.int64)
        cdef int64_t[::1] sd = np.ascontiguousarray(side, dtype=np.int64)
        cdef int64_t[::1] px = np.ascontiguousarray(price, dtype=np.int64)
        cdef int64_t[::1] qty = np.ascontiguousarray(shown, dtype=np.int64)
        cdef Py_ssize_t k
        cdef int64_t i
        for k in range(oid.shape[0]):
            i = inst[k]
            if i < 0 or i >= self.n_instruments or self.pstep[i] == 0:
                continue
            self.put(oid[k], oid[k], <uint16_t>(i + 1), SIDES[sd[k] if 0 <= sd[k] <= 2 else 0],
                     px[k] * self.pstep[i], qty[k])

    def orders(self) -> list:
        """The published orders in time priority: (reference, locate, side, price4, shown)."""
        out = []
        cdef int32_t s = self.head
        cdef Shown* o
        while s != -1:
            o = &self.slots[s]
            out.append((o.ref, o.locate, bytes([o.side]), o.price4, o.shown))
            s = o.next
        return out

    def order(self, int64_t order_id):
        """(reference, locate, side, price4, shown) of a published order, None if not shown."""
        cdef int32_t s = idmap_find(&self.index, order_id)
        if s == -1:
            return None
        cdef Shown* o = &self.slots[s]
        return (o.ref, o.locate, bytes([o.side]), o.price4, o.shown)

    def clear(self) -> None:
        while self.head != -1:
            self.drop(self.head)

    # -- encoding ---------------------------------------------------------------------------------
    cdef int reserve(self, Py_ssize_t nbytes) except -1:
        cdef char* p
        if nbytes > self.out_cap:
            p = <char*>PyMem_Realloc(self.out, nbytes)
            if p == NULL:
                raise MemoryError()
            self.out, self.out_cap = p, nbytes
        return 0

    def snapshot(self, int64_t ts) -> tuple:
        """Every published order as an Add Order, in time priority: (bytes, count).  All Add
        Orders have one size, so the bytes split into whole messages at multiples of it."""
        cdef MsgLayout* m = &self.add
        self.reserve(max(self.count, 1) * m.size)
        cdef char* p = self.out
        cdef int32_t s = self.head
        cdef Shown* o
        while s != -1:
            o = &self.slots[s]
            p = add_order(m, p, o.locate, ts, o.ref, o.side, o.shown,
                          self.stocks + 8 * (o.locate - 1), o.price4)
            s = o.next
        return PyBytes_FromStringAndSize(self.out, p - self.out), self.count

    @property
    def add_size(self) -> int:
        return self.add.size

    def encode(self, events, int64_t ts) -> tuple:
        """Book events (the book's EVENT_DTYPE) -> (bytes, count) of ITCH packets, updating the
        view; ts is the messages' timestamp (ns since midnight)."""
        if events.dtype != BOOK_EVENT_DTYPE:
            raise TypeError(f"book events must have the book's EVENT_DTYPE, not {events.dtype}")
        ev = np.ascontiguousarray(events)
        cdef Py_ssize_t n = len(ev), k
        if n == 0:
            return b"", 0
        cdef const uint8_t[::1] raw = ev.view(np.uint8).reshape(-1)
        cdef const Event* e = <const Event*>&raw[0]
        # each event writes at most a Delete left over from a replace and its own message
        self.reserve(n * (self.dele.size + max(self.trd.size, self.add.size, self.rep.size,
                                               self.exe.size, self.cxl.size)) + self.dele.size)
        cdef char* p = self.out
        cdef int64_t count = 0, p4, ref, rep_oid = -1, rep_ref = 0
        cdef uint16_t loc, rep_loc = 0
        cdef int32_t s
        cdef int32_t inst
        cdef Shown* o
        cdef MsgLayout* m
        for k in range(n):
            inst = e[k].instrument
            if inst < 0 or inst >= self.n_instruments or self.pstep[inst] == 0:
                continue
            loc = <uint16_t>(inst + 1)
            if rep_oid != -1 and not (e[k].kind == RESTED and e[k].order_id == rep_oid):
                m = &self.dele
                start(m, p, rep_loc, ts)
                put_be(p + m.ref, rep_ref, 8)
                p += m.size
                count += 1
                rep_oid = -1
            if e[k].kind == FILL:
                self.match += 1
                s = idmap_find(&self.index, e[k].other_id)
                if s == -1:              # the maker was never displayed: an anonymous Trade
                    m = &self.trd
                    start(m, p, loc, ts)
                    p[m.side] = SIDES[3 - e[k].side if 1 <= e[k].side <= 2 else 0]
                    put_be(p + m.shares, clip32(e[k].qty), 4)
                    memcpy(p + m.stock, self.stocks + 8 * inst, 8)
                    put_be(p + m.price, <uint64_t>(e[k].price * self.pstep[inst]), 4)
                    put_be(p + m.match, self.match, 8)
                else:
                    o = &self.slots[s]
                    m = &self.exe
                    start(m, p, loc, ts)
                    put_be(p + m.ref, o.ref, 8)
                    put_be(p + m.shares, clip32(e[k].qty), 4)
                    put_be(p + m.match, self.match, 8)
                    o.shown -= e[k].qty
                    if o.shown <= 0:
                        self.drop(s)
                p += m.size
                count += 1
            elif e[k].kind == RESTED:
                p4 = e[k].price * self.pstep[inst]
                if rep_oid != -1:        # a replaced order resting again at once
                    ref = self.next_ref
                    self.next_ref += 1
                    m = &self.rep
                    start(m, p, loc, ts)
                    put_be(p + m.ref, rep_ref, 8)
                    put_be(p + m.ref2, ref, 8)
                    put_be(p + m.shares, clip32(e[k].qty), 4)
                    put_be(p + m.price, <uint64_t>p4, 4)
                    rep_oid = -1
                else:
                    ref = e[k].order_id
                    m = &self.add
                    add_order(m, p, loc, ts, ref, SIDES[e[k].side if e[k].side <= 2 else 0],
                              e[k].qty, self.stocks + 8 * inst, p4)
                p += m.size
                count += 1
                self.put(e[k].order_id, ref, loc, SIDES[e[k].side if e[k].side <= 2 else 0], p4,
                         e[k].qty)
            elif e[k].kind == CANCELLED:
                s = idmap_find(&self.index, e[k].order_id)
                if s != -1:              # an IOC remainder was never displayed
                    m = &self.dele
                    start(m, p, loc, ts)
                    put_be(p + m.ref, self.slots[s].ref, 8)
                    p += m.size
                    count += 1
                    self.drop(s)
            elif e[k].kind == REDUCED:
                s = idmap_find(&self.index, e[k].order_id)
                if s != -1 and e[k].leaves < self.slots[s].shown:   # reserve goes first
                    o = &self.slots[s]
                    m = &self.cxl
                    start(m, p, loc, ts)
                    put_be(p + m.ref, o.ref, 8)
                    put_be(p + m.shares, clip32(o.shown - e[k].leaves), 4)
                    p += m.size
                    count += 1
                    o.shown = e[k].leaves
            elif e[k].kind == REPLENISHED:    # an iceberg's next slice, at the back
                s = idmap_find(&self.index, e[k].order_id)
                if s != -1:
                    self.drop(s)
                ref = self.next_ref
                self.next_ref += 1
                p4 = e[k].price * self.pstep[inst]
                p = add_order(&self.add, p, loc, ts, ref, SIDES[e[k].side if e[k].side <= 2 else 0],
                              e[k].qty, self.stocks + 8 * inst, p4)
                count += 1
                self.put(e[k].order_id, ref, loc, SIDES[e[k].side if e[k].side <= 2 else 0], p4,
                         e[k].qty)
            elif e[k].kind == REPLACED:
                s = idmap_find(&self.index, e[k].order_id)
                if s != -1:
                    rep_oid, rep_ref, rep_loc = e[k].order_id, self.slots[s].ref, loc
                    self.drop(s)
        if rep_oid != -1:
            m = &self.dele
            start(m, p, rep_loc, ts)
            put_be(p + m.ref, rep_ref, 8)
            p += m.size
            count += 1
        return PyBytes_FromStringAndSize(self.out, p - self.out), count
