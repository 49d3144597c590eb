"""FIX order entry in batches (contract: fixorders.pyi, layout: fixorders.pxd).

The session layer finds runs of plain in-sequence order-entry messages (in_sequence_run); the
application turns a run into COMMAND_DTYPE rows in one call (OrderTranslator.translate).  Per
message nothing but the refusals becomes a Python object.
"""
cimport numpy as cnp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, memset

from ordex.ext.fixcodec cimport (FieldRef, FixMessage, NUM_MISSING, NUM_OK, NUM_RANGE,
                                 field_error)

from ordex.core.commands import CLORDID_LEN as _CLORDID_LEN
from ordex.core.commands import COMMAND_DTYPE, CommandKind, Flag, OrdType, Scope, Tif

cnp.import_array()

# COMMAND_DTYPE field offsets, and the engine codes this module writes (core/commands.py).
cdef Py_ssize_t ROW_SIZE = COMMAND_DTYPE.itemsize
cdef Py_ssize_t CLORDID_LEN = _CLORDID_LEN


cdef Py_ssize_t _off(str name) except -1:
    return COMMAND_DTYPE.fields[name][1]


cdef Py_ssize_t O_KIND = _off("kind"), O_SESSION = _off("session"), O_ACCOUNT = _off("account")
cdef Py_ssize_t O_INSTRUMENT = _off("instrument"), O_SIDE = _off("side")
cdef Py_ssize_t O_ORD_TYPE = _off("ord_type"), O_TIF = _off("tif"), O_FLAGS = _off("flags")
cdef Py_ssize_t O_SCOPE = _off("scope"), O_PRICE = _off("price"), O_STOP = _off("stop_price")
cdef Py_ssize_t O_QTY = _off("qty"), O_DISPLAY = _off("display")
cdef Py_ssize_t O_EXPIRE = _off("expire_ts_ns"), O_ORDER_ID = _off("order_id")
cdef Py_ssize_t O_CLORDID = _off("clordid"), O_ORIG = _off("orig_clordid")

cdef uint8_t K_NEW = CommandKind.NEW_ORDER, K_CANCEL = CommandKind.CANCEL
cdef uint8_t K_REPLACE = CommandKind.REPLACE, K_MASS = CommandKind.MASS_CANCEL
cdef uint8_t K_STATUS = CommandKind.STATUS_REQUEST
cdef int OT_LIMIT = OrdType.LIMIT, OT_STOP = OrdType.STOP, OT_STOP_LIMIT = OrdType.STOP_LIMIT
cdef int TIF_GTD = Tif.GTD
cdef uint8_t POST_ONLY = Flag.POST_ONLY
cdef uint8_t SCOPE_SESSION = Scope.SESSION, SCOPE_ACCOUNT = Scope.ACCOUNT

cdef str CLORDID_TOO_LONG = f"ClOrdID longer than {_CLORDID_LEN} characters"
# the order entry MsgTypes translate() takes
ORDER_ENTRY_TYPES = b"DFGHq"


cdef inline void put_i64(uint8_t* row, Py_ssize_t off, int64_t v) noexcept:
    memcpy(row + off, &v, 8)


cdef inline void put_i32(uint8_t* row, Py_ssize_t off, int32_t v) noexcept:
    memcpy(row + off, &v, 4)


cdef inline const uint8_t* value(FixMessage m, int32_t i, Py_ssize_t* n) noexcept:
    cdef FieldRef* f = &m.block.fields[i]
    n[0] = f.len
    return m.block.base + f.off


cdef inline bytes value_bytes(FixMessage m, int32_t i):
    cdef Py_ssize_t n
    cdef const uint8_t* v = value(m, i, &n)
    return PyBytes_FromStringAndSize(<const char*>v, n)


cdef inline bint equals(FixMessage m, int32_t tag, bytes want) noexcept:
    """The message-level field `tag` is present and equal to want."""
    cdef Py_ssize_t n
    cdef int32_t i = m.find_c(tag)
    cdef const uint8_t* v
    if i < 0:
        return 0
    v = value(m, i, &n)
    return n == PyBytes_GET_SIZE(want) and memcmp(v, PyBytes_AS_STRING(want), n) == 0


cdef inline int one_char(FixMessage m, int32_t i) noexcept:
    """The value of field i as one character code, -1 when it is longer."""
    cdef Py_ssize_t n
    cdef const uint8_t* v = value(m, i, &n)
    return v[0] if n == 1 else -1


