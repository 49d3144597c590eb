# FIX order entry in batches: the C side of gateway/fix/application.py's inbound path.
# Behaviour: fixorders.pyi.  Messages are read through the codec's C accessors (fixcodec.pxd);
# rows are written straight into a COMMAND_DTYPE array at offsets taken from that dtype at import,
# so core/commands.py stays the one definition of the layout.
#
# Every step that can refuse a message returns 0 (done) or 1 (refused: `error` says why, as a
# FieldError or a (text, OrdRejReason) pair); -1 is a Python exception (a bug, not bad input).
from libc.stdint cimport int32_t, int64_t, uint8_t

from ordex.ext.fixcodec cimport FixMessage


# Per instrument id: price decimals, price step, qty decimals, qty step (malloc'd; free() it),
# from [(pd, ps, qd, qs), ...]; the FIX decimal <-> integer count mapping of the instrument.
cdef int64_t* grid_table(list grids) except NULL


ctypedef struct CharTable:
    signed char v[256]                 # a one-character FIX value -> engine code, -1: none


cdef class OrderTranslator:
    cdef dict symbols                  # symbol bytes -> instrument id
    cdef dict accounts                 # account name bytes -> account id
    cdef dict sole_account             # session id -> its account, for sessions that have one
    cdef int64_t* grids                # per instrument: price decimals, step, qty decimals, step
    cdef Py_ssize_t n_instruments
    cdef CharTable ord_types           # OrdType(40) -> OrdType
    cdef CharTable tifs                # TimeInForce(59) -> Tif
    cdef object error
    cdef readonly Py_ssize_t requests  # rows of the last translate() that are F, G or q

    cdef int fail(self, object error) except -1
    cdef int clordid(self, FixMessage m, int32_t tag, uint8_t* dst) except -1
    cdef int instrument(self, FixMessage m, int32_t* out) except -1
    cdef int account(self, FixMessage m, int32_t sid, int32_t* out) except -1
    cdef int fixed(self, FixMessage m, int32_t tag, int32_t inst, int which, uint8_t* row,
                   Py_ssize_t off, bint required) except -1
    cdef int target(self, FixMessage m, uint8_t* row, int32_t clordid_tag) except -1
    cdef int new_order(self, FixMessage m, int32_t sid, uint8_t* row) except -1
    cdef int cancel_or_replace(self, FixMessage m, int32_t sid, uint8_t* row, bint replace) except -1
    cdef int status(self, FixMessage m, int32_t sid, uint8_t* row) except -1
    cdef int mass_cancel(self, FixMessage m, int32_t sid, uint8_t* row) except -1
