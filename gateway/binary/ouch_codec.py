"""OUCH 5.0 codec tables for the order-entry gateway, derived from the schema: the encoders of
each dialect (`_Codecs`: the C writer of reply batches, ext/ouch_out, and struct packers for
single messages), the translation tables between engine codes and OUCH codes, and the ClOrdID <->
UserRefNum mapping.
"""
from __future__ import annotations

import struct

import numpy as np

from ordex.core.commands import CommandKind, Flag, OrdType, Tif
from ordex.core.events import EventKind, Liquidity
from ordex.core.lifecycle import TERMINAL as _TERMINAL_STATES
from ordex.core.reasons import Reason
from ordex.ext.ouch_in import (  # noqa: F401 - ECHO_DTYPE: the gateway's name
    ECHO_DTYPE, EnterDecoder, QuoteDecoder)
from ordex.ext.ouch_out import (ACCEPTED, CANCEL_REJECT, CANCELED, EXECUTED, REJECTED, REPLACED,
                                OuchReplies)
from ordex.gateway.binary import schema
from ordex.gateway.binary.wire import MAX_U32, WireInstruments

_P10 = (10 ** np.arange(9, -1, -1)).astype(np.int64)
_REJ = {c.name: c.value for c in schema.CODES["RejectReason"].codes}
_CXL = {c.name: c.value for c in schema.CODES["CancelReason"].codes}

# engine Reason -> OUCH Order Rejected reason
_REASON_REJECT = {
    Reason.UNKNOWN_INSTRUMENT: "INVALID_SYMBOL", Reason.INVALID_SIDE: "INVALID_SIDE",
    Reason.INVALID_ORDER_TYPE: "PROCESSING_ERROR", Reason.INVALID_TIF: "PROCESSING_ERROR",
    Reason.INVALID_PRICE: "INVALID_PRICE", Reason.PRICE_OFF_TICK: "INVALID_PRICE",
    Reason.INVALID_QTY: "INVALID_QUANTITY", Reason.QTY_OFF_LOT: "INVALID_QUANTITY",
    Reason.QTY_BELOW_MIN: "INVALID_QUANTITY", Reason.QTY_ABOVE_MAX: "INVALID_QUANTITY",
    Reason.INVALID_DISPLAY: "PROCESSING_ERROR", Reason.DUPLICATE_CLORDID: "DUPLICATE_USERREFNUM",
    Reason.UNKNOWN_ACCOUNT: "FIRM_NOT_AUTHORIZED", Reason.ACCOUNT_NOT_PERMITTED: "FIRM_NOT_AUTHORIZED",
    Reason.INSTRUMENT_HALTED: "HALTED", Reason.INSTRUMENT_CLOSED: "HALTED",
    Reason.INSUFFICIENT_BUYING_POWER: "RISK_AGGREGATE_EXPOSURE",
    Reason.INSUFFICIENT_POSITION: "RISK_AGGREGATE_EXPOSURE",
    Reason.POSITION_LIMIT: "RISK_AGGREGATE_EXPOSURE", Reason.NOTIONAL_ABOVE_MAX: "EXCEEDS_MAX_NOTIONAL",
    Reason.PRICE_OUTSIDE_COLLAR: "INVALID_PRICE", Reason.ACCOUNT_KILL_SWITCH: "KILL_SWITCH",
    Reason.SESSION_KILL_SWITCH: "KILL_SWITCH", Reason.THROTTLED: "RISK_PORT_RATE",
    Reason.POST_ONLY_WOULD_TAKE: "POST_ONLY_WOULD_TAKE", Reason.UNKNOWN_ORDER: "ORDER_NOT_LIVE",
    Reason.ORDER_DONE: "ORDER_NOT_LIVE", Reason.QTY_NOT_ABOVE_FILLED: "INVALID_QUANTITY",
}
# engine Reason (why an order ended) -> OUCH Order Canceled reason
_REASON_CANCEL = {
    Reason.USER_CANCEL: "USER_REQUESTED", Reason.MASS_CANCEL: "USER_REQUESTED",
    Reason.KILL_SWITCH_CANCEL: "SUPERVISORY", Reason.IOC_REMAINDER: "IMMEDIATE_OR_CANCEL",
    Reason.FOK_UNFILLABLE: "IMMEDIATE_OR_CANCEL", Reason.SELF_TRADE: "SELF_MATCH_PREVENTION",
    Reason.SESSION_CLOSE: "CLOSED", Reason.GTD_EXPIRED: "TIMEOUT",
}
REJECT_LUT = np.full(1024, _REJ["OTHER"], dtype=np.uint16)
for _r, _n in _REASON_REJECT.items():
    REJECT_LUT[int(_r)] = _REJ[_n]
