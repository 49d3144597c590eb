"""Deterministic synthetic ITCH 5.0 order flow for benchmarks and tests.

The real recording in ../shared/data is 12k messages: too small to time a parser.  This builds a
realistic mix (adds near the touch, many deletes and replaces, some executions and cancels, hidden
trades) over many instruments, so the book has depth and the order map churns.  Each instrument's
mid stays put and orders stay on their side of it, so books never cross.  Every message is a
valid ITCH 5.0 message referring to a live order, so an independent parser sees the same stream.
"""
from __future__ import annotations

import random
import struct

_HDR = ">cHH6s"
_A = struct.Struct(_HDR + "QcI8sI")
_F = struct.Struct(_HDR + "QcI8sI4s")
_E = struct.Struct(_HDR + "QIQ")
_C = struct.Struct(_HDR + "QIQcI")
_X = struct.Struct(_HDR + "QI")
_D = struct.Struct(_HDR + "Q")
_U = struct.Struct(_HDR + "QQII")
_P = struct.Struct(_HDR + "QcI8sIQ")
_R = struct.Struct(_HDR + "8sccIcc2scccccIc")
_S = struct.Struct(_HDR + "c")
_H = struct.Struct(_HDR + "8scc4s")

# Cumulative weights of the order-flow mix (roughly Nasdaq's: adds and deletes dominate).
_MIX = (("A", 40), ("F", 2), ("D", 33), ("U", 10), ("E", 6), ("X", 4), ("C", 1), ("P", 4))


def _frame(out: bytearray, st: struct.Struct, *fields) -> None:
    out += st.size.to_bytes(2, "big")
    out += st.pack(*fields)


def synthetic_itch(n_messages: int, n_instruments: int = 50, seed: int = 1) -> bytes:
    """About n_messages length-prefixed ITCH 5.0 messages (exactly n_messages, including the
    directory and system messages at the start)."""
    rng = random.Random(seed)
    out = bytearray()
    ts = 34_200_000_000_000  # 09:30 in ns since midnight
    names = [f"S{i:04d}".encode().ljust(8) for i in range(n_instruments)]
    mids = [rng.randint(1_000, 5_000) * 100 for _ in range(n_instruments)]  # Price(4), 1-cent ticks
    live: list[list[int]] = [[] for _ in range(n_instruments)]  # refs per instrument
    orders: dict[int, tuple[int, int, int]] = {}  # ref -> (locate index, price, shares)
    next_ref = 1
    match = 1

    def t6() -> bytes:
        return ts.to_bytes(6, "big")

    _frame(out, _S, b"S", 0, 0, t6(), b"O")
    count = 1
    for i, name in enumerate(names):
        _frame(out, _R, b"R", i + 1, 0, t6(), name, b"Q", b"N", 100, b"N", b"C", b"Z ", b"P",
               b"N", b"N", b"1", b"N", 0, b"N")
        _frame(out, _H, b"H", i + 1, 0, t6(), name, b"T", b" ", b"    ")
        count += 2
    _frame(out, _S, b"S", 0, 0, t6(), b"Q")
    count += 1
    kinds = [k for k, w in _MIX for _ in range(w)]
    while count < n_messages:
        ts += rng.randint(1, 20_000)
        i = rng.randrange(n_instruments)
        kind = rng.choice(kinds)
        refs = live[i]
        if kind not in ("A", "F", "P") and len(refs) < 20:
            kind = "A"
        locate = i + 1
        if kind in ("A", "F"):
            buy = rng.random() < 0.5
            off = int(rng.expovariate(0.25)) + 1
            price = mids[i] - off * 100 if buy else mids[i] + off * 100
            shares = rng.choice((100, 100, 100, 200, 300, 500, 1000, rng.randint(1, 999)))
            ref = next_ref
            next_ref += 1
            side = b"B" if buy else b"S"
            if kind == "A":
                _frame(out, _A, b"A", locate, 0, t6(), ref, side, shares, names[i], price)
            else:
                _frame(out, _F, b"F", locate, 0, t6(), ref, side, shares, names[i], price, b"MPID")
            orders[ref] = (i, price, shares)
            refs.append(ref)
        elif kind == "P":
            _frame(out, _P, b"P", locate, 0, t6(), 0, b"B", rng.randint(1, 500), names[i],
                   mids[i], match)
            match += 1
        else:
            k = rng.randrange(len(refs))
            ref = refs[k]
            _, price, shares = orders[ref]
            if kind == "D" or (kind in ("E", "X", "C") and shares <= 1):
                _frame(out, _D, b"D", locate, 0, t6(), ref)
                refs[k] = refs[-1]
                refs.pop()
                del orders[ref]
            elif kind == "U":
                new_ref = next_ref
                next_ref += 1
                new_price = price + rng.choice((-100, 0, 100))
                new_shares = rng.choice((100, 200, shares))
                if new_price == mids[i] or new_price <= 0:  # stay on the order's side of the mid
                    new_price = price
                _frame(out, _U, b"U", locate, 0, t6(), ref, new_ref, new_shares, new_price)
                del orders[ref]
                orders[new_ref] = (i, new_price, new_shares)
                refs[k] = new_ref
            else:
                qty = rng.randint(1, shares - 1)
                if kind == "E":
                    _frame(out, _E, b"E", locate, 0, t6(), ref, qty, match)
                    match += 1
                elif kind == "C":
                    _frame(out, _C, b"C", locate, 0, t6(), ref, qty, match, b"Y", price)
                    match += 1
                else:
                    _frame(out, _X, b"X", locate, 0, t6(), ref, qty)
                orders[ref] = (i, price, shares - qty)
        count += 1
    return bytes(out)
