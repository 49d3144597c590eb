"""OUCH 5.0 replies in C: a batch of one user's engine events -> Sequenced Data packets (see
ouch_out.pyi)."""
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.string cimport memcpy, memset

from ordex.ext.bigendian cimport put_be
from ordex.ext.engine cimport EEvent
from ordex.ext.ouch_in cimport Echo, OrderTerms, QuoteSides

cimport numpy as cnp

import numpy as np

from ordex.core.events import EVENT_DTYPE, EventKind, Liquidity
from ordex.core.reasons import Reason

assert EVENT_DTYPE.itemsize == sizeof(EEvent), "EVENT_DTYPE must mirror struct EEvent"

cnp.import_array()

# the reply each event gets (codes of ouch_codec: M_ACCEPTED ... M_CANCEL_REJECT)
cdef enum:
    M_ACCEPTED = 1
    M_REPLACED = 2
    M_CANCELED = 3
    M_EXECUTED = 4
    M_REJECTED = 5
    M_CANCEL_REJECT = 6
    N_MSG = 7

# for Python (ouch_codec names the replies with these)
ACCEPTED, REPLACED, CANCELED, EXECUTED, REJECTED, CANCEL_REJECT = (
    M_ACCEPTED, M_REPLACED, M_CANCELED, M_EXECUTED, M_REJECTED, M_CANCEL_REJECT)

cdef uint8_t K_RESTATED = EventKind.RESTATED
cdef uint8_t K_NEW = EventKind.NEW, K_REJECTED = EventKind.REJECTED, K_TRADE = EventKind.TRADE
cdef uint8_t K_CANCELLED = EventKind.CANCELLED, K_EXPIRED = EventKind.EXPIRED
cdef uint8_t K_REPLACED = EventKind.REPLACED, K_CANCEL_REJECTED = EventKind.CANCEL_REJECTED
cdef uint16_t QTY_NOT_ABOVE_FILLED = Reason.QTY_NOT_ABOVE_FILLED
# the echo record's src (ouch_codec.SRC_*): a reduction's REPLACED is a Canceled, a cancel's
# CANCEL_REJECTED a Cancel Reject
cdef char SRC_CANCEL = b"X"[0], SRC_REDUCE = b"x"[0]
cdef uint8_t MAKER = Liquidity.MAKER
cdef int64_t MAX_U32 = 0xFFFFFFFF
cdef const char* SIDES = b" BS"


ctypedef struct Layout:              # offsets inside the framed message; -1: not in the dialect
    int size
    char type
    int ts, ref, orig, side, qty, symbol, symbol_w, price, tif, display, oref, capacity, ise
    int cross, state, clordid, reason, reason_w, liquidity, match


# schema field -> (Layout member, numpy type the writer emits)
_FIELDS = {
    "Timestamp": ("ts", ">u8"), "UserRefNum": ("ref", ">u4"), "OrigUserRefNum": ("orig", ">u4"),
    "Side": ("side", "|S1"), "Quantity": ("qty", ">u4"), "Symbol": ("symbol", None),
    "Price": ("price", ">i8"), "TimeInForce": ("tif", "|S1"), "Display": ("display", "|S1"),
    "OrderReferenceNumber": ("oref", ">u8"), "Capacity": ("capacity", "|S1"),
    "InterMarketSweepEligibility": ("ise", "|S1"), "CrossType": ("cross", "|S1"),
    "OrderState": ("state", "|S1"), "ClOrdID": ("clordid", "|S14"), "Reason": ("reason", None),
    "LiquidityFlag": ("liquidity", "|S1"), "MatchNumber": ("match", ">u8"),
    "AppendageLength": (None, ">u2"),
}


