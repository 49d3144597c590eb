"""FIX order entry in batches (compiled; see fixorders.pxd for the C layout).

The inbound hot path of gateway/fix: the session layer asks in_sequence_run() how many of the
messages it just parsed need nothing from it but their MsgSeqNum, and hands such a run to the
application (Application.on_messages), which turns it into engine commands with one
OrderTranslator.translate() call.  Everything else (admin messages, gaps, bad CompIDs, ...) takes
the session layer's message-by-message path.
"""
from typing import Any

import numpy as np

from ordex.ext.fixcodec import FieldError, FixMessage

ORDER_ENTRY_TYPES: bytes     # b"DFGHq": the MsgTypes translate() takes

def in_sequence_run(msgs: list[FixMessage], start: int, expected: int, theirs: bytes, ours: bytes,
                    tolerance_ns: int, now_ns: int, types: bytes) -> int:
    """How many messages from msgs[start] on are sound, of a MsgType in `types`, numbered
    expected, expected + 1, ... (MsgSeqNum), from SenderCompID `theirs` to TargetCompID `ours`,
    and (tolerance_ns > 0) sent within tolerance_ns of now_ns (SendingTime).  Stops at the first
    message that is not."""

class OrderTranslator:
    """NewOrderSingle (D), OrderCancelRequest (F), OrderCancelReplaceRequest (G),
    OrderStatusRequest (H) and OrderMassCancelRequest (q) -> COMMAND_DTYPE rows.

    symbols:       symbol bytes -> instrument id
    grids:         per instrument id: (price decimals, price step, qty decimals, qty step), the
                   FIX decimal <-> integer count mapping (count * step * 10**-decimals)
    accounts:      account name bytes -> account id
    sole_account:  session id -> account id, for sessions allowed exactly one account (Account(1)
                   may then be left out)
    ord_types:     OrdType(40) value -> core.commands.OrdType; tifs: TimeInForce(59) -> Tif
    """
    requests: int    # rows of the last translate() that came from F, G or q messages

    def __init__(self, symbols: dict[bytes, int], grids: list[tuple[int, int, int, int]],
                 accounts: dict[bytes, int], sole_account: dict[int, int],
                 ord_types: dict[bytes, int], tifs: dict[bytes, int]) -> None: ...

    def translate(self, sid: int, msgs: list[FixMessage], start: int, stop: int,
                  rows: np.ndarray, at: int, accepted: list[FixMessage],
                  errors: list[tuple[int, Any]]) -> int:
        """Translate msgs[start:stop] (MsgTypes of ORDER_ENTRY_TYPES) sent by engine session
        `sid` into rows[at:], one row per message accepted, in order; returns the number of rows.
        Each accepted message is appended to `accepted`.  A message refused at the gateway adds
        (index in msgs, why) to `errors` and no row: why is a FieldError (missing or malformed
        field: reason 1 or 6; off the instrument's grid or out of range: reason 5), or a
        (text, OrdRejReason) pair (unknown symbol or account, unsupported OrdType or
        TimeInForce, ClOrdID too long, bad MassCancelRequestType).  Fields are checked in the
        order the FIX application documents, so the first problem is the one reported.
        rows must be a C-contiguous COMMAND_DTYPE array with room for stop - start rows at
        `at`; the rows written are zeroed first."""
