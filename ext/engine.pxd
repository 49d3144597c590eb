# The engine's C layout.  Behaviour: engine.pyi.  The numeric codes mirror the Python definitions
# in core/commands.py, core/events.py, core/lifecycle.py and core/reasons.py; engine.pyx checks at
# import that every mirrored value agrees, so the Python modules stay the one source of truth.
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from ordex.ext.book cimport OrderBook
from ordex.ext.idmap cimport IdMap

from ordex.ext.int128 cimport i128

cdef enum:
    CLORDID_LEN = 24
    N_STATES = 8
    N_LC_EVENTS = 10

# core/commands.py
cdef enum:
    K_NEW_ORDER = 1
    K_CANCEL = 2
    K_REPLACE = 3
    K_MASS_CANCEL = 4
    K_SET_STATUS = 5
    K_REFERENCE_PRICE = 6
    K_KILL_SWITCH = 7
    K_TIMER = 8
    K_STATUS_REQUEST = 9
    K_SET_LIMIT = 10
    K_DISCONNECT = 11
    K_PURGE_CLORDIDS = 12
    K_QUOTE = 13
    LIM_MAX_POSITION = 1
    LIM_MAX_ORDER_QTY = 2
    LIM_MAX_NOTIONAL = 3
    LIM_COLLAR_BPS = 4
    LIM_REF_MAX_AGE = 5
    LIM_THROTTLE = 6
    OT_MARKET = 1
    OT_LIMIT = 2
    OT_STOP = 3
    OT_STOP_LIMIT = 4
    TIF_DAY = 0
    TIF_GTC = 1
    TIF_IOC = 3
    TIF_FOK = 4
    TIF_GTD = 6
    SC_SESSION = 1
    SC_ACCOUNT = 2
    SC_INSTRUMENT = 3
    SC_ALL = 4
    F_POST_ONLY = 1
    F_OCO = 2
    F_OTO = 4
    F_ON = 8
    ADMIN = -1

# core/events.py
cdef enum:
    EV_NEW = 1
    EV_REJECTED = 2
    EV_TRADE = 3
    EV_CANCELLED = 4
    EV_REPLACED = 5
    EV_EXPIRED = 6
    EV_TRIGGERED = 7
    EV_RESTATED = 8
    EV_PENDING_TRIGGER = 9
    EV_CANCEL_REJECTED = 10
    EV_ORDER_STATUS = 11
    EV_MASS_CANCEL_DONE = 12
    EV_LIMIT_SET = 13
    EV_DISCONNECT = 14
    EV_ADMIN_REJECTED = 15
    EV_STATUS_CHANGED = 16
    EV_CLORDIDS_PURGED = 17
    LIQ_MAKER = 1
    LIQ_TAKER = 2

# core/lifecycle.py
cdef enum:
    ST_PENDING_NEW = 0
    ST_NEW = 1
    ST_PARTIALLY_FILLED = 2
    ST_FILLED = 3
    ST_CANCELLED = 4
    ST_REJECTED = 5
    ST_EXPIRED = 6
    ST_PENDING_TRIGGER = 7
    LC_ACCEPT = 0
    LC_REJECT = 1
    LC_PARTIAL_FILL = 2
    LC_FILL = 3
    LC_CANCEL = 4
    LC_REPLACE = 5
    LC_EXPIRE = 6
    LC_TRIGGER = 7
    LC_PARK = 8
    LC_RESTATE = 9