cdef int layout_of(Layout* m, object dt, bytes mtype) except -1:
    memset(m, 0xFF, sizeof(Layout))
    m.size = dt.itemsize
    m.type = (<char*>mtype)[0]
    if dt.fields["soup_len"][1] != 0 or dt.fields["type"][1] != 3:
        raise ValueError(f"OUCH {mtype!r}: framing is not length(2), 'S', type")
    for name in dt.names[3:]:
        if name not in _FIELDS:
            raise ValueError(f"OUCH {mtype!r}: no writer for field {name}")
        member, want = _FIELDS[name]
        sub, off = dt.fields[name][:2]
        if name == "Symbol":
            if sub.kind != "S":
                raise ValueError(f"OUCH {mtype!r}: Symbol is {sub.str}")
            m.symbol_w = sub.itemsize
        elif name == "Reason":
            if sub.str not in ("|S1", ">u2"):
                raise ValueError(f"OUCH {mtype!r}: Reason is {sub.str}")
            m.reason_w = sub.itemsize
        elif sub.str != want:
            raise ValueError(f"OUCH {mtype!r}: field {name} is {sub.str}, the writer emits {want}")
        if member is not None:
            setattr_layout(m, member, off)
    return 0


cdef void setattr_layout(Layout* m, str member, int off) noexcept:
    if member == "ts": m.ts = off
    elif member == "ref": m.ref = off
    elif member == "orig": m.orig = off
    elif member == "side": m.side = off
    elif member == "qty": m.qty = off
    elif member == "symbol": m.symbol = off
    elif member == "price": m.price = off
    elif member == "tif": m.tif = off
    elif member == "display": m.display = off
    elif member == "oref": m.oref = off
    elif member == "capacity": m.capacity = off
    elif member == "ise": m.ise = off
    elif member == "cross": m.cross = off
    elif member == "state": m.state = off
    elif member == "clordid": m.clordid = off
    elif member == "reason": m.reason = off
    elif member == "liquidity": m.liquidity = off
    elif member == "match": m.match = off


def first_session(cnp.ndarray events not None) -> int:
    """The session of the first of a non-empty EVENT_DTYPE array (-1 when empty or not
    EVENT_DTYPE): which user's encode_one_user to try, without a numpy scalar."""
    if cnp.PyArray_DIM(events, 0) == 0 or (events.dtype is not EVENT_DTYPE
                                           and events.dtype != EVENT_DTYPE):
        return -1
    return (<const EEvent*>cnp.PyArray_DATA(events)).session


cdef inline int64_t clip32(int64_t v) noexcept:
    return MAX_U32 if v > MAX_U32 else (0 if v < 0 else v)


cdef inline int64_t userref(const char* clordid) noexcept:
    """The UserRefNum in an engine ClOrdID's first 10 digits, -1 when they are not digits."""
    cdef int64_t v = 0
    cdef int k
    for k in range(10):
        if clordid[k] < 48 or clordid[k] > 57:
            return -1
        v = v * 10 + (clordid[k] - 48)
    return v


