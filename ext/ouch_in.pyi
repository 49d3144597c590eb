"""OUCH order entry's batch of engine commands, built in C: everything one read from a connection
yields (gateway/binary/ouch.py `_Pending`), submitted as one array.  Rows appended one at a time
cost a C call instead of a numpy structured assignment from a tuple (the mass quote's cost).

ECHO_DTYPE: per command, what the client sent that its replies echo: src (ouch_codec.SRC_*: where
the row came from), clordid (the client's 14 bytes), capacity, ise, cross, display, old_qty (a
reduction's previous quantity).

CommandBatch()
    command(kind, session, *, account, instrument, side, ord_type, tif, price, qty, display,
            flags, scope, clordid, orig, src, client_clordid, capacity, ise, cross, shown,
            old_qty) -> index
        One command, fields not given zero (ClOrdIDs NUL padded, cut at 24 bytes), and its
        echo record (client_clordid space padded to 14; `shown` is the echoed Display flag).
    add(rows, echo) -> index of the first: arrays (COMMAND_DTYPE, ECHO_DTYPE) of one length.
    build() -> (rows, echo): copies as arrays; padding bytes are zero (the journal stores them).
    count / len(): commands so far.

EnterDecoder(dt, by_symbol, pstep, side_in, tif_in, display_ok, reject, codes)
    One dialect's Enter Order (dt: schema.framed_dtype of the client's EnterOrder; field widths
    checked), the instruments (stripped symbol -> id, wire price units per tick), the code tables
    of ouch_codec (SIDE_IN, TIF_IN, DISPLAY_OK, reject codes by name) and the engine / appendage
    codes by name (NEW_ORDER, LIMIT, POST_ONLY, SRC_ENTER, FIRM, MAX_FLOOR, PRICE_TYPE,
    POST_ONLY_TAG).
    decode(batch, terms, buf, offset, k, stride, session, account, firms, firm_accounts,
           max_userref) -> (max_userref, [(UserRefNum, reject code, ClOrdID)])
        k packets of stride bytes at buf[offset:] (length, 'U', Enter Order, appendage).  Checks,
        the first failing wins: UserRefNum above the last one (the floor rises with every
        message, refused or not), known symbol, side, time in force and Display, price > 0 on
        the instrument's grid, quantity > 0, appendage length = the bytes after the message,
        then the appendage (Firm -> one of firms (4 bytes each, upper case; blank or "????": the
        default account), MaxFloor -> display, PriceType must be L, PostOnly P/Y -> flag;
        malformed: PROCESSING_ERROR).  Valid ones become rows in the batch (price in ticks,
        ClOrdID the UserRefNum as 10 digits, echo src SRC_ENTER), in message order, and their
        (instrument, ticks, quantity) go into terms (an OrderTerms); firm_accounts: int32 array.

QuoteDecoder(entry_dt, enter, reject, codes)
    One dialect's Mass Quote entries (entry_dt: schema layout of the QuoteEntry group; its Symbol
    as wide as the Enter Order's), the instruments of `enter` (an EnterDecoder), reject codes by
    name and the engine / echo codes by name (QUOTE, CANCEL, LIMIT, DAY, SRC_QUOTE, SRC_SILENT).
    decode(batch, terms, quotes, synth, body, offset, count, session, account, max_userref)
            -> (max_userref, [(UserRefNum, reject code)])
        `count` entries at body[offset:], bid then ask of each, in order.  For each side the
        current quote side on (instrument, side) stops being current ("prev").  Quantity 0: a
        silent CANCEL of prev, if any.  Else the checks, the first failing wins: known symbol,
        UserRefNum above the last one (the floor rises only past a known symbol), price > 0 on
        the grid; a refused side is listed and cancels prev like quantity 0.  A valid side is a
        QUOTE row (LIMIT DAY, price in ticks, ClOrdID the UserRefNum as 10 digits + "Q",
        orig_clordid prev's, if any; echo src SRC_QUOTE, defaults otherwise), its terms go into
        `terms`, it becomes the current side in `quotes` and prev stops being a quote side.
        Each CANCEL's ClOrdID is completed at submit: (row index, 11-byte prefix) is appended
        to `synth`.
    entry_size: bytes per entry.

QuoteSides(): a user's quote sides in C: the current side's UserRefNum per (instrument, side)
    and every UserRefNum still treated as a quote side (current ones, and previous ones whose
    cancel is in flight).  side(i, s) / pop_side(i, s) (stops being current, stays tracked) /
    set_side(i, s, ref); forget(ref) / forget_many(refs): no longer a quote side (nor current);
    position(ref) -> (i, s) or None; `ref in`, len() (tracked), refs() (tracked, ascending),
    current() -> {(i, s): ref}; copy / deepcopy, == (same current sides and tracked refs).

OrderTerms(): a user's live orders, UserRefNum -> (instrument, price in ticks, quantity), in C
    memory (a dict entry per order was the gateway's largest per-order cost).  Mapping methods:
    len, in, get(ref, default), [ref], [ref] = (i, p, q), pop(ref, default), keys(), items(),
    iteration over refs, copy() (also copy.copy / deepcopy), == another or a dict; and
    put_many(refs, instrument, price, qty) / pop_many(refs) for arrays (absent refs ignored).
"""
import numpy as np

