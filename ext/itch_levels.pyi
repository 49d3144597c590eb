"""Normalised market-data events, the price-level book, and decimal / time text parsing.

Events
    EVENT_DTYPE rows (the C struct Event): ts_ns (exchange time, ns since the epoch), recv_ns
    (receive time; = ts_ns when the source has none), seq (venue sequence), price, qty, price2,
    qty2, ref, instrument, kind, side (+1 bid/buy, -1 ask/sell, 0 unknown), action, flags.
    Prices and quantities are int64 fixed point at the instrument's decimals.
      BOOK   level (side, price) now holds qty in total (0 removes it); action = venue message
             type; ref = order reference where the venue has one (ITCH).
      TRADE  price, qty, side = aggressor (0 unknown), ref = venue trade / match id.
      QUOTE  best bid price/qty in price/qty, best ask in price2/qty2 (0 = that side is empty);
             F_VENUE when the venue published it, else derived from our book when its top moved.
      STATUS action = Status (reset, snapshot end, trading state, system event, broken trade).

LevelBook
    Aggregated depth per instrument id (>= 0) and side, as sorted arrays with the best level last
    (binary search; inserts near the touch move little memory).  set(i, side, price, qty) sets a
    level's total and returns the previous one; add(i, side, price, dqty, dcount) adjusts a
    level's total and order count, removing it when either reaches 0, and returns the new total.

parse_decimal(text, scale) -> int
    "0.3513" at scale 8 -> 35130000.  Exact: digits beyond `scale` must be zeros (else
    ValueError "more decimals than the scale"); floats are refused; int64 overflow is refused.
parse_iso8601(text) -> int
    "2021-04-17T16:43:37.075687Z" (or +00:00) -> ns since the epoch, without going through float.
"""
from enum import IntEnum

import numpy as np

EVENT_DTYPE: np.dtype
BID: int
ASK: int

class Kind(IntEnum):
    BOOK = 1
    TRADE = 2
    QUOTE = 3
    STATUS = 4

class Status(IntEnum):
    ST_RESET = 1
    ST_SNAPSHOT_END = 2
    ST_TRADING = 3
    ST_HALTED = 4
    ST_PAUSED = 5
    ST_QUOTE_ONLY = 6
    ST_SYSTEM = 7
    ST_BROKEN_TRADE = 8

class Flag(IntEnum):
    F_SNAPSHOT = 1
    F_CROSSED = 2
    F_STALE = 4
    F_OUT_OF_BAND = 8
    F_VENUE = 16
    F_NON_PRINTABLE = 32
    F_CROSS_TRADE = 64

class DecimalError(IntEnum):
    DEC_OK = 0
    DEC_SYNTAX = 1
    DEC_OFF_GRID = 2
    DEC_OVERFLOW = 3

class EventBuffer:
    capacity: int
    def __init__(self, capacity: int = 65536) -> None: ...
    def __len__(self) -> int: ...
    @property
    def free(self) -> int: ...
    def reserve(self, free: int) -> None: ...
    def take(self) -> np.ndarray: ...
    def append(self, *, instrument: int, kind: int, ts_ns: int = 0, recv_ns: int = 0, seq: int = 0,
               side: int = 0, price: int = 0, qty: int = 0, price2: int = 0, qty2: int = 0,
               ref: int = 0, action: int = 0, flags: int = 0) -> bool: ...

class LevelBook:
    def set(self, instrument: int, side: int, price: int, qty: int) -> int: ...
    def add(self, instrument: int, side: int, price: int, dqty: int, dcount: int = 1) -> int: ...
    def clear(self, instrument: int) -> None: ...
    def depth(self, instrument: int, side: int, n: int = -1) -> list[tuple[int, int, int]]: ...
    def top(self, instrument: int) -> tuple[int, int, int, int]: ...
    def crossed(self, instrument: int) -> bool: ...
    def instruments(self) -> list[int]: ...

def parse_decimal(text: str | bytes | int, scale: int) -> int: ...
def parse_iso8601(text: str | bytes) -> int: ...
