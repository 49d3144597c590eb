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