# core/reasons.py
cdef enum:
    R_OK = 0
    R_UNKNOWN_INSTRUMENT = 100
    R_INVALID_SIDE = 101
    R_INVALID_ORDER_TYPE = 102
    R_INVALID_TIF = 103
    R_INVALID_PRICE = 104
    R_PRICE_OFF_TICK = 105
    R_INVALID_QTY = 106
    R_QTY_OFF_LOT = 107
    R_QTY_BELOW_MIN = 108
    R_QTY_ABOVE_MAX = 109
    R_INVALID_STOP_PRICE = 110
    R_INVALID_DISPLAY = 111
    R_INVALID_EXPIRY = 112
    R_DUPLICATE_CLORDID = 113
    R_UNKNOWN_ACCOUNT = 114
    R_ACCOUNT_NOT_PERMITTED = 115
    R_INSTRUMENT_HALTED = 200
    R_INSTRUMENT_CLOSED = 201
    R_INSUFFICIENT_BUYING_POWER = 300
    R_INSUFFICIENT_POSITION = 301
    R_POSITION_LIMIT = 302
    R_NOTIONAL_ABOVE_MAX = 303
    R_PRICE_OUTSIDE_COLLAR = 304
    R_NO_FRESH_REFERENCE = 305
    R_ACCOUNT_KILL_SWITCH = 306
    R_SESSION_KILL_SWITCH = 307
    R_THROTTLED = 308
    R_POST_ONLY_WOULD_TAKE = 400
    R_BOOK_FULL = 401
    R_UNKNOWN_ORDER = 500
    R_ORDER_DONE = 501
    R_QTY_NOT_ABOVE_FILLED = 502
    R_USER_CANCEL = 600
    R_MASS_CANCEL = 601
    R_KILL_SWITCH_CANCEL = 602
    R_IOC_REMAINDER = 603
    R_FOK_UNFILLABLE = 604
    R_SELF_TRADE = 605
    R_SESSION_CLOSE = 606
    R_GTD_EXPIRED = 607
    R_OCO_SIBLING = 608
    R_OTO_PARENT_ENDED = 609
    R_DISCONNECT = 610
    R_NOT_ADMIN = 700
    R_UNKNOWN_LIMIT = 701
    R_UNKNOWN_SESSION = 702
    R_INVALID_LIMIT_VALUE = 703


ctypedef struct ECommand:
    int64_t seq
    int64_t ts_ns
    int64_t order_id
    int64_t price
    int64_t stop_price
    int64_t qty
    int64_t display
    int64_t expire_ts_ns
    int64_t link
    int32_t session
    int32_t account
    int32_t instrument
    uint8_t kind
    uint8_t side
    uint8_t ord_type
    uint8_t tif
    uint8_t flags
    uint8_t stp
    uint8_t scope
    uint8_t status
    char clordid[CLORDID_LEN]
    char orig_clordid[CLORDID_LEN]
    int32_t target_session     # session id + 1, 0 = none (commands.py: actor and target)


ctypedef struct EEvent:
    int64_t seq
    int64_t ts_ns
    int64_t exec_id
    int64_t order_id
    int64_t other_order_id
    int64_t price
    int64_t stop_price
    int64_t qty
    int64_t last_px
    int64_t last_qty
    int64_t leaves
    int64_t cum_qty
    int64_t avg_px
    int64_t fee
    int32_t session
    int32_t account
    int32_t instrument
    uint16_t reason
    uint8_t kind
    uint8_t state
    uint8_t side
    uint8_t ord_type
    uint8_t tif
    uint8_t liquidity
    char clordid[CLORDID_LEN]
    char orig_clordid[CLORDID_LEN]


ctypedef struct EOrder:
    i128 px_qty            # sum of price * qty over fills (AvgPx)
    int64_t id
    int64_t price
    int64_t stop_price
    int64_t qty
    int64_t cum_qty
    int64_t leaves
    int64_t display
    int64_t expire_ts
    int64_t link           # OCO sibling, or the OTO parent of a child
    int64_t oto_child
    int64_t hold_price
    int64_t hold_cash
    int64_t hold_qty
    int32_t session
    int32_t account
    int32_t instrument
    int32_t next_free
    int32_t stop_prev      # pending stop list of its instrument (slots), -1 = none
    int32_t stop_next
    uint8_t side
    uint8_t ord_type
    uint8_t tif
    uint8_t state
    uint8_t flags
    uint8_t stp
    bint in_book
    char clordid[CLORDID_LEN]


ctypedef struct EInstrument:
    int64_t tick
    int64_t lot
    int64_t min_qty
    int64_t max_qty
    int64_t max_notional
    int64_t band_bps
    int64_t ref_max_age_ns
    int64_t mult
    int64_t div
    int64_t maker_bps
    int64_t taker_bps
    int64_t last_px
    int64_t last_ts
    int64_t ref_px
    int64_t ref_ts
    int32_t currency
    int32_t stop_head      # pending stops in order-id order (slots)
    int32_t stop_tail
    uint8_t status
    bint traded            # last_px moved during the current command


ctypedef struct ESession:
    i128 tokens_ns
    int64_t rate
    int64_t last_ts
    bint kill


