"""OUCH 5.0 replies in C (gateway/binary/ouch_replies.py decides which reply each engine event
gets and keeps the user's order state; this writes the packets).

OuchReplies(layouts, pstep, symbols, reject_lut, cancel_lut, terminal)
    layouts: reply code (ACCEPTED .. CANCEL_REJECT below) -> schema.framed_dtype of
    that reply in the user's dialect: the offsets come from the schema, and a field the writers
    do not know or of another width is refused (ValueError).  pstep[i]: wire price units per
    tick of instrument i; symbols: S<width> per instrument; reject_lut / cancel_lut: engine
    Reason (0..1023) -> OUCH reject code / cancel reason byte; terminal[state]: the order ended.

encode(events, msg, refs, echo, ts) -> (bytes, ends, count)
    events: EVENT_DTYPE; msg[j]: the reply of event j (0: none); refs[j]: its UserRefNum;
    echo[j]: ouch_codec.ECHO_DTYPE (what the client sent); ts[j]: ns since midnight.  The
    replies in event order as Sequenced Data packets; ends[j] is the offset where event j's reply
    ends (for splicing other messages in); count the number of replies.
      Accepted / Replaced  the order's terms (price * pstep), echo fields, state L or D
                           (Replaced: OrigUserRefNum from the orig ClOrdID's first 10 digits)
      Canceled             quantity taken off: qty - cum_qty; RESTATED last_qty; a reduction
                           (REPLACED) echo.old_qty - qty with reason U; else cancel_lut[reason]
      Executed             last_qty at last_px * pstep, A (maker) / R, match = exec_id - maker
      Rejected             reject_lut[reason], echo ClOrdID;  Cancel Reject  UserRefNum only
    Quantities are clipped to 2^32 - 1.

encode_one_user(events, session, echo, echo_first, day_lo, day_hi, terms, trades,
                quotes=None, acks=None, ack=None) -> (bytes, count, last_seq) | None
    The gateway's common case in one call (no per-event Python object): every event of
    `session`, in seq order, with the echo record of its seq in `echo` (the records of seqs
    echo_first ...), a ts_ns in [day_lo, day_hi) (reply time: ts_ns - day_lo), an instrument id
    in range, a ClOrdID whose first 10 bytes are digits, and a kind whose reply is plain: NEW ->
    Accepted, REJECTED -> Rejected, CANCELLED / EXPIRED / RESTATED -> Canceled, REPLACED ->
    Replaced (a reduction, echo src SRC_REDUCE: Canceled U), CANCEL_REJECTED of a cancel (or of a
    reduction not refused for QTY_NOT_ABOVE_FILLED) -> Cancel Reject, TRADE -> Executed (only
    when `trades`).  Writes the same bytes as encode; after each event, the Mass Quote Acks of
    `acks` (a deque of (seq, quote id, entries), the gateway's user.quote_acks) whose seq is at
    or after it and before the next event's, as ack(time, quote id, b"A", 0, entries) writes
    them, and pops them.  Drops from `terms` the UserRefNum of each order a TRADE, CANCELLED,
    EXPIRED or REJECTED event ended (and forgets it in `quotes`) and a replaced order's previous
    UserRefNum.  Returns the packets, their count and the last event's seq.  None, with nothing
    changed, when any event is otherwise or an ack due is before the first event.

first_session(events) -> int
    The session of the first event (-1: no events, or not EVENT_DTYPE).
"""
import collections
from typing import Callable

import numpy as np

from ordex.ext.ouch_in import OrderTerms, QuoteSides

# reply codes (the msg values)
ACCEPTED: int; REPLACED: int; CANCELED: int; EXECUTED: int; REJECTED: int; CANCEL_REJECT: int

class OuchReplies:
    def __init__(self, layouts: dict[int, np.dtype], pstep: np.ndarray, symbols: np.ndarray,
                 reject_lut: np.ndarray, cancel_lut: np.ndarray, terminal: np.ndarray) -> None: ...
    def encode(self, events: np.ndarray, msg: np.ndarray, refs: np.ndarray, echo: np.ndarray,
               ts: np.ndarray) -> tuple[bytes, np.ndarray, int]: ...
    def encode_one_user(self, events: np.ndarray, session: int, echo: np.ndarray,
                        echo_first: int, day_lo: int, day_hi: int, terms: OrderTerms,
                        trades: bool, quotes: QuoteSides | None = None,
                        acks: collections.deque[tuple[int, int, int]] | None = None,
                        ack: Callable[[int, int, bytes, int, int], bytes] | None = None,
                        ) -> tuple[bytes, int, int] | None: ...

def first_session(events: np.ndarray) -> int: ...
