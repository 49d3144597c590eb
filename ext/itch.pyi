"""Nasdaq TotalView-ITCH 5.0: framing, decoding and order-book reconstruction.

Framing (ItchFramer, base of both classes below)
    Input is a byte stream of messages with 2-byte big-endian length prefixes (files, or TCP),
    or with soup=True, SoupBinTCP packets (length, packet type; 'S' carries one message, 'H' is a
    heartbeat; any other packet stops step() and is returned by take_control()).
    step(data, start=0, final=False) consumes whole frames and returns where it stopped: at a
    partial frame (pass the rest again with more data), at the end, or early when the consumer is
    full or a control packet arrived (`stopped`).  With final=True a partial frame is counted as
    truncated and skipped.  Bad input never raises; it is counted (reasons()):
      unknown_type   a type ITCH 5.0 does not define: skipped by its length prefix
      bad_frame      a length of 0, above 50, or not the type's fixed length: the framer scans
                     forward byte by byte to the next position where two consecutive frames look
                     valid (skipped_bytes counts what it passed over)
      truncated      the input ended inside a frame
    counts() -> {type byte: messages}, including unknown types.

ItchParser(capacity=65536)
    Decodes messages into ITCH_DTYPE records: parse(data) -> array of all of them; scan(data)
    decodes everything into a reused batch and returns the count (the benchmark's unit).
    Fields: ref (U: original), new_ref, match, ts_ns (since midnight, as sent), price (Price(4)),
    shares, stock, locate, tracking, type, side, code, code2, attribution (see itch.pxd for the
    per-type mapping of the less common messages).

ItchBook(capacity=65536, *, day_ns=0, quotes=True, soup=False, orders=65536)
    Rebuilds each stock locate's book from A, F, E, C, X, D, U and emits normalised events
    (ordex.ext.itch_levels) into `events` (take() them when step() stops): BOOK with the level's
    new total and the order reference; TRADE for E, C (F_NON_PRINTABLE when printable = N), P and
    Q (F_CROSS_TRADE); STATUS for S, H, B; a QUOTE whenever an update moved the top of book
    (quotes=True).  Instrument ids are stock locates; ts_ns = day_ns + the message timestamp;
    seq = the message number (soup: the SoupBinTCP sequence number).  Book reasons():
      unknown_order, duplicate_order, non_positive_size, non_positive_price, bad_side,
      overfill (more shares executed/cancelled than the order had: it is removed),
      locate_mismatch (the order's locate wins), crossed / locked (after an update; the events of
      that message carry F_CROSSED).
"""
import numpy as np

from ordex.ext.itch_levels import EventBuffer, LevelBook

ITCH_DTYPE: np.dtype
MESSAGE_SIZES: dict[bytes, int]
REASON_NAMES: tuple[str, ...]

class OrderMap:
    def __len__(self) -> int: ...
    def get(self, ref: int) -> tuple[int, int, int, int] | None: ...

class ItchFramer:
    soup: bool
    frames: int
    heartbeats: int
    soup_seq: int
    def step(self, data: bytes, start: int = 0, final: bool = False) -> int: ...
    def take_control(self) -> bytes | None: ...
    @property
    def stopped(self) -> bool: ...
    def counts(self) -> dict[bytes, int]: ...
    def reasons(self) -> dict[str, int]: ...

class ItchParser(ItchFramer):
    def __init__(self, capacity: int = 65536, *, soup: bool = False) -> None: ...
    def take(self) -> np.ndarray: ...
    def parse(self, data: bytes, final: bool = True) -> np.ndarray: ...
    def scan(self, data: bytes, final: bool = True) -> int: ...

class ItchBook(ItchFramer):
    orders: OrderMap
    levels: LevelBook
    events: EventBuffer
    recv_ns: int
    emit_quotes: bool
    def __init__(self, capacity: int = 65536, *, day_ns: int = 0, quotes: bool = True,
                 soup: bool = False, orders: int = 65536) -> None: ...
    def symbol(self, locate: int) -> str | None: ...
    def symbols(self) -> dict[int, str]: ...
    def depth(self, locate: int, side: int, n: int = -1) -> list[tuple[int, int, int]]: ...
    def top(self, locate: int) -> tuple[int, int, int, int]: ...
    def order(self, ref: int) -> tuple[int, int, int, int] | None: ...