ECHO_DTYPE: np.dtype

class CommandBatch:
    count: int
    def command(self, kind: int, session: int, *, account: int = 0, instrument: int = 0,
                side: int = 0, ord_type: int = 0, tif: int = 0, price: int = 0, qty: int = 0,
                display: int = 0, flags: int = 0, scope: int = 0, clordid: bytes = b"",
                orig: bytes = b"", src: bytes = b" ", client_clordid: bytes = b"",
                capacity: bytes = b"A", ise: bytes = b"N", cross: bytes = b"N",
                shown: bytes = b"Y", old_qty: int = 0) -> int: ...
    def add(self, rows: np.ndarray, echo: np.ndarray) -> int: ...
    def build(self) -> tuple[np.ndarray, np.ndarray]: ...
    def __len__(self) -> int: ...

class EnterDecoder:
    def __init__(self, dt: np.dtype, by_symbol: dict[bytes, int], pstep: np.ndarray,
                 side_in: np.ndarray, tif_in: np.ndarray, display_ok: np.ndarray,
                 reject: dict[str, int], codes: dict[str, int]) -> None: ...
    def decode(self, batch: CommandBatch, terms: OrderTerms, buf: bytes, offset: int, k: int,
               stride: int, session: int, account: int, firms: bytes, firm_accounts: np.ndarray,
               max_userref: int) -> tuple[int, list[tuple[int, int, bytes]]]: ...


class QuoteDecoder:
    entry_size: int
    def __init__(self, entry_dt: np.dtype, enter: EnterDecoder, reject: dict[str, int],
                 codes: dict[str, int]) -> None: ...
    def decode(self, batch: CommandBatch, terms: OrderTerms, quotes: QuoteSides,
               synth: list[tuple[int, bytes]], body: bytes, offset: int, count: int,
               session: int, account: int, max_userref: int) -> tuple[int, list[tuple[int, int]]]: ...


class QuoteSides:
    def side(self, instrument: int, side: int) -> int | None: ...
    def pop_side(self, instrument: int, side: int) -> int | None: ...
    def set_side(self, instrument: int, side: int, ref: int) -> None: ...
    def forget(self, ref: int) -> None: ...
    def forget_many(self, refs) -> None: ...
    def position(self, ref: int) -> tuple[int, int] | None: ...
    def __contains__(self, ref: int) -> bool: ...
    def __len__(self) -> int: ...
    def refs(self) -> list[int]: ...
    def current(self) -> dict[tuple[int, int], int]: ...
    def copy(self) -> QuoteSides: ...


class OrderTerms:
    def __len__(self) -> int: ...
    def __contains__(self, ref: int) -> bool: ...
    def get(self, ref: int, default=None) -> tuple[int, int, int] | None: ...
    def __getitem__(self, ref: int) -> tuple[int, int, int]: ...
    def __setitem__(self, ref: int, terms: tuple[int, int, int]) -> None: ...
    def pop(self, ref: int, default=None) -> tuple[int, int, int] | None: ...
    def put_many(self, refs, instrument, price, qty) -> None: ...
    def pop_many(self, refs) -> None: ...
    def keys(self) -> list[int]: ...
    def items(self) -> list[tuple[int, tuple[int, int, int]]]: ...
    def copy(self) -> OrderTerms: ...
