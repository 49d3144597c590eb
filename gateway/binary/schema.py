"""The one table of every binary message ordex speaks: SoupBinTCP packets, OUCH 5.0 order entry
(with ordex's market-maker extensions) and the ITCH 5.0 feed.

Everything else is derived from it: the struct formats and numpy dtypes the encoders and decoders
use (`layout()`), the code sets the gateway translates through (`CODES`), and the protocol
document (`gateway/binary/PROTOCOL.md`, written by `ordex.gateway.binary.protocol_doc`).

Conventions (as in the published specifications): integers are unsigned big-endian unless the
type says otherwise; alpha fields are ASCII, left-justified and space-padded (ordex also accepts
them right-justified, as some clients send them); numeric fields are ASCII digits,
right-justified and space-padded.  Prices are fixed point with 4 implied decimals; ordex maps them
onto each instrument's grid exactly and rejects a value off the grid.  Quantities count the
instrument's quantity increment (shares for whole-share instruments).

Dialects: the published layouts are the "nasdaq" dialect.  The "ouch-connect" dialect exists for
the PyPI package of that name (5.0.x), which differs in two places: its Symbol fields are 9 bytes,
and its Order Canceled carries an OrigUserRefNum before the UserRefNum.  A user's dialect is set
in the configuration; the ITCH feed has one dialect only.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

SCHEMA_VERSION = 1
DIALECTS = ("nasdaq", "ouch-connect")


@dataclass(frozen=True)
class FieldType:
    name: str
    size: int
    np: str          # numpy field dtype ("S8", ">u4", "6u1" for a 6-byte integer)
    fmt: str         # struct format of the field
    doc: str


U8 = FieldType("u8", 1, "u1", "B", "unsigned integer")
U16 = FieldType("u16", 2, ">u2", "H", "unsigned integer, big-endian")
U32 = FieldType("u32", 4, ">u4", "I", "unsigned integer, big-endian")
U64 = FieldType("u64", 8, ">u8", "Q", "unsigned integer, big-endian")
U48 = FieldType("u48", 6, "6u1", "6s", "unsigned integer, big-endian, 6 bytes")
PRICE8 = FieldType("price8", 8, ">i8", "q",
                   "signed integer, big-endian, 4 implied decimals (OUCH 5.0 Price)")
PRICE4 = FieldType("price4", 4, ">u4", "I",
                   "unsigned integer, big-endian, 4 implied decimals (ITCH 5.0 Price(4))")
TS8 = FieldType("ts8", 8, ">u8", "Q", "nanoseconds since midnight, u64")
TS6 = FieldType("ts6", 6, "6u1", "6s", "nanoseconds since midnight, u48")
CHAR = FieldType("char", 1, "S1", "c", "one ASCII character")


def alpha(n: int) -> FieldType:
    return FieldType(f"alpha{n}", n, f"S{n}", f"{n}s", "ASCII, left-justified, space-padded")


def numeric(n: int) -> FieldType:
    return FieldType(f"numeric{n}", n, f"S{n}", f"{n}s", "ASCII digits, right-justified, space-padded")


# The stock symbol is 8 bytes in the published layouts; the placeholder resolves per dialect.
SYMBOL = FieldType("symbol", 8, "S8", "8s", "ASCII, left-justified, space-padded (8 bytes; "
                   "9 in the ouch-connect dialect)")
_SYMBOL_LEN = {"nasdaq": 8, "ouch-connect": 9}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    doc: str = ""
    codes: str | None = None                  # name of a code set in CODES
    dialects: tuple[str, ...] | None = None   # present only in these dialects


@dataclass(frozen=True)
class Message:
    name: str
    layer: str            # "soup" | "ouch" | "itch"
    sender: str           # "client" | "server"
    type: bytes           # the type byte (soup packet type, or message type inside a packet)
    fields: tuple[Field, ...]
    doc: str
    extension: bool = False   # an ordex extension, not in the published specification
    tail: str = ""            # what follows the fixed part: "", "appendage", "payload", "text",
                              # or "group:<Group name>" (repeated after a u16 count field)


@dataclass(frozen=True)
class Group:
    name: str
    fields: tuple[Field, ...]
    doc: str


@dataclass(frozen=True)
class Code:
    value: bytes | int
    name: str
    doc: str = ""


@dataclass(frozen=True)
class CodeSet:
    name: str
    doc: str
    codes: tuple[Code, ...]

    def by_name(self, name: str) -> bytes | int:
        for c in self.codes:
            if c.name == name:
                return c.value
        raise KeyError(f"{self.name}: no code named {name!r}")

    def values(self) -> set:
        return {c.value for c in self.codes}


F = Field


def _codes(name: str, doc: str, *codes: tuple) -> CodeSet:
    return CodeSet(name, doc, tuple(Code(*c) for c in codes))


CODES: dict[str, CodeSet] = {c.name: c for c in (
    _codes("LoginRejectReason", "SoupBinTCP Login Rejected reason",
           (b"A", "NOT_AUTHORIZED", "unknown username or wrong password"),
           (b"S", "SESSION_NOT_AVAILABLE", "the requested session is not the current one, the user "
                                           "is already logged in, or the server is not accepting")),
    _codes("Side", "Order side",
           (b"B", "BUY"), (b"S", "SELL"), (b"T", "SELL_SHORT", "accepted, treated as SELL"),
           (b"E", "SELL_SHORT_EXEMPT", "accepted, treated as SELL")),
    _codes("TimeInForce", "OUCH Time In Force; ordex supports day and IOC",
           (b"0", "DAY", "rests until cancelled or the instrument closes"),
           (b"3", "IOC", "immediate or cancel")),
    _codes("Display", "OUCH Display",
           (b"Y", "VISIBLE"), (b"A", "ATTRIBUTABLE", "accepted, treated as VISIBLE")),
    _codes("OrderState", "OUCH Order State", (b"L", "LIVE"), (b"D", "DEAD")),
    _codes("CancelReason", "OUCH Order Canceled reason",
           (b"U", "USER_REQUESTED", "a Cancel Order, Mass Cancel or mass quote requested it"),
           (b"I", "IMMEDIATE_OR_CANCEL", "IOC remainder, or a FOK that could not fill"),
           (b"T", "TIMEOUT", "the order's time in force expired"),
           (b"S", "SUPERVISORY", "an operator's kill switch"),
           (b"Q", "SELF_MATCH_PREVENTION", "self-trade prevention"),
           (b"Z", "SYSTEM_CANCEL", "cancel on disconnect, market-maker protection, linked orders"),
           (b"E", "CLOSED", "the instrument closed")),
    _codes("LiquidityFlag", "OUCH Order Executed liquidity flag",
           (b"A", "ADDED", "the order was resting (maker)"),
           (b"R", "REMOVED", "the order took liquidity (taker)")),
    _codes("SystemEventCode", "OUCH System Event code",
           (b"S", "START_OF_DAY", "sent once after each login"),
           (b"E", "END_OF_DAY", "the server is stopping")),
    _codes("RejectReason", "Order Rejected reason (u16): ordex's values, named after the OUCH 5.0 reason "
           "they correspond to where one does; engine reasons map onto these",
           (0x0001, "QUOTE_UNAVAILABLE", "mass quote refused: market-maker protection tripped"),
           (0x0002, "DESTINATION_CLOSED", "the server is not accepting orders (stopping, journal "
                                          "failure)"),
           (0x0007, "HALTED", "the instrument is halted or closed"),
           (0x0009, "INVALID_SIDE"),
           (0x000A, "PROCESSING_ERROR", "malformed or unsupported field value"),
           (0x000C, "FIRM_NOT_AUTHORIZED", "unknown account, or one the user may not trade"),
           (0x000F, "OTHER", "see the server log"),
           (0x0013, "INVALID_QUANTITY", "zero, off the lot, below the minimum or above the maximum"),
           (0x0017, "INVALID_SYMBOL", "unknown symbol, or one the binary wire cannot represent"),
           (0x001D, "INVALID_PRICE", "zero, off the tick, or outside the collar"),
           (0x001F, "EXCEEDS_MAX_NOTIONAL"),
           (0x0020, "RISK_AGGREGATE_EXPOSURE", "buying power, position or position limit"),
           (0x0029, "RISK_PORT_RATE", "throttled (max_orders_per_sec)"),
           (0x002B, "DUPLICATE_USERREFNUM", "UserRefNum used before, or not above the last one"),
           (0x002C, "KILL_SWITCH", "an account or session kill switch is on"),
           (0x002D, "POST_ONLY_WOULD_TAKE"),
           (0x002E, "ORDER_NOT_LIVE", "replace of an order that is no longer live")),
    _codes("QuoteStatus", "ordex Mass Quote Ack status",
           (b"A", "ACCEPTED", "sequenced as one batch; per-side messages came first"),
           (b"R", "REFUSED", "nothing was sequenced; Reason says why")),
    _codes("ItchSystemEvent", "ITCH System Event code",
           (b"O", "START_OF_MESSAGES"), (b"S", "START_OF_SYSTEM_HOURS"),
           (b"Q", "START_OF_MARKET_HOURS"), (b"M", "END_OF_MARKET_HOURS"),
           (b"E", "END_OF_SYSTEM_HOURS"), (b"C", "END_OF_MESSAGES")),
    _codes("TradingState", "ITCH Stock Trading Action state",
           (b"T", "TRADING"), (b"H", "HALTED", "halted or closed")),
    _codes("BuySell", "ITCH Buy/Sell Indicator", (b"B", "BUY"), (b"S", "SELL")),
)}


_TS_OUCH = F("Timestamp", TS8, "nanoseconds since midnight in the feed time zone")
_TS_ITCH = F("Timestamp", TS6, "nanoseconds since midnight in the feed time zone")
_LOCATE = F("StockLocate", U16, "instrument id + 1 (0: not instrument specific)")
_TRACKING = F("TrackingNumber", U16, "always 0")
_APPLEN = F("AppendageLength", U16, "bytes of optional appendage that follow")

SOUP: tuple[Message, ...] = (
    Message("Debug", "soup", "both", b"+", (), "free text; ordex sends one to explain a protocol "
            "error before it closes the connection, and ignores the client's", tail="text"),
    Message("LoginRequest", "soup", "client", b"L", (
        F("Username", alpha(6)), F("Password", alpha(10)),
        F("RequestedSession", alpha(10), "blank: the current session"),
        F("RequestedSequenceNumber", numeric(20),
          "next sequenced message the client wants; 0: none of the past, only new ones")),
        "first packet of every connection"),
    Message("LoginAccepted", "soup", "server", b"A", (
        F("Session", alpha(10)), F("SequenceNumber", numeric(20),
                                   "sequence number of the next sequenced packet sent")),
        "replayed messages (if any) follow, then live ones"),
    Message("LoginRejected", "soup", "server", b"J", (
        F("RejectReasonCode", CHAR, codes="LoginRejectReason"),), "the server then closes"),
    Message("SequencedData", "soup", "server", b"S", (), "one OUCH or ITCH message",
            tail="payload"),
    Message("UnsequencedData", "soup", "client", b"U", (), "one OUCH message", tail="payload"),
    Message("ServerHeartbeat", "soup", "server", b"H", (),
            "sent after heartbeat_ms without other output"),
    Message("ClientHeartbeat", "soup", "client", b"R", (),
            "the client sends one at least every second when idle; ordex closes the connection "
            "after idle_timeout_s without any packet"),
    Message("EndOfSession", "soup", "server", b"Z", (), "the server is stopping"),
    Message("LogoutRequest", "soup", "client", b"O", (), "the server closes the connection"),
)

OUCH_IN: tuple[Message, ...] = (
    Message("EnterOrder", "ouch", "client", b"O", (
        F("UserRefNum", U32, "the client's order id: strictly increasing per user"),
        F("Side", CHAR, codes="Side"), F("Quantity", U32, "in quantity increments"),
        F("Symbol", SYMBOL), F("Price", PRICE8, "limit price; must be on the tick"),
        F("TimeInForce", CHAR, codes="TimeInForce"), F("Display", CHAR, codes="Display"),
        F("Capacity", CHAR, "echoed"), F("InterMarketSweepEligibility", CHAR, "echoed"),
        F("CrossType", CHAR, "echoed"), F("ClOrdID", alpha(14), "echoed, not checked"),
        _APPLEN), "a limit order", tail="appendage"),
    Message("ReplaceOrder", "ouch", "client", b"U", (
        F("OrigUserRefNum", U32, "the live order to replace"),
        F("UserRefNum", U32, "its new id (strictly increasing)"),
        F("Quantity", U32, "new total quantity (filled quantity included)"),
        F("Price", PRICE8), F("TimeInForce", CHAR, "ignored: an order keeps its own"),
        F("Display", CHAR, codes="Display"), F("InterMarketSweepEligibility", CHAR, "echoed"),
        F("ClOrdID", alpha(14), "echoed"), _APPLEN),
        "new price and/or quantity; a smaller quantity at the same price keeps time priority",
        tail="appendage"),
    Message("CancelOrder", "ouch", "client", b"X", (
        F("UserRefNum", U32), F("Quantity", U32, "new total quantity (filled included); 0 "
                                                 "cancels what is left")),
        "cancel, or reduce (keeping time priority)"),
    Message("MassQuote", "ouch", "client", b"q", (
        F("QuoteId", U32, "echoed in the Mass Quote Ack"),
        F("Count", U16, "number of entries that follow")),
        "a two-sided quote for many instruments, applied as one atomic batch: each side "
        "replaces the user's previous quote side on that instrument", extension=True,
        tail="group:QuoteEntry"),
    Message("MassCancel", "ouch", "client", b"c", (
        F("RequestId", U32, "echoed in the Mass Cancel Report"),
        F("Symbol", SYMBOL, "blank: every instrument")),
        "cancel all of the user's orders (quotes included), or all on one instrument",
        extension=True),
    Message("ProtectionReset", "ouch", "client", b"r", (),
            "re-arm market-maker protection after it tripped", extension=True),
)

GROUPS: dict[str, Group] = {g.name: g for g in (
    Group("QuoteEntry", (
        F("Symbol", SYMBOL),
        F("BidUserRefNum", U32, "id of the new bid (0 when BidQuantity is 0)"),
        F("BidPrice", PRICE8),
        F("BidQuantity", U32, "the bid's open quantity; 0: no bid (the previous one is cancelled)"),
        F("AskUserRefNum", U32), F("AskPrice", PRICE8), F("AskQuantity", U32)),
        "one instrument of a Mass Quote"),
)}

OUCH_OUT: tuple[Message, ...] = (
    Message("SystemEvent", "ouch", "server", b"S", (
        _TS_OUCH, F("EventCode", CHAR, codes="SystemEventCode")), "session-wide events"),
    Message("OrderAccepted", "ouch", "server", b"A", (
        _TS_OUCH, F("UserRefNum", U32), F("Side", CHAR, codes="Side"), F("Quantity", U32),
        F("Symbol", SYMBOL), F("Price", PRICE8), F("TimeInForce", CHAR, codes="TimeInForce"),
        F("Display", CHAR, codes="Display"),
        F("OrderReferenceNumber", U64, "the engine's order id"), F("Capacity", CHAR),
        F("InterMarketSweepEligibility", CHAR), F("CrossType", CHAR),
        F("OrderState", CHAR, codes="OrderState"), F("ClOrdID", alpha(14)), _APPLEN),
        "the order was accepted (executions may follow at once)", tail="appendage"),
    Message("OrderReplaced", "ouch", "server", b"U", (
        _TS_OUCH, F("OrigUserRefNum", U32), F("UserRefNum", U32), F("Side", CHAR, codes="Side"),
        F("Quantity", U32, "new total quantity (filled quantity included)"), F("Symbol", SYMBOL),
        F("Price", PRICE8), F("TimeInForce", CHAR, codes="TimeInForce"),
        F("Display", CHAR, codes="Display"), F("OrderReferenceNumber", U64), F("Capacity", CHAR),
        F("InterMarketSweepEligibility", CHAR), F("CrossType", CHAR),
        F("OrderState", CHAR, codes="OrderState"), F("ClOrdID", alpha(14)), _APPLEN),
        "the replace (or a requote of a live quote side) took effect", tail="appendage"),
    Message("OrderCanceled", "ouch", "server", b"C", (
        _TS_OUCH,
        F("OrigUserRefNum", U32, "the order's UserRefNum (ouch-connect dialect only)",
          dialects=("ouch-connect",)),
        F("UserRefNum", U32), F("Quantity", U32, "quantity just taken off the order"),
        F("Reason", CHAR, codes="CancelReason")),
        "the order was cancelled or reduced"),
    Message("OrderExecuted", "ouch", "server", b"E", (
        _TS_OUCH, F("UserRefNum", U32), F("Quantity", U32, "executed now"),
        F("Price", PRICE8, "execution price"), F("LiquidityFlag", CHAR, codes="LiquidityFlag"),
        F("MatchNumber", U64, "the same for both sides of a trade"), _APPLEN),
        "an execution", tail="appendage"),
    Message("OrderRejected", "ouch", "server", b"J", (
        _TS_OUCH, F("UserRefNum", U32), F("Reason", U16, codes="RejectReason"),
        F("ClOrdID", alpha(14))),
        "an Enter Order, Replace Order or quote side was refused; nothing changed (but a refused "
        "quote side's previous side is cancelled: see Mass Quote)"),
    Message("CancelReject", "ouch", "server", b"I", (_TS_OUCH, F("UserRefNum", U32)),
            "a Cancel Order for an order that is not live"),
    Message("MassQuoteAck", "ouch", "server", b"q", (
        _TS_OUCH, F("QuoteId", U32), F("Status", CHAR, codes="QuoteStatus"),
        F("Reason", U16, codes="RejectReason", doc="0 when accepted"),
        F("Entries", U16, "entries sequenced")),
        "follows the per-side messages of an accepted quote", extension=True),
    Message("MassCancelReport", "ouch", "server", b"c", (
        _TS_OUCH, F("RequestId", U32), F("Symbol", SYMBOL), F("Canceled", U32,
                                                              "orders cancelled")),
        "follows the Order Canceled messages of a Mass Cancel", extension=True),
    Message("ProtectionTriggered", "ouch", "server", b"p", (
        _TS_OUCH, F("Fills", U32, "fills counted in the window"),
        F("Quantity", U64, "quantity filled in the window"), F("WindowMs", U32)),
        "market-maker protection tripped: every order of the user is being cancelled and mass "
        "quotes are refused until a Protection Reset", extension=True),
    Message("ProtectionReset", "ouch", "server", b"r", (_TS_OUCH,),
            "protection re-armed", extension=True),
)

ITCH: tuple[Message, ...] = (
    Message("SystemEvent", "itch", "server", b"S", (
        _LOCATE, _TRACKING, _TS_ITCH, F("EventCode", CHAR, codes="ItchSystemEvent")),
        "start and end of the stream"),
    Message("StockDirectory", "itch", "server", b"R", (
        _LOCATE, _TRACKING, _TS_ITCH, F("Stock", alpha(8)),
        F("MarketCategory", CHAR, "' ' (not applicable)"),
        F("FinancialStatusIndicator", CHAR, "' '"),
        F("RoundLotSize", U32, "the instrument's lot in quantity increments"),
        F("RoundLotsOnly", CHAR, "'N'"), F("IssueClassification", CHAR, "' '"),
        F("IssueSubType", alpha(2)), F("Authenticity", CHAR, "'P' (live)"),
        F("ShortSaleThresholdIndicator", CHAR, "' '"), F("IPOFlag", CHAR, "' '"),
        F("LULDReferencePriceTier", CHAR, "' '"), F("ETPFlag", CHAR, "' '"),
        F("ETPLeverageFactor", U32, "0"), F("InverseIndicator", CHAR, "'N'")),
        "one per instrument at the start of every subscription"),
    Message("StockTradingAction", "itch", "server", b"H", (
        _LOCATE, _TRACKING, _TS_ITCH, F("Stock", alpha(8)),
        F("TradingState", CHAR, codes="TradingState"), F("Reserved", CHAR),
        F("Reason", alpha(4))),
        "the instrument's trading status (T open, H halted or closed): in the snapshot, and live "
        "whenever it changes (an operator's halt / resume / close, trading hours)"),
    Message("AddOrder", "itch", "server", b"A", (
        _LOCATE, _TRACKING, _TS_ITCH, F("OrderReferenceNumber", U64),
        F("BuySellIndicator", CHAR, codes="BuySell"), F("Shares", U32, "displayed quantity"),
        F("Stock", alpha(8)), F("Price", PRICE4)),
        "an order (or an iceberg's displayed part) joins the book at the back of its level"),
    Message("OrderExecuted", "itch", "server", b"E", (
        _LOCATE, _TRACKING, _TS_ITCH, F("OrderReferenceNumber", U64),
        F("ExecutedShares", U32), F("MatchNumber", U64)),
        "a resting order traded at its price; at 0 shares left it leaves the book"),
    Message("OrderCancel", "itch", "server", b"X", (
        _LOCATE, _TRACKING, _TS_ITCH, F("OrderReferenceNumber", U64),
        F("CanceledShares", U32)), "part of a resting order was cancelled (it keeps priority)"),
    Message("OrderDelete", "itch", "server", b"D", (
        _LOCATE, _TRACKING, _TS_ITCH, F("OrderReferenceNumber", U64)),
        "a resting order left the book"),
    Message("OrderReplace", "itch", "server", b"U", (
        _LOCATE, _TRACKING, _TS_ITCH, F("OriginalOrderReferenceNumber", U64),
        F("NewOrderReferenceNumber", U64), F("Shares", U32), F("Price", PRICE4)),
        "a resting order was replaced and rests again at the back of its new level without "
        "trading first"),
    Message("Trade", "itch", "server", b"P", (
        _LOCATE, _TRACKING, _TS_ITCH, F("OrderReferenceNumber", U64, "0"),
        F("BuySellIndicator", CHAR, codes="BuySell"), F("Shares", U32), F("Stock", alpha(8)),
        F("Price", PRICE4), F("MatchNumber", U64)),
        "an execution against quantity that was not displayed: an iceberg's reserve, or an "
        "order too large for the Shares field"),
)

MESSAGES: tuple[Message, ...] = SOUP + OUCH_IN + OUCH_OUT + ITCH


def message(layer: str, sender: str, name: str) -> Message:
    for m in MESSAGES:
        if m.layer == layer and m.name == name and m.sender in (sender, "both"):
            return m
    raise KeyError(f"{layer} {sender} {name}")


# -- derived layouts ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """One message's fixed part in one dialect: the type byte first, then the fields."""
    message: Message | Group
    dialect: str
    fields: tuple[Field, ...]
    struct: struct.Struct        # the type byte (for messages) + fields
    dtype: np.dtype              # the same, as a packed big-endian numpy record
    names: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return self.struct.size

    def pack(self, **values) -> bytes:
        """The fixed part from field values (missing alpha/char fields are spaces, numbers 0)."""
        args = [] if isinstance(self.message, Group) else [self.message.type]
        for f in self.fields:
            v = values.pop(f.name, None)
            args.append(_default(f) if v is None else _wire(f, v))
        if values:
            raise TypeError(f"{self.message.name}: unknown field(s) {', '.join(values)}")
        return self.struct.pack(*args)

    def unpack(self, buf, offset: int = 0) -> dict:
        values = self.struct.unpack_from(buf, offset)
        if not isinstance(self.message, Group):
            values = values[1:]
        return {f.name: _python(f, v) for f, v in zip(self.fields, values)}


