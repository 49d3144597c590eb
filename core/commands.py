"""Engine commands: one fixed binary layout for every command kind.

This is the unit the sequencer stamps (seq, ts_ns), the journal stores and the engine applies; the
compiled engine mirrors it as a C struct (ext/engine.pxd) and checks the two agree at import.
Unused fields are zero.  ClOrdIDs are at most CLORDID_LEN bytes (ASCII), NUL padded.

Actor and target.  `session` is always who sent the command (ADMIN_SESSION for operators and the
server itself).  A command about another session names it in `target_session` as session id + 1
(`target()`); 0 there means "no target".  The field sits in what was the struct's tail padding,
which the sequencer now journals as zeros, and the engine reads it from the admin session's
commands only: a trading session's KILL_SWITCH / MASS_CANCEL with scope SESSION acts on that
session itself, as every record journaled before the field existed does (some, built from
tuples before the sequencer zeroed padding, hold garbage there).
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

CLORDID_LEN = 24


class CommandKind(IntEnum):
    NEW_ORDER = 1       # session, account, instrument, clordid, side, ord_type, tif, price, stop_price,
                        # qty, display, expire_ts_ns, flags, stp, link (OCO/OTO: linked order id)
    CANCEL = 2          # session, clordid, orig_clordid or order_id
    REPLACE = 3         # session, clordid, orig_clordid or order_id, price, stop_price, qty
    MASS_CANCEL = 4     # session, scope, account (ACCOUNT scope) / target session (SESSION scope,
                        # see target_session), instrument (-1 = any)
    SET_STATUS = 5      # instrument, status (0 open, 1 halted, 2 closed: DAY orders expire)
    REFERENCE_PRICE = 6  # instrument, price (external reference, e.g. from feeds/), ts_ns
    KILL_SWITCH = 7     # scope (ACCOUNT or SESSION), account / target session (see target_session),
                        # flags & Flag.ON: on, else off
    TIMER = 8           # ts_ns: GTD orders with expire_ts_ns <= ts_ns expire
    STATUS_REQUEST = 9  # session, orig_clordid or order_id: an ORDER_STATUS event, nothing changes
    SET_LIMIT = 10      # session (actor: ADMIN_SESSION only), status = the Limit, its target
                        # (account + instrument / instrument / target_session, see Limit), qty = the
                        # new value on the integer grid; a LIMIT_SET or ADMIN_REJECTED event
    DISCONNECT = 11     # session (actor: ADMIN_SESSION only), target_session, orig_clordid = reason
                        # text (ASCII, at most CLORDID_LEN bytes): a DISCONNECT event;
                        # gateways log that session out.  No engine state changes.
    PURGE_CLORDIDS = 12  # session (actor: ADMIN_SESSION only), clordid (the operator's tag): a new
                        # trading day for ClOrdID uniqueness -- the engine forgets every
                        # (session, clordid) that names no live or pending order, so they may be
                        # used again; a CLORDIDS_PURGED or ADMIN_REJECTED event
    QUOTE = 13          # session, account, instrument, side, price, qty = the side's new OPEN
                        # quantity, clordid, flags (POST_ONLY), stp, and the previous side by
                        # orig_clordid or order_id (neither: none): a market maker's requote of
                        # one side, a LIMIT DAY order (ord_type, tif, stop_price, display,
                        # expire_ts_ns, link are not read).  CANCEL of the previous side then
                        # NEW_ORDER, except that a live previous side the new one may replace
                        # is changed in place: one REPLACED event; qty 0 is a CANCEL.  The
                        # contract (ext/engine.pyi, QUOTE) says exactly how.
                        # A kind, not a flag on REPLACE: its qty means open quantity, not total,
                        # it may create an order, and it carries NEW_ORDER's fields -- a REPLACE
                        # flag would make REPLACE's qty modal and every journal reader (audit,
                        # inspect, replay tools) would read a quote as a FIX replace.  No journal
                        # written before it holds kind 13, so old journals replay unchanged.


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrdType(IntEnum):
    MARKET = 1
    LIMIT = 2
    STOP = 3            # stop-market
    STOP_LIMIT = 4


class Tif(IntEnum):      # FIX TimeInForce values
    DAY = 0
    GTC = 1
    IOC = 3
    FOK = 4
    GTD = 6


class Scope(IntEnum):    # MASS_CANCEL / KILL_SWITCH target
    SESSION = 1
    ACCOUNT = 2
    INSTRUMENT = 3
    ALL = 4


class Flag(IntEnum):     # bits of `flags`
    POST_ONLY = 1
    OCO = 2             # `link` names the other leg: a fill or end of either cancels the other
    OTO = 4             # `link` names the parent: this child waits until the parent is filled
    ON = 8              # KILL_SWITCH: on


class Stp(IntEnum):      # self-trade prevention by account (same values as the book's Stp)
    NONE = 0
    CANCEL_RESTING = 1
    CANCEL_INCOMING = 2
    CANCEL_BOTH = 3
    DECREMENT_AND_CANCEL = 4


class Limit(IntEnum):    # SET_LIMIT: which risk limit (`status`), its target and the unit of `qty`
    MAX_POSITION = 1    # account + instrument: |position + open orders| in qty increments, 0 = none
    MAX_ORDER_QTY = 2   # instrument: fat-finger order size in qty increments (a multiple of the
                        # lot, at least min_qty), 0 = none
    MAX_NOTIONAL = 3    # instrument: fat-finger order notional in cash increments, 0 = none
    COLLAR_BPS = 4      # instrument: price collar half-width in bps of the reference, 0..10000
    REF_MAX_AGE = 5     # instrument: how old (ns) a market order's reference may be
    THROTTLE = 6        # target_session: NEW_ORDER + REPLACE per second, 0 = unthrottled


ADMIN_SESSION = -1       # operations: may act on any account/session


def target(session_id: int) -> int:
    """The `target_session` encoding of a session id: id + 1, so that 0 (what the sequencer's
    zeroed padding gives records written before the field existed) means "none"."""
    return session_id + 1


COMMAND_DTYPE = np.dtype([
    ("seq", "<i8"), ("ts_ns", "<i8"), ("order_id", "<i8"), ("price", "<i8"), ("stop_price", "<i8"),
    ("qty", "<i8"), ("display", "<i8"), ("expire_ts_ns", "<i8"), ("link", "<i8"),
    ("session", "<i4"), ("account", "<i4"), ("instrument", "<i4"),
    ("kind", "u1"), ("side", "u1"), ("ord_type", "u1"), ("tif", "u1"), ("flags", "u1"),
    ("stp", "u1"), ("scope", "u1"), ("status", "u1"),
    ("clordid", f"S{CLORDID_LEN}"), ("orig_clordid", f"S{CLORDID_LEN}"),
    ("target_session", "<i4"),
], align=True)


def command(kind: int, **fields) -> np.ndarray:
    """A one-row COMMAND_DTYPE array (tests, tools); unspecified fields are zero."""
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"] = kind
    for k, v in fields.items():
        row[k] = v.encode() if isinstance(v, str) else v
    return row