# (session, clordid) -> order id, until PURGE_CLORDIDS forgets those of orders that are no longer
# live (a trading day: FIX's ClOrdID uniqueness).  Probing touches only the 8-byte slots; the keys live
# in an append-only arena that is read on a tag match (and sequentially when the table grows).
ctypedef struct ClSlot:
    uint32_t tag        # high half of the key's hash | 1; 0 marks a free slot
    int32_t key         # index into cl_keys
ctypedef struct ClKey:
    int64_t order_id
    int32_t session
    char clordid[CLORDID_LEN]


# Snapshot rows (packed: the on-disk layout, independent of the in-memory structs above).
ctypedef packed struct SnapOrder:
    int64_t id
    int64_t price
    int64_t stop_price
    int64_t qty
    int64_t cum_qty
    int64_t leaves
    int64_t display
    int64_t expire_ts
    int64_t link
    int64_t oto_child
    int64_t hold_price
    int64_t hold_cash
    int64_t hold_qty
    uint64_t px_qty_lo
    int64_t px_qty_hi
    int32_t session
    int32_t account
    int32_t instrument
    uint8_t side
    uint8_t ord_type
    uint8_t tif
    uint8_t state
    uint8_t flags
    uint8_t stp
    uint8_t in_book
    uint8_t _pad
    char clordid[CLORDID_LEN]


ctypedef packed struct SnapClordid:
    int64_t order_id
    int32_t session
    char clordid[CLORDID_LEN]


