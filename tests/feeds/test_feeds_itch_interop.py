"""The ITCH parser and book agree with independent ITCH 5.0 parsers (itchfeed, meatpy) run on the
same bytes: message counts per type, every decoded field, and the books they rebuild."""
from __future__ import annotations

import datetime
from collections import Counter

import numpy as np
import pytest
from feeds_helpers import ReferenceBook, frames, itchfeed_messages
from meatpy.itch50 import ITCH50MarketProcessor, ITCH50MessageReader
from meatpy.lob import ExecutionPriorityExceptionList

from ordex.ext.itch import ItchBook, ItchParser
from ordex.feeds.synth import synthetic_itch

# ITCH_DTYPE field -> itchfeed attribute, per message type (the fields both decode).
FIELDS = {
    b"S": {"code": "event_code"},
    b"R": {"stock": "stock", "code": "market_category", "shares": "round_lot_size"},
    b"H": {"stock": "stock", "code": "trading_state"},
    b"A": {"ref": "order_reference_number", "side": "buy_sell_indicator", "shares": "shares",
           "stock": "stock", "price": "price"},
    b"F": {"ref": "order_reference_number", "side": "buy_sell_indicator", "shares": "shares",
           "stock": "stock", "price": "price", "attribution": "attribution"},
    b"E": {"ref": "order_reference_number", "shares": "executed_shares", "match": "match_number"},
    b"C": {"ref": "order_reference_number", "shares": "executed_shares", "match": "match_number",
           "price": "execution_price", "code": "printable"},
    b"X": {"ref": "order_reference_number", "shares": "cancelled_shares"},
    b"D": {"ref": "order_reference_number"},
    b"U": {"ref": "order_reference_number", "new_ref": "new_order_reference_number",
           "shares": "shares", "price": "price"},
    b"P": {"ref": "order_reference_number", "side": "buy_sell_indicator", "shares": "shares",
           "stock": "stock", "price": "price", "match": "match_number"},
}


def _ours(row, name):
    v = row[name]
    if name in ("side", "code"):
        return bytes([v])
    if name == "attribution":
        return int(v).to_bytes(4, "big")
    return v


def assert_same_messages(data: bytes) -> int:
    ours = ItchParser().parse(data)
    theirs = itchfeed_messages(data)
    assert len(ours) == len(theirs)
    for row, msg in zip(ours, theirs):
        t = bytes([row["type"]])
        assert t == msg.message_type
        assert (row["locate"], row["tracking"], row["ts_ns"]) == \
            (msg.stock_locate, msg.tracking_number, msg.timestamp)
        for name, attr in FIELDS[t].items():
            assert _ours(row, name) == getattr(msg, attr), (t, name)
    return len(ours)


def test_counts_per_type_match_itchfeed_and_meatpy(itch_file, itch_bytes):
    parser = ItchParser()
    assert len(parser.parse(itch_bytes)) == 12_012
    ours = {k.decode(): v for k, v in parser.counts().items()}
    itchfeed = Counter(m.message_type.decode() for m in itchfeed_messages(itch_bytes))
    meatpy = Counter(type(m).type.decode() if hasattr(type(m), "type") else m.type.decode()
                     for m in ITCH50MessageReader().read_file(itch_file))
    assert ours == dict(itchfeed) == dict(meatpy)
    # The counts the data's README states, as a fixed point of reference.
    assert ours == {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745,
                    "U": 12, "P": 5000}
    assert parser.reasons() == {}


def test_every_field_matches_itchfeed_on_the_recording(itch_bytes):
    assert assert_same_messages(itch_bytes) == 12_012


def test_every_field_matches_itchfeed_on_synthetic_flow():
    data = synthetic_itch(20_000, n_instruments=7, seed=3)
    assert assert_same_messages(data) == 20_000


def _meatpy_books(itch_file, symbols):
    procs = {s: ITCH50MarketProcessor(s, datetime.datetime(2010, 12, 24)) for s in symbols}
    for m in ITCH50MessageReader().read_file(itch_file):
        for p in procs.values():
            try:
                p.process_message(m)
            except ExecutionPriorityExceptionList:
                # meatpy applies the execution, then reports that it was not first in its queue
                # (the simulated data does not respect time priority): the book is still right.
                pass
    return procs


