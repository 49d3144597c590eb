"""OUCH order entry's batch of engine commands, built in C (see ouch_in.pyi)."""
from cpython.bytearray cimport PyByteArray_FromStringAndSize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from ordex.ext.bigendian cimport get_be
from ordex.ext.engine cimport CLORDID_LEN, ECommand
from ordex.ext.idmap cimport idmap_del, idmap_find, idmap_free, idmap_init, idmap_put

import numpy as np

from ordex.core.commands import COMMAND_DTYPE

assert COMMAND_DTYPE.itemsize == sizeof(ECommand), "COMMAND_DTYPE must mirror struct ECommand"

ECHO_DTYPE = np.dtype([("src", "S1"), ("clordid", "S14"), ("capacity", "S1"), ("ise", "S1"),
                       ("cross", "S1"), ("display", "S1"), ("old_qty", "<i8")])
assert ECHO_DTYPE.itemsize == sizeof(Echo), "ECHO_DTYPE must mirror struct Echo"


cdef inline void text(char* dst, Py_ssize_t width, bytes value, char pad) noexcept:
    """value into a fixed-width field, cut to width, padded with pad."""
    cdef Py_ssize_t k = min(PyBytes_GET_SIZE(value), width)
    memcpy(dst, PyBytes_AS_STRING(value), k)
    memset(dst + k, pad, width - k)


cdef inline char one(bytes value, char default) noexcept:
    return PyBytes_AS_STRING(value)[0] if PyBytes_GET_SIZE(value) else default