CANCEL_LUT = np.full(1024, ord(_CXL["SYSTEM_CANCEL"]), dtype=np.uint8)
for _r, _n in _REASON_CANCEL.items():
    CANCEL_LUT[int(_r)] = ord(_CXL[_n])
REJECT_CODES, CANCEL_CODES = REJECT_LUT.tolist(), CANCEL_LUT.tolist()

SIDE_IN = np.zeros(256, dtype=np.uint8)
SIDE_IN[[ord("B")]] = 1
SIDE_IN[[ord("S"), ord("T"), ord("E")]] = 2
TIF_IN = np.full(256, 255, dtype=np.uint8)
TIF_IN[ord("0")] = Tif.DAY
TIF_IN[ord("3")] = Tif.IOC
DISPLAY_OK = np.zeros(256, dtype=bool)
DISPLAY_OK[[ord("Y"), ord("A")]] = True
SIDE_BYTES = (b" ", b"B", b"S")
TIF_BYTES = {int(Tif.IOC): b"3"}
TERMINAL = np.zeros(16, dtype=bool)                 # by state, for numpy masks
TERMINAL[[int(x) for x in _TERMINAL_STATES]] = True

# where a command row came from, to word its replies (the "src" of the echo record)
SRC_ENTER, SRC_REPLACE, SRC_CANCEL, SRC_REDUCE, SRC_QUOTE, SRC_SILENT, SRC_MASS = (
    bytes([c]) for c in b"OUXxqkc")
DEFAULT_ECHO = (b" ", b" " * 14, b"A", b"N", b"N", b"Y", 0)
# plain ints and lists for the one-event-at-a-time path (enum attribute lookups cost more)
(K_NEW, K_REJECTED, K_TRADE, K_CANCELLED, K_REPLACED, K_EXPIRED, K_RESTATED, K_CANCEL_REJECTED,
 K_MASS_CANCEL_DONE) = (int(k) for k in (
    EventKind.NEW, EventKind.REJECTED, EventKind.TRADE, EventKind.CANCELLED, EventKind.REPLACED,
    EventKind.EXPIRED, EventKind.RESTATED, EventKind.CANCEL_REJECTED, EventKind.MASS_CANCEL_DONE))
MAKER = int(Liquidity.MAKER)
QTY_NOT_ABOVE_FILLED = int(Reason.QTY_NOT_ABOVE_FILLED)
TERMINAL_STATES = frozenset(int(x) for x in _TERMINAL_STATES)   # plain ints, for one at a time
_ORDER_KINDS = frozenset((K_TRADE, K_CANCELLED, K_EXPIRED, K_REJECTED))
SMALL_BATCH = 8          # up to this many events: struct, one at a time; more: numpy
# positions in EVENT_DTYPE tuples (events.tolist())
_TS, _LAST_QTY, _SESSION, _KIND = 1, 9, 14, 18
COD_CLORDID = b"cancel-on-disconnect"
PROTECTION_CLORDID = b"mm-protection"

APPENDAGE_FIRM, APPENDAGE_MAX_FLOOR, APPENDAGE_PRICE_TYPE, APPENDAGE_POST_ONLY = 2, 5, 6, 12


