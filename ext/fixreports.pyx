"""Engine events -> FIX ExecutionReports in batches (contract: fixreports.pyi, layout:
fixreports.pxd).

A batch of engine events becomes, per FIX session, one run of consecutive MsgSeqNums: the frames
back to back for one socket write and the same frames as message store records for one store
append (FixSession.send_batch).  Per event nothing becomes a Python object; events that are not
execution reports go to a Python callback, in order, after the output so far is handed over.
"""
cimport numpy as cnp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from ordex.ext.fixcodec cimport FixEncoder, write_decimal, write_int
from ordex.ext.fixorders cimport grid_table

from ordex.core.events import EVENT_DTYPE, EventKind
from ordex.core.lifecycle import OrderState

cnp.import_array()

cdef Py_ssize_t EVENT_SIZE = EVENT_DTYPE.itemsize


cdef Py_ssize_t _off(str name) except -1:
    return EVENT_DTYPE.fields[name][1]


cdef Py_ssize_t E_EXEC_ID = _off("exec_id"), E_ORDER_ID = _off("order_id"), E_TS = _off("ts_ns")
cdef Py_ssize_t E_PRICE = _off("price"), E_STOP = _off("stop_price"), E_QTY = _off("qty")
cdef Py_ssize_t E_LAST_PX = _off("last_px"), E_LAST_QTY = _off("last_qty")
cdef Py_ssize_t E_LEAVES = _off("leaves"), E_CUM = _off("cum_qty"), E_AVG_PX = _off("avg_px")
cdef Py_ssize_t E_SESSION = _off("session"), E_ACCOUNT = _off("account")
cdef Py_ssize_t E_INSTRUMENT = _off("instrument"), E_REASON = _off("reason")
cdef Py_ssize_t E_KIND = _off("kind"), E_STATE = _off("state"), E_SIDE = _off("side")
cdef Py_ssize_t E_ORD_TYPE = _off("ord_type"), E_TIF = _off("tif")
cdef Py_ssize_t E_CLORDID = _off("clordid"), E_ORIG = _off("orig_clordid")
cdef Py_ssize_t CLORDID_LEN = EVENT_DTYPE.fields["clordid"][0].itemsize

cdef int EV_REJECTED = EventKind.REJECTED, EV_TRADE = EventKind.TRADE
cdef int EV_CANCELLED = EventKind.CANCELLED, EV_REPLACED = EventKind.REPLACED
cdef int ST_FILLED = OrderState.FILLED


cdef inline int64_t i64(const uint8_t* ev, Py_ssize_t off) noexcept:
    cdef int64_t v
    memcpy(&v, ev + off, 8)
    return v


cdef inline int32_t i32(const uint8_t* ev, Py_ssize_t off) noexcept:
    cdef int32_t v
    memcpy(&v, ev + off, 4)
    return v


cdef inline Py_ssize_t text_len(const uint8_t* s, Py_ssize_t n) noexcept:
    """Length of a NUL-padded fixed-width string (as numpy reads an S field: trailing NULs off)."""
    while n > 0 and s[n - 1] == 0:
        n -= 1
    return n


cdef inline uint8_t* put_tag(uint8_t* p, const char* s, Py_ssize_t n) noexcept:
    memcpy(p, s, n)
    return p + n


cdef inline uint8_t* put_soh(uint8_t* p) noexcept:
    p[0] = 1
    return p + 1


cdef inline uint8_t* put_char(uint8_t* p, const char* tag, Py_ssize_t n, uint8_t c) noexcept:
    memcpy(p, tag, n)
    p[n] = c
    p[n + 1] = 1
    return p + n + 2