def _default(f: Field):
    t = f.type
    if t.fmt.endswith("s") and t.np.startswith("S"):
        return b" " * t.size
    if t is CHAR:
        return b" "
    if t.np == "6u1":
        return bytes(6)
    return 0


def _wire(f: Field, v):
    t = f.type
    if t.np == "6u1":
        return int(v).to_bytes(6, "big")
    if t is CHAR:
        return v if isinstance(v, bytes) else v.encode("ascii")
    if t.np.startswith("S"):
        b = v if isinstance(v, bytes) else str(v).encode("ascii")
        if len(b) > t.size:
            raise ValueError(f"{f.name}: {b!r} is longer than {t.size} bytes")
        return b.rjust(t.size) if t.name.startswith("numeric") else b.ljust(t.size)
    return v


def _python(f: Field, v):
    if f.type.np == "6u1":
        return int.from_bytes(v, "big")
    if f.type.np.startswith("S") and f.type is not CHAR:
        return v.strip(b" ")
    return v


def _resolve(f: Field, dialect: str) -> Field:
    if f.type is SYMBOL:
        n = _SYMBOL_LEN[dialect]
        return Field(f.name, FieldType("symbol", n, f"S{n}", f"{n}s", SYMBOL.doc), f.doc, f.codes)
    return f


