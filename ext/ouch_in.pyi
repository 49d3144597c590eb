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