def in_sequence_run(list msgs, Py_ssize_t start, int64_t expected, bytes theirs, bytes ours,
                    int64_t tolerance_ns, int64_t now_ns, bytes types):
    """How many messages from msgs[start] on need nothing from the session layer but their
    MsgSeqNum consumed: sound, MsgType one of `types`, MsgSeqNum expected, expected + 1, ...,
    SenderCompID theirs, TargetCompID ours, and (tolerance_ns > 0) SendingTime within
    tolerance_ns of now_ns.  The first message that is anything else ends the run."""
    cdef Py_ssize_t i, count = 0, n = PyList_GET_SIZE(msgs)
    cdef FixMessage m
    cdef int64_t seq, sent
    cdef const uint8_t* t = <const uint8_t*>PyBytes_AS_STRING(types)
    cdef Py_ssize_t nt = PyBytes_GET_SIZE(types)
    for i in range(start, n):
        m = <FixMessage?>PyList_GET_ITEM(msgs, i)
        if m.error or m.type_len != 1:
            break
        if memchr_u8(t, nt, m.block.base[m.type_off]) == 0:
            break
        if m.get_int_c(34, &seq) != NUM_OK or seq != expected + count:
            break
        if not equals(m, 49, theirs) or not equals(m, 56, ours):
            break
        if tolerance_ns > 0:
            if m.get_timestamp_c(52, &sent) != NUM_OK:
                break
            if sent - now_ns > tolerance_ns or now_ns - sent > tolerance_ns:
                break
        count += 1
    return count


cdef inline bint memchr_u8(const uint8_t* s, Py_ssize_t n, uint8_t c) noexcept:
    cdef Py_ssize_t k
    for k in range(n):
        if s[k] == c:
            return 1
    return 0


cdef int64_t* grid_table(list grids) except NULL:
    cdef Py_ssize_t i
    cdef int64_t* t = <int64_t*>malloc(sizeof(int64_t) * 4 * (len(grids) + 1))
    if t == NULL:
        raise MemoryError()
    try:
        for i, (pd, ps, qd, qs) in enumerate(grids):
            if not (0 <= pd <= 18 and 0 <= qd <= 18 and ps >= 1 and qs >= 1):
                raise ValueError(f"instrument {i}: bad grid {(pd, ps, qd, qs)}")
            t[4 * i] = pd
            t[4 * i + 1] = ps
            t[4 * i + 2] = qd
            t[4 * i + 3] = qs
    except BaseException:
        free(t)
        raise
    return t


cdef void char_table(CharTable* t, dict mapping):
    cdef int k
    for k in range(256):
        t.v[k] = -1
    for key, code in mapping.items():
        if len(key) == 1:
            t.v[key[0]] = code


