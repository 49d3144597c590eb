# Normalised market-data events and the price-level book shared by the ITCH and JSON L2
# normalisers (ordex.feeds).  The behaviour is specified in itch_levels.pyi.
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t


cpdef enum Kind:
    BOOK = 1        # a price level now holds qty in total (0 removes it); side, price, qty
    TRADE = 2       # price, qty, side = aggressor (0 unknown), ref = venue trade / match id
    QUOTE = 3       # top of book: price/qty = best bid, price2/qty2 = best ask (0 = side empty)
    STATUS = 4      # action = Status code, ref = venue-specific detail


cpdef enum Status:
    ST_RESET = 1        # book of the instrument cleared (snapshot follows, or resync pending)
    ST_SNAPSHOT_END = 2 # a complete snapshot has been applied; the book is usable
    ST_TRADING = 3
    ST_HALTED = 4
    ST_PAUSED = 5
    ST_QUOTE_ONLY = 6
    ST_SYSTEM = 7       # venue-wide event: ref = the venue's code (ITCH system event code)
    ST_BROKEN_TRADE = 8 # ref = match id of the broken trade


cpdef enum Flag:            # bits of Event.flags
    F_SNAPSHOT = 1          # part of a snapshot (BOOK) / derived from one
    F_CROSSED = 2           # the book was crossed or locked after this update
    F_STALE = 4             # receive time - exchange time above the source's threshold
    F_OUT_OF_BAND = 8       # trade/quote price outside the band around the reference
    F_VENUE = 16            # QUOTE as published by the venue (ticker/bookTicker), not derived
    F_NON_PRINTABLE = 32    # trade that must not move last price or bars (ITCH printable = N)
    F_CROSS_TRADE = 64      # opening/closing/halt cross (ITCH Q)


ctypedef struct Event:
    int64_t ts_ns       # exchange time, ns since the Unix epoch
    int64_t recv_ns     # receive time (recording's or wall clock); = ts_ns when the source has none
    int64_t seq         # venue sequence (ITCH frame number, Binance u, Coinbase sequence)
    int64_t price       # int64 fixed point at the instrument's price scale
    int64_t qty
    int64_t price2
    int64_t qty2
    int64_t ref         # order reference (ITCH BOOK), trade id (TRADE), detail (STATUS)
    int32_t instrument
    uint8_t kind
    int8_t side         # +1 bid / buy, -1 ask / sell, 0 unknown
    uint8_t action      # BOOK: the venue's message type; STATUS: Status
    uint8_t flags


cdef class EventBuffer:
    cdef Event* data
    cdef Py_ssize_t n
    cdef readonly Py_ssize_t capacity
    cdef int reserve_c(self, Py_ssize_t free) except -1


cdef inline Event* ev_push(EventBuffer buf) noexcept:
    """Next free slot (zeroed by the caller's writes), or NULL when the buffer is full."""
    cdef Event* e
    if buf.n >= buf.capacity:
        return NULL
    e = &buf.data[buf.n]
    buf.n += 1
    return e


ctypedef struct Level:
    int64_t key     # price for bids, -price for asks, so that the best level is the last one
    int64_t qty
    int64_t count   # orders at the level (0 where the venue only publishes levels)


ctypedef struct SideLevels:
    Level* levels   # ascending key
    Py_ssize_t n
    Py_ssize_t cap


cdef class LevelBook:
    cdef SideLevels* sides      # per instrument i: [2 * i] bids, [2 * i + 1] asks
    cdef Py_ssize_t n_instruments
    cdef int _ensure(self, Py_ssize_t instrument) except -1
    cdef SideLevels* side_of(self, int32_t instrument, int side) except NULL
    cdef int64_t set_level(self, int32_t instrument, int side, int64_t price, int64_t qty) except -1
    cdef int64_t add_level(self, int32_t instrument, int side, int64_t price, int64_t dqty,
                           int64_t dcount) except -1
    cdef void clear_c(self, int32_t instrument) noexcept
    cdef int top_c(self, int32_t instrument, int64_t* out) noexcept
    cdef int crossed_c(self, int32_t instrument) noexcept


# Text to fixed point, straight from the decimal digits (never through float).
cpdef enum DecimalError:
    DEC_OK = 0
    DEC_SYNTAX = 1
    DEC_OFF_GRID = 2    # more significant decimals than the scale holds
    DEC_OVERFLOW = 3

cdef int parse_decimal_c(const char* s, Py_ssize_t n, int scale, int64_t* out) noexcept nogil
cdef int decimal_of(object text, int scale, int64_t* out) except -1
cdef int parse_iso8601_c(const char* s, Py_ssize_t n, int64_t* out) noexcept nogil