cdef class CommandBatch:
    def __cinit__(self):
        self.rows = NULL
        self.echo = NULL
        self.n = self.cap = 0

    def __dealloc__(self):
        PyMem_Free(self.rows)
        PyMem_Free(self.echo)

    def __len__(self):
        return self.n

    @property
    def count(self) -> int:
        return self.n

    cdef int reserve(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t cap = max(self.cap, 16)
        if self.n + more <= self.cap:
            return 0
        while cap < self.n + more:
            cap *= 2
        rows = <ECommand*>PyMem_Realloc(self.rows, cap * sizeof(ECommand))
        if rows == NULL:
            raise MemoryError()
        self.rows = rows
        echo = <Echo*>PyMem_Realloc(self.echo, cap * sizeof(Echo))
        if echo == NULL:
            raise MemoryError()
        self.echo = echo
        self.cap = cap
        return 0

    def command(self, uint8_t kind, int32_t session, *, int32_t account=0, int32_t instrument=0,
                uint8_t side=0, uint8_t ord_type=0, uint8_t tif=0, int64_t price=0,
                int64_t qty=0, int64_t display=0, uint8_t flags=0, uint8_t scope=0,
                bytes clordid=b"", bytes orig=b"", bytes src=b" ", bytes client_clordid=b"",
                bytes capacity=b"A", bytes ise=b"N", bytes cross=b"N", bytes shown=b"Y",
                int64_t old_qty=0) -> int:
        """Append one command (unset fields zero) and its echo record; returns its index."""
        self.reserve(1)
        cdef ECommand* c = &self.rows[self.n]
        cdef Echo* e = &self.echo[self.n]
        memset(c, 0, sizeof(ECommand))
        c.kind, c.session, c.account, c.instrument = kind, session, account, instrument
        c.side, c.ord_type, c.tif, c.flags, c.scope = side, ord_type, tif, flags, scope
        c.price, c.qty, c.display = price, qty, display
        text(c.clordid, CLORDID_LEN, clordid, 0)
        text(c.orig_clordid, CLORDID_LEN, orig, 0)
        e.src = one(src, b" "[0])
        text(e.clordid, 14, client_clordid, b" "[0])
        e.capacity = one(capacity, b"A"[0])
        e.ise = one(ise, b"N"[0])
        e.cross = one(cross, b"N"[0])
        e.display = one(shown, b"Y"[0])
        e.old_qty = old_qty
        self.n += 1
        return self.n - 1

    def add(self, rows, echo) -> int:
        """Append arrays of commands (COMMAND_DTYPE) and echo records (ECHO_DTYPE); returns the
        index of the first."""
        if rows.dtype != COMMAND_DTYPE or echo.dtype != ECHO_DTYPE or len(rows) != len(echo):
            raise TypeError("add(rows, echo): COMMAND_DTYPE and ECHO_DTYPE arrays of one length")
        cdef Py_ssize_t k = len(rows), first = self.n
        if k == 0:
            return first
        cdef const uint8_t[::1] r = np.ascontiguousarray(rows).view(np.uint8).reshape(-1)
        cdef const uint8_t[::1] e = np.ascontiguousarray(echo).view(np.uint8).reshape(-1)
        self.reserve(k)
        memcpy(&self.rows[first], &r[0], k * sizeof(ECommand))
        memcpy(&self.echo[first], &e[0], k * sizeof(Echo))
        self.n += k
        return first

    def build(self) -> tuple:
        """(commands, echo records) as new arrays."""
        # over bytearray copies: np.empty of these aligned struct dtypes costs ~1 us and a
        # .view(np.uint8) as much again, several times the rest of one order's submission
        rows = PyByteArray_FromStringAndSize(<char*>self.rows, self.n * sizeof(ECommand))
        echo = PyByteArray_FromStringAndSize(<char*>self.echo, self.n * sizeof(Echo))
        return np.frombuffer(rows, COMMAND_DTYPE), np.frombuffer(echo, ECHO_DTYPE)


# -- Enter Order runs --------------------------------------------------------------------------
cdef inline uint64_t symbol_key(const uint8_t* p, int width) noexcept:
    """A symbol field stripped of spaces and NULs on both sides, as up to 8 bytes in a word
    (0: empty or longer than 8: no instrument)."""
    cdef int a = 0, b = width
    while a < b and (p[a] == 32 or p[a] == 0):
        a += 1
    while b > a and (p[b - 1] == 32 or p[b - 1] == 0):
        b -= 1
    if b == a or b - a > 8:
        return 0
    cdef uint64_t v = 0
    cdef int k
    for k in range(a, b):
        v = (v << 8) | p[k]
    return v | (<uint64_t>(b - a) << 56)


cdef class EnterDecoder:
    """One dialect's Enter Order: the checks and translation of ouch.py's order entry, in C."""
    cdef int size, f_ref, f_side, f_qty, f_sym, sym_w, f_price, f_tif, f_display, f_cap, f_ise
    cdef int f_cross, f_clid, f_applen
    cdef uint64_t* keys
    cdef int32_t* ids
    cdef int64_t mask
    cdef int64_t* pstep
    cdef int32_t n_instruments
    cdef uint8_t side_in[256]
    cdef uint8_t tif_in[256]
    cdef bint display_ok[256]
    cdef uint16_t r_dup, r_symbol, r_side, r_processing, r_price, r_qty, r_firm
    cdef uint8_t new_order, limit, post_only, src_enter, t_firm, t_max_floor, t_price_type
    cdef uint8_t t_post_only

    def __cinit__(self, object dt, dict by_symbol, object pstep, object side_in, object tif_in,
                  object display_ok, dict reject, dict codes):
        f = dt.fields
        want = {"UserRefNum": ">u4", "Side": "|S1", "Quantity": ">u4", "Price": ">i8",
                "TimeInForce": "|S1", "Display": "|S1", "Capacity": "|S1",
                "InterMarketSweepEligibility": "|S1", "CrossType": "|S1", "ClOrdID": "|S14",
                "AppendageLength": ">u2"}
        for name, t in want.items():
            if f[name][0].str != t:
                raise ValueError(f"Enter Order field {name} is {f[name][0].str}, expected {t}")
        if f["Symbol"][0].kind != "S":
            raise ValueError("Enter Order Symbol must be alpha")
        self.size = dt.itemsize
        self.f_ref, self.f_side, self.f_qty = f["UserRefNum"][1], f["Side"][1], f["Quantity"][1]
        self.f_sym, self.sym_w = f["Symbol"][1], f["Symbol"][0].itemsize
        self.f_price, self.f_tif, self.f_display = f["Price"][1], f["TimeInForce"][1], f["Display"][1]
        self.f_cap, self.f_ise = f["Capacity"][1], f["InterMarketSweepEligibility"][1]
        self.f_cross, self.f_clid = f["CrossType"][1], f["ClOrdID"][1]
        self.f_applen = f["AppendageLength"][1]
        steps = np.ascontiguousarray(pstep, dtype=np.int64)
        self.n_instruments = len(steps)
        self.pstep = <int64_t*>PyMem_Realloc(NULL, max(self.n_instruments, 1) * sizeof(int64_t))
        cdef int64_t cap = 16, h
        while cap < 2 * max(len(by_symbol), 1):
            cap *= 2
        self.mask = cap - 1
        self.keys = <uint64_t*>PyMem_Realloc(NULL, cap * sizeof(uint64_t))
        self.ids = <int32_t*>PyMem_Realloc(NULL, cap * sizeof(int32_t))
        if self.pstep == NULL or self.keys == NULL or self.ids == NULL:
            raise MemoryError()
        cdef int k
        for k in range(self.n_instruments):
            self.pstep[k] = steps[k]
        memset(self.keys, 0, cap * sizeof(uint64_t))
        cdef bytes sym
        cdef uint64_t key
        for sym, inst in by_symbol.items():
            key = symbol_key(<const uint8_t*>PyBytes_AS_STRING(sym), PyBytes_GET_SIZE(sym))
            if key == 0 or not 0 <= inst < self.n_instruments:
                continue
            h = <int64_t>((key * <uint64_t>0x9E3779B97F4A7C15ULL) >> 40) & self.mask
            while self.keys[h] != 0 and self.keys[h] != key:
                h = (h + 1) & self.mask
            self.keys[h] = key
            self.ids[h] = inst
        si, ti, do = (np.asarray(a) for a in (side_in, tif_in, display_ok))
        for k in range(256):
            self.side_in[k], self.tif_in[k], self.display_ok[k] = si[k], ti[k], do[k]
        self.r_dup, self.r_symbol = reject["DUPLICATE_USERREFNUM"], reject["INVALID_SYMBOL"]
        self.r_side, self.r_processing = reject["INVALID_SIDE"], reject["PROCESSING_ERROR"]
        self.r_price, self.r_qty = reject["INVALID_PRICE"], reject["INVALID_QUANTITY"]
        self.r_firm = reject["FIRM_NOT_AUTHORIZED"]
        self.new_order, self.limit = codes["NEW_ORDER"], codes["LIMIT"]
        self.post_only, self.src_enter = codes["POST_ONLY"], codes["SRC_ENTER"]
        self.t_firm, self.t_max_floor = codes["FIRM"], codes["MAX_FLOOR"]
        self.t_price_type, self.t_post_only = codes["PRICE_TYPE"], codes["POST_ONLY_TAG"]

    def __dealloc__(self):
        PyMem_Free(self.pstep)
        PyMem_Free(self.keys)
        PyMem_Free(self.ids)

    cdef int32_t lookup(self, const uint8_t* p) noexcept:
        cdef uint64_t key = symbol_key(p, self.sym_w)
        if key == 0:
            return -1
        cdef int64_t h = <int64_t>((key * <uint64_t>0x9E3779B97F4A7C15ULL) >> 40) & self.mask
        while self.keys[h] != 0:
            if self.keys[h] == key:
                return self.ids[h]
            h = (h + 1) & self.mask
        return -1

    cdef uint16_t appendages(self, const uint8_t* p, Py_ssize_t room, const uint8_t* firms,
                             Py_ssize_t n_firms, const int32_t* firm_accounts, int32_t* account,
                             int64_t* display, uint8_t* flags) noexcept:
        """Firm, MaxFloor, PriceType and PostOnly from an appendage; 0 or a reject code."""
        cdef Py_ssize_t i = 0, length, f
        cdef int tag, c
        cdef uint8_t firm[4]
        while i < room:
            length = p[i]
            if length < 1 or i + 1 + length > room:
                return self.r_processing
            tag = p[i + 1]
            if tag == self.t_firm and length == 5:                          # Firm
                blank = True
                for c in range(4):
                    firm[c] = p[i + 2 + c]
                    if firm[c] != 32:
                        blank = False
                    if 97 <= firm[c] <= 122:                      # lower case letters match
                        firm[c] -= 32
                if not blank and not (p[i + 2] == 63 and p[i + 3] == 63 and p[i + 4] == 63
                                      and p[i + 5] == 63):        # "????": the default
                    for f in range(n_firms):
                        if memcmp(firms + 4 * f, firm, 4) == 0:
                            account[0] = firm_accounts[f]
                            break
                    else:
                        return self.r_firm
            elif tag == self.t_max_floor and length == 5:                        # MaxFloor
                display[0] = <int64_t>get_be(p + i + 2, 4)
            elif tag == self.t_price_type and length == 2:                        # PriceType: limit only
                if p[i + 2] != 76:
                    return self.r_processing
            elif tag == self.t_post_only and length == 2:                       # PostOnly
                if p[i + 2] == 80 or p[i + 2] == 89:
                    flags[0] |= self.post_only
            i += 1 + length
        return 0

    def decode(self, CommandBatch batch, OrderTerms terms, const uint8_t[::1] buf,
               Py_ssize_t offset, Py_ssize_t k, Py_ssize_t stride, int32_t session,
               int32_t account, bytes firms, const int32_t[::1] firm_accounts,
               int64_t max_userref) -> tuple:
        """k Enter Order packets of `stride` bytes from buf[offset:] -> rows appended to batch,
        their terms put in `terms`.  Returns (max_userref, rejected): [(UserRefNum, reject code,
        ClOrdID)] in message order."""
        if offset < 0 or k < 0 or stride < self.size or offset + k * stride > buf.shape[0]:
            raise ValueError("decode: packets outside the buffer or shorter than an Enter Order")
        cdef Py_ssize_t n_firms = PyBytes_GET_SIZE(firms) // 4
        if firm_accounts.shape[0] < n_firms:
            raise ValueError("decode: one account per firm")
        cdef const uint8_t* firm_p = <const uint8_t*>PyBytes_AS_STRING(firms)
        cdef const int32_t* fa_p = &firm_accounts[0] if firm_accounts.shape[0] else NULL
        rejected = []
        batch.reserve(k)
        cdef Py_ssize_t j, room = stride - self.size
        cdef const uint8_t* p
        cdef int64_t ref, price, step, qty, display
        cdef int32_t inst, acct
        cdef uint8_t side, tif, flags
        cdef uint16_t problem
        cdef ECommand* c
        cdef Echo* e
        cdef int d
        for j in range(k):
            p = &buf[offset + j * stride]
            ref = <int64_t>get_be(p + self.f_ref, 4)
            inst = self.lookup(p + self.f_sym)
            side = self.side_in[p[self.f_side]]
            tif = self.tif_in[p[self.f_tif]]
            price = <int64_t>get_be(p + self.f_price, 8)
            qty = <int64_t>get_be(p + self.f_qty, 4)
            step = self.pstep[inst] if inst >= 0 else 1
            acct, display, flags = account, 0, 0
            problem = 0                                # the first failing check wins
            if ref <= max_userref:
                problem = self.r_dup
            else:
                max_userref = ref
            if problem == 0 and inst < 0:
                problem = self.r_symbol
            if problem == 0 and side == 0:
                problem = self.r_side
            if problem == 0 and (tif == 255 or not self.display_ok[p[self.f_display]]):
                problem = self.r_processing
            if problem == 0 and (price <= 0 or step <= 0 or price % step != 0):
                problem = self.r_price
            if problem == 0 and qty <= 0:
                problem = self.r_qty
            if problem == 0 and <Py_ssize_t>get_be(p + self.f_applen, 2) != room:
                problem = self.r_processing
            if problem == 0 and room:
                problem = self.appendages(p + self.size, room, firm_p, n_firms, fa_p, &acct,
                                          &display, &flags)
            if problem:
                rejected.append((ref, problem, PyBytes_FromStringAndSize(
                    <const char*>p + self.f_clid, 14)))
                continue
            c = &batch.rows[batch.n]
            e = &batch.echo[batch.n]
            memset(c, 0, sizeof(ECommand))
            c.kind, c.session, c.account, c.instrument = self.new_order, session, acct, inst
            c.side, c.ord_type, c.tif, c.flags = side, self.limit, tif, flags
            c.price, c.qty, c.display = price // step, qty, display
            for d in range(9, -1, -1):                 # the UserRefNum as 10 digits
                c.clordid[d] = <char>(48 + ref % 10)
                ref //= 10
            e.src = self.src_enter
            memcpy(e.clordid, p + self.f_clid, 14)
            e.capacity, e.ise, e.cross = p[self.f_cap], p[self.f_ise], p[self.f_cross]
            e.display = p[self.f_display]
            e.old_qty = 0
            terms.put(<int64_t>get_be(p + self.f_ref, 4), inst, c.price, qty)
            batch.n += 1
        return max_userref, rejected


# -- live orders' terms ------------------------------------------------------------------------
cdef class OrderTerms:
    """UserRefNum -> (instrument, price in ticks, quantity) of a user's live orders, in C memory
    (one entry per live order: the gateway's largest per-order cost as a dict)."""

    def __cinit__(self):
        self.slots = NULL
        self.next_free = NULL
        self.capacity = 0
        self.free_head = -1
        self.count = 0
        idmap_init(&self.index, 1024)
        self.grow()

    def __dealloc__(self):
        idmap_free(&self.index)
        PyMem_Free(self.slots)
        PyMem_Free(self.next_free)

    cdef int grow(self) except -1:
        cdef int32_t old = self.capacity, cap = max(2 * self.capacity, 1024), i
        slots = <Term*>PyMem_Realloc(self.slots, cap * sizeof(Term))
        if slots == NULL:
            raise MemoryError()
        self.slots = slots
        nxt = <int32_t*>PyMem_Realloc(self.next_free, cap * sizeof(int32_t))
        if nxt == NULL:
            raise MemoryError()
        self.next_free = nxt
        for i in range(cap - 1, old - 1, -1):
            self.next_free[i] = self.free_head
            self.free_head = i
            self.slots[i].ref = -1
        self.capacity = cap
        if cap > 1024:                    # the index is sized for the slots it maps
            idmap_free(&self.index)
            idmap_init(&self.index, cap)
            for i in range(old):
                if self.slots[i].ref != -1:
                    idmap_put(&self.index, self.slots[i].ref, i)
        return 0

    cdef int put(self, int64_t ref, int64_t instrument, int64_t price, int64_t qty) except -1:
        cdef int32_t s = idmap_find(&self.index, ref)
        if s == -1:
            if self.free_head == -1:
                self.grow()
            s = self.free_head
            self.free_head = self.next_free[s]
            idmap_put(&self.index, ref, s)
            self.count += 1
        self.slots[s].ref, self.slots[s].instrument = ref, instrument
        self.slots[s].price, self.slots[s].qty = price, qty
        return 0

    cdef bint drop(self, int64_t ref) noexcept:
        cdef int32_t s = idmap_find(&self.index, ref)
        if s == -1:
            return False
        idmap_del(&self.index, ref)
        self.slots[s].ref = -1
        self.next_free[s] = self.free_head
        self.free_head = s
        self.count -= 1
        return True

    def __len__(self):
        return self.count

    def __contains__(self, int64_t ref):
        return idmap_find(&self.index, ref) != -1

    def get(self, int64_t ref, default=None):
        cdef int32_t s = idmap_find(&self.index, ref)
        if s == -1:
            return default
        return (self.slots[s].instrument, self.slots[s].price, self.slots[s].qty)

    def __getitem__(self, int64_t ref):
        got = self.get(ref)
        if got is None:
            raise KeyError(ref)
        return got

    def __setitem__(self, int64_t ref, tuple terms):
        self.put(ref, terms[0], terms[1], terms[2])

    def pop(self, int64_t ref, default=None):
        got = self.get(ref, default)
        self.drop(ref)
        return got

    def put_many(self, refs, instrument, price, qty) -> None:
        cdef const int64_t[::1] r = np.ascontiguousarray(refs, dtype=np.int64)
        cdef const int64_t[::1] i = np.ascontiguousarray(instrument, dtype=np.int64)
        cdef const int64_t[::1] p = np.ascontiguousarray(price, dtype=np.int64)
        cdef const int64_t[::1] q = np.ascontiguousarray(qty, dtype=np.int64)
        if not r.shape[0] == i.shape[0] == p.shape[0] == q.shape[0]:
            raise ValueError("put_many: arrays of one length")
        cdef Py_ssize_t k
        for k in range(r.shape[0]):
            self.put(r[k], i[k], p[k], q[k])

    def pop_many(self, refs) -> None:
        cdef const int64_t[::1] r = np.ascontiguousarray(refs, dtype=np.int64)
        cdef Py_ssize_t k
        for k in range(r.shape[0]):
            self.drop(r[k])

    def keys(self) -> list:
        return [self.slots[s].ref for s in range(self.capacity) if self.slots[s].ref != -1]

    def items(self) -> list:
        return [(self.slots[s].ref, (self.slots[s].instrument, self.slots[s].price,
                                     self.slots[s].qty))
                for s in range(self.capacity) if self.slots[s].ref != -1]

    def __iter__(self):
        return iter(self.keys())

    def __eq__(self, other):
        if isinstance(other, OrderTerms):
            return dict(self.items()) == dict(other.items())
        if isinstance(other, dict):
            return dict(self.items()) == other
        return NotImplemented

    def copy(self) -> OrderTerms:
        out = OrderTerms()
        for ref, t in self.items():
            out.put(ref, t[0], t[1], t[2])
        return out

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __repr__(self):
        return f"OrderTerms({dict(self.items())!r})"


# -- quote sides ---------------------------------------------------------------------------------
cdef class QuoteSides:
    """A user's quote sides (see ouch_in.pyi): the current side's UserRefNum per (instrument,
    side) and the UserRefNums the gateway still treats as quote sides (current ones and those
    whose cancel is in flight), in C memory."""

    def __cinit__(self):
        self.cur = NULL
        self.n_pos = 0
        self.count = 0
        idmap_init(&self.of, 256)

    def __dealloc__(self):
        PyMem_Free(self.cur)
        idmap_free(&self.of)

    cdef int reserve_pos(self, int64_t pos) except -1:
        cdef int64_t n = max(self.n_pos, 64), k
        if pos < self.n_pos:
            return 0
        while n <= pos:
            n *= 2
        cur = <int64_t*>PyMem_Realloc(self.cur, n * sizeof(int64_t))
        if cur == NULL:
            raise MemoryError()
        for k in range(self.n_pos, n):
            cur[k] = -1
        self.cur, self.n_pos = cur, n
        return 0

    cdef int mark(self, int64_t ref, int64_t pos) except -1:
        """ref is (again) a quote side at pos."""
        cdef int64_t k
        cdef IdMap bigger
        if idmap_find(&self.of, ref) != -1:
            idmap_del(&self.of, ref)
        elif 2 * (self.of.count + 1) > self.of.mask + 1:     # keep the index at most half full
            idmap_init(&bigger, 2 * (self.of.mask + 1))
            for k in range(self.of.mask + 1):
                if self.of.vals[k] != -1:
                    idmap_put(&bigger, self.of.keys[k], self.of.vals[k])
            idmap_free(&self.of)
            self.of = bigger
        idmap_put(&self.of, ref, <int32_t>pos)
        return 0

    cdef int64_t take(self, int64_t pos) noexcept:
        """The current side at pos (-1: none), which stops being current (still a quote side)."""
        if pos < 0 or pos >= self.n_pos:
            return -1
        cdef int64_t ref = self.cur[pos]
        if ref != -1:
            self.cur[pos] = -1
            self.count -= 1
        return ref

    cdef int put(self, int64_t pos, int64_t ref) except -1:
        self.reserve_pos(pos)
        if self.cur[pos] == -1:
            self.count += 1
        self.cur[pos] = ref
        return self.mark(ref, pos)

    cdef bint unmark(self, int64_t ref) noexcept:
        if idmap_find(&self.of, ref) == -1:
            return False
        idmap_del(&self.of, ref)
        return True

    cdef void forget_c(self, int64_t ref) noexcept:
        cdef int32_t pos = idmap_find(&self.of, ref)
        if pos == -1:
            return
        idmap_del(&self.of, ref)
        if pos < self.n_pos and self.cur[pos] == ref:
            self.cur[pos] = -1
            self.count -= 1

    # -- Python API -------------------------------------------------------------------------------
    def side(self, int64_t instrument, int side):
        """The current quote side's UserRefNum on (instrument, side), or None."""
        cdef int64_t pos = 2 * instrument + side - 1
        if instrument < 0 or side < 1 or side > 2 or pos >= self.n_pos or self.cur[pos] == -1:
            return None
        return self.cur[pos]

    def pop_side(self, int64_t instrument, int side):
        """side(), which stops being current (it stays a quote side until forgotten)."""
        if instrument < 0 or side < 1 or side > 2:
            return None
        cdef int64_t ref = self.take(2 * instrument + side - 1)
        return None if ref == -1 else ref

    def set_side(self, int64_t instrument, int side, int64_t ref) -> None:
        """ref becomes the current quote side on (instrument, side)."""
        if instrument < 0 or side < 1 or side > 2 or ref < 0:
            raise ValueError(f"set_side({instrument}, {side}, {ref}): instrument >= 0, side 1 or "
                             f"2, UserRefNum >= 0")
        self.put(2 * instrument + side - 1, ref)

    def forget(self, int64_t ref) -> None:
        """ref is no longer a quote side (its order ended): and no longer current either."""
        self.forget_c(ref)

    def forget_many(self, refs) -> None:
        cdef const int64_t[::1] r = np.ascontiguousarray(refs, dtype=np.int64)
        cdef Py_ssize_t k
        if self.of.count:
            for k in range(r.shape[0]):
                self.forget_c(r[k])

    def position(self, int64_t ref):
        """(instrument, side) of a quote side, or None."""
        cdef int32_t pos = idmap_find(&self.of, ref)
        return None if pos == -1 else (pos // 2, pos % 2 + 1)

    def __contains__(self, int64_t ref):
        return idmap_find(&self.of, ref) != -1

    def __len__(self):
        return self.of.count

    def refs(self) -> list:
        """Every quote side's UserRefNum, ascending."""
        return sorted([self.of.keys[k] for k in range(self.of.mask + 1) if self.of.vals[k] != -1])

    def current(self) -> dict:
        """{(instrument, side): UserRefNum} of the current sides."""
        return {(pos // 2, pos % 2 + 1): self.cur[pos] for pos in range(self.n_pos)
                if self.cur[pos] != -1}

    def copy(self) -> QuoteSides:
        out = QuoteSides()
        cdef int64_t k
        for k in range(self.of.mask + 1):
            if self.of.vals[k] != -1:
                out.mark(self.of.keys[k], self.of.vals[k])
        for k in range(self.n_pos):
            if self.cur[k] != -1:
                out.put(k, self.cur[k])
        return out

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __eq__(self, other):
        if not isinstance(other, QuoteSides):
            return NotImplemented
        return self.current() == other.current() and self.refs() == other.refs()

    def __repr__(self):
        return f"QuoteSides(current={self.current()!r}, refs={self.refs()!r})"


cdef class QuoteDecoder:
    """One dialect's Mass Quote entries -> QUOTE / CANCEL rows (ouch.py's mass quote, in C)."""
    cdef EnterDecoder enter
    cdef int size, f_sym, f_bref, f_bpx, f_bqty, f_aref, f_apx, f_aqty
    cdef uint16_t r_dup, r_symbol, r_price
    cdef uint8_t quote, cancel, limit, day
    cdef char src_quote, src_silent

    def __cinit__(self, object entry_dt, EnterDecoder enter, dict reject, dict codes):
        f = entry_dt.fields
        want = {"BidUserRefNum": ">u4", "BidPrice": ">i8", "BidQuantity": ">u4",
                "AskUserRefNum": ">u4", "AskPrice": ">i8", "AskQuantity": ">u4"}
        for name, t in want.items():
            if f[name][0].str != t:
                raise ValueError(f"Quote entry field {name} is {f[name][0].str}, expected {t}")
        if f["Symbol"][0].kind != "S" or f["Symbol"][0].itemsize != enter.sym_w:
            raise ValueError("Quote entry Symbol must be alpha of the Enter Order's width")
        self.enter = enter
        self.size = entry_dt.itemsize
        self.f_sym = f["Symbol"][1]
        self.f_bref, self.f_bpx, self.f_bqty = (f["BidUserRefNum"][1], f["BidPrice"][1],
                                                f["BidQuantity"][1])
        self.f_aref, self.f_apx, self.f_aqty = (f["AskUserRefNum"][1], f["AskPrice"][1],
                                                f["AskQuantity"][1])
        self.r_dup, self.r_symbol = reject["DUPLICATE_USERREFNUM"], reject["INVALID_SYMBOL"]
        self.r_price = reject["INVALID_PRICE"]
        self.quote, self.cancel = codes["QUOTE"], codes["CANCEL"]
        self.limit, self.day = codes["LIMIT"], codes["DAY"]
        self.src_quote, self.src_silent = codes["SRC_QUOTE"], codes["SRC_SILENT"]

    @property
    def entry_size(self) -> int:
        return self.size

    cdef inline void cancel_row(self, CommandBatch batch, list synth, int32_t session,
                                int64_t prev) except *:
        """A silent CANCEL of a previous side (its ClOrdID completed at submit from `synth`)."""
        cdef ECommand* c = &batch.rows[batch.n]
        cdef Echo* e = &batch.echo[batch.n]
        memset(c, 0, sizeof(ECommand))
        c.kind, c.session = self.cancel, session
        quote_clordid(c.orig_clordid, prev)
        default_echo(e, self.src_silent)
        synth.append((batch.n, PyBytes_FromStringAndSize(c.orig_clordid, 11)))
        batch.n += 1

    def decode(self, CommandBatch batch, OrderTerms terms, QuoteSides quotes, list synth,
               const uint8_t[::1] body, Py_ssize_t offset, Py_ssize_t count, int32_t session,
               int32_t account, int64_t max_userref) -> tuple:
        """`count` entries from body[offset:] -> rows appended to batch (see ouch_in.pyi).
        Returns (max_userref, rejected): [(UserRefNum, reject code)] in entry order."""
        if offset < 0 or count < 0 or offset + count * self.size > body.shape[0]:
            raise ValueError("decode: entries outside the message")
        rejected = []
        batch.reserve(2 * count)
        cdef Py_ssize_t j
        cdef int side
        cdef const uint8_t* p
        cdef int32_t inst
        cdef int64_t ref, price, qty, prev, step, pos
        cdef uint16_t problem
        cdef ECommand* c
        for j in range(count):
            p = &body[offset + j * self.size]
            inst = self.enter.lookup(p + self.f_sym)
            for side in range(1, 3):
                if side == 1:
                    ref = <int64_t>get_be(p + self.f_bref, 4)
                    price = <int64_t>get_be(p + self.f_bpx, 8)
                    qty = <int64_t>get_be(p + self.f_bqty, 4)
                else:
                    ref = <int64_t>get_be(p + self.f_aref, 4)
                    price = <int64_t>get_be(p + self.f_apx, 8)
                    qty = <int64_t>get_be(p + self.f_aqty, 4)
                pos = 2 * inst + side - 1
                prev = quotes.take(pos) if inst >= 0 else -1
                if qty == 0:
                    if prev != -1:
                        self.cancel_row(batch, synth, session, prev)
                    continue
                problem = 0                            # the first failing check wins
                step = self.enter.pstep[inst] if inst >= 0 else 1
                if inst < 0:
                    problem = self.r_symbol
                elif ref <= max_userref:
                    problem = self.r_dup
                else:
                    max_userref = ref
                    if price <= 0 or step <= 0 or price % step != 0:
                        problem = self.r_price
                if problem:
                    if prev != -1:
                        self.cancel_row(batch, synth, session, prev)
                    rejected.append((ref, problem))
                    continue
                c = &batch.rows[batch.n]
                memset(c, 0, sizeof(ECommand))
                c.kind, c.session, c.account, c.instrument = self.quote, session, account, inst
                c.side, c.ord_type, c.tif = side, self.limit, self.day
                c.price, c.qty = price // step, qty
                quote_clordid(c.clordid, ref)
                if prev != -1:
                    quote_clordid(c.orig_clordid, prev)
                    quotes.unmark(prev)                # replaced or cancelled by this command
                default_echo(&batch.echo[batch.n], self.src_quote)
                batch.n += 1
                terms.put(ref, inst, price // step, qty)
                quotes.put(pos, ref)
        return max_userref, rejected


cdef inline void quote_clordid(char* dst, int64_t ref) noexcept:
    """A quote side's engine ClOrdID: the UserRefNum as 10 digits, then Q (NUL padded after)."""
    cdef int d
    for d in range(9, -1, -1):
        dst[d] = <char>(48 + ref % 10)
        ref //= 10
    dst[10] = b"Q"[0]


cdef inline void default_echo(Echo* e, char src) noexcept:
    """CommandBatch.command's echo defaults: nothing the client sent to echo."""
    e.src = src
    memset(e.clordid, 32, 14)
    e.capacity, e.ise, e.cross, e.display = b"A"[0], b"N"[0], b"N"[0], b"Y"[0]
    e.old_qty = 0
