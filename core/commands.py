"""Engine commands: one fixed binary layout for every command kind.

This is the unit the sequencer stamps (seq, ts_ns), the journal stores and the engine applies; the
compiled engine mirrors it as a C struct (ext/engine.pxd) and checks the two agree at import.
Unused fields are zero.  ClOrdIDs are at most CLORDID_LEN bytes (ASCII), NUL padded.
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
    MASS_CANCEL = 4     # session, scope, account (ACCOUNT scope), instrument (-1 = any)
    SET_STATUS = 5      # instrument, status (0 open, 1 halted, 2 closed: DAY orders expire)
    REFERENCE_PRICE = 6  # instrument, price (external reference, e.g. from feeds/), ts_ns
    KILL_SWITCH = 7     # scope (ACCOUNT or SESSION), account / session, flags & Flag.ON: on, else off
    TIMER = 8           # ts_ns: GTD orders with expire_ts_ns <= ts_ns expire
    STATUS_REQUEST = 9  # session, orig_clordid or order_id: an ORDER_STATUS event, nothing changes


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


ADMIN_SESSION = -1       # operations: may act on any account/session


COMMAND_DTYPE = np.dtype([
    ("seq", "<i8"), ("ts_ns", "<i8"), ("order_id", "<i8"), ("price", "<i8"), ("stop_price", "<i8"),
    ("qty", "<i8"), ("display", "<i8"), ("expire_ts_ns", "<i8"), ("link", "<i8"),
    ("session", "<i4"), ("account", "<i4"), ("instrument", "<i4"),
    ("kind", "u1"), ("side", "u1"), ("ord_type", "u1"), ("tif", "u1"), ("flags", "u1"),
    ("stp", "u1"), ("scope", "u1"), ("status", "u1"),
    ("clordid", f"S{CLORDID_LEN}"), ("orig_clordid", f"S{CLORDID_LEN}"),
], align=True)


def command(kind: int, **fields) -> np.ndarray:
    """A one-row COMMAND_DTYPE array (tests, tools); unspecified fields are zero."""
    row = np.zeros(1, dtype=COMMAND_DTYPE)
    row["kind"] = kind
    for k, v in fields.items():
        row[k] = v.encode() if isinstance(v, str) else v
    return row