cdef class OrderTranslator:
    """Order entry messages -> engine commands; see fixorders.pyi."""

    def __cinit__(self):
        self.grids = NULL

    def __dealloc__(self):
        free(self.grids)

    def __init__(self, dict symbols, list grids, dict accounts, dict sole_account,
                 dict ord_types, dict tifs):
        self.symbols = dict(symbols)
        self.accounts = dict(accounts)
        self.sole_account = dict(sole_account)
        self.n_instruments = len(grids)
        self.grids = grid_table(grids)
        for inst in self.symbols.values():
            if not 0 <= inst < self.n_instruments:
                raise ValueError(f"instrument id {inst} has no grid")
        char_table(&self.ord_types, ord_types)
        char_table(&self.tifs, tifs)
        self.error = None
        self.requests = 0

    def translate(self, int32_t sid, list msgs, Py_ssize_t start, Py_ssize_t stop,
                  cnp.ndarray rows not None, Py_ssize_t at, list accepted not None,
                  list errors not None):
        cdef Py_ssize_t i, n = 0
        cdef FixMessage m
        cdef uint8_t* row
        cdef uint8_t* base
        cdef int rc, t
        if rows.dtype != COMMAND_DTYPE or not cnp.PyArray_IS_C_CONTIGUOUS(rows):
            raise TypeError("rows must be a C-contiguous COMMAND_DTYPE array")
        if not (0 <= start <= stop <= PyList_GET_SIZE(msgs)) or at < 0 \
                or at + (stop - start) > rows.shape[0]:
            raise ValueError("rows too short for the messages (or bad start/stop/at)")
        base = <uint8_t*>cnp.PyArray_DATA(rows)
        self.requests = 0
        for i in range(start, stop):
            m = <FixMessage?>PyList_GET_ITEM(msgs, i)
            row = base + (at + n) * ROW_SIZE
            memset(row, 0, ROW_SIZE)
            t = m.block.base[m.type_off] if m.type_len == 1 else 0
            if t == 68:                      # D
                rc = self.new_order(m, sid, row)
            elif t == 70 or t == 71:         # F, G
                rc = self.cancel_or_replace(m, sid, row, t == 71)
            elif t == 72:                    # H
                rc = self.status(m, sid, row)
            elif t == 113:                   # q
                rc = self.mass_cancel(m, sid, row)
            else:
                raise ValueError(f"MsgType {m.msg_type!r} is not order entry")
            if rc == 0:
                n += 1
                accepted.append(m)
                if t == 70 or t == 71 or t == 113:
                    self.requests += 1
            else:
                errors.append((i, self.error))
                self.error = None
        return n

    cdef int fail(self, object error) except -1:
        self.error = error
        return 1

    cdef int clordid(self, FixMessage m, int32_t tag, uint8_t* dst) except -1:
        cdef Py_ssize_t n
        cdef const uint8_t* v
        cdef int32_t i = m.find_c(tag)
        if i < 0:
            return self.fail(field_error(tag, NUM_MISSING))
        v = value(m, i, &n)
        if n > CLORDID_LEN:
            return self.fail((CLORDID_TOO_LONG, 99))
        memcpy(dst, v, n)
        return 0

    cdef int instrument(self, FixMessage m, int32_t* out) except -1:
        cdef int32_t i = m.find_c(55)
        inst = self.symbols.get(value_bytes(m, i) if i >= 0 else b"")
        if inst is None:
            return self.fail(("unknown symbol", 1))
        out[0] = inst
        return 0

    cdef int account(self, FixMessage m, int32_t sid, int32_t* out) except -1:
        cdef int32_t i = m.find_c(1)
        if i < 0:
            acct = self.sole_account.get(sid)
            if acct is None:
                return self.fail(("Account(1) is required for this session", 15))
        else:
            acct = self.accounts.get(value_bytes(m, i))
            if acct is None:
                return self.fail(("unknown account", 15))
        out[0] = acct
        return 0

    cdef int fixed(self, FixMessage m, int32_t tag, int32_t inst, int which, uint8_t* row,
                   Py_ssize_t off, bint required) except -1:
        """A price (which 0) or quantity (which 1) on the instrument's grid into row[off]; an
        absent optional one is 0."""
        cdef int64_t* g = self.grids + 4 * inst + 2 * which
        cdef int64_t v = 0
        cdef int rc = m.get_fixed_c(tag, <int>g[0], g[1], &v)
        if rc != NUM_OK and (rc != NUM_MISSING or required):
            return self.fail(field_error(tag, rc))
        put_i64(row, off, v if rc == NUM_OK else 0)
        return 0

    cdef int target(self, FixMessage m, uint8_t* row, int32_t clordid_tag) except -1:
        """The order a request names: OrigClOrdID (ClOrdID for a status request), or OrderID
        when it is all digits."""
        cdef Py_ssize_t n, k
        cdef const uint8_t* v
        cdef int32_t i
        cdef int64_t id = 0
        if self.clordid(m, clordid_tag, row + O_ORIG):
            return 1
        i = m.find_c(37)
        if i < 0:
            return 0
        v = value(m, i, &n)
        for k in range(n):
            if not 48 <= v[k] <= 57:
                return 0                      # not an ordex OrderID: name it by ClOrdID alone
        for k in range(n):
            if id > (INT64_MAX - (v[k] - 48)) // 10:
                return self.fail(field_error(37, NUM_RANGE))
            id = id * 10 + (v[k] - 48)
        put_i64(row, O_ORDER_ID, id)
        return 0

    cdef int new_order(self, FixMessage m, int32_t sid, uint8_t* row) except -1:
        cdef int32_t inst, acct, i
        cdef int ord_type, tif, side
        cdef int64_t v
        cdef Py_ssize_t n, k, tok
        cdef const uint8_t* s
        if self.clordid(m, 11, row + O_CLORDID) or self.instrument(m, &inst):
            return 1
        i = m.find_c(40)
        if i < 0:
            return self.fail(field_error(40, NUM_MISSING))
        ord_type = self.ord_types.v[<uint8_t>one_char(m, i)] if one_char(m, i) >= 0 else -1
        if ord_type < 0:
            return self.fail(("unsupported OrdType", 11))
        i = m.find_c(59)
        tif = 0
        if i >= 0:
            tif = self.tifs.v[<uint8_t>one_char(m, i)] if one_char(m, i) >= 0 else -1
        else:
            tif = self.tifs.v[48]             # absent: Day
        if tif < 0:
            return self.fail(("unsupported TimeInForce", 11))
        i = m.find_c(54)
        if i < 0:
            return self.fail(field_error(54, NUM_MISSING))
        side = one_char(m, i)
        side = 1 if side == 49 else 2 if side == 50 else 0
        if self.account(m, sid, &acct):
            return 1
        row[O_KIND] = K_NEW
        put_i32(row, O_SESSION, sid)
        put_i32(row, O_ACCOUNT, acct)
        put_i32(row, O_INSTRUMENT, inst)
        row[O_SIDE] = <uint8_t>side
        row[O_ORD_TYPE] = <uint8_t>ord_type
        row[O_TIF] = <uint8_t>tif
        if (ord_type == OT_LIMIT or ord_type == OT_STOP_LIMIT) and self.fixed(
                m, 44, inst, 0, row, O_PRICE, 1):
            return 1
        if (ord_type == OT_STOP or ord_type == OT_STOP_LIMIT) and self.fixed(
                m, 99, inst, 0, row, O_STOP, 1):
            return 1
        if self.fixed(m, 38, inst, 1, row, O_QTY, 1) or self.fixed(m, 111, inst, 1, row, O_DISPLAY, 0):
            return 1
        if tif == TIF_GTD:
            k = m.get_timestamp_c(126, &v)
            if k != NUM_OK:
                return self.fail(field_error(126, <int>k))
            put_i64(row, O_EXPIRE, v)
        i = m.find_c(18)
        if i >= 0:                            # ExecInst: space-separated; 6 = post only
            s = value(m, i, &n)
            tok = 0
            for k in range(n + 1):
                if k == n or s[k] == 32:
                    if k - tok == 1 and s[tok] == 54:
                        row[O_FLAGS] = POST_ONLY
                        break
                    tok = k + 1
        return 0

    cdef int cancel_or_replace(self, FixMessage m, int32_t sid, uint8_t* row, bint replace) except -1:
        cdef int32_t inst
        row[O_KIND] = K_REPLACE if replace else K_CANCEL
        put_i32(row, O_SESSION, sid)
        if self.clordid(m, 11, row + O_CLORDID) or self.target(m, row, 41):
            return 1
        if not replace:
            return 0
        if self.instrument(m, &inst):
            return 1
        # a replace states the prices it changes: absent ones stay 0 (unchanged)
        if self.fixed(m, 44, inst, 0, row, O_PRICE, 0) or self.fixed(m, 99, inst, 0, row, O_STOP, 0):
            return 1
        return self.fixed(m, 38, inst, 1, row, O_QTY, 1)

    cdef int status(self, FixMessage m, int32_t sid, uint8_t* row) except -1:
        row[O_KIND] = K_STATUS
        put_i32(row, O_SESSION, sid)
        return self.target(m, row, 11)

    cdef int mass_cancel(self, FixMessage m, int32_t sid, uint8_t* row) except -1:
        cdef int32_t inst = -1, acct
        cdef int32_t i = m.find_c(530)
        cdef int kind
        if i < 0:
            return self.fail(field_error(530, NUM_MISSING))
        kind = one_char(m, i)
        row[O_KIND] = K_MASS
        put_i32(row, O_SESSION, sid)
        if self.clordid(m, 11, row + O_CLORDID):
            return 1
        if kind == 49:                        # 1: by security
            if self.instrument(m, &inst):
                return 1
        elif kind != 55:                      # 7: all
            return self.fail(("MassCancelRequestType must be 1 (security) or 7 (all)", 99))
        put_i32(row, O_INSTRUMENT, inst)
        if m.find_c(1) >= 0:
            if self.account(m, sid, &acct):
                return 1
            row[O_SCOPE] = SCOPE_ACCOUNT
            put_i32(row, O_ACCOUNT, acct)
        else:
            row[O_SCOPE] = SCOPE_SESSION
        return 0
