"""Reject and cancel reasons, grouped by subsystem, and their FIX mapping.

The engine returns these numbers in its events (result codes in the hot path); gateways turn them
into FIX OrdRejReason(103) / CxlRejReason(102) + Text(58), or binary reject codes.
"""
from __future__ import annotations

from enum import IntEnum


class Reason(IntEnum):
    OK = 0
    # --- validation (1xx)
    UNKNOWN_INSTRUMENT = 100
    INVALID_SIDE = 101
    INVALID_ORDER_TYPE = 102
    INVALID_TIF = 103
    INVALID_PRICE = 104
    PRICE_OFF_TICK = 105
    INVALID_QTY = 106
    QTY_OFF_LOT = 107
    QTY_BELOW_MIN = 108
    QTY_ABOVE_MAX = 109
    INVALID_STOP_PRICE = 110
    INVALID_DISPLAY = 111
    INVALID_EXPIRY = 112
    DUPLICATE_CLORDID = 113
    UNKNOWN_ACCOUNT = 114
    ACCOUNT_NOT_PERMITTED = 115
    # --- market state (2xx)
    INSTRUMENT_HALTED = 200
    INSTRUMENT_CLOSED = 201
    # --- pre-trade risk (3xx)
    INSUFFICIENT_BUYING_POWER = 300
    INSUFFICIENT_POSITION = 301
    POSITION_LIMIT = 302
    NOTIONAL_ABOVE_MAX = 303
    PRICE_OUTSIDE_COLLAR = 304
    NO_FRESH_REFERENCE = 305
    ACCOUNT_KILL_SWITCH = 306
    SESSION_KILL_SWITCH = 307
    THROTTLED = 308
    # --- book (4xx)
    POST_ONLY_WOULD_TAKE = 400
    BOOK_FULL = 401
    # --- order-addressed requests (5xx)
    UNKNOWN_ORDER = 500
    ORDER_DONE = 501
    QTY_NOT_ABOVE_FILLED = 502
    # --- why an order ended (6xx), carried by cancel / expire events
    USER_CANCEL = 600
    MASS_CANCEL = 601
    KILL_SWITCH_CANCEL = 602
    IOC_REMAINDER = 603
    FOK_UNFILLABLE = 604
    SELF_TRADE = 605
    SESSION_CLOSE = 606
    GTD_EXPIRED = 607
    OCO_SIBLING = 608
    OTO_PARENT_ENDED = 609
    DISCONNECT = 610
    # --- operations commands (7xx): SET_LIMIT / DISCONNECT / PURGE_CLORDIDS refused
    NOT_ADMIN = 700             # only the admin session may change limits, disconnect sessions
                                # or purge ClOrdIDs
    UNKNOWN_LIMIT = 701         # the Limit selector is not one of core.commands.Limit
    UNKNOWN_SESSION = 702       # the target session does not exist
    INVALID_LIMIT_VALUE = 703   # negative, off the lot, below min_qty, or a collar above 100 %


# FIX OrdRejReason (tag 103) for order rejects; 99 = Other.
_ORD_REJ = {
    Reason.UNKNOWN_INSTRUMENT: 1, Reason.INSTRUMENT_CLOSED: 2, Reason.INSTRUMENT_HALTED: 2,
    Reason.POSITION_LIMIT: 3, Reason.NOTIONAL_ABOVE_MAX: 3, Reason.INSUFFICIENT_BUYING_POWER: 3,
    Reason.INSUFFICIENT_POSITION: 3, Reason.QTY_ABOVE_MAX: 3, Reason.DUPLICATE_CLORDID: 6,
    Reason.UNKNOWN_ORDER: 5, Reason.NO_FRESH_REFERENCE: 8, Reason.INVALID_ORDER_TYPE: 11,
    Reason.INVALID_TIF: 11, Reason.POST_ONLY_WOULD_TAKE: 11, Reason.INVALID_QTY: 13,
    Reason.QTY_OFF_LOT: 13, Reason.QTY_BELOW_MIN: 13, Reason.UNKNOWN_ACCOUNT: 15,
    Reason.ACCOUNT_NOT_PERMITTED: 15, Reason.PRICE_OFF_TICK: 18, Reason.INVALID_PRICE: 18,
    Reason.PRICE_OUTSIDE_COLLAR: 0, Reason.ACCOUNT_KILL_SWITCH: 0, Reason.SESSION_KILL_SWITCH: 0,
    Reason.THROTTLED: 0,
}

# FIX CxlRejReason (tag 102) for cancel / replace rejects.
_CXL_REJ = {Reason.UNKNOWN_ORDER: 1, Reason.ORDER_DONE: 0, Reason.DUPLICATE_CLORDID: 6}

_TEXT = {
    Reason.PRICE_OUTSIDE_COLLAR: "price outside the collar around the reference price",
    Reason.NO_FRESH_REFERENCE: "market order refused: no reference price fresh enough",
    Reason.INSUFFICIENT_BUYING_POWER: "insufficient buying power",
    Reason.INSUFFICIENT_POSITION: "insufficient position to sell (account may not short)",
    Reason.ORDER_DONE: "order already done (filled, cancelled, expired or rejected)",
    Reason.QTY_NOT_ABOVE_FILLED: "new quantity must exceed the quantity already filled",
    Reason.BOOK_FULL: "order book capacity exhausted",
    Reason.NOT_ADMIN: "only the admin session may do this",
    Reason.INVALID_LIMIT_VALUE: "limit value out of range or off the grid",
}


def ord_rej_reason(reason: int) -> int:
    return _ORD_REJ.get(Reason(reason), 99)


def cxl_rej_reason(reason: int) -> int:
    return _CXL_REJ.get(Reason(reason), 99)


def text(reason: int) -> str:
    r = Reason(reason)
    return _TEXT.get(r, r.name.lower().replace("_", " "))