cdef inline uint8_t* put_fixed(uint8_t* p, const char* tag, Py_ssize_t n, int64_t count,
                               int64_t decimals, int64_t step) except NULL:
    """tag=count*step as a decimal with `decimals` decimals."""
    if step != 1 and (count > INT64_MAX // step or count < INT64_MIN // step):
        raise OverflowError(f"{count} * {step} overflows int64")
    memcpy(p, tag, n)
    p += n
    p += write_decimal(p, count * step, <int>decimals)
    p[0] = 1
    return p + 1


cdef inline int grow(uint8_t** buf, Py_ssize_t* cap, Py_ssize_t need) except -1:
    cdef Py_ssize_t new_cap
    cdef uint8_t* p
    if need <= cap[0]:
        return 0
    new_cap = max(need, cap[0] * 2, 4096)
    p = <uint8_t*>realloc(buf[0], new_cap)
    if p == NULL:
        raise MemoryError()
    buf[0] = p
    cap[0] = new_cap
    return 0


cdef inline void put_le(uint8_t* p, uint64_t v, int n) noexcept:
    cdef int k
    for k in range(n):
        p[k] = <uint8_t>(v >> (8 * k))



cdef class SessionOut:
    """What one logged-on FIX session is sent in the current batch; see fixreports.pyi."""

    def __cinit__(self):
        self.frames = NULL
        self.records = NULL
        self.offsets = NULL
        self.frames_cap = self.records_cap = self.offsets_cap = 0

    def __dealloc__(self):
        free(self.frames)
        free(self.records)
        free(self.offsets)

    def __init__(self, session, FixEncoder encoder not None, bint fix42):
        self.session = session
        self.enc = encoder
        self.fix42 = fix42
        self.open = 0

    cdef int start(self, list touched) except -1:
        """Begin collecting: the next MsgSeqNum and the SendingTime come from the session."""
        self.first_seq = self.next_seq = self.session.store.next_sender
        self.now_ns = self.session._clock()
        self.sending_time_len = 0
        self.frames_len = self.records_len = self.count = 0
        self.open = 1
        touched.append(self)
        return 0

    cdef int add_frame(self) except -1:
        """Take the message the encoder has just finished."""
        cdef FixEncoder enc = self.enc
        cdef Py_ssize_t start = enc.finish_c()
        cdef Py_ssize_t n = enc.pos - start
        cdef Py_ssize_t cap
        grow(&self.frames, &self.frames_cap, self.frames_len + n)
        grow(&self.records, &self.records_cap, self.records_len + n + 12)
        if self.count == self.offsets_cap:
            cap = max(64, 2 * self.offsets_cap)
            p = <int64_t*>realloc(self.offsets, sizeof(int64_t) * cap)
            if p == NULL:
                raise MemoryError()
            self.offsets = p
            self.offsets_cap = cap
        memcpy(self.frames + self.frames_len, enc.buf + start, n)
        self.frames_len += n
        self.offsets[self.count] = self.records_len
        put_le(self.records + self.records_len, <uint64_t>n, 4)
        put_le(self.records + self.records_len + 4, <uint64_t>self.next_seq, 8)
        memcpy(self.records + self.records_len + 12, enc.buf + start, n)
        self.records_len += n + 12
        self.count += 1
        self.next_seq += 1
        return 0

    cdef int commit(self) except -1:
        """Hand the batch to the session: one store append, one write."""
        if not self.open:
            return 0
        self.open = 0
        if self.count:
            self.session.send_batch(
                self.first_seq, self.count,
                PyBytes_FromStringAndSize(<const char*>self.frames, self.frames_len),
                PyBytes_FromStringAndSize(<const char*>self.records, self.records_len),
                PyBytes_FromStringAndSize(<const char*>self.offsets, self.count * 8))
        return 0


cdef void char_table(uint8_t* t, dict mapping) except *:
    cdef int k
    for k in range(256):
        t[k] = 0
    for key, value in mapping.items():
        if not 0 <= key < 256 or len(value) != 1:
            raise ValueError(f"{key!r}: {value!r} is not a one-character FIX value")
        t[key] = value[0]


cdef int commit_all(list touched) except -1:
    cdef Py_ssize_t k
    try:
        for k in range(PyList_GET_SIZE(touched)):
            (<SessionOut>PyList_GET_ITEM(touched, k)).commit()
    finally:
        for k in range(PyList_GET_SIZE(touched)):
            (<SessionOut>PyList_GET_ITEM(touched, k)).open = 0
        del touched[:]
    return 0


cdef class ReportWriter:
    """ExecutionReports of engine events for the sessions they belong to; see fixreports.pyi."""

    def __cinit__(self):
        self.grids = NULL

    def __dealloc__(self):
        free(self.grids)

    def __init__(self, list symbols, list grids, list account_names, dict exec_types_44,
                 dict exec_types_42, dict ord_status, dict ord_types, dict tifs, list texts,
                 list ord_rej):
        if len(symbols) != len(grids):
            raise ValueError("one grid per instrument")
        if len(texts) != len(ord_rej):
            raise ValueError("texts and ord_rej are both indexed by reason code")
        self.symbols = list(symbols)
        self.account_names = list(account_names)
        self.n_instruments = len(grids)
        self.grids = grid_table(grids)
        char_table(self.exec44, exec_types_44)
        char_table(self.exec42, exec_types_42)
        char_table(self.ord_status, ord_status)
        char_table(self.ord_types, ord_types)
        char_table(self.tifs, tifs)
        self.texts = list(texts)
        self.ord_rej = list(ord_rej)
        self.transact_len = 0

    def write(self, cnp.ndarray events not None, list outs not None, list drops not None,
              other not None, bint track):
        cdef Py_ssize_t i, d, n, n_outs = PyList_GET_SIZE(outs), n_drops = PyList_GET_SIZE(drops)
        cdef const uint8_t* base
        cdef const uint8_t* ev
        cdef int kind
        cdef int32_t sid, dsid, acct
        cdef bytes mask
        cdef list touched = []
        if events.dtype != EVENT_DTYPE or not cnp.PyArray_IS_C_CONTIGUOUS(events):
            raise TypeError("events must be a C-contiguous EVENT_DTYPE array")
        n = events.shape[0]
        base = <const uint8_t*>cnp.PyArray_DATA(events)
        try:
            for i in range(n):
                ev = base + i * EVENT_SIZE
                kind = ev[E_KIND]
                if not self.exec44[kind]:
                    commit_all(touched)      # whatever `other` sends follows what came before
                    other(events, i)
                    continue
                if track and (kind == EV_CANCELLED or kind == EV_REPLACED):
                    other(events, i)
                sid = i32(ev, E_SESSION)
                if 0 <= sid < n_outs:
                    out = <object>PyList_GET_ITEM(outs, sid)
                    if out is not None:
                        self.add(<SessionOut>out, ev, kind, touched)
                for d in range(n_drops):
                    dsid, mask = <tuple>PyList_GET_ITEM(drops, d)
                    acct = i32(ev, E_ACCOUNT)
                    if dsid == sid or not 0 <= acct < PyBytes_GET_SIZE(mask) \
                            or not PyBytes_AS_STRING(mask)[acct] or not 0 <= dsid < n_outs:
                        continue
                    out = <object>PyList_GET_ITEM(outs, dsid)
                    if out is not None:
                        self.add(<SessionOut>out, ev, kind, touched)
            commit_all(touched)
        finally:
            for i in range(PyList_GET_SIZE(touched)):
                (<SessionOut>PyList_GET_ITEM(touched, i)).open = 0

    cdef int add(self, SessionOut out, const uint8_t* ev, int kind, list touched) except -1:
        if not out.open:
            out.start(touched)
        self.report(out, ev, kind)
        return out.add_frame()

    cdef int report(self, SessionOut out, const uint8_t* ev, int kind) except -1:
        """One ExecutionReport into out's encoder (finished by out.add_frame()).  Fields are
        written straight into the encoder's buffer, sized once for the whole message."""
        cdef FixEncoder enc = out.enc
        cdef bint fix42 = out.fix42
        cdef int64_t v
        cdef int64_t* g
        cdef int64_t unit[4]
        cdef int32_t inst = i32(ev, E_INSTRUMENT), acct = i32(ev, E_ACCOUNT)
        cdef uint16_t reason
        cdef Py_ssize_t n
        cdef uint8_t c
        cdef uint8_t* p
        cdef bytes account = None, symbol = b"?", text = None
        memcpy(&reason, ev + E_REASON, 2)
        if reason:
            if reason >= PyList_GET_SIZE(self.texts) or <object>PyList_GET_ITEM(self.texts, reason) is None:
                raise ValueError(f"{reason} is not a known reason code")
            text = <bytes>PyList_GET_ITEM(self.texts, reason)
        c = self.ord_status[ev[E_STATE]]
        if not c:
            raise ValueError(f"order state {ev[E_STATE]} has no OrdStatus")
        if 0 <= acct < PyList_GET_SIZE(self.account_names):
            account = <bytes>PyList_GET_ITEM(self.account_names, acct)
        if 0 <= inst < self.n_instruments:
            g = self.grids + 4 * inst
            symbol = <bytes>PyList_GET_ITEM(self.symbols, inst)
        else:                                  # no such instrument: integers as they are
            unit[0] = 0
            unit[1] = 1
            unit[2] = 0
            unit[3] = 1
            g = unit
        enc.begin_c(<const uint8_t*>b"8", 1)
        enc.add_int_c(34, out.next_seq)
        self.timestamp(enc, 52, out.now_ns, 3, out.sending_time, &out.sending_time_len)
        enc.grow(1024 + (len(account) if account is not None else 0) + len(symbol)
                 + (len(text) if text is not None else 0))
        p = enc.buf + enc.pos
        v = i64(ev, E_ORDER_ID)
        p = put_tag(p, b"37=", 3)
        if v:
            p += write_int(p, v)
        else:
            p = put_tag(p, b"NONE", 4)
        p = put_soh(p)
        n = text_len(ev + E_CLORDID, CLORDID_LEN)
        p = put_tag(p, b"11=", 3)
        if n:
            p = put_tag(p, <const char*>ev + E_CLORDID, n)
        else:
            p = put_tag(p, b"NONE", 4)
        p = put_soh(p)
        n = text_len(ev + E_ORIG, CLORDID_LEN)
        if n:
            p = put_soh(put_tag(put_tag(p, b"41=", 3), <const char*>ev + E_ORIG, n))
        p = put_tag(p, b"17=", 3)
        p = put_soh(p + write_int(p, i64(ev, E_EXEC_ID)))
        if fix42:
            p = put_tag(p, b"20=0\x01", 5)
            c = self.exec42[kind]
            if kind == EV_TRADE:
                c = 50 if ev[E_STATE] == ST_FILLED else 49       # 2 filled, 1 partially
        else:
            c = self.exec44[kind]
        p = put_char(p, b"150=", 4, c)
        p = put_char(p, b"39=", 3, self.ord_status[ev[E_STATE]])
        if account is not None:
            p = put_soh(put_tag(put_tag(p, b"1=", 2), <const char*>PyBytes_AS_STRING(account),
                                PyBytes_GET_SIZE(account)))
        p = put_soh(put_tag(put_tag(p, b"55=", 3), <const char*>PyBytes_AS_STRING(symbol),
                            PyBytes_GET_SIZE(symbol)))
        p = put_char(p, b"54=", 3, 49 if ev[E_SIDE] == 1 else 50)
        p = put_fixed(p, b"38=", 3, i64(ev, E_QTY), g[2], g[3])
        c = self.ord_types[ev[E_ORD_TYPE]]
        if c:
            p = put_char(p, b"40=", 3, c)
        v = i64(ev, E_PRICE)
        if v:
            p = put_fixed(p, b"44=", 3, v, g[0], g[1])
        v = i64(ev, E_STOP)
        if v:
            p = put_fixed(p, b"99=", 3, v, g[0], g[1])
        c = self.tifs[ev[E_TIF]]
        if c:
            p = put_char(p, b"59=", 3, c)
        if kind == EV_TRADE:
            p = put_fixed(p, b"31=", 3, i64(ev, E_LAST_PX), g[0], g[1])
            p = put_fixed(p, b"32=", 3, i64(ev, E_LAST_QTY), g[2], g[3])
        p = put_fixed(p, b"151=", 4, i64(ev, E_LEAVES), g[2], g[3])
        p = put_fixed(p, b"14=", 3, i64(ev, E_CUM), g[2], g[3])
        p = put_fixed(p, b"6=", 2, i64(ev, E_AVG_PX), g[0], g[1])
        if kind == EV_REJECTED:
            p = put_tag(p, b"103=", 4)
            p = put_soh(p + write_int(p, <object>PyList_GET_ITEM(self.ord_rej, reason)))
        if text is not None:
            p = put_soh(put_tag(put_tag(p, b"58=", 3), <const char*>PyBytes_AS_STRING(text),
                                PyBytes_GET_SIZE(text)))
        enc.pos = p - enc.buf
        v = i64(ev, E_TS)
        if v != self.transact_ns or self.transact_digits != (3 if fix42 else 6):
            self.transact_len = 0
            self.transact_ns = v
            self.transact_digits = 3 if fix42 else 6
        self.timestamp(enc, 60, v, self.transact_digits, self.transact, &self.transact_len)
        return 0

    cdef int timestamp(self, FixEncoder enc, int32_t tag, int64_t ts_ns, int digits,
                       uint8_t* cache, Py_ssize_t* cache_len) except -1:
        """A UTCTimestamp field, formatted once and copied while the same time repeats."""
        cdef Py_ssize_t p0 = enc.pos
        if cache_len[0]:
            return enc.add_field_c(cache, cache_len[0])
        enc.add_timestamp_c(tag, ts_ns, digits)
        if enc.pos - p0 <= 48:
            memcpy(cache, enc.buf + p0, enc.pos - p0)
            cache_len[0] = enc.pos - p0
        return 0