cdef class Engine:
    cdef readonly OrderBook book
    cdef EOrder* orders
    cdef int32_t max_orders
    cdef int32_t free_order
    cdef int32_t live_orders
    cdef int32_t high_water         # slots [0, high_water) have been used at least once
    cdef int32_t* touched           # instruments that traded (or got a stop) in this command
    cdef int32_t n_touched
    cdef IdMap index
    cdef int32_t n_instr
    cdef int32_t n_acct
    cdef int32_t n_sess
    cdef int32_t n_cur
    cdef EInstrument* instr
    cdef ESession* sess
    cdef int64_t* cash_avail       # [account * n_cur + currency]
    cdef int64_t* cash_held
    cdef int64_t* pos              # [account * n_instr + instrument]
    cdef int64_t* pos_held
    cdef int64_t* cost
    cdef int64_t* realized
    cdef int64_t* open_buy
    cdef int64_t* open_sell
    cdef int64_t* max_pos
    cdef uint8_t* acct_instr_ok
    cdef uint8_t* sess_acct_ok     # [session * n_acct + account]
    cdef uint8_t* acct_kill
    cdef uint8_t* acct_short
    cdef int64_t* fees             # [currency]
    cdef int64_t* initial_cash     # [currency], for check_invariants
    cdef int64_t* initial_pos      # [instrument]
    cdef ClSlot* cl
    cdef ClKey* cl_keys
    cdef int64_t cl_keys_cap
    cdef int64_t cl_mask
    cdef int64_t cl_count
    cdef EEvent* events
    cdef int64_t n_events
    cdef int64_t events_cap
    cdef int64_t next_order_id
    cdef int64_t next_exec_id
    cdef int8_t lifecycle[N_STATES][N_LC_EVENTS]
    cdef int64_t* followups        # pending follow-up order ids (OCO/OTO), a queue per command
    cdef int64_t n_followups
    cdef int64_t followups_cap
    cdef ECommand* cmd             # the command being applied
    cdef readonly list currencies
    cdef readonly object refdata
    cdef bytes snap_digest          # refdata_digest(refdata), computed at the first snapshot

    cdef int64_t* _zeros64(self, Py_ssize_t n) except NULL
    cdef int64_t cl_find(self, int32_t session, const char* clordid) noexcept
    cdef int cl_put(self, int32_t session, const char* clordid, int64_t order_id) except -1
    cdef inline void cl_place(self, int32_t key) noexcept
    cdef inline void cl_prefetch(self, ECommand* c) noexcept
    cdef int cl_grow_to(self, int64_t capacity) except -1
    cdef int purge_clordids(self, ECommand* c) except -1
    cdef int set_status(self, ECommand* c) except -1
    cdef EEvent* emit(self, uint8_t kind) except NULL
    cdef EEvent* emit_order(self, uint8_t kind, EOrder* o, uint16_t reason) except NULL
    cdef EEvent* emit_command(self, uint8_t kind, ECommand* c, int64_t order_id, uint16_t reason) except NULL
    cdef int reject_new(self, ECommand* c, int64_t order_id, uint16_t reason) except -1
    cdef int cancel_reject(self, ECommand* c, int64_t order_id, uint16_t reason) except -1
    cdef int transition(self, EOrder* o, int lc_event) except -1
    cdef int push_followup(self, int64_t kind, int64_t order_id) except -1
    cdef int64_t hold_for(self, EInstrument* ins, int64_t price, int64_t qty) noexcept
    cdef int set_hold(self, EOrder* o) except -1
    cdef inline int set_leaves(self, EOrder* o, int64_t leaves) except -1
    cdef inline int64_t notional(self, EInstrument* ins, int64_t px, int64_t q) noexcept
    cdef int book_position(self, int32_t a, int32_t i, int64_t px, int64_t delta) except -1
    cdef int fill(self, int32_t slot, int64_t px, int64_t q, uint8_t liq, int64_t other) except -1
    cdef inline void mark_traded(self, int32_t instrument) noexcept
    cdef int dissolve_oco(self, EOrder* o) except -1
    cdef int retire(self, int32_t slot) except -1
    cdef int end_order(self, int32_t slot, int lc_event, uint8_t kind, uint16_t reason) except -1
    cdef int cancel_order(self, int32_t slot, uint8_t kind, int lc_event, uint16_t reason) except -1
    cdef int link_stop(self, int32_t slot) except -1
    cdef int unlink_stop(self, int32_t slot) except -1
    cdef int32_t triggerable(self) noexcept
    cdef int trigger(self, int32_t slot) except -1
    cdef int enter_book(self, int32_t slot, bint emit_new) except -1
    cdef int process_book(self, int64_t b0, int64_t b1) except -1
    cdef int throttled(self, ECommand* c) noexcept
    cdef bint reference(self, EInstrument* ins, int64_t* ref, int64_t* ref_ts) noexcept
    cdef uint16_t check_terms(self, EInstrument* ins, uint8_t ord_type, int64_t price, int64_t stop_price, int64_t qty) noexcept
    cdef uint16_t check_collar(self, EInstrument* ins, uint8_t ord_type, int64_t price) noexcept
    cdef int64_t hold_price_of(self, EInstrument* ins, uint8_t ord_type, uint8_t side, int64_t price, int64_t stop_price) noexcept
    cdef uint16_t order_checks(self, ECommand* c, int32_t* link_slot, int64_t* hold_price) noexcept
    cdef int new_order(self, ECommand* c) except -1
    cdef int create_order(self, ECommand* c, int64_t oid, int32_t link_slot, int64_t hold_price) except -1
    cdef int take_terms(self, EOrder* o, const char* clordid, int64_t price, int64_t stop_price,
                        int64_t qty, int64_t leaves, int64_t hold_price) except -1
    cdef int quote_cmd(self, ECommand* c) except -1
    cdef int32_t resolve(self, ECommand* c, int64_t* order_id, uint16_t* reason) except -2
    cdef inline bint session_ok(self, int32_t session) noexcept
    cdef int cancel_cmd(self, ECommand* c) except -1
    cdef int replace_cmd(self, ECommand* c) except -1
    cdef int status_request(self, ECommand* c) except -1
    cdef int end_matching(self, int64_t* pairs, int64_t n, uint8_t kind, int lc_event, uint16_t reason) except -1
    cdef int sweep(self, int mode, int32_t a, int32_t b, uint8_t kind, int lc_event, uint16_t reason) except -1
    cdef int mass_cancel(self, ECommand* c) except -1
    cdef int64_t target_of(self, ECommand* c) noexcept
    cdef int kill_switch(self, ECommand* c) except -1
    cdef int set_limit(self, ECommand* c) except -1
    cdef int disconnect(self, ECommand* c) except -1
    cdef int admin_reject(self, ECommand* c, uint16_t reason) except -1
    cdef int settle(self) except -1
    cdef int apply_c(self, ECommand* c) except -1
    cdef dict _order_dict(self, EOrder* o)
    cdef int64_t snap_orders(self, SnapOrder* out) except -1
    cdef int64_t snap_clordids(self, SnapClordid* out) noexcept
    cdef int load_orders(self, const SnapOrder* rows, int64_t n) except -1
    cdef int load_stops(self, const int64_t* counts, const int64_t* ids, int64_t n_ids) except -1
    cdef int load_clordids(self, const SnapClordid* rows, int64_t n, int64_t capacity) except -1