@lru_cache(maxsize=None)
def layout(layer: str, sender: str, name: str, dialect: str = "nasdaq") -> Layout:
    """The codec of a message (or, with layer "group", of a repeating group entry)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}: expected one of {', '.join(DIALECTS)}")
    if layer == "group":
        m = GROUPS[name]
        typed = False
    else:
        m = message(layer, sender, name)
        typed = True
    fields = tuple(_resolve(f, dialect) for f in m.fields
                   if f.dialects is None or dialect in f.dialects)
    fmt = ">" + ("c" if typed else "") + "".join(f.type.fmt for f in fields)
    dt = [("type", "S1")] if typed else []
    dt += [(f.name, f.type.np) for f in fields]
    return Layout(m, dialect, fields, struct.Struct(fmt), np.dtype(dt),
                  tuple(f.name for f in fields))


@lru_cache(maxsize=None)
def framed_dtype(layer: str, sender: str, name: str, dialect: str = "nasdaq") -> np.dtype:
    """A sequenced message inside its SoupBinTCP packet (length, 'S', message) as one record,
    for encoding many at once."""
    lay = layout(layer, sender, name, dialect)
    return np.dtype([("soup_len", ">u2"), ("soup_type", "S1")]
                    + [(n, lay.dtype.fields[n][0]) for n in lay.dtype.names])


def inbound_sizes(dialect: str) -> dict[bytes, int]:
    """Fixed size of each client OUCH message (type byte included) in a dialect."""
    return {m.type: layout("ouch", "client", m.name, dialect).size for m in OUCH_IN}


def code_values(name: str) -> set:
    return CODES[name].values()


def code(codeset: str, name: str) -> bytes | int:
    return CODES[codeset].by_name(name)


def u48(values: np.ndarray) -> np.ndarray:
    """Integers as 6-byte big-endian rows (ITCH timestamps), vectorised."""
    return np.ascontiguousarray(values, dtype=">u8").view(np.uint8).reshape(-1, 8)[:, 2:]


def to_u48(rows: np.ndarray) -> np.ndarray:
    """6-byte big-endian rows back to int64."""
    out = np.zeros((len(rows), 8), dtype=np.uint8)
    out[:, 2:] = rows
    return out.view(">u8").reshape(-1).astype(np.int64)
