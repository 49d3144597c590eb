"""ext/itch_out.ItchEncoder on its own: messages decoded with the schema's struct layouts (not the
encoder's offsets), a view far larger than its initial capacity (growth, rehash, time priority),
replaces and icebergs, and a schema layout the C writers cannot honour refused at construction."""
import random

import numpy as np
import pytest

from ordex.ext.book import EVENT_DTYPE as BOOK_EVENT_DTYPE
from ordex.ext.book import EventKind as K
from ordex.ext.itch_out import ItchEncoder
from ordex.gateway.binary import schema

NAMES = ("AddOrder", "OrderExecuted", "OrderCancel", "OrderDelete", "OrderReplace", "Trade")
TS = 34_200_000_000_123


def encoder(next_ref=1 << 48):
    return ItchEncoder({n: schema.framed_dtype("itch", "server", n) for n in NAMES},
                       np.array([100, 0, 1]), [b"AAA", b"OFF", b"CCC"], next_ref)


def events(*rows):
    ev = np.zeros(len(rows), dtype=BOOK_EVENT_DTYPE)
    for j, r in enumerate(rows):
        for k, v in r.items():
            ev[k][j] = v
    return ev


def decode(data: bytes) -> list[tuple]:
    """(type, fields...) per packet, through the schema's struct codecs."""
    by_type = {schema.layout("itch", "server", n).message.type: schema.layout("itch", "server", n)
               for n in NAMES}
    out, i = [], 0
    while i < len(data):
        length = int.from_bytes(data[i:i + 2], "big")
        assert data[i + 2:i + 3] == b"S"
        msg = data[i + 3:i + 2 + length]
        out.append(by_type[msg[:1]].struct.unpack(msg))
        i += 2 + length
    return out


def test_rest_fill_cancel_and_anonymous_trade():
    enc = encoder()
    data, count = enc.encode(events(
        dict(order_id=7, price=5, qty=10, leaves=10, instrument=0, kind=K.RESTED, side=1),
        dict(order_id=8, other_id=7, price=5, qty=4, instrument=0, kind=K.FILL, side=2),
        dict(order_id=9, other_id=99, price=6, qty=2, instrument=0, kind=K.FILL, side=1),
        dict(order_id=5, price=1, qty=1, instrument=1, kind=K.RESTED, side=1),   # not on the wire
        dict(order_id=7, qty=6, instrument=0, kind=K.CANCELLED, side=1)), TS)
    msgs = decode(data)
    assert count == len(msgs) == 4
    ts = TS.to_bytes(6, "big")
    assert msgs[0] == (b"A", 1, 0, ts, 7, b"B", 10, b"AAA     ", 500)
    assert msgs[1] == (b"E", 1, 0, ts, 7, 4, 1)
    assert msgs[2] == (b"P", 1, 0, ts, 0, b"S", 2, b"AAA     ", 600, 2)
    assert msgs[3] == (b"D", 1, 0, ts, 7)
    assert len(enc) == 0 and enc.match == 2


def test_replace_reduce_and_iceberg_slices():
    enc = encoder(next_ref=1000)
    enc.encode(events(dict(order_id=1, price=5, qty=10, instrument=2, kind=K.RESTED, side=2),
                      dict(order_id=2, price=5, qty=3, instrument=2, kind=K.RESTED, side=2)), TS)
    data, _ = enc.encode(events(
        dict(order_id=1, price=6, qty=10, instrument=2, kind=K.REPLACED, side=2),
        dict(order_id=1, price=6, qty=10, leaves=10, instrument=2, kind=K.RESTED, side=2),
        dict(order_id=2, qty=1, leaves=2, instrument=2, kind=K.REDUCED, side=2),
        dict(order_id=2, price=5, qty=2, instrument=2, kind=K.REPLACED, side=2),
        dict(order_id=3, other_id=1, price=6, qty=10, instrument=2, kind=K.FILL, side=1),
        dict(order_id=1, price=6, qty=10, leaves=20, instrument=2, kind=K.REPLENISHED, side=2)),
        TS)
    ts = TS.to_bytes(6, "big")
    assert decode(data) == [
        (b"U", 3, 0, ts, 1, 1000, 10, 6),          # replaced and resting at once
        (b"X", 3, 0, ts, 2, 1),                     # displayed 3 -> leaves 2
        (b"D", 3, 0, ts, 2),                        # replaced, not resting again: deleted
        (b"E", 3, 0, ts, 1000, 10, 1),              # before the next event is published
        (b"A", 3, 0, ts, 1001, b"S", 10, b"CCC     ", 6),
    ]
    assert enc.orders() == [(1001, 3, b"S", 6, 10)]


def test_large_view_keeps_time_priority_through_growth():
    enc = encoder()
    rnd = random.Random(7)
    n = 50_000
    ids = list(range(1, n + 1))
    enc.encode(events(*[dict(order_id=i, price=1 + i % 50, qty=1 + i % 7, instrument=0,
                             kind=K.RESTED, side=1 + i % 2) for i in ids]), TS)
    gone = set(rnd.sample(ids, n // 2))
    data, count = enc.encode(events(*[dict(order_id=i, qty=1, instrument=0, kind=K.CANCELLED,
                                            side=1) for i in sorted(gone)]), TS)
    assert count == len(gone) and [m[4] for m in decode(data)] == sorted(gone)
    left = [i for i in ids if i not in gone]
    assert [o[0] for o in enc.orders()] == left
    snap, count = enc.snapshot(TS)
    assert count == len(left) == len(snap) // enc.add_size
    assert [m[4] for m in decode(snap)] == left
    assert enc.order(left[0]) == (left[0], 1, b"BS"[left[0] % 2:left[0] % 2 + 1],
                                  100 * (1 + left[0] % 50), 1 + left[0] % 7)
    assert enc.order(min(gone)) is None


def test_a_layout_the_writers_cannot_honour_is_refused():
    layouts = {n: schema.framed_dtype("itch", "server", n) for n in NAMES}
    add = layouts["AddOrder"]
    layouts["AddOrder"] = np.dtype([(k, ">u8" if k == "Shares" else add.fields[k][0])
                                    for k in add.names])
    with pytest.raises(ValueError, match="Shares"):
        ItchEncoder(layouts, np.array([1]), [b"A"], 1)
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        encoder().encode(np.zeros(2, dtype=np.int64), TS)


def test_soup_scan_counts_sequenced_messages_and_stops_at_a_partial_packet():
    from ordex.ext.soup_scan import scan
    enc = encoder()
    data, count = enc.encode(events(*[dict(order_id=i, price=5, qty=1, instrument=0,
                                           kind=K.RESTED, side=1) for i in range(1, 6)]), TS)
    stream = b"\x00\x01H" + data + b"\x00\x01H" + data[:10]      # heartbeats, a partial tail
    counts = np.zeros(256, dtype=np.int64)
    end = scan(stream, counts)
    assert end == 3 + len(data) + 3
    assert counts[ord("A")] == count == 5 and counts.sum() == 5
    with pytest.raises(ValueError, match="256"):
        scan(stream, np.zeros(8, dtype=np.int64))
