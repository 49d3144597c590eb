"""The compiled engine: risk -> lifecycle -> book -> accounts.  Contract: engine.pyi.

All per-order state lives in C arrays; the book is the compiled OrderBook, driven through its cdef
methods.  Commands are applied one at a time from a COMMAND_DTYPE array and produce EVENT_DTYPE
events in a growable C buffer.  Nothing here reads a clock or a random source.
"""
import dataclasses
import hashlib
import operator
import struct
import sys
from collections import namedtuple
from decimal import Decimal

import crc32c
import numpy as np

cimport numpy as cnp
from cpython.bytearray cimport PyByteArray_FromStringAndSize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport qsort
from libc.string cimport memcmp, memcpy, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from ordex.ext.book cimport (CANCELLED as B_CANCELLED, FILL as B_FILL, FOK_UNFILLABLE as B_FOK,
                             IOC_REMAINDER as B_IOC, LIMIT as B_LIMIT, MARKET as B_MARKET,
                             OK as B_OK, POST_ONLY_WOULD_TAKE as B_POST_ONLY, REDUCED as B_REDUCED,
                             RESTED as B_RESTED, SELF_TRADE as B_SELF_TRADE, Command, Event,
                             OrderBook, Resting)
from ordex.ext.idmap cimport idmap_del, idmap_find, idmap_free, idmap_init_grouped, idmap_put

# Order ids are sequential: homing runs of 2**ID_RUN of them side by side in the id index keeps a
# new order's insert (and the lookups and removal soon after) in a cache line the previous orders
# already brought in, where plain Fibonacci hashing missed once per order in a table sized for
# max_orders.  Placement only: lookups, events and state do not depend on it.
cdef enum:
    ID_RUN = 6

from ordex.core import commands as _commands
from ordex.core import events as _events
from ordex.core import lifecycle as _lifecycle
from ordex.core import reasons as _reasons
from ordex.core.commands import COMMAND_DTYPE
from ordex.core.events import EVENT_DTYPE
from ordex.ext.book import RESTING_DTYPE

cnp.import_array()

if COMMAND_DTYPE.itemsize != sizeof(ECommand) or EVENT_DTYPE.itemsize != sizeof(EEvent):
    raise ImportError("ordex.ext.engine: COMMAND_DTYPE/EVENT_DTYPE do not match the C structs")


def _check_mirrors():
    """The C enums in engine.pxd mirror core/*.py; refuse to run if they drifted."""
    C, E, S, L, R = (_commands.CommandKind, _events.EventKind, _lifecycle.OrderState,
                     _lifecycle.LifecycleEvent, _reasons.Reason)
    pairs = [
        (K_NEW_ORDER, C.NEW_ORDER), (K_CANCEL, C.CANCEL), (K_REPLACE, C.REPLACE),
        (K_MASS_CANCEL, C.MASS_CANCEL), (K_SET_STATUS, C.SET_STATUS),
        (K_REFERENCE_PRICE, C.REFERENCE_PRICE), (K_KILL_SWITCH, C.KILL_SWITCH), (K_TIMER, C.TIMER),
        (K_STATUS_REQUEST, C.STATUS_REQUEST), (K_SET_LIMIT, C.SET_LIMIT),
        (K_DISCONNECT, C.DISCONNECT), (K_PURGE_CLORDIDS, C.PURGE_CLORDIDS), (K_QUOTE, C.QUOTE),
        (LIM_MAX_POSITION, _commands.Limit.MAX_POSITION),
        (LIM_MAX_ORDER_QTY, _commands.Limit.MAX_ORDER_QTY),
        (LIM_MAX_NOTIONAL, _commands.Limit.MAX_NOTIONAL),
        (LIM_COLLAR_BPS, _commands.Limit.COLLAR_BPS), (LIM_REF_MAX_AGE, _commands.Limit.REF_MAX_AGE),
        (LIM_THROTTLE, _commands.Limit.THROTTLE), (LIM_THROTTLE, len(_commands.Limit)),
        (OT_MARKET, _commands.OrdType.MARKET), (OT_LIMIT, _commands.OrdType.LIMIT),
        (OT_STOP, _commands.OrdType.STOP), (OT_STOP_LIMIT, _commands.OrdType.STOP_LIMIT),
        (TIF_DAY, _commands.Tif.DAY), (TIF_GTC, _commands.Tif.GTC), (TIF_IOC, _commands.Tif.IOC),
        (TIF_FOK, _commands.Tif.FOK), (TIF_GTD, _commands.Tif.GTD),
        (SC_SESSION, _commands.Scope.SESSION), (SC_ACCOUNT, _commands.Scope.ACCOUNT),
        (SC_INSTRUMENT, _commands.Scope.INSTRUMENT), (SC_ALL, _commands.Scope.ALL),
        (F_POST_ONLY, _commands.Flag.POST_ONLY), (F_OCO, _commands.Flag.OCO),
        (F_OTO, _commands.Flag.OTO), (F_ON, _commands.Flag.ON), (ADMIN, _commands.ADMIN_SESSION),
        (CLORDID_LEN, _commands.CLORDID_LEN), (N_STATES, len(S)), (N_LC_EVENTS, len(L)),
        (LIQ_MAKER, _events.Liquidity.MAKER), (LIQ_TAKER, _events.Liquidity.TAKER),
    ]
    pairs += [(v, E[k]) for k, v in {
        "NEW": EV_NEW, "REJECTED": EV_REJECTED, "TRADE": EV_TRADE, "CANCELLED": EV_CANCELLED,
        "REPLACED": EV_REPLACED, "EXPIRED": EV_EXPIRED, "TRIGGERED": EV_TRIGGERED,
        "RESTATED": EV_RESTATED, "PENDING_TRIGGER": EV_PENDING_TRIGGER,
        "CANCEL_REJECTED": EV_CANCEL_REJECTED, "ORDER_STATUS": EV_ORDER_STATUS,
        "MASS_CANCEL_DONE": EV_MASS_CANCEL_DONE, "LIMIT_SET": EV_LIMIT_SET,
        "DISCONNECT": EV_DISCONNECT, "ADMIN_REJECTED": EV_ADMIN_REJECTED,
        "STATUS_CHANGED": EV_STATUS_CHANGED, "CLORDIDS_PURGED": EV_CLORDIDS_PURGED}.items()]
    pairs += [(v, S[k]) for k, v in {
        "PENDING_NEW": ST_PENDING_NEW, "NEW": ST_NEW, "PARTIALLY_FILLED": ST_PARTIALLY_FILLED,
        "FILLED": ST_FILLED, "CANCELLED": ST_CANCELLED, "REJECTED": ST_REJECTED,
        "EXPIRED": ST_EXPIRED, "PENDING_TRIGGER": ST_PENDING_TRIGGER}.items()]
    pairs += [(v, L[k]) for k, v in {
        "ACCEPT": LC_ACCEPT, "REJECT": LC_REJECT, "PARTIAL_FILL": LC_PARTIAL_FILL, "FILL": LC_FILL,
        "CANCEL": LC_CANCEL, "REPLACE": LC_REPLACE, "EXPIRE": LC_EXPIRE, "TRIGGER": LC_TRIGGER,
        "PARK": LC_PARK, "RESTATE": LC_RESTATE}.items()]
    pairs += [(v, R[k]) for k, v in {
        "UNKNOWN_INSTRUMENT": R_UNKNOWN_INSTRUMENT, "INVALID_SIDE": R_INVALID_SIDE,
        "INVALID_ORDER_TYPE": R_INVALID_ORDER_TYPE, "INVALID_TIF": R_INVALID_TIF,
        "INVALID_PRICE": R_INVALID_PRICE, "PRICE_OFF_TICK": R_PRICE_OFF_TICK,
        "INVALID_QTY": R_INVALID_QTY, "QTY_OFF_LOT": R_QTY_OFF_LOT, "QTY_BELOW_MIN": R_QTY_BELOW_MIN,
        "QTY_ABOVE_MAX": R_QTY_ABOVE_MAX, "INVALID_STOP_PRICE": R_INVALID_STOP_PRICE,
        "INVALID_DISPLAY": R_INVALID_DISPLAY, "INVALID_EXPIRY": R_INVALID_EXPIRY,
        "DUPLICATE_CLORDID": R_DUPLICATE_CLORDID, "UNKNOWN_ACCOUNT": R_UNKNOWN_ACCOUNT,
        "ACCOUNT_NOT_PERMITTED": R_ACCOUNT_NOT_PERMITTED, "INSTRUMENT_HALTED": R_INSTRUMENT_HALTED,
        "INSTRUMENT_CLOSED": R_INSTRUMENT_CLOSED,
        "INSUFFICIENT_BUYING_POWER": R_INSUFFICIENT_BUYING_POWER,
        "INSUFFICIENT_POSITION": R_INSUFFICIENT_POSITION, "POSITION_LIMIT": R_POSITION_LIMIT,
        "NOTIONAL_ABOVE_MAX": R_NOTIONAL_ABOVE_MAX, "PRICE_OUTSIDE_COLLAR": R_PRICE_OUTSIDE_COLLAR,
        "NO_FRESH_REFERENCE": R_NO_FRESH_REFERENCE, "ACCOUNT_KILL_SWITCH": R_ACCOUNT_KILL_SWITCH,
        "SESSION_KILL_SWITCH": R_SESSION_KILL_SWITCH, "THROTTLED": R_THROTTLED,
        "POST_ONLY_WOULD_TAKE": R_POST_ONLY_WOULD_TAKE, "BOOK_FULL": R_BOOK_FULL,
        "UNKNOWN_ORDER": R_UNKNOWN_ORDER, "ORDER_DONE": R_ORDER_DONE,
        "QTY_NOT_ABOVE_FILLED": R_QTY_NOT_ABOVE_FILLED, "USER_CANCEL": R_USER_CANCEL,
        "MASS_CANCEL": R_MASS_CANCEL, "KILL_SWITCH_CANCEL": R_KILL_SWITCH_CANCEL,
        "IOC_REMAINDER": R_IOC_REMAINDER, "FOK_UNFILLABLE": R_FOK_UNFILLABLE,
        "SELF_TRADE": R_SELF_TRADE, "SESSION_CLOSE": R_SESSION_CLOSE,
        "GTD_EXPIRED": R_GTD_EXPIRED, "OCO_SIBLING": R_OCO_SIBLING,
        "OTO_PARENT_ENDED": R_OTO_PARENT_ENDED, "DISCONNECT": R_DISCONNECT,
        "NOT_ADMIN": R_NOT_ADMIN, "UNKNOWN_LIMIT": R_UNKNOWN_LIMIT,
        "UNKNOWN_SESSION": R_UNKNOWN_SESSION, "INVALID_LIMIT_VALUE": R_INVALID_LIMIT_VALUE}.items()]
    for c_value, py in pairs:
        if c_value != int(py):
            raise ImportError(f"ordex.ext.engine: C mirror of {py!r} is {c_value}")


_check_mirrors()


cdef extern from *:
    """
    #define ordex_prefetch(p) __builtin_prefetch(p)
    """
    void prefetch "ordex_prefetch"(const void* p) noexcept nogil


cdef enum:
    NONE = -1
    FU_CANCEL_OCO = 1      # follow-up kinds
    FU_RELEASE_CHILD = 2
    FU_CANCEL_CHILD = 3
    BOOK_GTC = 0
    BOOK_IOC = 1
    BOOK_FOK = 2


cdef inline i128 div128(i128 a, int64_t b) noexcept:
    """a / b truncated (C division; b > 0), in 64 bits when a fits: the 128-bit division is a
    libgcc call (__divti3, ~3% of an order in perf record) and the operands almost always fit."""
    if <i128>(-0x7FFFFFFFFFFFFFFF) <= a <= <i128>0x7FFFFFFFFFFFFFFF:
        return <int64_t>a // b
    return a // b


cdef inline i128 ceil_div(i128 a, int64_t b) noexcept:
    return div128(a + b - 1, b)      # a >= 0, b > 0


cdef inline int64_t sat64(i128 v) noexcept:
    """Narrow a non-negative 128-bit value to int64, saturating: a product too large for int64
    must compare as enormous (and be rejected by the risk checks), never wrap."""
    return <int64_t>v if v <= <i128>0x7FFFFFFFFFFFFFFF else 0x7FFFFFFFFFFFFFFF


cdef inline i128 scaled(int64_t price, int64_t qty, int64_t mult) noexcept:
    """price * qty * mult for non-negative operands, saturating at 2**126: |price * qty| < 2**126
    always fits, and a product beyond 2**126 is rejected downstream anyway."""
    cdef i128 pq = <i128>price * qty
    cdef i128 cap = (<i128>1) << 126
    if pq <= (<i128>1) << 62:       # times an int64 stays below 2**125: no 128-bit division
        return pq * mult
    return cap if mult and pq > cap // mult else pq * mult


cdef inline int64_t floor_to_tick(int64_t p, int64_t tick) noexcept:
    return p - p % tick


