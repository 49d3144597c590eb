"""Engine events -> FIX ExecutionReports in batches (compiled; see fixreports.pxd).

The outbound hot path of gateway/fix: FixApplication.on_events hands each durable batch of engine
events to ReportWriter.write(), which writes every execution report of the batch with the
session's own FixEncoder (header fragment, MsgSeqNum, SendingTime) and gives each session its
share as one FixSession.send_batch() call: one message store append and one socket write.
"""
from typing import Callable

import numpy as np

from ordex.ext.fixcodec import FixEncoder

class SessionOut:
    """The outbound side of one logged-on FIX session for ReportWriter: session is the
    FixSession (its store.next_sender numbers the messages, its _clock() gives SendingTime, its
    send_batch() takes them), encoder its FixEncoder, fix42 whether it speaks FIX 4.2."""
    session: object
    fix42: bool
    def __init__(self, session: object, encoder: FixEncoder, fix42: bool) -> None: ...

class ReportWriter:
    """symbols / grids (price decimals, price step, qty decimals, qty step) per instrument id,
    account_names per account id; exec_types_44 / exec_types_42: EventKind -> ExecType(150) of
    the kinds that are execution reports; ord_status: OrderState -> OrdStatus(39); ord_types,
    tifs: engine code -> OrdType(40) / TimeInForce(59) (absent codes leave the field out);
    texts, ord_rej: per reason code, Text(58) and OrdRejReason(103) (None text: not a reason)."""
    def __init__(self, symbols: list[bytes], grids: list[tuple[int, int, int, int]],
                 account_names: list[bytes], exec_types_44: dict[int, bytes],
                 exec_types_42: dict[int, bytes], ord_status: dict[int, bytes],
                 ord_types: dict[int, bytes], tifs: dict[int, bytes],
                 texts: list[bytes | None], ord_rej: list[int]) -> None: ...

    def write(self, events: np.ndarray, outs: list[SessionOut | None],
              drops: list[tuple[int, bytes]], other: Callable[[np.ndarray, int], object],
              track: bool) -> None:
        """Send the execution reports of events (EVENT_DTYPE, in order): each to outs[session]
        when that is not None, and a copy to every drop-copy session (sid, mask) in drops whose
        mask[account] is non-zero (not to the event's own session).  Every other event is passed
        to other(events, i) in its place in the sequence, after the reports before it have been
        handed to their sessions; with track, other(events, i) is also called for CANCELLED and
        REPLACED events (before their reports).  ExecutionReport fields, in order: 34 52 37 11
        [41] 17 [20 on FIX 4.2] 150 39 [1] 55 54 38 [40] [44] [99] [59] [31 32 on trades] 151 14
        6 [103 on rejects] [58 when there is a reason] 60; OrderID and ClOrdID NONE when unset."""
