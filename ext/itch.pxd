# Nasdaq TotalView-ITCH 5.0: framing, decoding and order-book reconstruction (see itch.pyi).
cimport cython
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from ordex.ext.itch_levels cimport Event, EventBuffer, LevelBook


ctypedef struct ItchMsg:
    uint64_t ref        # order reference number (U: the original one)
    uint64_t new_ref    # U: the new reference number
    uint64_t match      # E, C, P, Q, B: match number
    int64_t ts_ns       # as sent: nanoseconds since midnight
    int64_t price       # A, F, U, P, C (execution price), Q (cross price), K: Price(4)
    int64_t shares      # A, F, U, P, Q: shares; E, C: executed; X: cancelled; R: round lot
    char stock[8]       # R, H, A, F, P, Q, Y, K, J, h, I, N, O, L: space padded
    uint16_t locate
    uint16_t tracking
    uint8_t type
    uint8_t side        # A, F, P: 'B' or 'S'; I: imbalance direction
    uint8_t code        # S: event code; H: trading state; C: printable; Q: cross type
    uint8_t code2       # L: market maker mode; h: action; I: price variation indicator
    uint32_t attribution  # F: MPID, as four big-endian ASCII bytes


# Counters of what the decoder and the book met, besides the per-type message counts.
cdef enum:  # Reason codes: indexes of ItchFramer._reasons
    R_UNKNOWN_TYPE = 0      # frame of a type ITCH 5.0 does not define: skipped by its length
    R_BAD_FRAME = 1         # length prefix 0, too long, or not the type's length: resynchronised
    R_SKIPPED_BYTES = 2     # bytes discarded while resynchronising
    R_TRUNCATED = 3         # the input ended inside a frame (count of such endings)
    R_UNKNOWN_ORDER = 4     # E, C, X, D, U for an order reference the book does not hold
    R_DUPLICATE_ORDER = 5   # A, F, U adding a reference that is already on the book
    R_NON_POSITIVE_SIZE = 6 # A, F, U with 0 shares; E, C, X with 0 shares
    R_NON_POSITIVE_PRICE = 7
    R_BAD_SIDE = 8          # buy/sell indicator neither B nor S
    R_OVERFILL = 9          # E, C, X for more shares than the order has: the order is removed
    R_LOCATE_MISMATCH = 10  # E, C, X, D, U whose stock locate differs from the order's
    R_CROSSED = 11          # book crossed after an update (best bid > best ask)
    R_LOCKED = 12           # book locked after an update (best bid == best ask)
    R_SOUP_PACKET = 13      # SoupBinTCP packet other than sequenced data or heartbeat
    R_EVENTS_DROPPED = 14   # never expected: an event did not fit the buffer
    N_REASONS = 15


ctypedef struct Order:
    uint64_t ref
    int64_t price
    uint32_t shares     # 0 marks a free slot
    uint16_t locate
    int8_t side


@cython.final
cdef class OrderMap:
    cdef Order* slots
    cdef Py_ssize_t cap        # power of two
    cdef Py_ssize_t n
    cdef int shift
    cdef Py_ssize_t home(self, uint64_t ref) noexcept nogil
    cdef int _grow(self) except -1
    cdef Order* find(self, uint64_t ref) noexcept nogil
    cdef Order* insert(self, uint64_t ref) except NULL
    cdef void remove(self, Order* slot) noexcept nogil


cdef class ItchFramer:
    cdef readonly bint soup                 # SoupBinTCP packets, not bare length-prefixed messages
    cdef uint64_t _types[256]
    cdef uint64_t _reasons[N_REASONS]
    cdef readonly int64_t frames            # ITCH messages decoded (the seq of the last one)
    cdef object control                     # last SoupBinTCP control packet (bytes), if any
    cdef readonly uint64_t heartbeats
    cdef public int64_t soup_seq            # sequence number of the next SoupBinTCP data packet
    cdef bint _resyncing
    cdef bint _stopped
    cdef bint lookahead                     # call prefetch() on frames ahead of the current one
    cdef int on_message(self, const uint8_t* p, Py_ssize_t n) except -1
    cdef void prefetch(self, const uint8_t* p, Py_ssize_t n) noexcept
    cdef bint valid_at(self, const uint8_t* buf, Py_ssize_t q, Py_ssize_t n) noexcept
    cdef Py_ssize_t resync(self, const uint8_t* buf, Py_ssize_t pos, Py_ssize_t n,
                           bint final) noexcept
    cdef Py_ssize_t run(self, const uint8_t* buf, Py_ssize_t n, bint final) except -1


@cython.final
cdef class ItchParser(ItchFramer):
    cdef ItchMsg* out
    cdef Py_ssize_t n_out
    cdef Py_ssize_t capacity


@cython.final
cdef class ItchBook(ItchFramer):
    cdef readonly OrderMap orders
    cdef readonly LevelBook levels
    cdef readonly EventBuffer events
    cdef int64_t day_ns
    cdef public int64_t recv_ns
    cdef public bint emit_quotes
    cdef int64_t* last_top              # 4 per locate: the last QUOTE emitted
    cdef char* names                    # 8 per locate, from stock directory messages
    cdef int apply(self, ItchMsg* m) except -1
    cdef Event* emit(self, ItchMsg* m, int kind, int32_t instrument) noexcept
    cdef void book_event(self, ItchMsg* m, Order* o, uint64_t ref, int64_t level_qty) noexcept
    cdef void after_update(self, ItchMsg* m, int32_t locate, Py_ssize_t first) noexcept
    cdef int reduce(self, ItchMsg* m, Order* o, int64_t shares, bint trade) except -1
    cdef int add(self, ItchMsg* m, uint64_t ref, int side, uint16_t locate) except -1