def _meatpy_depth(proc, side):
    lob = proc.current_lob
    levels = lob.bid_levels if side > 0 else lob.ask_levels
    return [(lv.price, lv.volume, lv.n_orders) for lv in levels if lv.volume]


def _run_book(data: bytes) -> ItchBook:
    book = ItchBook()
    pos = 0
    while True:
        pos = book.step(data, pos, True)
        book.events.take()
        if not book.stopped:
            return book


def test_books_match_meatpy_at_the_end(itch_file, itch_bytes):
    book = _run_book(itch_bytes)
    symbols = book.symbols()
    assert symbols == {1: "ALC", 2: "BOB", 3: "CHAR"}
    procs = _meatpy_books(itch_file, symbols.values())
    for locate, symbol in symbols.items():
        for side in (1, -1):
            ours = book.depth(locate, side)   # (price, shares, orders), best first
            assert ours == _meatpy_depth(procs[symbol], side), (symbol, side)
            assert len(ours) > 100


def test_book_matches_reference_after_every_message(itch_bytes):
    """After each message, the touched instrument's top of book and, every 500 messages, every
    instrument's full depth equal those of a plain-dict book fed by itchfeed's decoding."""
    ref = ReferenceBook()
    book = ItchBook()
    msgs = itchfeed_messages(itch_bytes)
    for n, (frame, msg) in enumerate(zip(frames(itch_bytes), msgs), 1):
        assert book.step(frame, 0, False) == len(frame)
        book.events.take()
        ref.apply(msg)
        loc = msg.stock_locate
        for side in (1, -1):
            want = ref.depth(loc, side)
            got = book.depth(loc, side, 1)
            assert [(p, q) for p, q, _ in got] == want[:1], (n, side)
        if n % 500 == 0:
            for loc in (1, 2, 3):
                for side in (1, -1):
                    assert [(p, q) for p, q, _ in book.depth(loc, side)] == ref.depth(loc, side)
    assert book.reasons().get("unknown_order", 0) == ref.unknown == 117
    assert len(book.orders) == len(ref.orders)


def test_synthetic_flow_book_matches_reference():
    data = synthetic_itch(60_000, n_instruments=20, seed=11)
    ref = ReferenceBook()
    for m in itchfeed_messages(data):
        ref.apply(m)
    book = _run_book(data)
    assert book.reasons() == {}
    for loc in range(1, 21):
        for side in (1, -1):
            assert [(p, q) for p, q, _ in book.depth(loc, side)] == ref.depth(loc, side)
    assert len(book.orders) == len(ref.orders) > 1000


def test_events_do_not_depend_on_how_the_bytes_are_chunked(itch_bytes):
    from ordex.feeds.itch import ItchSource
    whole = np.concatenate(list(ItchSource().feed(itch_bytes, final=True)))
    rng = np.random.default_rng(5)
    src = ItchSource(capacity=64)
    parts, pos = [], 0
    while pos < len(itch_bytes):
        n = int(rng.integers(1, 200))
        parts.extend(src.feed(itch_bytes[pos:pos + n]))
        pos += n
    parts.extend(src.finish())
    chunked = np.concatenate(parts)
    assert chunked.tobytes() == whole.tobytes()
    assert src.reasons() == {"crossed": 6842, "unknown_order": 117}


@pytest.mark.parametrize("compress", [False, True])
def test_file_reader_plain_and_gzip(tmp_path, itch_bytes, compress):
    import gzip
    from ordex.feeds.itch import ItchSource, read_itch
    path = tmp_path / ("x.itch.gz" if compress else "x.itch")
    path.write_bytes(gzip.compress(itch_bytes) if compress else itch_bytes)
    src = ItchSource()
    n = sum(len(b) for b in read_itch(path, src))
    assert src.counts()["A"] == 4997 and n == 12_474
    assert src.instruments()["BOB"].price_decimals == 4
