"""Engine events: what gateways turn into execution reports, cancel rejects and audit lines.

One fixed layout (EVENT_DTYPE, mirrored by the compiled engine).  Every event carries the command's
seq and ts_ns, a unique exec_id (a counter that never repeats), the order's identity and its state
after the event.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

from ordex.core.commands import CLORDID_LEN


class EventKind(IntEnum):    # with the FIX ExecType each becomes
    NEW = 1                  # 0  accepted (also for orders that trade at once)
    REJECTED = 2             # 8
    TRADE = 3                # F  one per side of each fill
    CANCELLED = 4            # 4
    REPLACED = 5             # 5
    EXPIRED = 6              # C
    TRIGGERED = 7            # L  stop triggered / OTO child released (FIX 4.4 "Triggered")
    RESTATED = 8             # D  quantity reduced by self-trade decrement
    PENDING_TRIGGER = 9      # 0  accepted, waiting (stop, OTO child)
    CANCEL_REJECTED = 10     # OrderCancelReject(9) for a cancel or replace
    ORDER_STATUS = 11        # I  answer to a status request
    MASS_CANCEL_DONE = 12    # OrderMassCancelReport(r): qty = number of orders cancelled;
                             # session = the command's actor (an operator's goes to no client)
    # Operations (no order, no FIX ExecType; session = the actor unless said otherwise):
    LIMIT_SET = 13           # SET_LIMIT applied: ord_type = the Limit, account / instrument /
                             # other_order_id (target session id, else -1) name the target,
                             # qty = the new value, last_qty = the previous one
    DISCONNECT = 14          # DISCONNECT: session = the session to log out (the target), reason
                             # DISCONNECT; gateways end its connection when this is durable
    ADMIN_REJECTED = 15      # a SET_LIMIT / DISCONNECT / PURGE_CLORDIDS refused (reason says why);
                             # nothing changed
    STATUS_CHANGED = 16      # SET_STATUS that changed the instrument's status: instrument, qty = the
                             # new status, last_qty = the previous one, session = the actor, clordid
                             # = the command's (a SET_STATUS to the status in force emits nothing)
    CLORDIDS_PURGED = 17     # PURGE_CLORDIDS applied: qty = (session, clordid) entries forgotten,
                             # leaves = entries kept (those naming live or pending orders)


class Liquidity(IntEnum):
    NONE = 0
    MAKER = 1
    TAKER = 2


EVENT_DTYPE = np.dtype([
    ("seq", "<i8"), ("ts_ns", "<i8"), ("exec_id", "<i8"), ("order_id", "<i8"),
    ("other_order_id", "<i8"), ("price", "<i8"), ("stop_price", "<i8"), ("qty", "<i8"),
    ("last_px", "<i8"), ("last_qty", "<i8"), ("leaves", "<i8"), ("cum_qty", "<i8"),
    ("avg_px", "<i8"), ("fee", "<i8"),
    ("session", "<i4"), ("account", "<i4"), ("instrument", "<i4"), ("reason", "<u2"),
    ("kind", "u1"), ("state", "u1"), ("side", "u1"), ("ord_type", "u1"), ("tif", "u1"),
    ("liquidity", "u1"),
    ("clordid", f"S{CLORDID_LEN}"), ("orig_clordid", f"S{CLORDID_LEN}"),
], align=True)