cdef inline int64_t ceil_to_tick(int64_t p, int64_t tick) noexcept:
    return ((p + tick - 1) // tick) * tick


cdef inline int64_t at_least(int64_t p, int64_t floor) noexcept:
    return p if p > floor else floor


cdef extern from *:
    void __builtin_prefetch(const void* p) noexcept nogil

# commands ahead whose ClOrdID slot apply() prefetches (enough to cover a miss, few enough that
# the line is still there)
cdef enum:
    CL_AHEAD = 8


cdef inline uint64_t cl_hash(int32_t session, const char* clordid) noexcept:
    cdef uint64_t w[3]
    cdef uint64_t h = <uint64_t>(<uint32_t>session) * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL
    cdef int i
    memcpy(w, clordid, 24)
    for i in range(3):
        h = (h ^ w[i]) * 0xBF58476D1CE4E5B9ULL
        h ^= h >> 31
    return h | 1      # never 0: 0 marks a free slot


cdef int cmp_i64_pair(const void* a, const void* b) noexcept nogil:
    cdef const int64_t* x = <const int64_t*>a
    cdef const int64_t* y = <const int64_t*>b
    if x[0] != y[0]:
        return -1 if x[0] < y[0] else 1
    if x[1] != y[1]:
        return -1 if x[1] < y[1] else 1
    return 0


cdef class Engine:

    def __cinit__(self, refdata, int32_t max_orders=1 << 20):
        cdef int32_t i, a, n, s
        self.refdata = refdata
        insts, accts, sessions = refdata.instruments, refdata.accounts, refdata.sessions
        self.currencies = sorted(refdata.currencies)
        cur_index = {c: i for i, c in enumerate(self.currencies)}
        self.n_instr = max(len(insts), 1)
        self.n_acct = max(len(accts), 1)
        self.n_sess = max(len(sessions), 1)
        self.n_cur = max(len(self.currencies), 1)
        self.max_orders = max_orders
        self.book = OrderBook(max_orders=max_orders, max_instruments=self.n_instr)
        idmap_init_grouped(&self.index, max_orders, ID_RUN)
        # calloc: untouched pages stay unmapped until slots are first used (see alloc_slot)
        self.orders = <EOrder*>PyMem_Calloc(max_orders, sizeof(EOrder))
        self.instr = <EInstrument*>PyMem_Malloc(self.n_instr * sizeof(EInstrument))
        self.touched = <int32_t*>PyMem_Malloc(self.n_instr * sizeof(int32_t))
        self.sess = <ESession*>PyMem_Malloc(self.n_sess * sizeof(ESession))
        na, nc = self.n_acct * self.n_cur, self.n_acct * self.n_instr
        self.cash_avail = self._zeros64(na)
        self.cash_held = self._zeros64(na)
        self.pos = self._zeros64(nc)
        self.pos_held = self._zeros64(nc)
        self.cost = self._zeros64(nc)
        self.realized = self._zeros64(nc)
        self.open_buy = self._zeros64(nc)
        self.open_sell = self._zeros64(nc)
        self.max_pos = self._zeros64(nc)
        self.fees = self._zeros64(self.n_cur)
        self.initial_cash = self._zeros64(self.n_cur)
        self.initial_pos = self._zeros64(self.n_instr)
        self.acct_instr_ok = <uint8_t*>PyMem_Malloc(nc)
        self.sess_acct_ok = <uint8_t*>PyMem_Malloc(self.n_sess * self.n_acct)
        self.acct_kill = <uint8_t*>PyMem_Malloc(self.n_acct)
        self.acct_short = <uint8_t*>PyMem_Malloc(self.n_acct)
        self.cl_mask = 1024 - 1
        self.cl = <ClSlot*>PyMem_Calloc(1024, sizeof(ClSlot))
        self.cl_keys_cap = 512
        self.cl_keys = <ClKey*>PyMem_Malloc(self.cl_keys_cap * sizeof(ClKey))
        self.events_cap = 1024
        self.events = <EEvent*>PyMem_Malloc(self.events_cap * sizeof(EEvent))
        self.followups_cap = 64
        self.followups = <int64_t*>PyMem_Malloc(self.followups_cap * 2 * sizeof(int64_t))
        if (self.orders == NULL or self.instr == NULL or self.sess == NULL or self.cl == NULL
                or self.cl_keys == NULL
                or self.events == NULL or self.followups == NULL or self.acct_instr_ok == NULL
                or self.touched == NULL
                or self.sess_acct_ok == NULL or self.acct_kill == NULL or self.acct_short == NULL):
            raise MemoryError()
        memset(self.instr, 0, self.n_instr * sizeof(EInstrument))
        memset(self.sess, 0, self.n_sess * sizeof(ESession))
        memset(self.acct_instr_ok, 0, nc)
        memset(self.sess_acct_ok, 0, self.n_sess * self.n_acct)
        memset(self.acct_kill, 0, self.n_acct)
        memset(self.acct_short, 0, self.n_acct)
        self.free_order = NONE
        self.high_water = 0
        self.next_order_id = 1
        self.next_exec_id = 1
        matrix = _lifecycle.table_matrix()
        for s in range(N_STATES):
            for i in range(N_LC_EVENTS):
                self.lifecycle[s][i] = matrix[s][i]
        for inst in insts:
            i = inst.id
            self.book.add_instrument(i, inst.tick, inst.lot)
            self.instr[i].tick = inst.tick
            self.instr[i].lot = inst.lot
            self.instr[i].min_qty = inst.min_qty
            self.instr[i].max_qty = inst.max_qty
            self.instr[i].max_notional = inst.max_notional
            self.instr[i].band_bps = inst.band_bps
            self.instr[i].ref_max_age_ns = inst.ref_max_age_ns
            self.instr[i].mult = inst.notional_mult
            self.instr[i].div = inst.notional_div
            self.instr[i].maker_bps = inst.maker_fee_bps
            self.instr[i].taker_bps = inst.taker_fee_bps
            self.instr[i].currency = cur_index[inst.currency]
            self.instr[i].status = inst.status
            self.instr[i].stop_head = NONE
            self.instr[i].stop_tail = NONE
        by_symbol = {inst.symbol: inst for inst in insts}
        for acct in accts:
            a = acct.id
            self.acct_short[a] = acct.may_short
            for code, amount in acct.balances.items():
                self.cash_avail[a * self.n_cur + cur_index[code]] = amount
                self.initial_cash[cur_index[code]] += amount
            for sym, qty in acct.positions.items():
                i = by_symbol[sym].id
                self.pos[a * self.n_instr + i] = qty
                self.initial_pos[i] += qty
            for inst in insts:
                ok = acct.instruments is None or inst.symbol in acct.instruments
                self.acct_instr_ok[a * self.n_instr + inst.id] = ok
                if acct.max_position:
                    self.max_pos[a * self.n_instr + inst.id] = int(acct.max_position / inst.qty_increment)
        acct_ids = {acct.name: acct.id for acct in accts}
        for sref in sessions:
            self.sess[sref.id].rate = sref.max_orders_per_sec
            self.sess[sref.id].tokens_ns = <i128>sref.max_orders_per_sec * 1000000000
            for name in sref.accounts:
                self.sess_acct_ok[sref.id * self.n_acct + acct_ids[name]] = 1
        # Without real sessions/accounts/instruments the padding rows above stay unusable:
        self.n_instr, self.n_acct, self.n_sess = len(insts), len(accts), len(sessions)

    cdef int64_t* _zeros64(self, Py_ssize_t n) except NULL:
        cdef int64_t* p = <int64_t*>PyMem_Malloc(max(n, 1) * sizeof(int64_t))
        if p == NULL:
            raise MemoryError()
        memset(p, 0, max(n, 1) * sizeof(int64_t))
        return p

    def __dealloc__(self):
        idmap_free(&self.index)
        PyMem_Free(self.touched)
        PyMem_Free(self.orders)
        PyMem_Free(self.instr)
        PyMem_Free(self.sess)
        PyMem_Free(self.cash_avail)
        PyMem_Free(self.cash_held)
        PyMem_Free(self.pos)
        PyMem_Free(self.pos_held)
        PyMem_Free(self.cost)
        PyMem_Free(self.realized)
        PyMem_Free(self.open_buy)
        PyMem_Free(self.open_sell)
        PyMem_Free(self.max_pos)
        PyMem_Free(self.fees)
        PyMem_Free(self.initial_cash)
        PyMem_Free(self.initial_pos)
        PyMem_Free(self.acct_instr_ok)
        PyMem_Free(self.sess_acct_ok)
        PyMem_Free(self.acct_kill)
        PyMem_Free(self.acct_short)
        PyMem_Free(self.cl)
        PyMem_Free(self.cl_keys)
        PyMem_Free(self.events)
        PyMem_Free(self.followups)

    # ------------------------------------------------------------------ clordid index

    cdef int64_t cl_find(self, int32_t session, const char* clordid) noexcept:
        """The order id recorded for (session, clordid); -1 if the pair was never used."""
        cdef uint64_t h = cl_hash(session, clordid)
        cdef uint32_t tag = <uint32_t>(h >> 32) | 1
        cdef int64_t i = <int64_t>(h & <uint64_t>self.cl_mask)
        cdef ClSlot* slot
        cdef ClKey* k
        while True:
            slot = &self.cl[i]
            if slot.tag == 0:
                return -1
            if slot.tag == tag:
                k = &self.cl_keys[slot.key]
                if k.session == session and memcmp(k.clordid, clordid, CLORDID_LEN) == 0:
                    return k.order_id
            i = (i + 1) & self.cl_mask

    cdef inline void cl_prefetch(self, ECommand* c) noexcept:
        """Start loading the slot a later command's clordid check will probe: clordids hash to
        random slots of a table that outgrows the cache in a day of orders, and that miss was
        most of cl_find's ~12% of an order (perf record on perf/engine_orders.py)."""
        if c.kind == K_NEW_ORDER or c.kind == K_CANCEL or c.kind == K_REPLACE or c.kind == K_QUOTE:
            __builtin_prefetch(&self.cl[<int64_t>(cl_hash(c.session, c.clordid) & <uint64_t>self.cl_mask)])

    cdef inline void cl_place(self, int32_t key) noexcept:
        """Give arena key `key` a slot (the table has room)."""
        cdef ClKey* k = &self.cl_keys[key]
        cdef uint64_t h = cl_hash(k.session, k.clordid)
        cdef int64_t i = <int64_t>(h & <uint64_t>self.cl_mask)
        while self.cl[i].tag:
            i = (i + 1) & self.cl_mask
        self.cl[i].tag = <uint32_t>(h >> 32) | 1
        self.cl[i].key = key

    cdef int cl_grow_to(self, int64_t capacity) except -1:
        """A fresh slot array of `capacity`, filled from the arena in insertion order (a
        sequential read: the old slots are not needed)."""
        cdef ClSlot* table = <ClSlot*>PyMem_Calloc(capacity, sizeof(ClSlot))
        cdef int64_t k
        if table == NULL:
            raise MemoryError()
        PyMem_Free(self.cl)
        self.cl = table
        self.cl_mask = capacity - 1
        for k in range(self.cl_count):
            if k + CL_AHEAD < self.cl_count:     # the rehash misses like the lookups (~3%)
                __builtin_prefetch(&table[<int64_t>(cl_hash(self.cl_keys[k + CL_AHEAD].session,
                                                            self.cl_keys[k + CL_AHEAD].clordid)
                                                    & <uint64_t>self.cl_mask)])
            self.cl_place(<int32_t>k)
        return 0

    cdef int purge_clordids(self, ECommand* c) except -1:
        """PURGE_CLORDIDS: keep only the entries naming a live or pending order (current and
        previous clordids alike), compacted to the front of the arena in their order, and re-slot
        them in the same table.  Both the slot array and the arena keep their capacity: the next
        trading day reuses them and grows neither until it outgrows the busiest day before it
        (growth is the O(n) rehash pause this avoids)."""
        cdef int64_t k, kept = 0, before = self.cl_count
        cdef ClKey* key
        cdef EEvent* e
        if c.session != ADMIN:
            return self.admin_reject(c, R_NOT_ADMIN)
        for k in range(self.cl_count):
            key = &self.cl_keys[k]
            if key.order_id > 0 and idmap_find(&self.index, key.order_id) != NONE:
                if kept != k:
                    self.cl_keys[kept] = key[0]
                kept += 1
        memset(self.cl, 0, (self.cl_mask + 1) * sizeof(ClSlot))
        self.cl_count = kept
        for k in range(kept):
            self.cl_place(<int32_t>k)
        e = self.emit(EV_CLORDIDS_PURGED)
        e.session = c.session
        e.qty = before - kept
        e.leaves = kept
        memcpy(e.clordid, c.clordid, CLORDID_LEN)
        return 0

    def clordid_stats(self):
        """The ClOrdID table's own counters: entries recorded, slots (8 bytes each), arena
        capacity (ClKey rows), and the bytes both hold."""
        return {"entries": self.cl_count, "slots": self.cl_mask + 1,
                "arena_capacity": self.cl_keys_cap, "key_bytes": sizeof(ClKey),
                "bytes": (self.cl_mask + 1) * sizeof(ClSlot) + self.cl_keys_cap * sizeof(ClKey)}

    def clordids(self):
        """Every recorded (session, clordid bytes, order id), sorted (tests compare engines)."""
        cdef int64_t k
        out = []
        for k in range(self.cl_count):
            out.append((self.cl_keys[k].session, self.cl_keys[k].clordid[:CLORDID_LEN].rstrip(b"\0"),
                        self.cl_keys[k].order_id))
        return tuple(sorted(out))

    cdef int cl_put(self, int32_t session, const char* clordid, int64_t order_id) except -1:
        cdef ClKey* keys
        cdef ClKey* k
        if 2 * (self.cl_count + 1) > self.cl_mask + 1:
            self.cl_grow_to(2 * (self.cl_mask + 1))
        if self.cl_count == self.cl_keys_cap:
            keys = <ClKey*>PyMem_Realloc(self.cl_keys, 2 * self.cl_keys_cap * sizeof(ClKey))
            if keys == NULL:
                raise MemoryError()
            self.cl_keys = keys
            self.cl_keys_cap *= 2
        k = &self.cl_keys[self.cl_count]
        k.order_id = order_id
        k.session = session
        memcpy(k.clordid, clordid, CLORDID_LEN)
        self.cl_place(<int32_t>self.cl_count)
        self.cl_count += 1
        return 0

    # ------------------------------------------------------------------ events

    cdef EEvent* emit(self, uint8_t kind) except NULL:
        cdef EEvent* grown
        if self.n_events == self.events_cap:
            grown = <EEvent*>PyMem_Realloc(self.events, 2 * self.events_cap * sizeof(EEvent))
            if grown == NULL:
                raise MemoryError()
            self.events = grown
            self.events_cap *= 2
        cdef EEvent* e = &self.events[self.n_events]
        self.n_events += 1
        memset(e, 0, sizeof(EEvent))
        e.kind = kind
        e.seq = self.cmd.seq
        e.ts_ns = self.cmd.ts_ns
        e.exec_id = self.next_exec_id
        self.next_exec_id += 1
        return e

    cdef EEvent* emit_order(self, uint8_t kind, EOrder* o, uint16_t reason) except NULL:
        cdef EEvent* e = self.emit(kind)
        e.order_id = o.id
        e.price = o.price
        e.stop_price = o.stop_price
        e.qty = o.qty
        e.leaves = o.leaves
        e.cum_qty = o.cum_qty
        e.avg_px = <int64_t>div128(o.px_qty, o.cum_qty) if o.cum_qty else 0
        e.session = o.session
        e.account = o.account
        e.instrument = o.instrument
        e.reason = reason
        e.state = o.state
        e.side = o.side
        e.ord_type = o.ord_type
        e.tif = o.tif
        memcpy(e.clordid, o.clordid, CLORDID_LEN)
        return e

    cdef EEvent* emit_command(self, uint8_t kind, ECommand* c, int64_t order_id,
                              uint16_t reason) except NULL:
        """An event about a command that created or found no live order: its fields as given."""
        cdef EEvent* e = self.emit(kind)
        e.order_id = order_id
        e.price = c.price
        e.stop_price = c.stop_price
        e.qty = c.qty
        e.session = c.session
        e.account = c.account
        e.instrument = c.instrument
        e.reason = reason
        e.state = ST_REJECTED
        e.side = c.side
        e.ord_type = c.ord_type
        e.tif = c.tif
        memcpy(e.clordid, c.clordid, CLORDID_LEN)
        return e

    cdef int reject_new(self, ECommand* c, int64_t order_id, uint16_t reason) except -1:
        self.emit_command(EV_REJECTED, c, order_id, reason)
        return 0

    cdef int cancel_reject(self, ECommand* c, int64_t order_id, uint16_t reason) except -1:
        cdef int32_t slot = idmap_find(&self.index, order_id) if order_id > 0 else NONE
        cdef EEvent* e
        if slot != NONE:
            e = self.emit_order(EV_CANCEL_REJECTED, &self.orders[slot], reason)
            e.session = c.session      # the answer goes to whoever asked, not the order's session
        else:
            e = self.emit_command(EV_CANCEL_REJECTED, c, order_id, reason)
        memcpy(e.clordid, c.clordid, CLORDID_LEN)
        memcpy(e.orig_clordid, c.orig_clordid, CLORDID_LEN)
        return 0

    cdef int transition(self, EOrder* o, int lc_event) except -1:
        cdef int nxt = self.lifecycle[o.state][lc_event]
        if nxt < 0:
            raise _lifecycle.IllegalTransition(_lifecycle.OrderState(o.state),
                                               _lifecycle.LifecycleEvent(lc_event))
        o.state = nxt
        return 0

    cdef int push_followup(self, int64_t kind, int64_t order_id) except -1:
        cdef int64_t* grown
        if self.n_followups == self.followups_cap:
            grown = <int64_t*>PyMem_Realloc(self.followups, 4 * self.followups_cap * sizeof(int64_t))
            if grown == NULL:
                raise MemoryError()
            self.followups = grown
            self.followups_cap *= 2
        self.followups[2 * self.n_followups] = kind
        self.followups[2 * self.n_followups + 1] = order_id
        self.n_followups += 1
        return 0

    # ------------------------------------------------------------------ money and holds

    cdef int64_t hold_for(self, EInstrument* ins, int64_t price, int64_t qty) noexcept:
        cdef i128 x = ceil_div(scaled(price, qty, ins.mult), ins.div)
        cdef int64_t bps = ins.maker_bps if ins.maker_bps > ins.taker_bps else ins.taker_bps
        if x > <i128>0x7FFFFFFFFFFFFFFF:
            return 0x7FFFFFFFFFFFFFFF      # no account can hold this much: reject, never wrap
        return sat64(x + ceil_div(x * bps, 10000))

    cdef int set_hold(self, EOrder* o) except -1:
        """Re-derive the order's hold from its leaves (and keep open quantities in step)."""
        cdef EInstrument* ins = &self.instr[o.instrument]
        cdef int64_t k = o.account * self.n_cur + ins.currency, new
        if o.side == 1:
            new = self.hold_for(ins, o.hold_price, o.leaves)
            self.cash_avail[k] -= new - o.hold_cash
            self.cash_held[k] += new - o.hold_cash
            o.hold_cash = new
        elif not self.acct_short[o.account]:
            self.pos_held[o.account * self.n_instr + o.instrument] += o.leaves - o.hold_qty
            o.hold_qty = o.leaves
        return 0

    cdef inline int set_leaves(self, EOrder* o, int64_t leaves) except -1:
        cdef int64_t k = o.account * self.n_instr + o.instrument
        if o.side == 1:
            self.open_buy[k] += leaves - o.leaves
        else:
            self.open_sell[k] += leaves - o.leaves
        o.leaves = leaves
        return self.set_hold(o)

    cdef inline int64_t notional(self, EInstrument* ins, int64_t px, int64_t q) noexcept:
        return sat64(div128(scaled(px, q, ins.mult), ins.div))

    cdef int book_position(self, int32_t a, int32_t i, int64_t px, int64_t delta) except -1:
        """Position, cost basis and realized P&L for a signed fill of `delta` at `px`."""
        cdef EInstrument* ins = &self.instr[i]
        cdef int64_t k = a * self.n_instr + i
        cdef int64_t p = self.pos[k], r, removed, n_r, rest, mag = delta if delta > 0 else -delta
        cdef int64_t sign = 1 if delta > 0 else -1
        cdef int64_t abs_p = p if p > 0 else -p
        if p == 0 or (p > 0) == (delta > 0):
            self.cost[k] += sign * self.notional(ins, px, mag)
            self.pos[k] = p + delta
            return 0
        r = mag if mag < abs_p else abs_p
        # cost * r / |p| truncated toward zero (C division), magnitude taken below
        removed = <int64_t>((<i128>self.cost[k] * r) / abs_p)
        n_r = self.notional(ins, px, r)
        if p > 0:
            self.realized[k] += n_r - removed
        else:
            self.realized[k] += (-removed) - n_r
        self.cost[k] -= removed
        self.pos[k] = p + sign * r
        rest = mag - r
        if rest > 0:
            self.cost[k] += sign * self.notional(ins, px, rest)
            self.pos[k] += sign * rest
        return 0

    cdef int fill(self, int32_t slot, int64_t px, int64_t q, uint8_t liq, int64_t other) except -1:
        cdef EOrder* o = &self.orders[slot]
        cdef EInstrument* ins = &self.instr[o.instrument]
        cdef int64_t k = o.account * self.n_cur + ins.currency
        cdef int64_t n = self.notional(ins, px, q)
        cdef int64_t fee = <int64_t>div128(<i128>n * (ins.maker_bps if liq == LIQ_MAKER else ins.taker_bps), 10000)
        cdef EEvent* e
        self.fees[ins.currency] += fee
        o.cum_qty += q
        o.px_qty += <i128>px * q
        self.set_leaves(o, o.leaves - q)
        if o.side == 1:
            self.cash_avail[k] -= n + fee
            self.book_position(o.account, o.instrument, px, q)
        else:
            self.cash_avail[k] += n - fee
            self.book_position(o.account, o.instrument, px, -q)
        ins.last_px = px
        ins.last_ts = self.cmd.ts_ns
        self.mark_traded(o.instrument)
        self.transition(o, LC_FILL if o.leaves == 0 else LC_PARTIAL_FILL)
        e = self.emit_order(EV_TRADE, o, 0)
        e.last_px = px
        e.last_qty = q
        e.fee = fee
        e.liquidity = liq
        e.other_order_id = other
        if (o.flags & F_OCO) and o.link:
            self.dissolve_oco(o)
        if o.leaves == 0:
            o.in_book = False
            self.retire(slot)
        return 0

    cdef inline void mark_traded(self, int32_t instrument) noexcept:
        """Remember that stops on this instrument need a look once the command settles."""
        if not self.instr[instrument].traded:
            self.instr[instrument].traded = True
            self.touched[self.n_touched] = instrument
            self.n_touched += 1

    cdef int dissolve_oco(self, EOrder* o) except -1:
        cdef int32_t sib = idmap_find(&self.index, o.link)
        if sib != NONE:
            self.orders[sib].link = 0
        self.push_followup(FU_CANCEL_OCO, o.link)
        o.link = 0
        return 0

    cdef int retire(self, int32_t slot) except -1:
        """Forget an order that has ended: queue its follow-ups, free its slot."""
        cdef EOrder* o = &self.orders[slot]
        cdef int32_t parent
        cdef EInstrument* ins
        if (o.flags & F_OCO) and o.link:
            self.dissolve_oco(o)
        if o.oto_child:
            self.push_followup(FU_RELEASE_CHILD if o.state == ST_FILLED else FU_CANCEL_CHILD,
                               o.oto_child)
            o.oto_child = 0
        if (o.flags & F_OTO) and o.link:
            parent = idmap_find(&self.index, o.link)
            if parent != NONE:
                self.orders[parent].oto_child = 0
            o.link = 0
        if o.stop_prev != NONE or self.instr[o.instrument].stop_head == slot:
            self.unlink_stop(slot)
        idmap_del(&self.index, o.id)
        o.id = 0                       # marks the slot free for scans
        o.next_free = self.free_order
        self.free_order = slot
        self.live_orders -= 1
        return 0

    cdef int end_order(self, int32_t slot, int lc_event, uint8_t kind, uint16_t reason) except -1:
        cdef EOrder* o = &self.orders[slot]
        self.transition(o, lc_event)
        self.set_leaves(o, 0)
        self.emit_order(kind, o, reason)
        self.retire(slot)
        return 0

    cdef int cancel_order(self, int32_t slot, uint8_t kind, int lc_event, uint16_t reason) except -1:
        """Engine-initiated end of a live or pending order (cancel, expiry, kill switch...)."""
        cdef EOrder* o = &self.orders[slot]
        if o.in_book:
            self.book.cancel_c(o.id)     # its CANCELLED stays in the book's stream for market data
            o.in_book = False
        return self.end_order(slot, lc_event, kind, reason)

    # ------------------------------------------------------------------ stops

    cdef int link_stop(self, int32_t slot) except -1:
        cdef EOrder* o = &self.orders[slot]
        cdef EInstrument* ins = &self.instr[o.instrument]
        o.stop_next = NONE
        o.stop_prev = ins.stop_tail
        if ins.stop_tail != NONE:
            self.orders[ins.stop_tail].stop_next = slot
        else:
            ins.stop_head = slot
        ins.stop_tail = slot
        return 0

    cdef int unlink_stop(self, int32_t slot) except -1:
        cdef EOrder* o = &self.orders[slot]
        cdef EInstrument* ins = &self.instr[o.instrument]
        if o.stop_prev != NONE:
            self.orders[o.stop_prev].stop_next = o.stop_next
        else:
            ins.stop_head = o.stop_next
        if o.stop_next != NONE:
            self.orders[o.stop_next].stop_prev = o.stop_prev
        else:
            ins.stop_tail = o.stop_prev
        o.stop_prev = NONE
        o.stop_next = NONE
        return 0

    cdef int32_t triggerable(self) noexcept:
        """The pending stop with the lowest id whose trigger holds, among traded instruments."""
        cdef int32_t t, slot, best = NONE
        cdef EInstrument* ins
        cdef EOrder* o
        for t in range(self.n_touched):
            ins = &self.instr[self.touched[t]]
            if ins.stop_head == NONE or ins.last_px == 0:
                continue
            slot = ins.stop_head
            while slot != NONE:
                o = &self.orders[slot]
                if (o.side == 1 and ins.last_px >= o.stop_price) or (o.side == 2 and ins.last_px <= o.stop_price):
                    if best == NONE or o.id < self.orders[best].id:
                        best = slot
                    break
                slot = o.stop_next
        return best

    cdef int trigger(self, int32_t slot) except -1:
        cdef EOrder* o = &self.orders[slot]
        self.unlink_stop(slot)
        self.transition(o, LC_TRIGGER)
        self.emit_order(EV_TRIGGERED, o, 0)
        return self.enter_book(slot, False)

    # ------------------------------------------------------------------ book

    cdef int enter_book(self, int32_t slot, bint emit_new) except -1:
        cdef EOrder* o = &self.orders[slot]
        cdef EInstrument* ins = &self.instr[o.instrument]
        cdef Command bc
        cdef int64_t b0 = self.book.n_events
        cdef int r
        cdef int32_t sib
        memset(&bc, 0, sizeof(Command))
        bc.instrument = o.instrument
        bc.order_id = o.id
        bc.side = o.side
        bc.qty = o.leaves
        bc.display = o.display
        bc.owner = o.account + 1
        bc.stp = o.stp
        bc.flags = 1 if (o.flags & F_POST_ONLY) else 0
        if o.ord_type == OT_LIMIT or o.ord_type == OT_STOP_LIMIT:
            bc.op = B_LIMIT
            bc.price = o.price
        else:
            bc.op = B_MARKET
            if o.ord_type == OT_STOP and o.side == 2:
                bc.price = at_least(ceil_to_tick(<int64_t>ceil_div(<i128>o.stop_price * (10000 - ins.band_bps), 10000), ins.tick), ins.tick)
            else:
                bc.price = o.hold_price        # market: protection; buy stop: within its hold
        bc.tif = BOOK_IOC if o.tif == TIF_IOC else (BOOK_FOK if o.tif == TIF_FOK else BOOK_GTC)
        r = self.book.new_order(&bc)
        if r != B_OK:
            self.book.n_events = b0          # the book is unchanged; its REJECTED is ours to report
            if emit_new:
                if (o.flags & F_OCO) and o.link:
                    # rejected on entry: it never became a leg, so its would-be sibling stays
                    sib = idmap_find(&self.index, o.link)
                    if sib != NONE:
                        self.orders[sib].link = 0
                    o.link = 0
                return self.end_order(slot, LC_REJECT, EV_REJECTED,
                                      R_POST_ONLY_WOULD_TAKE if r == B_POST_ONLY else R_BOOK_FULL)
            return self.end_order(slot, LC_CANCEL, EV_CANCELLED,
                                  R_POST_ONLY_WOULD_TAKE if r == B_POST_ONLY else R_BOOK_FULL)
        if emit_new:
            self.transition(o, LC_ACCEPT)
            self.emit_order(EV_NEW, o, 0)
        return self.process_book(b0, self.book.n_events)

    cdef int process_book(self, int64_t b0, int64_t b1) except -1:
        """Turn the book events [b0, b1) of one book operation into engine state and events."""
        cdef Event e
        cdef int32_t taker, maker
        cdef int64_t i
        cdef EOrder* o
        cdef EEvent* ev
        cdef uint16_t reason
        for i in range(b0, b1):
            e = self.book.events[i]
            if e.kind == B_FILL:
                taker = idmap_find(&self.index, e.order_id)
                maker = idmap_find(&self.index, e.other_id)
                self.fill(taker, e.price, e.qty, LIQ_TAKER, e.other_id)
                self.fill(maker, e.price, e.qty, LIQ_MAKER, e.order_id)
            elif e.kind == B_RESTED:
                self.orders[idmap_find(&self.index, e.order_id)].in_book = True
            elif e.kind == B_CANCELLED:
                taker = idmap_find(&self.index, e.order_id)
                self.orders[taker].in_book = False
                reason = (R_IOC_REMAINDER if e.reason == B_IOC else
                          R_FOK_UNFILLABLE if e.reason == B_FOK else R_SELF_TRADE)
                self.end_order(taker, LC_CANCEL, EV_CANCELLED, reason)
            elif e.kind == B_REDUCED and e.reason == B_SELF_TRADE:
                taker = idmap_find(&self.index, e.order_id)
                o = &self.orders[taker]
                o.qty -= e.qty
                self.set_leaves(o, o.leaves - e.qty)
                self.transition(o, LC_RESTATE)
                ev = self.emit_order(EV_RESTATED, o, R_SELF_TRADE)
                ev.last_qty = e.qty
        return 0

    # ------------------------------------------------------------------ NEW_ORDER

    cdef int throttled(self, ECommand* c) noexcept:
        cdef ESession* s = &self.sess[c.session]
        cdef i128 cap, t
        cdef int64_t dt
        if s.rate <= 0:
            return False
        cap = <i128>s.rate * 1000000000
        dt = c.ts_ns - s.last_ts
        if dt > 0:
            t = s.tokens_ns + <i128>dt * s.rate
            s.tokens_ns = t if t < cap else cap
            s.last_ts = c.ts_ns
        if s.tokens_ns < 1000000000:
            return True
        s.tokens_ns -= 1000000000
        return False

    cdef bint reference(self, EInstrument* ins, int64_t* ref, int64_t* ref_ts) noexcept:
        if ins.last_px and (not ins.ref_px or ins.last_ts >= ins.ref_ts):
            ref[0], ref_ts[0] = ins.last_px, ins.last_ts
            return True
        if ins.ref_px:
            ref[0], ref_ts[0] = ins.ref_px, ins.ref_ts
            return True
        return False

    cdef uint16_t check_terms(self, EInstrument* ins, uint8_t ord_type, int64_t price,
                              int64_t stop_price, int64_t qty) noexcept:
        """Checks 8 and 9 (without display) for an order type and its terms."""
        if ord_type == OT_LIMIT or ord_type == OT_STOP_LIMIT:
            if price <= 0:
                return R_INVALID_PRICE
            if price % ins.tick:
                return R_PRICE_OFF_TICK
        elif price != 0:
            return R_INVALID_PRICE
        if ord_type == OT_STOP or ord_type == OT_STOP_LIMIT:
            if stop_price <= 0 or stop_price % ins.tick:
                return R_INVALID_STOP_PRICE
        elif stop_price != 0:
            return R_INVALID_STOP_PRICE
        if qty <= 0:
            return R_INVALID_QTY
        if qty % ins.lot:
            return R_QTY_OFF_LOT
        if qty < ins.min_qty:
            return R_QTY_BELOW_MIN
        if ins.max_qty and qty > ins.max_qty:
            return R_QTY_ABOVE_MAX
        return R_OK

    cdef uint16_t check_collar(self, EInstrument* ins, uint8_t ord_type, int64_t price) noexcept:
        cdef int64_t ref, ref_ts, diff
        if (ord_type == OT_LIMIT or ord_type == OT_STOP_LIMIT) and ins.band_bps > 0 \
                and self.reference(ins, &ref, &ref_ts):
            diff = price - ref if price > ref else ref - price
            if <i128>diff * 10000 > <i128>ins.band_bps * ref:
                return R_PRICE_OUTSIDE_COLLAR
        return R_OK

    cdef int64_t hold_price_of(self, EInstrument* ins, uint8_t ord_type, uint8_t side,
                               int64_t price, int64_t stop_price) noexcept:
        if ord_type == OT_STOP:
            if side == 1:
                return at_least(floor_to_tick(sat64((<i128>stop_price * (10000 + ins.band_bps)) // 10000), ins.tick), ins.tick)
            return stop_price
        return price

    cdef uint16_t order_checks(self, ECommand* c, int32_t* link_slot, int64_t* hold_price) noexcept:
        """NEW_ORDER checks 3-14 (the contract's order; the throttle takes its token here):
        R_OK with the link's slot and the hold price, or the first failing reason."""
        cdef int32_t sess = c.session, acct = c.account, inst = c.instrument
        cdef int64_t ref, ref_ts, protection = 0, limit, k, hold
        cdef uint16_t r
        cdef EInstrument* ins
        cdef EOrder* o
        link_slot[0] = NONE
        if self.sess[sess].kill:
            return R_SESSION_KILL_SWITCH
        if self.throttled(c):
            return R_THROTTLED
        if acct < 0 or acct >= self.n_acct:
            return R_UNKNOWN_ACCOUNT
        if not self.sess_acct_ok[sess * self.n_acct + acct]:
            return R_ACCOUNT_NOT_PERMITTED
        if self.acct_kill[acct]:
            return R_ACCOUNT_KILL_SWITCH
        if inst < 0 or inst >= self.n_instr:
            return R_UNKNOWN_INSTRUMENT
        if not self.acct_instr_ok[acct * self.n_instr + inst]:
            return R_ACCOUNT_NOT_PERMITTED
        ins = &self.instr[inst]
        if ins.status == 1:
            return R_INSTRUMENT_HALTED
        if ins.status == 2:
            return R_INSTRUMENT_CLOSED
        if c.side != 1 and c.side != 2:
            return R_INVALID_SIDE
        if c.ord_type < OT_MARKET or c.ord_type > OT_STOP_LIMIT:
            return R_INVALID_ORDER_TYPE
        if c.tif != TIF_DAY and c.tif != TIF_GTC and c.tif != TIF_IOC and c.tif != TIF_FOK and c.tif != TIF_GTD:
            return R_INVALID_TIF
        if c.tif == TIF_GTD and (c.ord_type == OT_MARKET or c.ord_type == OT_STOP):
            return R_INVALID_TIF
        if c.tif == TIF_GTD and c.expire_ts_ns <= c.ts_ns:
            return R_INVALID_EXPIRY
        if c.stp > 4:
            return R_INVALID_ORDER_TYPE
        r = self.check_terms(ins, c.ord_type, c.price, c.stop_price, c.qty)
        if r:
            return r
        if c.display < 0 or c.display % ins.lot or c.display > c.qty:
            return R_INVALID_DISPLAY
        if c.flags & (F_OCO | F_OTO):
            link_slot[0] = idmap_find(&self.index, c.link) if c.link > 0 else NONE
            if link_slot[0] == NONE or self.orders[link_slot[0]].account != acct:
                link_slot[0] = NONE
                return R_UNKNOWN_ORDER
            o = &self.orders[link_slot[0]]
            if ((c.flags & F_OCO) and (c.flags & F_OTO)) \
                    or (c.flags & F_OCO and ((o.flags & F_OCO and o.link) or o.oto_child or (o.flags & F_OTO))) \
                    or (c.flags & F_OTO and (o.oto_child or (o.flags & F_OCO and o.link))) \
                    or (c.flags & F_OTO and c.ord_type != OT_LIMIT):
                link_slot[0] = NONE
                return R_INVALID_ORDER_TYPE
        r = self.check_collar(ins, c.ord_type, c.price)
        if r:
            return r
        if c.ord_type == OT_MARKET:
            if not self.reference(ins, &ref, &ref_ts) or c.ts_ns - ref_ts > ins.ref_max_age_ns:
                return R_NO_FRESH_REFERENCE
            if c.side == 1:
                protection = floor_to_tick(sat64((<i128>ref * (10000 + ins.band_bps)) // 10000), ins.tick)
            else:
                protection = ceil_to_tick(<int64_t>ceil_div(<i128>ref * (10000 - ins.band_bps), 10000), ins.tick)
            protection = at_least(protection, ins.tick)
            hold_price[0] = protection
        else:
            hold_price[0] = self.hold_price_of(ins, c.ord_type, c.side, c.price, c.stop_price)
        if ins.max_notional and self.notional(ins, hold_price[0], c.qty) > ins.max_notional:
            return R_NOTIONAL_ABOVE_MAX
        k = acct * self.n_instr + inst
        limit = self.max_pos[k]
        if limit:
            if (c.side == 1 and self.pos[k] + self.open_buy[k] + c.qty > limit) or \
                    (c.side == 2 and self.pos[k] - self.open_sell[k] - c.qty < -limit):
                return R_POSITION_LIMIT
        if c.side == 1:
            hold = self.hold_for(ins, hold_price[0], c.qty)
            if self.cash_avail[acct * self.n_cur + ins.currency] < hold:
                return R_INSUFFICIENT_BUYING_POWER
        elif not self.acct_short[acct] and self.pos[k] - self.pos_held[k] < c.qty:
            return R_INSUFFICIENT_POSITION
        return R_OK

    cdef int new_order(self, ECommand* c) except -1:
        cdef int32_t sess = c.session, link_slot
        cdef int64_t oid, hold_price = 0
        cdef uint16_t r
        if sess < 0 or sess >= self.n_sess:
            return self.reject_new(c, 0, R_ACCOUNT_NOT_PERMITTED)
        if self.cl_find(sess, c.clordid) != -1:
            return self.reject_new(c, 0, R_DUPLICATE_CLORDID)
        oid = self.next_order_id
        self.next_order_id += 1
        self.cl_put(sess, c.clordid, oid)
        r = self.order_checks(c, &link_slot, &hold_price)
        if r:
            return self.reject_new(c, oid, r)
        return self.create_order(c, oid, link_slot, hold_price)

    cdef int create_order(self, ECommand* c, int64_t oid, int32_t link_slot,
                          int64_t hold_price) except -1:
        """An order that passed its checks: a slot (or BOOK_FULL), then pending or the book."""
        cdef int32_t slot, inst = c.instrument
        cdef EOrder* o
        if self.free_order != NONE:
            slot = self.free_order
            self.free_order = self.orders[slot].next_free
        elif self.high_water < self.max_orders:
            slot = self.high_water
            self.high_water += 1
        else:
            return self.reject_new(c, oid, R_BOOK_FULL)
        o = &self.orders[slot]
        self.live_orders += 1
        memset(o, 0, sizeof(EOrder))
        o.id = oid
        o.price = c.price
        o.stop_price = c.stop_price
        o.qty = c.qty
        o.display = c.display
        o.expire_ts = c.expire_ts_ns if c.tif == TIF_GTD else 0
        o.hold_price = hold_price
        o.session = c.session
        o.account = c.account
        o.instrument = inst
        o.side = c.side
        o.ord_type = c.ord_type
        o.tif = c.tif
        o.state = ST_PENDING_NEW
        o.flags = c.flags & (F_POST_ONLY | F_OCO | F_OTO)
        o.stp = c.stp
        o.stop_prev = NONE
        o.stop_next = NONE
        memcpy(o.clordid, c.clordid, CLORDID_LEN)
        idmap_put(&self.index, oid, slot)
        self.set_leaves(o, c.qty)
        if link_slot != NONE:
            o.link = c.link
            if c.flags & F_OCO:
                self.orders[link_slot].link = oid
                self.orders[link_slot].flags |= F_OCO
            else:
                self.orders[link_slot].oto_child = oid
        if c.ord_type == OT_STOP or c.ord_type == OT_STOP_LIMIT or (c.flags & F_OTO):
            self.transition(o, LC_PARK)
            self.emit_order(EV_PENDING_TRIGGER, o, 0)
            if not (c.flags & F_OTO):
                self.link_stop(slot)
                self.mark_traded(inst)     # a stop placed beyond the last trade triggers at once
            return 0
        return self.enter_book(slot, True)

    # ------------------------------------------------------------------ order-addressed commands

    cdef int32_t resolve(self, ECommand* c, int64_t* order_id, uint16_t* reason) except -2:
        """The live order a CANCEL/REPLACE/STATUS_REQUEST names, or NONE with the reason."""
        cdef int32_t slot
        cdef int64_t oid
        if c.order_id != 0:
            slot = idmap_find(&self.index, c.order_id) if c.order_id > 0 else NONE
            if slot == NONE or (c.session != ADMIN and
                                not self.sess_acct_ok[c.session * self.n_acct + self.orders[slot].account]):
                order_id[0] = 0         # not live, or not yours: say nothing about it
                reason[0] = R_UNKNOWN_ORDER
                return NONE
            order_id[0] = c.order_id
            return slot
        oid = self.cl_find(c.session, c.orig_clordid)
        if oid <= 0:
            order_id[0] = 0
            reason[0] = R_UNKNOWN_ORDER
            return NONE
        order_id[0] = oid
        slot = idmap_find(&self.index, oid)
        if slot == NONE:
            reason[0] = R_ORDER_DONE
        return slot

    cdef inline bint session_ok(self, int32_t session) noexcept:
        return session == ADMIN or (0 <= session < self.n_sess)

    cdef int cancel_cmd(self, ECommand* c) except -1:
        cdef int64_t oid
        cdef uint16_t reason = 0
        cdef int32_t slot
        cdef EOrder* o
        cdef EEvent* e
        cdef char old[CLORDID_LEN]
        if not self.session_ok(c.session):
            return self.cancel_reject(c, 0, R_ACCOUNT_NOT_PERMITTED)
        if self.cl_find(c.session, c.clordid) != -1:
            return self.cancel_reject(c, 0, R_DUPLICATE_CLORDID)
        slot = self.resolve(c, &oid, &reason)
        self.cl_put(c.session, c.clordid, oid if slot != NONE or reason == R_ORDER_DONE else 0)
        if slot == NONE:
            return self.cancel_reject(c, oid, reason)
        o = &self.orders[slot]
        memcpy(old, o.clordid, CLORDID_LEN)
        memcpy(o.clordid, c.clordid, CLORDID_LEN)
        self.cancel_order(slot, EV_CANCELLED, LC_CANCEL, R_USER_CANCEL)
        memcpy(self.events[self.n_events - 1].orig_clordid, old, CLORDID_LEN)
        return 0

    cdef int replace_cmd(self, ECommand* c) except -1:
        cdef int64_t oid, new_hold_price, new_leaves, delta, k, new_hold, b0
        cdef uint16_t reason = 0
        cdef int32_t slot
        cdef int r
        cdef EOrder* o
        cdef EInstrument* ins
        if not self.session_ok(c.session):
            return self.cancel_reject(c, 0, R_ACCOUNT_NOT_PERMITTED)
        if self.cl_find(c.session, c.clordid) != -1:
            return self.cancel_reject(c, 0, R_DUPLICATE_CLORDID)
        if c.session != ADMIN and self.throttled(c):
            self.cl_put(c.session, c.clordid, 0)
            return self.cancel_reject(c, 0, R_THROTTLED)
        slot = self.resolve(c, &oid, &reason)
        self.cl_put(c.session, c.clordid, oid if slot != NONE or reason == R_ORDER_DONE else 0)
        if slot == NONE:
            return self.cancel_reject(c, oid, reason)
        o = &self.orders[slot]
        ins = &self.instr[o.instrument]
        reason = self.check_terms(ins, o.ord_type, c.price, c.stop_price, c.qty)
        if not reason and c.qty <= o.cum_qty:
            reason = R_QTY_NOT_ABOVE_FILLED
        if not reason:
            reason = self.check_collar(ins, o.ord_type, c.price)
        new_hold_price = self.hold_price_of(ins, o.ord_type, o.side, c.price, c.stop_price)
        if not reason and ins.max_notional and self.notional(ins, new_hold_price, c.qty) > ins.max_notional:
            reason = R_NOTIONAL_ABOVE_MAX
        new_leaves = c.qty - o.cum_qty
        delta = new_leaves - o.leaves
        k = o.account * self.n_instr + o.instrument
        if not reason and delta > 0 and self.max_pos[k]:
            if (o.side == 1 and self.pos[k] + self.open_buy[k] + delta > self.max_pos[k]) or \
                    (o.side == 2 and self.pos[k] - self.open_sell[k] - delta < -self.max_pos[k]):
                reason = R_POSITION_LIMIT
        if not reason:
            if o.side == 1:
                new_hold = self.hold_for(ins, new_hold_price, new_leaves)
                if new_hold > o.hold_cash and \
                        self.cash_avail[o.account * self.n_cur + ins.currency] < new_hold - o.hold_cash:
                    reason = R_INSUFFICIENT_BUYING_POWER
            elif not self.acct_short[o.account] and delta > 0 and self.pos[k] - self.pos_held[k] < delta:
                reason = R_INSUFFICIENT_POSITION
        b0 = self.book.n_events
        if not reason and o.in_book:
            r = self.book.replace_c(o.id, c.price, new_leaves)
            if r != B_OK:
                self.book.n_events = b0
                reason = R_POST_ONLY_WOULD_TAKE if r == B_POST_ONLY else R_BOOK_FULL
        if reason:
            return self.cancel_reject(c, oid, reason)
        self.take_terms(o, c.clordid, c.price, c.stop_price, c.qty, new_leaves, new_hold_price)
        if o.state == ST_PENDING_TRIGGER:
            if not (o.flags & F_OTO):
                self.mark_traded(o.instrument)
            return 0
        return self.process_book(b0, self.book.n_events)

    cdef int take_terms(self, EOrder* o, const char* clordid, int64_t price, int64_t stop_price,
                        int64_t qty, int64_t leaves, int64_t hold_price) except -1:
        """A replace (REPLACE, or QUOTE of a live side) that the book took: the order takes the
        new ClOrdID and terms, and one REPLACED event names the ClOrdID it had."""
        cdef char old[CLORDID_LEN]
        cdef EEvent* e
        memcpy(old, o.clordid, CLORDID_LEN)
        memcpy(o.clordid, clordid, CLORDID_LEN)
        o.price = price
        o.stop_price = stop_price
        o.qty = qty
        o.hold_price = hold_price
        self.set_leaves(o, leaves)
        self.transition(o, LC_REPLACE)
        e = self.emit_order(EV_REPLACED, o, 0)
        memcpy(e.orig_clordid, old, CLORDID_LEN)
        return 0

    cdef int quote_cmd(self, ECommand* c) except -1:
        """QUOTE (core/commands.py): CANCEL of the previous side then NEW_ORDER (LIMIT DAY), with
        the previous side changed in place (one REPLACED event) when it is live and the new side
        passes; qty 0 is a CANCEL.  The contract's QUOTE paragraph (engine.pyi) is the spec."""
        cdef int32_t sess = c.session, prev = NONE, link_slot
        cdef int64_t oid, poid = 0, hold_price = 0, b0
        cdef uint16_t r, reason = 0
        cdef int rb
        cdef EOrder* o = NULL
        cdef ECommand n
        if c.qty == 0:
            return self.cancel_cmd(c)
        if sess < 0 or sess >= self.n_sess:
            return self.reject_new(c, 0, R_ACCOUNT_NOT_PERMITTED)
        if self.cl_find(sess, c.clordid) != -1:
            return self.reject_new(c, 0, R_DUPLICATE_CLORDID)
        if c.order_id != 0 or c.orig_clordid[0] != 0:      # no name: no previous side
            prev = self.resolve(c, &poid, &reason)
        oid = self.next_order_id
        self.next_order_id += 1
        memcpy(&n, c, sizeof(ECommand))
        n.kind = K_NEW_ORDER
        n.ord_type = OT_LIMIT
        n.tif = TIF_DAY
        n.stop_price = n.display = n.expire_ts_ns = n.link = n.order_id = 0
        n.flags = c.flags & F_POST_ONLY
        if prev != NONE:
            o = &self.orders[prev]
            self.set_leaves(o, 0)     # checked as if cancelled: its open quantity and hold freed
        r = self.order_checks(&n, &link_slot, &hold_price)
        if not r and prev != NONE and o.in_book and o.session == sess \
                and o.account == n.account and o.instrument == n.instrument \
                and o.side == n.side and o.ord_type == OT_LIMIT and o.tif == TIF_DAY \
                and o.display == 0 and (o.flags & F_POST_ONLY) == n.flags and o.stp == n.stp \
                and not (o.flags & F_OTO) and o.link == 0 and o.oto_child == 0:
            # (F_OCO stays set on a leg whose link dissolved: link == 0 is what says unlinked)
            b0 = self.book.n_events
            rb = self.book.replace_c(o.id, n.price, n.qty)
            if rb == B_OK:
                self.cl_put(sess, c.clordid, o.id)
                self.take_terms(o, c.clordid, n.price, o.stop_price, o.cum_qty + n.qty, n.qty,
                                hold_price)
                return self.process_book(b0, self.book.n_events)
            self.book.n_events = b0
            r = R_POST_ONLY_WOULD_TAKE if rb == B_POST_ONLY else R_BOOK_FULL
        self.cl_put(sess, c.clordid, oid)
        if prev != NONE:
            self.cancel_order(prev, EV_CANCELLED, LC_CANCEL, R_USER_CANCEL)
            memcpy(self.events[self.n_events - 1].orig_clordid, c.clordid, CLORDID_LEN)
        if r:
            return self.reject_new(&n, oid, r)
        return self.create_order(&n, oid, NONE, hold_price)

    cdef int status_request(self, ECommand* c) except -1:
        cdef int64_t oid
        cdef uint16_t reason = 0
        cdef int32_t slot
        if not self.session_ok(c.session):
            return self.cancel_reject(c, 0, R_ACCOUNT_NOT_PERMITTED)
        slot = self.resolve(c, &oid, &reason)
        if slot == NONE:
            return self.cancel_reject(c, oid, reason)
        self.emit_order(EV_ORDER_STATUS, &self.orders[slot], 0)
        return 0

    cdef int end_matching(self, int64_t* pairs, int64_t n, uint8_t kind, int lc_event,
                          uint16_t reason) except -1:
        """End the orders named by (sort key, order id) pairs, in key order; returns how many."""
        cdef int64_t i, count = 0
        cdef int32_t slot
        qsort(pairs, n, 2 * sizeof(int64_t), cmp_i64_pair)
        for i in range(n):
            slot = idmap_find(&self.index, pairs[2 * i + 1])
            if slot != NONE:
                self.cancel_order(slot, kind, lc_event, reason)
                count += 1
        return count

    cdef int sweep(self, int mode, int32_t a, int32_t b, uint8_t kind, int lc_event,
                   uint16_t reason) except -1:
        """Collect live orders by a filter and end them in order-id (or expiry) order.

        mode 0: session == a and (b < 0 or instrument == b); 1: account == a (same b filter);
        2: b < 0 or instrument == b, of accounts session a may trade (admin session: all);
        4: instrument == a and tif DAY; 5: GTD with expire_ts <= timer ts."""
        cdef int64_t* pairs = <int64_t*>PyMem_Malloc((self.high_water + 1) * 2 * sizeof(int64_t))
        cdef int64_t n = 0, count
        cdef int32_t slot
        cdef EOrder* o
        cdef bint take
        if pairs == NULL:
            raise MemoryError()
        try:
            for slot in range(self.high_water):
                o = &self.orders[slot]
                if o.id == 0:
                    continue
                if mode == 0:
                    take = o.session == a and (b < 0 or o.instrument == b)
                elif mode == 1:
                    take = o.account == a and (b < 0 or o.instrument == b)
                elif mode == 2:
                    take = (b < 0 or o.instrument == b) and \
                        (a == ADMIN or self.sess_acct_ok[a * self.n_acct + o.account]) != 0
                elif mode == 4:
                    take = o.instrument == a and o.tif == TIF_DAY
                else:
                    take = o.tif == TIF_GTD and o.expire_ts <= self.cmd.ts_ns
                if take:
                    pairs[2 * n] = o.expire_ts if mode == 5 else o.id
                    pairs[2 * n + 1] = o.id
                    n += 1
            count = self.end_matching(pairs, n, kind, lc_event, reason)
        finally:
            PyMem_Free(pairs)
        return count

    cdef int64_t target_of(self, ECommand* c) noexcept:
        """The session a SESSION-scope command is about: the admin's target_session - 1; any
        other actor (and an admin command without a target) is about the actor itself.  Only the
        admin's is read: journals from before the sequencer zeroed padding may hold garbage
        there in trading sessions' records, and the admin listener always built zeroed rows."""
        if c.session == ADMIN and c.target_session != 0:
            return <int64_t>c.target_session - 1
        return c.session

    cdef int mass_cancel(self, ECommand* c) except -1:
        cdef int count = 0
        cdef int32_t s = c.session
        cdef int64_t t
        cdef EEvent* e
        if not self.session_ok(s):
            return 0
        if c.instrument < -1 or c.instrument >= self.n_instr:
            return 0
        if c.scope == SC_SESSION:
            t = self.target_of(c)
            if s == ADMIN and c.target_session != 0 and not 0 <= t < self.n_sess:
                return 0
            if 0 <= t < self.n_sess:
                count = self.sweep(0, <int32_t>t, c.instrument, EV_CANCELLED, LC_CANCEL, R_MASS_CANCEL)
        elif c.scope == SC_ACCOUNT:
            if 0 <= c.account < self.n_acct and (s == ADMIN or self.sess_acct_ok[s * self.n_acct + c.account]):
                count = self.sweep(1, c.account, c.instrument, EV_CANCELLED, LC_CANCEL, R_MASS_CANCEL)
            elif not 0 <= c.account < self.n_acct:
                return 0
        elif c.scope == SC_INSTRUMENT or c.scope == SC_ALL:
            if c.scope == SC_INSTRUMENT and not 0 <= c.instrument < self.n_instr:
                return 0
            count = self.sweep(2, s, c.instrument if c.scope == SC_INSTRUMENT else -1,
                               EV_CANCELLED, LC_CANCEL, R_MASS_CANCEL)
        else:
            return 0
        e = self.emit(EV_MASS_CANCEL_DONE)
        e.qty = count
        e.session = s
        e.account = c.account
        e.instrument = c.instrument
        memcpy(e.clordid, c.clordid, CLORDID_LEN)
        return 0

    cdef int kill_switch(self, ECommand* c) except -1:
        cdef int64_t t
        cdef bint on = (c.flags & F_ON) != 0
        if c.scope == SC_ACCOUNT and 0 <= c.account < self.n_acct:
            self.acct_kill[c.account] = on
            if on:
                self.sweep(1, c.account, -1, EV_CANCELLED, LC_CANCEL, R_KILL_SWITCH_CANCEL)
        elif c.scope == SC_SESSION:
            t = self.target_of(c)
            if not 0 <= t < self.n_sess:
                return 0
            self.sess[t].kill = on
            if on:
                self.sweep(0, <int32_t>t, -1, EV_CANCELLED, LC_CANCEL, R_KILL_SWITCH_CANCEL)
        return 0

    cdef int admin_reject(self, ECommand* c, uint16_t reason) except -1:
        cdef EEvent* e = self.emit(EV_ADMIN_REJECTED)
        e.session = c.session
        e.account = c.account
        e.instrument = c.instrument
        e.other_order_id = <int64_t>c.target_session - 1
        e.ord_type = c.status
        e.qty = c.qty
        e.reason = reason
        memcpy(e.clordid, c.clordid, CLORDID_LEN)
        return 0

    cdef int set_limit(self, ECommand* c) except -1:
        cdef int64_t v = c.qty, prev, t = <int64_t>c.target_session - 1
        cdef int64_t* cell
        cdef EInstrument* ins
        cdef ESession* ss
        cdef EEvent* e
        cdef i128 cap
        if c.session != ADMIN:
            return self.admin_reject(c, R_NOT_ADMIN)
        if c.status < LIM_MAX_POSITION or c.status > LIM_THROTTLE:
            return self.admin_reject(c, R_UNKNOWN_LIMIT)
        if c.status == LIM_THROTTLE:
            if not 0 <= t < self.n_sess:
                return self.admin_reject(c, R_UNKNOWN_SESSION)
        else:
            if c.status == LIM_MAX_POSITION and not 0 <= c.account < self.n_acct:
                return self.admin_reject(c, R_UNKNOWN_ACCOUNT)
            if not 0 <= c.instrument < self.n_instr:
                return self.admin_reject(c, R_UNKNOWN_INSTRUMENT)
        if v < 0:
            return self.admin_reject(c, R_INVALID_LIMIT_VALUE)
        if c.status == LIM_THROTTLE:
            ss = &self.sess[t]
            prev = ss.rate
            if prev > 0 and c.ts_ns > ss.last_ts:       # bring the bucket up to now, old rate
                cap = <i128>prev * 1000000000
                ss.tokens_ns = ss.tokens_ns + <i128>(c.ts_ns - ss.last_ts) * prev
                if ss.tokens_ns > cap:
                    ss.tokens_ns = cap
                ss.last_ts = c.ts_ns
            ss.rate = v
            cap = <i128>v * 1000000000
            if v == 0:
                ss.tokens_ns = 0
                ss.last_ts = 0
            elif prev == 0:
                ss.tokens_ns = cap                     # full at start, as at start-up
                ss.last_ts = c.ts_ns
            elif ss.tokens_ns > cap:
                ss.tokens_ns = cap
        elif c.status == LIM_MAX_POSITION:
            cell = &self.max_pos[c.account * self.n_instr + c.instrument]
            prev = cell[0]
            cell[0] = v
        else:
            ins = &self.instr[c.instrument]
            if c.status == LIM_MAX_ORDER_QTY:
                if v and (v % ins.lot or v < ins.min_qty):
                    return self.admin_reject(c, R_INVALID_LIMIT_VALUE)
                prev = ins.max_qty
                ins.max_qty = v
            elif c.status == LIM_MAX_NOTIONAL:
                prev = ins.max_notional
                ins.max_notional = v
            elif c.status == LIM_COLLAR_BPS:
                if v > 10000:
                    return self.admin_reject(c, R_INVALID_LIMIT_VALUE)
                prev = ins.band_bps
                ins.band_bps = v
            else:
                prev = ins.ref_max_age_ns
                ins.ref_max_age_ns = v
        e = self.emit(EV_LIMIT_SET)
        e.session = c.session
        e.account = c.account
        e.instrument = c.instrument
        e.other_order_id = t
        e.ord_type = c.status
        e.qty = v
        e.last_qty = prev
        memcpy(e.clordid, c.clordid, CLORDID_LEN)
        return 0

    cdef int disconnect(self, ECommand* c) except -1:
        cdef int64_t t = <int64_t>c.target_session - 1
        cdef EEvent* e
        if c.session != ADMIN:
            return self.admin_reject(c, R_NOT_ADMIN)
        if not 0 <= t < self.n_sess:
            return self.admin_reject(c, R_UNKNOWN_SESSION)
        e = self.emit(EV_DISCONNECT)
        e.session = <int32_t>t
        e.other_order_id = t
        e.reason = R_DISCONNECT
        memcpy(e.clordid, c.clordid, CLORDID_LEN)
        memcpy(e.orig_clordid, c.orig_clordid, CLORDID_LEN)     # the operator's reason text
        return 0

    cdef int set_status(self, ECommand* c) except -1:
        cdef EInstrument* ins
        cdef EEvent* e
        if not (0 <= c.instrument < self.n_instr and c.status <= 2):
            return 0
        ins = &self.instr[c.instrument]
        if ins.status != c.status:      # the event precedes what a close expires
            e = self.emit(EV_STATUS_CHANGED)
            e.session = c.session
            e.instrument = c.instrument
            e.qty = c.status
            e.last_qty = ins.status
            memcpy(e.clordid, c.clordid, CLORDID_LEN)
            ins.status = c.status
        if c.status == 2:
            self.sweep(4, c.instrument, -1, EV_EXPIRED, LC_EXPIRE, R_SESSION_CLOSE)
        return 0

    # ------------------------------------------------------------------ the loop

    cdef int settle(self) except -1:
        """Run follow-ups, then stop triggers, until neither has anything left."""
        cdef int64_t fi = 0, kind, target
        cdef int32_t slot, i
        cdef EOrder* o
        while True:
            if fi < self.n_followups:
                kind = self.followups[2 * fi]
                target = self.followups[2 * fi + 1]
                fi += 1
                slot = idmap_find(&self.index, target)
                if slot == NONE:
                    continue
                o = &self.orders[slot]
                if kind == FU_CANCEL_OCO:
                    self.cancel_order(slot, EV_CANCELLED, LC_CANCEL, R_OCO_SIBLING)
                elif kind == FU_CANCEL_CHILD:
                    self.cancel_order(slot, EV_CANCELLED, LC_CANCEL, R_OTO_PARENT_ENDED)
                elif o.state == ST_PENDING_TRIGGER:
                    o.link = 0
                    self.transition(o, LC_TRIGGER)
                    self.emit_order(EV_TRIGGERED, o, 0)
                    self.enter_book(slot, False)
                continue
            slot = self.triggerable()
            if slot == NONE:
                break
            self.trigger(slot)
        self.n_followups = 0
        for i in range(self.n_touched):
            self.instr[self.touched[i]].traded = False
        self.n_touched = 0
        return 0

    cdef int apply_c(self, ECommand* c) except -1:
        cdef int k = c.kind
        cdef int32_t i
        self.cmd = c
        if k == K_NEW_ORDER:
            self.new_order(c)
        elif k == K_CANCEL:
            self.cancel_cmd(c)
        elif k == K_REPLACE:
            self.replace_cmd(c)
        elif k == K_QUOTE:
            self.quote_cmd(c)
        elif k == K_MASS_CANCEL:
            self.mass_cancel(c)
        elif k == K_SET_STATUS:
            self.set_status(c)
        elif k == K_REFERENCE_PRICE:
            if 0 <= c.instrument < self.n_instr and c.price > 0:
                self.instr[c.instrument].ref_px = c.price
                self.instr[c.instrument].ref_ts = c.ts_ns
        elif k == K_KILL_SWITCH:
            self.kill_switch(c)
        elif k == K_TIMER:
            self.sweep(5, 0, -1, EV_EXPIRED, LC_EXPIRE, R_GTD_EXPIRED)
        elif k == K_STATUS_REQUEST:
            self.status_request(c)
        elif k == K_SET_LIMIT:
            self.set_limit(c)
        elif k == K_DISCONNECT:
            self.disconnect(c)
        elif k == K_PURGE_CLORDIDS:
            self.purge_clordids(c)
        return self.settle()

    # ------------------------------------------------------------------ Python API

    def apply(self, cnp.ndarray commands not None):
        if commands.dtype != COMMAND_DTYPE:
            raise TypeError(f"commands must have dtype COMMAND_DTYPE, not {commands.dtype}")
        if not commands.flags.c_contiguous:
            raise ValueError("commands must be C-contiguous")
        cdef ECommand* c = <ECommand*>cnp.PyArray_DATA(commands)
        cdef Py_ssize_t i, n = commands.shape[0]
        cdef int64_t before = self.n_events
        for i in range(n):
            if i + CL_AHEAD < n:
                self.cl_prefetch(&c[i + CL_AHEAD])
            self.apply_c(&c[i])
        return self.n_events - before

    def apply_timed(self, cnp.ndarray commands not None, cnp.ndarray latency_ns not None):
        """apply(), recording each command's latency (CLOCK_MONOTONIC, ns; the clock reads are
        included) and draining events before each command as a consumer would."""
        if commands.dtype != COMMAND_DTYPE or latency_ns.dtype != np.int64:
            raise TypeError("commands must be COMMAND_DTYPE and latency_ns int64")
        if latency_ns.shape[0] < commands.shape[0] or not latency_ns.flags.c_contiguous \
                or not commands.flags.c_contiguous:
            raise ValueError("latency_ns must be C-contiguous and as long as commands")
        cdef ECommand* c = <ECommand*>cnp.PyArray_DATA(commands)
        cdef int64_t* lat = <int64_t*>cnp.PyArray_DATA(latency_ns)
        cdef Py_ssize_t i, n = commands.shape[0]
        cdef timespec t0, t1
        for i in range(n):
            self.n_events = 0
            self.book.n_events = 0
            clock_gettime(CLOCK_MONOTONIC, &t0)
            self.apply_c(&c[i])
            clock_gettime(CLOCK_MONOTONIC, &t1)
            lat[i] = (t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec)
        return n

    def events_array(self):
        # over a bytearray copy: np.empty of this aligned struct dtype costs several times more
        # (~1 us for the engine's, per order on the order path)
        return np.frombuffer(PyByteArray_FromStringAndSize(
            <char*>self.events, self.n_events * sizeof(EEvent)), EVENT_DTYPE)

    def take_events(self):
        out = self.events_array().tolist()
        self.clear_events()
        return out

    def clear_events(self):
        self.n_events = 0
        self.book.clear_events()

    @property
    def event_count(self):
        return self.n_events

    @property
    def order_count(self):
        return self.live_orders

    def order(self, int64_t order_id):
        cdef int32_t slot = idmap_find(&self.index, order_id)
        if slot == NONE:
            return None
        return self._order_dict(&self.orders[slot])

    cdef dict _order_dict(self, EOrder* o):
        return {"order_id": o.id, "session": o.session, "account": o.account,
                "instrument": o.instrument, "side": o.side, "ord_type": o.ord_type, "tif": o.tif,
                "price": o.price, "stop_price": o.stop_price, "qty": o.qty, "cum_qty": o.cum_qty,
                "leaves": o.leaves, "state": o.state, "hold_cash": o.hold_cash,
                "hold_qty": o.hold_qty, "expire_ts_ns": o.expire_ts,
                "clordid": o.clordid[:CLORDID_LEN].rstrip(b"\0"), "link": o.link,
                "oto_child": o.oto_child, "in_book": bool(o.in_book),
                "avg_px": int(o.px_qty // o.cum_qty) if o.cum_qty else 0}

    def account(self, int32_t account_id):
        if not 0 <= account_id < self.n_acct:
            raise KeyError(f"unknown account {account_id}")
        cash = {code: (self.cash_avail[account_id * self.n_cur + c], self.cash_held[account_id * self.n_cur + c])
                for c, code in enumerate(self.currencies)}
        positions = {}
        for i in range(self.n_instr):
            k = account_id * self.n_instr + i
            if self.pos[k] or self.pos_held[k] or self.cost[k] or self.realized[k]:
                positions[i] = (self.pos[k], self.pos_held[k], self.cost[k], self.realized[k])
        return {"cash": cash, "positions": positions, "kill_switch": bool(self.acct_kill[account_id])}

    def instrument_status(self, int32_t instrument):
        """0 open, 1 halted, 2 closed."""
        if not 0 <= instrument < self.n_instr:
            raise KeyError(f"unknown instrument {instrument}")
        return self.instr[instrument].status

    def unrealized_pnl(self, int32_t account_id, int32_t instrument, mark_px=None):
        """Unrealized P&L (cash increments) of a position at a mark price: the position's value at
        the mark minus its cost basis.  The mark defaults to the instrument's reference (the later
        of last trade and external reference); None when there is no mark."""
        cdef int64_t ref, ref_ts, mark, p, k
        if not 0 <= account_id < self.n_acct or not 0 <= instrument < self.n_instr:
            raise KeyError(f"unknown account {account_id} or instrument {instrument}")
        if mark_px is None:
            if not self.reference(&self.instr[instrument], &ref, &ref_ts):
                return None
            mark = ref
        else:
            mark = mark_px
        k = account_id * self.n_instr + instrument
        p = self.pos[k]
        value = self.notional(&self.instr[instrument], mark, p if p > 0 else -p)
        return (value if p >= 0 else -value) - self.cost[k]

    def _live_slots(self):
        cdef int32_t slot
        out = []
        for slot in range(self.high_water):
            if self.orders[slot].id:
                out.append((self.orders[slot].id, slot))
        out.sort()
        return [s for _, s in out]

    def state(self):
        cdef int32_t slot, i, a
        cdef EOrder* o
        orders = []
        for slot in self._live_slots():
            o = &self.orders[slot]
            orders.append((o.id, o.session, o.account, o.instrument, o.side, o.ord_type, o.tif,
                           o.price, o.stop_price, o.qty, o.cum_qty, o.leaves, o.state,
                           o.hold_cash, o.hold_qty, o.expire_ts, o.clordid[:CLORDID_LEN].rstrip(b"\0")))
        books = tuple((tuple(self.book.depth(i, 1, 1 << 30)), tuple(self.book.depth(i, 2, 1 << 30)))
                      for i in range(self.n_instr))
        accounts = []
        for a in range(self.n_acct):
            cash = tuple((code, self.cash_avail[a * self.n_cur + c], self.cash_held[a * self.n_cur + c])
                         for c, code in enumerate(self.currencies))
            pos = []
            for i in range(self.n_instr):
                k = a * self.n_instr + i
                if self.pos[k] or self.pos_held[k] or self.cost[k] or self.realized[k]:
                    pos.append((i, self.pos[k], self.pos_held[k], self.cost[k], self.realized[k]))
            accounts.append((cash, tuple(pos), bool(self.acct_kill[a])))
        fees = tuple((code, self.fees[c]) for c, code in enumerate(self.currencies) if self.fees[c])
        instruments = tuple((self.instr[i].status, self.instr[i].last_px, self.instr[i].last_ts,
                             self.instr[i].ref_px, self.instr[i].ref_ts) for i in range(self.n_instr))
        sessions = tuple((bool(self.sess[i].kill), int(self.sess[i].tokens_ns), self.sess[i].last_ts)
                         for i in range(self.n_sess))
        return (self.next_order_id, self.next_exec_id, tuple(orders), books, tuple(accounts), fees,
                instruments, sessions, self.limits(), self.cl_count)

    def limits(self):
        """The risk limits in force (SET_LIMIT changes them): (per instrument (max_qty,
        max_notional, band_bps, ref_max_age_ns), per account a tuple of max_position per
        instrument (qty increments, 0 = none), per session max orders per second)."""
        cdef int32_t i, a
        cdef EInstrument* ins
        instruments = []
        for i in range(self.n_instr):
            ins = &self.instr[i]
            instruments.append((ins.max_qty, ins.max_notional, ins.band_bps, ins.ref_max_age_ns))
        accounts = tuple(tuple(self.max_pos[a * self.n_instr + i] for i in range(self.n_instr))
                         for a in range(self.n_acct))
        return (tuple(instruments), accounts, tuple(self.sess[i].rate for i in range(self.n_sess)))

    def state_hash(self):
        return hashlib.blake2b(repr(self.state()).encode(), digest_size=16).hexdigest()

    def check_invariants(self):
        cdef int32_t a, c, i, slot
        cdef EOrder* o
        problems = []
        for c in range(len(self.currencies)):
            total = self.fees[c]
            for a in range(self.n_acct):
                total += self.cash_avail[a * self.n_cur + c] + self.cash_held[a * self.n_cur + c]
            if total != self.initial_cash[c]:
                problems.append(f"{self.currencies[c]}: cash+holds+fees {total} != {self.initial_cash[c]}")
        for i in range(self.n_instr):
            total = sum(self.pos[a * self.n_instr + i] for a in range(self.n_acct))
            if total != self.initial_pos[i]:
                problems.append(f"instrument {i}: positions sum {total} != {self.initial_pos[i]}")
        held_cash = {}
        held_qty = {}
        open_b = {}
        open_s = {}
        for slot in self._live_slots():
            o = &self.orders[slot]
            kc = (o.account, self.instr[o.instrument].currency)
            held_cash[kc] = held_cash.get(kc, 0) + o.hold_cash
            kq = (o.account, o.instrument)
            held_qty[kq] = held_qty.get(kq, 0) + o.hold_qty
            if o.side == 1:
                open_b[kq] = open_b.get(kq, 0) + o.leaves
            else:
                open_s[kq] = open_s.get(kq, 0) + o.leaves
            if o.hold_cash < 0 or o.hold_qty < 0:
                problems.append(f"order {o.id}: negative hold {o.hold_cash} / {o.hold_qty}")
            if o.leaves <= 0 or o.cum_qty + o.leaves > o.qty:
                problems.append(f"order {o.id}: qty {o.qty} cum {o.cum_qty} leaves {o.leaves}")
        for a in range(self.n_acct):
            for c in range(len(self.currencies)):
                if self.cash_held[a * self.n_cur + c] != held_cash.get((a, c), 0):
                    problems.append(f"account {a} {self.currencies[c]}: held {self.cash_held[a * self.n_cur + c]} != orders' holds {held_cash.get((a, c), 0)}")
                if self.cash_avail[a * self.n_cur + c] < 0:
                    problems.append(f"account {a} {self.currencies[c]}: available cash negative")
            for i in range(self.n_instr):
                k = a * self.n_instr + i
                if self.pos_held[k] != held_qty.get((a, i), 0):
                    problems.append(f"account {a} instrument {i}: held qty {self.pos_held[k]} != {held_qty.get((a, i), 0)}")
                if self.open_buy[k] != open_b.get((a, i), 0) or self.open_sell[k] != open_s.get((a, i), 0):
                    problems.append(f"account {a} instrument {i}: open quantities out of step")
        if problems:
            raise AssertionError("; ".join(problems))
        self.book.validate()

    # ------------------------------------------------------------------ snapshots

    def snapshot(self, seq):
        """The full engine state as bytes (format: see engine.pyi, Snapshots), stamped as covering
        journal sequence `seq` (every command up to it applied, none after).  Call it between
        commands; pending events are not part of the state."""
        cdef int64_t covered = operator.index(seq), i, na, nc, n_stops = 0
        cdef int32_t slot
        cdef EInstrument* ins
        cdef ESession* ss
        cdef int64_t* p
        if covered < 0:
            raise ValueError(f"seq must not be negative, got {covered}")
        if sys.byteorder != "little":
            raise SnapshotError("the snapshot format is little-endian; this machine is not")
        if self.snap_digest is None:
            self.snap_digest = refdata_digest(self.refdata)
        na = <int64_t>self.n_acct * self.n_cur
        nc = <int64_t>self.n_acct * self.n_instr
        for i in range(self.n_instr):
            slot = self.instr[i].stop_head
            while slot != NONE:
                n_stops += 1
                slot = self.orders[slot].stop_next
        w = _SnapWriter(covered, self.snap_digest, [
            (b"SCAL", 8, 11), (b"INST", 8, 5 * self.n_instr), (b"SESS", 8, 5 * self.n_sess),
            (b"CASH", 8, 2 * na), (b"POSN", 8, 6 * nc), (b"ACCT", 8, 2 * self.n_acct),
            (b"FEES", 8, 2 * self.n_cur + self.n_instr), (b"LIMT", 8, 4 * self.n_instr + nc),
            (b"ORDR", sizeof(SnapOrder), self.live_orders), (b"STPN", 8, self.n_instr),
            (b"STOP", 8, n_stops), (b"CLID", sizeof(SnapClordid), self.cl_count),
            (b"BOOK", sizeof(Resting), self.book.live_orders)])
        p = <int64_t*>w.section(0)
        p[0], p[1], p[2], p[3] = self.next_order_id, self.next_exec_id, self.max_orders, self.live_orders
        p[4], p[5], p[6], p[7] = self.book.live_orders, self.cl_count, self.cl_mask + 1, self.n_instr
        p[8], p[9], p[10] = self.n_acct, self.n_sess, self.n_cur
        p = <int64_t*>w.section(1)
        for i in range(self.n_instr):
            ins = &self.instr[i]
            p[5 * i], p[5 * i + 1], p[5 * i + 2] = ins.status, ins.last_px, ins.last_ts
            p[5 * i + 3], p[5 * i + 4] = ins.ref_px, ins.ref_ts
        p = <int64_t*>w.section(2)
        for i in range(self.n_sess):
            ss = &self.sess[i]
            p[5 * i], p[5 * i + 1] = ss.kill, <int64_t>(<uint64_t>ss.tokens_ns)
            p[5 * i + 2], p[5 * i + 3], p[5 * i + 4] = <int64_t>(ss.tokens_ns >> 64), ss.last_ts, ss.rate
        p = <int64_t*>w.section(3)
        memcpy(p, self.cash_avail, na * 8)
        memcpy(p + na, self.cash_held, na * 8)
        p = <int64_t*>w.section(4)
        memcpy(p, self.pos, nc * 8)
        memcpy(p + nc, self.pos_held, nc * 8)
        memcpy(p + 2 * nc, self.cost, nc * 8)
        memcpy(p + 3 * nc, self.realized, nc * 8)
        memcpy(p + 4 * nc, self.open_buy, nc * 8)
        memcpy(p + 5 * nc, self.open_sell, nc * 8)
        p = <int64_t*>w.section(5)
        for i in range(self.n_acct):
            p[2 * i], p[2 * i + 1] = self.acct_kill[i], self.acct_short[i]
        p = <int64_t*>w.section(6)
        memcpy(p, self.fees, self.n_cur * 8)
        memcpy(p + self.n_cur, self.initial_cash, self.n_cur * 8)
        memcpy(p + 2 * self.n_cur, self.initial_pos, self.n_instr * 8)
        p = <int64_t*>w.section(7)
        for i in range(self.n_instr):
            ins = &self.instr[i]
            p[4 * i], p[4 * i + 1] = ins.max_qty, ins.max_notional
            p[4 * i + 2], p[4 * i + 3] = ins.band_bps, ins.ref_max_age_ns
        memcpy(p + 4 * self.n_instr, self.max_pos, nc * 8)
        self.snap_orders(<SnapOrder*>w.section(8))
        p = <int64_t*>w.section(9)
        cdef int64_t* ids = <int64_t*>w.section(10)
        for i in range(self.n_instr):
            p[i] = 0
            slot = self.instr[i].stop_head
            while slot != NONE:
                ids[0] = self.orders[slot].id
                ids += 1
                p[i] += 1
                slot = self.orders[slot].stop_next
        self.snap_clordids(<SnapClordid*>w.section(11))
        self.book.export_resting_c(<Resting*>w.section(12))
        return w.finish()

    @classmethod
    def restore(cls, refdata, data, max_orders=None):
        """An engine in exactly the state snapshot() captured (see engine.pyi, Snapshots).
        SnapshotMismatch: made with other reference data; SnapshotError: unusable."""
        if sys.byteorder != "little":
            raise SnapshotError("the snapshot format is little-endian; this machine is not")
        header = snapshot_header(data)
        digest = refdata_digest(refdata)
        if header.refdata_digest != digest:
            raise SnapshotMismatch(
                f"snapshot of sequence {header.seq} was made with different reference data "
                f"(digest {header.refdata_digest.hex()}, the configured reference data has "
                f"{digest.hex()}): restore it with the reference data it was made with, or "
                f"replay the journal from the start")
        rd = _SnapReader(data, header.body_len)
        scal = rd.take(b"SCAL", 8, 11)
        (next_oid, next_exec, snap_max, live, book_live, cl_n, cl_cap,
         n_instr, n_acct, n_sess, n_cur) = scal.tolist()
        if max_orders is None:
            max_orders = snap_max
        if max(live, book_live) > max_orders:
            raise SnapshotError(f"snapshot of sequence {header.seq} holds {live} live orders "
                                f"({book_live} in the book): max_orders {max_orders} is too small")
        cdef Engine eng = cls(refdata, max_orders=max_orders)
        eng.snap_digest = digest
        if (n_instr, n_acct, n_sess, n_cur) != (eng.n_instr, eng.n_acct, eng.n_sess, eng.n_cur):
            raise SnapshotError(f"snapshot dimensions {(n_instr, n_acct, n_sess, n_cur)} do not "
                                f"match the engine's {(eng.n_instr, eng.n_acct, eng.n_sess, eng.n_cur)}")
        if next_oid < 1 or next_exec < 1:
            raise SnapshotError(f"snapshot counters out of range: next order id {next_oid}, "
                                f"next exec id {next_exec}")
        eng.next_order_id, eng.next_exec_id = next_oid, next_exec
        cdef int64_t i, na = <int64_t>n_acct * n_cur, nc = <int64_t>n_acct * n_instr
        cdef const int64_t[::1] v = rd.take(b"INST", 8, 5 * n_instr)
        for i in range(n_instr):
            if not 0 <= v[5 * i] <= 2:
                raise SnapshotError(f"instrument {i}: status {v[5 * i]} unknown")
            eng.instr[i].status = v[5 * i]
            eng.instr[i].last_px, eng.instr[i].last_ts = v[5 * i + 1], v[5 * i + 2]
            eng.instr[i].ref_px, eng.instr[i].ref_ts = v[5 * i + 3], v[5 * i + 4]
        v = rd.take(b"SESS", 8, 5 * n_sess)
        for i in range(n_sess):
            if v[5 * i + 2] < 0:
                raise SnapshotError(f"session {i}: negative token count")
            eng.sess[i].kill = v[5 * i] != 0
            eng.sess[i].tokens_ns = (<i128>v[5 * i + 2] << 64) | <i128>(<uint64_t>v[5 * i + 1])
            eng.sess[i].last_ts, eng.sess[i].rate = v[5 * i + 3], v[5 * i + 4]
        v = rd.take(b"CASH", 8, 2 * na)
        _i64_view(eng.cash_avail, na)[:] = v[:na]
        _i64_view(eng.cash_held, na)[:] = v[na:]
        v = rd.take(b"POSN", 8, 6 * nc)
        for i, p in enumerate(_posn_views(eng, nc)):
            p[:] = v[i * nc:(i + 1) * nc]
        v = rd.take(b"ACCT", 8, 2 * n_acct)
        for i in range(n_acct):
            eng.acct_kill[i], eng.acct_short[i] = v[2 * i] != 0, v[2 * i + 1] != 0
        v = rd.take(b"FEES", 8, 2 * n_cur + n_instr)
        _i64_view(eng.fees, n_cur)[:] = v[:n_cur]
        _i64_view(eng.initial_cash, n_cur)[:] = v[n_cur:2 * n_cur]
        _i64_view(eng.initial_pos, n_instr)[:] = v[2 * n_cur:]
        if header.version >= 2:         # version 1 has no LIMT: the reference data's limits
            lim = rd.take(b"LIMT", 8, 4 * n_instr + nc)
            if len(lim) and lim.min() < 0:
                raise SnapshotError(f"snapshot of sequence {header.seq}: a negative risk limit")
            for i in range(n_instr):
                if lim[4 * i] % eng.instr[i].lot:
                    raise SnapshotError(f"instrument {i}: max_qty {lim[4 * i]} off the lot")
                eng.instr[i].max_qty, eng.instr[i].max_notional = lim[4 * i], lim[4 * i + 1]
                eng.instr[i].band_bps, eng.instr[i].ref_max_age_ns = lim[4 * i + 2], lim[4 * i + 3]
            _i64_view(eng.max_pos, nc)[:] = lim[4 * n_instr:]
        orders = rd.take(b"ORDR", sizeof(SnapOrder), live)
        eng.load_orders(<const SnapOrder*>cnp.PyArray_DATA(orders), live)
        counts = rd.take(b"STPN", 8, n_instr)
        stops = rd.take(b"STOP", 8, None)
        eng.load_stops(<const int64_t*>cnp.PyArray_DATA(counts),
                       <const int64_t*>cnp.PyArray_DATA(stops), len(stops))
        clordids = rd.take(b"CLID", sizeof(SnapClordid), cl_n)
        eng.load_clordids(<const SnapClordid*>cnp.PyArray_DATA(clordids), cl_n, cl_cap)
        book = rd.take(b"BOOK", RESTING_DTYPE.itemsize, book_live).view(RESTING_DTYPE)
        rd.finish()
        try:
            eng.book.restore_resting_array(np.ascontiguousarray(book))
        except ValueError as e:
            raise SnapshotError(f"snapshot of sequence {header.seq}: book {e}") from None
        eng._check_book_links(book)
        return eng

    def _check_book_links(self, book):
        """Every order the engine has in the book rests there on the same terms, and only those."""
        cdef const Resting* r = <const Resting*>cnp.PyArray_DATA(book)
        cdef int64_t i, n = len(book), in_book = 0
        cdef int32_t slot
        cdef EOrder* o
        for slot in range(self.high_water):
            if self.orders[slot].id and self.orders[slot].in_book:
                in_book += 1
        if in_book != n:
            raise SnapshotError(f"snapshot inconsistent: {in_book} orders marked in the book, "
                                f"{n} rest there")
        for i in range(n):
            slot = idmap_find(&self.index, r[i].id)
            if slot == NONE:
                raise SnapshotError(f"snapshot inconsistent: resting order {r[i].id} is not live")
            o = &self.orders[slot]
            if (not o.in_book or o.instrument != r[i].instrument or o.side != r[i].side
                    or o.price != r[i].price or o.leaves != r[i].shown + r[i].hidden
                    or r[i].owner != o.account + 1 or o.stp != r[i].stp):
                raise SnapshotError(f"snapshot inconsistent: order {o.id} differs from its "
                                    f"resting entry in the book")

    cdef int64_t snap_orders(self, SnapOrder* out) except -1:
        """Live and pending orders in order-id order (slots are internal)."""
        cdef int64_t* pairs = <int64_t*>PyMem_Malloc((self.live_orders + 1) * 2 * sizeof(int64_t))
        cdef int64_t n = 0, i
        cdef int32_t slot
        cdef EOrder* o
        cdef SnapOrder* r
        if pairs == NULL:
            raise MemoryError()
        try:
            for slot in range(self.high_water):
                if self.orders[slot].id:
                    if n == self.live_orders:
                        raise AssertionError("engine: more occupied slots than live orders")
                    pairs[2 * n] = self.orders[slot].id
                    pairs[2 * n + 1] = slot
                    n += 1
            if n != self.live_orders:
                raise AssertionError(f"engine: {n} occupied slots, {self.live_orders} live orders")
            qsort(pairs, n, 2 * sizeof(int64_t), cmp_i64_pair)
            for i in range(n):
                if i + 8 < n:       # rows are read in id order, scattered over the slots
                    prefetch(&self.orders[pairs[2 * i + 17]])
                o = &self.orders[pairs[2 * i + 1]]
                r = &out[i]
                r.id, r.price, r.stop_price, r.qty = o.id, o.price, o.stop_price, o.qty
                r.cum_qty, r.leaves, r.display, r.expire_ts = o.cum_qty, o.leaves, o.display, o.expire_ts
                r.link, r.oto_child, r.hold_price = o.link, o.oto_child, o.hold_price
                r.hold_cash, r.hold_qty = o.hold_cash, o.hold_qty
                r.px_qty_lo = <uint64_t>o.px_qty
                r.px_qty_hi = <int64_t>(o.px_qty >> 64)
                r.session, r.account, r.instrument = o.session, o.account, o.instrument
                r.side, r.ord_type, r.tif, r.state = o.side, o.ord_type, o.tif, o.state
                r.flags, r.stp, r.in_book, r._pad = o.flags, o.stp, o.in_book, 0
                memcpy(r.clordid, o.clordid, CLORDID_LEN)
        finally:
            PyMem_Free(pairs)
        return n

    cdef int64_t snap_clordids(self, SnapClordid* out) noexcept:
        """The ClOrdID table's entries in arena (insertion) order.  The slots are always what
        inserting the arena in order into a table of this capacity gives (cl_put appends and
        places; cl_grow_to and purge_clordids re-place the arena in order), so restore() puts
        every entry back in its slot, and the arena in its order.  A sequential read: the slot
        order older builds wrote (also restorable, see restore) read the arena at random, ~50 ms
        of the loop per million entries."""
        cdef int64_t k
        cdef ClKey* key
        for k in range(self.cl_count):
            key = &self.cl_keys[k]
            out[k].order_id = key.order_id
            out[k].session = key.session
            memcpy(out[k].clordid, key.clordid, CLORDID_LEN)
        return self.cl_count

    cdef int load_orders(self, const SnapOrder* rows, int64_t n) except -1:
        cdef int64_t i, prev = 0
        cdef const SnapOrder* r
        cdef EOrder* o
        if n > self.max_orders:
            raise SnapshotError(f"snapshot holds {n} orders, max_orders is {self.max_orders}")
        for i in range(n):
            r = &rows[i]
            if r.id <= prev or r.id >= self.next_order_id:
                raise SnapshotError(f"snapshot order {i}: id {r.id} out of order or not yet issued")
            if not (0 <= r.session < self.n_sess and 0 <= r.account < self.n_acct
                    and 0 <= r.instrument < self.n_instr):
                raise SnapshotError(f"snapshot order {r.id}: session {r.session}, account "
                                    f"{r.account} or instrument {r.instrument} unknown")
            if (r.side != 1 and r.side != 2) or not OT_MARKET <= r.ord_type <= OT_STOP_LIMIT \
                    or r.state not in (ST_NEW, ST_PARTIALLY_FILLED, ST_PENDING_TRIGGER) \
                    or r.px_qty_hi < 0 or r.leaves <= 0:
                raise SnapshotError(f"snapshot order {r.id}: side {r.side}, type {r.ord_type}, "
                                    f"state {r.state} or quantities impossible for a live order")
            prev = r.id
            o = &self.orders[i]
            memset(o, 0, sizeof(EOrder))
            o.id, o.price, o.stop_price, o.qty = r.id, r.price, r.stop_price, r.qty
            o.cum_qty, o.leaves, o.display, o.expire_ts = r.cum_qty, r.leaves, r.display, r.expire_ts
            o.link, o.oto_child, o.hold_price = r.link, r.oto_child, r.hold_price
            o.hold_cash, o.hold_qty = r.hold_cash, r.hold_qty
            o.px_qty = (<i128>r.px_qty_hi << 64) | <i128>r.px_qty_lo
            o.session, o.account, o.instrument = r.session, r.account, r.instrument
            o.side, o.ord_type, o.tif, o.state = r.side, r.ord_type, r.tif, r.state
            o.flags, o.stp, o.in_book = r.flags, r.stp, r.in_book != 0
            o.stop_prev = NONE
            o.stop_next = NONE
            memcpy(o.clordid, r.clordid, CLORDID_LEN)
            idmap_put(&self.index, o.id, <int32_t>i)
        self.live_orders = <int32_t>n
        self.high_water = <int32_t>n
        self.free_order = NONE
        return 0

    cdef int load_stops(self, const int64_t* counts, const int64_t* ids, int64_t n_ids) except -1:
        """Pending stop lists in their saved order (order-id order, as the engine keeps them)."""
        cdef int64_t i, k, at = 0
        cdef int32_t slot
        cdef EOrder* o
        for i in range(self.n_instr):
            if counts[i] < 0 or counts[i] > n_ids - at:
                raise SnapshotError(f"snapshot stop lists: instrument {i} claims {counts[i]} stops")
            for k in range(counts[i]):
                slot = idmap_find(&self.index, ids[at])
                if slot == NONE:
                    raise SnapshotError(f"snapshot stop list of instrument {i}: order {ids[at]} is not live")
                o = &self.orders[slot]
                if o.instrument != i or o.state != ST_PENDING_TRIGGER or o.stop_prev != NONE \
                        or self.instr[i].stop_head == slot:
                    raise SnapshotError(f"snapshot stop list of instrument {i}: order {o.id} "
                                        f"cannot be a pending stop there (or is listed twice)")
                self.link_stop(slot)
                at += 1
        if at != n_ids:
            raise SnapshotError(f"snapshot stop lists: {n_ids} ids, counts add up to {at}")
        return 0

    cdef int load_clordids(self, const SnapClordid* rows, int64_t n, int64_t capacity) except -1:
        cdef int64_t k
        cdef const SnapClordid* r
        cdef ClKey* keys
        if capacity < 1024 or capacity & (capacity - 1) or 2 * n > capacity:
            raise SnapshotError(f"snapshot ClOrdID table: capacity {capacity} impossible for {n} entries")
        # the arena as large as the table allows (what the running engine had grown to; after a
        # PURGE_CLORDIDS the table is larger than its entries, and the day refills it without growing)
        keys = <ClKey*>PyMem_Malloc(max(n, capacity // 2, 512) * sizeof(ClKey))
        if keys == NULL:
            raise MemoryError()
        PyMem_Free(self.cl_keys)
        self.cl_keys = keys
        self.cl_keys_cap = max(n, capacity // 2, 512)
        self.cl_count = 0
        self.cl_grow_to(capacity)
        for k in range(n):
            r = &rows[k]
            if not (ADMIN <= r.session < self.n_sess) or not 0 <= r.order_id < self.next_order_id:
                raise SnapshotError(f"snapshot ClOrdID entry {k}: session {r.session} or order "
                                    f"id {r.order_id} out of range")
            if self.cl_find(r.session, r.clordid) != -1:
                raise SnapshotError(f"snapshot ClOrdID entry {k}: duplicate")
            # inserted in the snapshot's order -- arena order, or the slot order starting after
            # an empty slot that older builds wrote: either way linear probing puts each entry
            # back in its slot
            keys[k].order_id = r.order_id
            keys[k].session = r.session
            memcpy(keys[k].clordid, r.clordid, CLORDID_LEN)
            self.cl_place(<int32_t>k)
            self.cl_count += 1
        return 0


# ---------------------------------------------------------------------- snapshot format

SNAPSHOT_MAGIC = b"ORDXSNAP"
SNAPSHOT_VERSION = 2
_READABLE_VERSIONS = (1, 2)     # 1: without the LIMT section (limits as the reference data says)
_SNAP_HEADER = struct.Struct("<8sHHIqQ16s16x")     # magic, version, header size, flags, seq,
_SNAP_SECTION = struct.Struct("<4sIQ")              # body bytes, reference data digest; then
_SNAP_TRAILER = struct.Struct("<I")                 # sections (tag, item size, count, items), CRC32C

SnapshotHeader = namedtuple("SnapshotHeader", "version seq body_len refdata_digest")


class SnapshotError(ValueError):
    """A snapshot that cannot be used: truncated, damaged, another format, or inconsistent."""


class SnapshotMismatch(SnapshotError):
    """A valid snapshot made with different reference data than the engine is given."""


def _canonical(v):
    """A repr-stable form of reference data: sets and dicts sorted, decimals normalised, every
    dataclass field included (so a field added later is covered without touching this)."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return (type(v).__name__,) + tuple((f.name, _canonical(getattr(v, f.name)))
                                          for f in dataclasses.fields(v))
    if isinstance(v, dict):
        return ("dict",) + tuple(sorted((_canonical(k), _canonical(x)) for k, x in v.items()))
    if isinstance(v, (set, frozenset)):
        return ("set",) + tuple(sorted(_canonical(x) for x in v))
    if isinstance(v, (list, tuple)):
        return ("list",) + tuple(_canonical(x) for x in v)
    if isinstance(v, Decimal):
        return ("decimal", str(v.normalize()) if v else "0")
    if v is None or isinstance(v, (bool, int, str, bytes)):
        return v
    raise TypeError(f"reference data holds a {type(v).__name__}, which has no canonical form")


def refdata_digest(refdata):
    """blake2b-128 of the reference data's canonical form: what a snapshot must be restored with."""
    return hashlib.blake2b(repr(_canonical(refdata)).encode(), digest_size=16).digest()


def snapshot_header(data):
    """Check a snapshot's framing and CRC32C; its SnapshotHeader, or SnapshotError saying why not."""
    cdef Py_ssize_t size
    mv = memoryview(data).cast("B")
    size = len(mv)
    if size < _SNAP_HEADER.size + _SNAP_TRAILER.size:
        raise SnapshotError(f"snapshot truncated: {size} bytes, not even a header")
    magic, version, header_size, _flags, seq, body_len, digest = _SNAP_HEADER.unpack_from(mv)
    if magic != SNAPSHOT_MAGIC:
        raise SnapshotError(f"not a snapshot: magic {bytes(magic)!r}")
    if version not in _READABLE_VERSIONS or header_size != _SNAP_HEADER.size:
        raise SnapshotError(f"snapshot format version {version} (header {header_size} bytes): "
                            f"this build reads versions {', '.join(map(str, _READABLE_VERSIONS))}")
    if body_len != size - _SNAP_HEADER.size - _SNAP_TRAILER.size:
        raise SnapshotError(f"snapshot of sequence {seq} truncated or padded: its header promises "
                            f"{body_len} body bytes, the data holds "
                            f"{size - _SNAP_HEADER.size - _SNAP_TRAILER.size}")
    (stored,) = _SNAP_TRAILER.unpack_from(mv, size - _SNAP_TRAILER.size)
    actual = crc32c.crc32c(mv[:size - _SNAP_TRAILER.size])
    if stored != actual:
        raise SnapshotError(f"snapshot of sequence {seq} damaged: CRC32C {actual:#010x}, "
                            f"stored {stored:#010x}")
    return SnapshotHeader(version, seq, body_len, bytes(digest))


cdef class _SnapWriter:
    """Lays a snapshot out in one bytes object: the sizes are known before anything is written,
    so the state is copied once, straight into its place (a large snapshot is hundreds of MB)."""
    cdef bytes out
    cdef char* base
    cdef list offsets

    def __cinit__(self, int64_t seq, bytes digest, list sections):
        cdef Py_ssize_t at = _SNAP_HEADER.size, total
        self.offsets = []
        for tag, itemsize, count in sections:
            self.offsets.append((at, tag, itemsize, count))
            at += _SNAP_SECTION.size + itemsize * count
        total = at + _SNAP_TRAILER.size
        self.out = PyBytes_FromStringAndSize(NULL, total)
        self.base = PyBytes_AS_STRING(self.out)
        header = _SNAP_HEADER.pack(SNAPSHOT_MAGIC, SNAPSHOT_VERSION, _SNAP_HEADER.size, 0, seq,
                                   at - _SNAP_HEADER.size, digest)
        memcpy(self.base, <char*>header, len(header))
        for at, tag, itemsize, count in self.offsets:
            head = _SNAP_SECTION.pack(tag, itemsize, count)
            memcpy(self.base + at, <char*>head, len(head))

    cdef char* section(self, int k) except NULL:
        cdef Py_ssize_t at = self.offsets[k][0] + _SNAP_SECTION.size
        return self.base + at

    cdef bytes finish(self):
        cdef Py_ssize_t size = len(self.out) - _SNAP_TRAILER.size
        cdef uint32_t crc = crc32c.crc32c(memoryview(self.out)[:size])
        memcpy(self.base + size, &crc, 4)        # little-endian, as the header fields
        return self.out


class _SnapReader:
    """Walks the sections of a checked snapshot, in the order the format fixes."""

    def __init__(self, data, body_len):
        self.mv = memoryview(data).cast("B")
        self.at = _SNAP_HEADER.size
        self.end = _SNAP_HEADER.size + body_len

    def take(self, tag, itemsize, count):
        if self.at + _SNAP_SECTION.size > self.end:
            raise SnapshotError(f"snapshot ends before section {tag.decode()}")
        got_tag, got_size, got_count = _SNAP_SECTION.unpack_from(self.mv, self.at)
        if got_tag != tag or got_size != itemsize or (count is not None and got_count != count):
            raise SnapshotError(f"snapshot section {bytes(got_tag)!r} ({got_count} x {got_size} "
                                f"bytes) where {tag.decode()} ({count} x {itemsize}) belongs")
        start = self.at + _SNAP_SECTION.size
        stop = start + got_count * itemsize
        if stop > self.end:
            raise SnapshotError(f"snapshot section {tag.decode()} runs past the end of the data")
        self.at = stop
        out = np.frombuffer(self.mv[start:stop], dtype=np.int64 if itemsize == 8 else np.uint8)
        # Rows are read through C pointers: give them an aligned private copy when needed.
        return out if out.ctypes.data % 8 == 0 else out.copy()

    def finish(self):
        if self.at != self.end:
            raise SnapshotError(f"snapshot has {self.end - self.at} unexpected bytes after its sections")


cdef object _i64_view(int64_t* p, int64_t n):
    """A numpy view of n int64s of engine memory (valid while the engine lives)."""
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    return np.asarray(<int64_t[:n]>p)


cdef list _posn_views(Engine eng, int64_t nc):
    return [_i64_view(eng.pos, nc), _i64_view(eng.pos_held, nc), _i64_view(eng.cost, nc),
            _i64_view(eng.realized, nc), _i64_view(eng.open_buy, nc), _i64_view(eng.open_sell, nc)]
