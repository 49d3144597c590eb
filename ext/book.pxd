# The order book's C layout and codes.  The behaviour is specified in book.pyi; the pure-Python
# reference book (ordex.core.refbook) implements the same contract and the tests compare the two.
from libc.stdint cimport int32_t, int64_t, uint8_t

from ordex.ext.idmap cimport IdMap
from ordex.ext.int128 cimport i128


cpdef enum Side:
    BUY = 1
    SELL = 2


cpdef enum Op:
    LIMIT = 1
    MARKET = 2
    CANCEL = 3
    REDUCE = 4
    REPLACE = 5


cpdef enum TimeInForce:
    GTC = 0     # rests until cancelled (DAY/GTD expiry is the engine's business, not the book's)
    IOC = 1
    FOK = 2


cpdef enum Stp:
    STP_NONE = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2
    CANCEL_BOTH = 3
    DECREMENT_AND_CANCEL = 4


cpdef enum EventKind:
    RESTED = 1       # order now rests: price, qty = displayed, leaves = total remaining
    FILL = 2         # order_id = taker, other_id = maker, price = maker's price
    CANCELLED = 3    # qty = quantity removed, leaves = 0, reason = CancelReason
    REDUCED = 4      # qty = reduced by, leaves = new remaining, reason = CancelReason
    REPLACED = 5     # left the book with new terms (price, qty); fills / RESTED follow
    REPLENISHED = 6  # iceberg shows a new slice at the level's tail: qty = shown, leaves = total
    REJECTED = 7     # reason = Result; the book is unchanged


cpdef enum CancelReason:
    NO_REASON = 0
    USER = 1            # cancel / reduce asked for by the order's owner
    IOC_REMAINDER = 2   # unfilled part of an IOC limit or a market order
    FOK_UNFILLABLE = 3  # fill-or-kill that could not fill completely: nothing traded
    SELF_TRADE = 4      # self-trade prevention


cpdef enum Result:
    OK = 0
    UNKNOWN_INSTRUMENT = 1
    INVALID_SIDE = 2
    INVALID_PRICE = 3        # not positive
    PRICE_OFF_TICK = 4
    INVALID_QTY = 5          # not positive, or a reduce that does not reduce
    QTY_OFF_LOT = 6
    INVALID_TIF = 7
    INVALID_STP = 8
    INVALID_OP = 9
    DUPLICATE_ORDER_ID = 10
    UNKNOWN_ORDER = 11
    POOL_EXHAUSTED = 12
    POST_ONLY_WOULD_TAKE = 13


cpdef enum CommandFlag:     # bits of Command.flags
    FLAG_POST_ONLY = 1


ctypedef struct Command:
    int64_t order_id
    int64_t price       # limit price; market: protection price, 0 = none
    int64_t qty         # new: quantity; reduce/replace: the new remaining quantity
    int64_t display     # iceberg peak size; 0 = fully displayed
    int64_t owner       # self-trade prevention key; 0 = none
    int32_t instrument
    uint8_t op
    uint8_t side
    uint8_t tif
    uint8_t stp
    uint8_t flags
    uint8_t _pad0
    uint8_t _pad1
    uint8_t _pad2
    int32_t result      # written by execute()


ctypedef struct Event:
    int64_t order_id
    int64_t other_id
    int64_t price
    int64_t qty
    int64_t leaves
    int64_t other_leaves
    int32_t instrument
    uint8_t kind
    uint8_t side
    uint8_t reason
    uint8_t _pad


ctypedef struct Order:
    int64_t id
    int64_t price
    int64_t shown       # displayed remaining
    int64_t hidden      # iceberg reserve
    int64_t display     # iceberg peak size, 0 = plain order
    int64_t owner
    int32_t instrument
    int32_t level       # index into the level pool
    int32_t prev        # FIFO neighbours inside the level (order pool indices), -1 = none
    int32_t next        # also the free-list link while the slot is free
    uint8_t side
    uint8_t stp
    uint8_t flags


# One resting order as snapshots export and restore it (packed: the on-disk row, RESTING_DTYPE).
ctypedef packed struct Resting:
    int64_t id
    int64_t price
    int64_t shown
    int64_t hidden
    int64_t display
    int64_t owner
    int32_t instrument
    uint8_t side
    uint8_t stp
    uint8_t flags
    uint8_t _pad


ctypedef struct Level:
    int64_t price
    i128 total          # displayed quantity at this level (a sum of int64s: 128 bits)
    int32_t count
    int32_t head
    int32_t tail
    int32_t next_free


# One side of one instrument: active levels sorted so that the best price is at the END
# (bids ascending, asks descending).  Activity concentrates near the top, so inserting or removing
# a level moves only the few entries behind it; a level is found by binary search.
ctypedef struct SideLadder:
    int64_t* prices
    int32_t* levels
    int32_t n
    int32_t cap


ctypedef struct Instrument:
    int64_t tick
    int64_t lot
    bint active
    SideLadder sides[2]


cdef class OrderBook:
    cdef Order* orders
    cdef Level* levels
    cdef Instrument* instruments
    cdef IdMap index                # order id -> order pool slot
    cdef Event* events
    cdef int32_t max_orders
    cdef int32_t max_instruments
    cdef int32_t free_order
    cdef int32_t free_level
    cdef int32_t live_orders
    cdef int64_t n_events
    cdef int64_t events_cap

    cdef inline int32_t find(self, int64_t order_id) noexcept
    cdef inline Event* emit(self) except NULL
    cdef inline int put(self, uint8_t kind, int64_t order_id, int64_t other_id, int64_t price, int64_t qty, int64_t leaves, int64_t other_leaves, int32_t instrument, uint8_t side, uint8_t reason) except -1
    cdef inline int reject(self, int result, int64_t order_id, int32_t instrument, uint8_t side, int64_t price, int64_t qty) except -1
    cdef int32_t level_for(self, Instrument* ins, int s, int64_t price) except -1
    cdef void drop_level(self, Instrument* ins, int s, int32_t li) noexcept
    cdef inline void link_tail(self, int32_t li, int32_t oi) noexcept
    cdef inline void unlink(self, int32_t oi) noexcept
    cdef inline void free_slot(self, int32_t oi) noexcept
    cdef inline void remove_resting(self, Instrument* ins, int32_t oi) noexcept
    cdef inline void shrink(self, int32_t oi, int64_t by) noexcept
    cdef bint fok_fillable(self, Instrument* ins, int s, int64_t limit, int64_t qty, int64_t owner, uint8_t stp) noexcept
    cdef int64_t match(self, Instrument* ins, int32_t instrument, int64_t taker_id, uint8_t side, int64_t limit, int64_t event_price, int64_t qty, int64_t owner, uint8_t stp, bint* killed) except -1
    cdef int rest(self, Instrument* ins, int32_t instrument, int32_t oi) except -1
    cdef inline void set_quantity(self, Order* o, int64_t total) noexcept
    cdef int new_order(self, Command* c) except -1
    cdef int cancel_c(self, int64_t order_id) except -1
    cdef int reduce_c(self, int64_t order_id, int64_t new_qty) except -1
    cdef int replace_c(self, int64_t order_id, int64_t new_price, int64_t new_qty) except -1
    cdef int apply(self, Command* c) except -1
    cdef Instrument* checked_instrument(self, int32_t instrument) except NULL
    cdef int64_t export_resting_c(self, Resting* out) noexcept
    cdef int restore_resting_c(self, const Resting* r) except -1