cdef class OuchReplies:
    cdef Layout lay[N_MSG]
    cdef int64_t* pstep
    cdef char* symbols
    cdef int symbol_w, n_instruments
    cdef uint16_t reject[1024]
    cdef char cancel[1024]
    cdef bint terminal[256]
    cdef char* out
    cdef Py_ssize_t out_cap, widest

    def __cinit__(self, dict layouts, object pstep, object symbols, object reject_lut,
                  object cancel_lut, object terminal):
        cdef int k
        for code, mtype in ((M_ACCEPTED, b"A"), (M_REPLACED, b"U"), (M_CANCELED, b"C"),
                            (M_EXECUTED, b"E"), (M_REJECTED, b"J"), (M_CANCEL_REJECT, b"I")):
            layout_of(&self.lay[code], layouts[code], mtype)
        steps = np.ascontiguousarray(pstep, dtype=np.int64)
        syms = np.ascontiguousarray(symbols)
        self.n_instruments = len(steps)
        self.symbol_w = syms.dtype.itemsize
        if len(syms) != self.n_instruments or syms.dtype.kind != "S":
            raise ValueError("symbols: one S<width> entry per instrument")
        self.pstep = <int64_t*>PyMem_Malloc(max(self.n_instruments, 1) * sizeof(int64_t))
        self.symbols = <char*>PyMem_Malloc(max(self.n_instruments, 1) * self.symbol_w)
        if self.pstep == NULL or self.symbols == NULL:
            raise MemoryError()
        raw = syms.tobytes()
        memcpy(self.symbols, <char*>raw, len(raw))
        for k in range(self.n_instruments):
            self.pstep[k] = steps[k]
        rej = np.asarray(reject_lut, dtype=np.int64)
        cxl = np.asarray(cancel_lut, dtype=np.int64)
        term = np.asarray(terminal, dtype=bool)
        for k in range(1024):
            self.reject[k] = rej[k]
            self.cancel[k] = <char>cxl[k]
        for k in range(256):
            self.terminal[k] = k < len(term) and term[k]
        self.out = NULL
        self.out_cap = 0
        self.widest = 0
        for k in range(1, N_MSG):
            self.widest = max(self.widest, self.lay[k].size)

    def __dealloc__(self):
        PyMem_Free(self.pstep)
        PyMem_Free(self.symbols)
        PyMem_Free(self.out)

    cdef char* write_reply(self, char* p, int code, const EEvent* e, const Echo* ec,
                           int64_t ref, int64_t t) noexcept:
        """One reply (code M_*) to event e as a Sequenced Data packet at p; returns its end.  The
        one writer of both encode and encode_one_user (byte for byte the same replies)."""
        cdef Layout* m = &self.lay[code]
        cdef int64_t step, q, inst = e.instrument
        cdef bint maker
        memset(p, 0, m.size)
        put_be(p, m.size - 2, 2)
        p[2] = 0x53                          # S: Sequenced Data
        p[3] = m.type
        put_be(p + m.ts, <uint64_t>t, 8)
        put_be(p + m.ref, <uint64_t>ref, 4)
        step = self.pstep[inst] if 0 <= inst < self.n_instruments else 0
        if code == M_ACCEPTED or code == M_REPLACED:
            if m.orig >= 0:
                put_be(p + m.orig, <uint64_t>userref(e.orig_clordid), 4)
            p[m.side] = SIDES[e.side if e.side <= 2 else 0]
            put_be(p + m.qty, <uint64_t>(MAX_U32 if e.qty > MAX_U32 else e.qty), 4)
            if 0 <= inst < self.n_instruments:
                memcpy(p + m.symbol, self.symbols + inst * self.symbol_w,
                       min(self.symbol_w, m.symbol_w))
            put_be(p + m.price, <uint64_t>(e.price * step), 8)
            p[m.tif] = b"3"[0] if (e.tif & 7) == 3 else b"0"[0]
            p[m.display] = ec.display
            put_be(p + m.oref, <uint64_t>e.order_id, 8)
            p[m.capacity] = ec.capacity
            p[m.ise] = ec.ise
            p[m.cross] = ec.cross
            p[m.state] = b"D"[0] if self.terminal[e.state] else b"L"[0]
            memcpy(p + m.clordid, ec.clordid, 14)
        elif code == M_CANCELED:
            if m.orig >= 0:
                put_be(p + m.orig, <uint64_t>ref, 4)
            if e.kind == K_REPLACED:       # a reduction: the quantity taken off
                q = ec.old_qty - e.qty
            elif e.kind == K_RESTATED:
                q = e.last_qty
            else:
                q = e.qty - e.cum_qty
            put_be(p + m.qty, <uint64_t>clip32(q), 4)
            p[m.reason] = b"U"[0] if e.kind == K_REPLACED else \
                self.cancel[e.reason if e.reason < 1024 else 1023]
        elif code == M_EXECUTED:
            put_be(p + m.qty, <uint64_t>(MAX_U32 if e.last_qty > MAX_U32 else e.last_qty), 4)
            put_be(p + m.price, <uint64_t>(e.last_px * step), 8)
            maker = e.liquidity == MAKER
            p[m.liquidity] = b"A"[0] if maker else b"R"[0]
            put_be(p + m.match, <uint64_t>(e.exec_id - maker), 8)
        elif code == M_REJECTED:
            put_be(p + m.reason, self.reject[e.reason if e.reason < 1024 else 1023], m.reason_w)
            memcpy(p + m.clordid, ec.clordid, 14)
        return p + m.size

    cdef int reserve(self, Py_ssize_t need) except -1:
        cdef char* buf
        if need > self.out_cap:
            buf = <char*>PyMem_Realloc(self.out, need)
            if buf == NULL:
                raise MemoryError()
            self.out, self.out_cap = buf, need
        return 0

    cdef int plain_reply(self, const EEvent* e, const Echo* ec, bint trades) noexcept:
        """The reply code of an event the one-user path answers on its own, 0 when it does not
        (the general path decides: follow-up cancels, mass cancel reports, armed protection)."""
        cdef uint8_t k = e.kind
        if k == K_NEW:
            return M_ACCEPTED
        if k == K_REJECTED:
            return M_REJECTED
        if k == K_CANCELLED or k == K_EXPIRED or k == K_RESTATED:
            return M_CANCELED
        if k == K_TRADE:
            return M_EXECUTED if trades else 0
        if k == K_REPLACED:
            return M_CANCELED if ec.src == SRC_REDUCE else M_REPLACED
        if k == K_CANCEL_REJECTED and (ec.src == SRC_CANCEL or (
                ec.src == SRC_REDUCE and e.reason != QTY_NOT_ABOVE_FILLED)):
            return M_CANCEL_REJECT
        return 0

    def encode_one_user(self, cnp.ndarray events not None, int32_t session,
                        cnp.ndarray echo not None, int64_t echo_first, int64_t day_lo,
                        int64_t day_hi, OrderTerms terms not None, bint trades,
                        QuoteSides quotes=None, object acks=None, object ack=None):
        """(bytes, count, last_seq) or None: see ouch_out.pyi."""
        if events.dtype is not EVENT_DTYPE and events.dtype != EVENT_DTYPE:
            raise TypeError(f"events must have EVENT_DTYPE, not {events.dtype}")
        if echo.dtype.itemsize != sizeof(Echo) or not cnp.PyArray_IS_C_CONTIGUOUS(echo):
            raise TypeError("echo records must be a contiguous ouch_codec.ECHO_DTYPE array")
        if cnp.PyArray_NDIM(events) != 1 or cnp.PyArray_NDIM(echo) != 1:
            raise TypeError("events and echo records must be one-dimensional arrays")
        if not cnp.PyArray_IS_C_CONTIGUOUS(events):
            return None
        cdef Py_ssize_t n = cnp.PyArray_DIM(events, 0), n_echo = cnp.PyArray_DIM(echo, 0), j, a
        cdef const EEvent* e = <const EEvent*>cnp.PyArray_DATA(events)
        cdef const Echo* ec = <const Echo*>cnp.PyArray_DATA(echo)
        cdef int64_t at, ref, orig, ack_seq
        cdef int code
        cdef uint8_t k
        if n == 0:
            return None
        # first every event is checked, so that None leaves everything as it was
        for j in range(n):
            at = e[j].seq - echo_first
            if e[j].session != session or at < 0 or at >= n_echo:
                return None
            if j and e[j].seq < e[j - 1].seq:
                return None
            if not day_lo <= e[j].ts_ns < day_hi:
                return None
            if not 0 <= e[j].instrument < self.n_instruments or userref(e[j].clordid) < 0:
                return None
            if self.plain_reply(&e[j], &ec[at], trades) == 0:
                return None
        # the Mass Quote Acks due: each right after the last event at or before its seq (the
        # quote's last row), stamped with that event's time
        cdef list due = []           # (event index, packet)
        cdef Py_ssize_t extra = 0
        cdef int64_t last_seq = e[n - 1].seq
        if acks:
            if ack is None:
                return None
            j = 0
            for entry in acks:
                ack_seq = entry[0]
                if ack_seq > last_seq:
                    break
                if ack_seq < e[0].seq:
                    return None
                while j + 1 < n and e[j + 1].seq <= ack_seq:
                    j += 1
                pkt = ack(e[j].ts_ns - day_lo, entry[1], b"A", 0, entry[2])
                if not isinstance(pkt, bytes):
                    raise TypeError("ack must return bytes")
                due.append((j, pkt))
                extra += len(<bytes>pkt)
        self.reserve(n * self.widest + extra)
        cdef char* p = self.out
        cdef Py_ssize_t n_due = len(due)
        cdef bytes pkt_b
        a = 0
        for j in range(n):
            k = e[j].kind
            ref = userref(e[j].clordid)
            at = e[j].seq - echo_first
            code = self.plain_reply(&e[j], &ec[at], trades)
            p = self.write_reply(p, code, &e[j], &ec[at], ref, e[j].ts_ns - day_lo)
            if k == K_REPLACED:           # the previous UserRefNum names the order no longer
                orig = userref(e[j].orig_clordid)
                if orig != ref:
                    terms.drop(orig)
            elif (k == K_TRADE or k == K_CANCELLED or k == K_EXPIRED or k == K_REJECTED) \
                    and self.terminal[e[j].state]:
                terms.drop(ref)
                if quotes is not None:
                    quotes.forget_c(ref)
            while a < n_due and (<tuple>due[a])[0] == j:
                pkt_b = (<tuple>due[a])[1]
                memcpy(p, <char*>pkt_b, len(pkt_b))
                p += len(pkt_b)
                a += 1
        for a in range(n_due):
            acks.popleft()
        return PyBytes_FromStringAndSize(self.out, p - self.out), n + n_due, last_seq

    def encode(self, events, msg, refs, echo, ts) -> tuple:
        """(bytes, ends, count): the reply of each event with msg[j] != 0, in event order; ends[j]
        is where event j's reply (if any) ends in the bytes."""
        if events.dtype != EVENT_DTYPE:
            raise TypeError(f"events must have EVENT_DTYPE, not {events.dtype}")
        if echo.dtype.itemsize != sizeof(Echo):
            raise TypeError("echo records must be ouch_codec.ECHO_DTYPE")
        ev_a = np.ascontiguousarray(events)
        echo_a = np.ascontiguousarray(echo)
        cdef Py_ssize_t n = len(ev_a), j
        cdef const uint8_t[::1] code = np.ascontiguousarray(msg, dtype=np.uint8)
        cdef const int64_t[::1] ref = np.ascontiguousarray(refs, dtype=np.int64)
        cdef const int64_t[::1] t = np.ascontiguousarray(ts, dtype=np.int64)
        if code.shape[0] != n or ref.shape[0] != n or t.shape[0] != n or len(echo_a) != n:
            raise ValueError("events, msg, refs, echo and ts must have one entry per event")
        ends = np.zeros(n, dtype=np.int64)
        if n == 0:
            return b"", ends, 0
        cdef int64_t[::1] end = ends
        cdef const uint8_t[::1] ev_raw = ev_a.view(np.uint8).reshape(-1)
        cdef const uint8_t[::1] echo_raw = echo_a.view(np.uint8).reshape(-1)
        cdef const EEvent* e = <const EEvent*>&ev_raw[0]
        cdef const Echo* ec = <const Echo*>&echo_raw[0]
        self.reserve(n * self.widest)
        cdef char* p = self.out
        cdef int64_t count = 0
        for j in range(n):
            if code[j] != 0 and code[j] < N_MSG:
                p = self.write_reply(p, code[j], &e[j], &ec[j], ref[j], t[j])
                count += 1
            end[j] = p - self.out
        return PyBytes_FromStringAndSize(self.out, p - self.out), ends, count