def userrefs(clordids: np.ndarray) -> np.ndarray:
    """The UserRefNum in the first 10 bytes of engine ClOrdIDs (-1 where they are not digits)."""
    raw = np.ascontiguousarray(clordids).view(np.uint8).reshape(len(clordids), -1)[:, :10]
    d = raw.astype(np.int64) - 48
    ok = ((d >= 0) & (d <= 9)).all(axis=1)
    return np.where(ok, d @ _P10, -1)


def clordid(ref: int, quote: bool) -> bytes:
    return b"%010d%s" % (ref, b"Q" if quote else b"")


# the reply an event gets: codes of the C writer
M_ACCEPTED, M_REPLACED, M_CANCELED, M_EXECUTED, M_REJECTED, M_CANCEL_REJECT = (
    ACCEPTED, REPLACED, CANCELED, EXECUTED, REJECTED, CANCEL_REJECT)


def _framed(lay: schema.Layout):
    """A packer of one message inside its Sequenced Data packet: f(type, *fields) -> bytes."""
    pack = struct.Struct(">Hc" + lay.struct.format[1:]).pack
    length = lay.size + 1
    return lambda *values: pack(length, b"S", *values)


class _Codecs:
    """The encoders of one dialect, all derived from the schema."""

    def __init__(self, dialect: str, wire: WireInstruments):
        lay = lambda sender, name: schema.layout("ouch", sender, name, dialect)  # noqa: E731
        self.dialect = dialect
        self.enter = lay("client", "EnterOrder")
        self.replace = lay("client", "ReplaceOrder")
        self.cancel = lay("client", "CancelOrder")
        self.quote = lay("client", "MassQuote")
        self.entry = schema.layout("group", "client", "QuoteEntry", dialect)
        self.mass_cancel = lay("client", "MassCancel")
        self.sizes = schema.inbound_sizes(dialect)
        self.enter_decoder = EnterDecoder(
            schema.framed_dtype("ouch", "client", "EnterOrder", dialect), wire.by_symbol,
            wire.pstep, SIDE_IN, TIF_IN, DISPLAY_OK, _REJ,
            {"NEW_ORDER": CommandKind.NEW_ORDER, "LIMIT": OrdType.LIMIT,
             "POST_ONLY": Flag.POST_ONLY, "SRC_ENTER": SRC_ENTER[0], "FIRM": APPENDAGE_FIRM,
             "MAX_FLOOR": APPENDAGE_MAX_FLOOR, "PRICE_TYPE": APPENDAGE_PRICE_TYPE,
             "POST_ONLY_TAG": APPENDAGE_POST_ONLY})
        self.quote_decoder = QuoteDecoder(
            self.entry.dtype, self.enter_decoder, _REJ,
            {"QUOTE": CommandKind.QUOTE, "CANCEL": CommandKind.CANCEL, "LIMIT": OrdType.LIMIT,
             "DAY": Tif.DAY, "SRC_QUOTE": SRC_QUOTE[0], "SRC_SILENT": SRC_SILENT[0]})
        self.out = {m: lay("server", name) for m, name in (
            (M_ACCEPTED, "OrderAccepted"), (M_REPLACED, "OrderReplaced"),
            (M_CANCELED, "OrderCanceled"), (M_EXECUTED, "OrderExecuted"),
            (M_REJECTED, "OrderRejected"), (M_CANCEL_REJECT, "CancelReject"))}
        self.symbols = wire.symbols(self.enter.dtype["Symbol"].itemsize)
        self.pstep = wire.pstep
        self.replies = OuchReplies(
            {m: schema.framed_dtype("ouch", "server", lo.message.name, dialect)
             for m, lo in self.out.items()}, wire.pstep, self.symbols, REJECT_LUT, CANCEL_LUT,
            TERMINAL)
        self._sys = _framed(lay("server", "SystemEvent"))
        self._rej = _framed(self.out[M_REJECTED])
        self._cxr = _framed(self.out[M_CANCEL_REJECT])
        self._ack = _framed(lay("server", "MassQuoteAck"))
        self._mcr = _framed(lay("server", "MassCancelReport"))
        self._mcr_width = lay("server", "MassCancelReport").dtype["Symbol"].itemsize
        self._trip = _framed(lay("server", "ProtectionTriggered"))
        self._reset = _framed(lay("server", "ProtectionReset"))
        self._acc = _framed(self.out[M_ACCEPTED])
        self._repl = _framed(self.out[M_REPLACED])
        self._can = _framed(self.out[M_CANCELED])
        self._can_orig = "OrigUserRefNum" in self.out[M_CANCELED].names
        self._exe = _framed(self.out[M_EXECUTED])
        self.sym_list = [bytes(x) for x in self.symbols]
        self.pstep_list = wire.pstep.tolist()

    @staticmethod
    def _packet(framed, *values) -> bytes:
        return framed(*values)

    def system_event(self, ts, code):
        return self._packet(self._sys, b"S", ts, code)

    def accepted(self, ts, ref, side, qty, inst, price, tif, echo, oid, state):
        return self._packet(self._acc, b"A", ts, ref, SIDE_BYTES[side], min(qty, MAX_U32),
                            self.sym_list[inst], price, TIF_BYTES.get(tif, b"0"), echo[5], oid,
                            echo[2], echo[3], echo[4], b"D" if TERMINAL[state] else b"L",
                            echo[1].ljust(14), 0)

    def replaced(self, ts, orig, ref, side, qty, inst, price, tif, echo, oid, state):
        return self._packet(self._repl, b"U", ts, orig, ref, SIDE_BYTES[side], min(qty, MAX_U32),
                            self.sym_list[inst], price, TIF_BYTES.get(tif, b"0"), echo[5], oid,
                            echo[2], echo[3], echo[4], b"D" if TERMINAL[state] else b"L",
                            echo[1].ljust(14), 0)

    def canceled(self, ts, ref, qty, reason: int):
        q = min(max(qty, 0), MAX_U32)
        if self._can_orig:
            return self._packet(self._can, b"C", ts, ref, ref, q, bytes((reason,)))
        return self._packet(self._can, b"C", ts, ref, q, bytes((reason,)))

    def executed(self, ts, ref, qty, price, liquidity, match):
        return self._packet(self._exe, b"E", ts, ref, min(qty, MAX_U32), price, liquidity, match,
                            0)

    def rejected(self, ts, ref, reason, clid):
        return self._packet(self._rej, b"J", ts, ref, reason, bytes(clid).ljust(14)[:14])

    def cancel_reject(self, ts, ref):
        return self._packet(self._cxr, b"I", ts, ref)

    def quote_ack(self, ts, quote_id, status, reason, entries):
        return self._packet(self._ack, b"q", ts, quote_id, status, reason, entries)

    def mass_cancel_report(self, ts, request_id, sym, canceled):
        w = self._mcr_width
        return self._packet(self._mcr, b"c", ts, request_id, bytes(sym).strip(b" \x00").ljust(w)[:w],
                            canceled)

    def protection_triggered(self, ts, fills, qty, window_ms):
        return self._packet(self._trip, b"p", ts, min(fills, MAX_U32), qty, window_ms)

    def protection_reset(self, ts):
        return self._packet(self._reset, b"r", ts)

    def encode(self, gw, ev: np.ndarray, msg: np.ndarray, refs: np.ndarray,
               echo: np.ndarray) -> tuple[bytes, np.ndarray, int]:
        """Sequenced Data packets for the events with a reply, in event order (in C:
        ext/ouch_out); with the byte offset where each event's reply (if any) ends, for
        splicing other messages in."""
        return self.replies.encode(ev, msg, refs, echo,
                                   gw.clock.since_midnight_array(ev["ts_ns"]))
