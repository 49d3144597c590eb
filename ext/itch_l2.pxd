# Level-2 (price level) books fed from venues' JSON messages, emitting normalised events.
# The venue protocols (sequencing, snapshots) live in ordex.feeds.coinbase / .binance; this is
# their hot path: decimal text to fixed point, level updates, crossed checks, quotes.
cimport cython
from libc.stdint cimport int32_t, int64_t, uint64_t

from ordex.ext.itch_levels cimport Event, EventBuffer, LevelBook


cdef enum:  # indexes of L2Books._reasons
    L2_BAD_LEVEL = 0        # a level entry that is not [price, qty] / [side, price, qty]
    L2_BAD_PRICE = 1        # price text not a decimal number, or out of range
    L2_BAD_QTY = 2
    L2_OFF_GRID = 3         # more decimals than the instrument's scale
    L2_NON_POSITIVE_PRICE = 4
    L2_NON_POSITIVE_SIZE = 5    # negative level qty, or a trade of qty <= 0
    L2_BAD_SIDE = 6
    L2_CROSSED = 7
    L2_LOCKED = 8
    L2_N_REASONS = 9


@cython.final
cdef class L2Books:
    cdef readonly LevelBook levels
    cdef readonly EventBuffer events
    cdef public bint emit_quotes
    cdef int* price_dec
    cdef int* qty_dec
    cdef int64_t* last_top
    cdef Py_ssize_t n_instruments
    cdef uint64_t _reasons[L2_N_REASONS]
    cdef int _ensure(self, int32_t instrument) except -1
    cdef Event* emit(self, int32_t instrument, int kind, int64_t ts_ns, int64_t recv_ns,
                     int64_t seq) except NULL
    cdef int set_one(self, int32_t instrument, int side, object price, object qty, int64_t ts_ns,
                     int64_t recv_ns, int64_t seq, int action, int flags) except -1
    cdef int num(self, object text, int scale, int64_t* out, int bad) except -1
    cdef int check(self, int32_t instrument) except -1
    cdef Py_ssize_t levels_c(self, int32_t instrument, int side, object levels, int64_t ts_ns,
                             int64_t recv_ns, int64_t seq, int action, int flags) except -1
    cdef Py_ssize_t changes_c(self, int32_t instrument, object changes, int64_t ts_ns,
                              int64_t recv_ns, int64_t seq, int action) except -1
    cdef int end_update_c(self, int32_t instrument, Py_ssize_t first, int64_t ts_ns,
                          int64_t recv_ns, int64_t seq) except -1
