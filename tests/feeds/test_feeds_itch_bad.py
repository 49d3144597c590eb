"""Bad ITCH input is counted with a reason and skipped; the parser and book never crash and
recover the messages around the damage.  Also: SoupBinTCP framing and streams over TCP."""
from __future__ import annotations

import asyncio
import gzip
import struct

import numpy as np
from feeds_helpers import ITCH_FILE, frames
from hypothesis import given, settings
from hypothesis import strategies as st

from ordex.ext.itch import ItchBook, ItchParser
from ordex.feeds.itch import ItchSource, connect_itch, read_itch, soup_login

HDR = ">cHH6s"


def msg(fmt: str, *fields) -> bytes:
    body = struct.pack(HDR + fmt, *fields)
    return len(body).to_bytes(2, "big") + body


def ts(n: int) -> bytes:
    return n.to_bytes(6, "big")


def add(ref, side=b"B", shares=100, price=100_000, locate=1, t=1):
    return msg("QcI8sI", b"A", locate, 0, ts(t), ref, side, shares, b"X       ", price)


def execute(ref, shares, match=1, locate=1):
    return msg("QIQ", b"E", locate, 0, ts(2), ref, shares, match)


def delete(ref, locate=1):
    return msg("Q", b"D", locate, 0, ts(3), ref)


def run(data: bytes, book=None):
    book = book or ItchBook()
    events, pos = [], 0
    while True:
        pos = book.step(data, pos, True)
        events.append(book.events.take())
        if not book.stopped:
            break
    return book, np.concatenate(events)


def counts(data: bytes) -> dict:
    p = ItchParser()
    p.parse(data)
    return p.counts(), p.reasons()


def test_truncated_file_counts_the_partial_frame(itch_bytes):
    whole, _ = counts(itch_bytes)
    last = len(frames(itch_bytes)[-1])
    cut = itch_bytes[: len(itch_bytes) - 5]   # inside the last message
    got, reasons = counts(cut)
    assert sum(got.values()) == sum(whole.values()) - 1
    assert reasons == {"truncated": 1, "skipped_bytes": last - 5}


def test_truncated_gzip_stops_cleanly(tmp_path, itch_bytes):
    path = tmp_path / "cut.itch.gz"
    packed = gzip.compress(itch_bytes)
    path.write_bytes(packed[: len(packed) // 2])
    src = ItchSource()
    list(read_itch(path, src))
    assert src.reasons()["bad_gzip"] == 1
    assert 0 < src.book.frames < 12_012


def test_garbage_between_frames_is_skipped(itch_bytes):
    fs = frames(itch_bytes)
    damaged = b"".join(fs[:5000]) + b"\xff" * 37 + b"".join(fs[5000:])
    got, reasons = counts(damaged)
    assert got == counts(itch_bytes)[0]
    assert reasons == {"bad_frame": 1, "skipped_bytes": 37}


def test_corrupt_length_prefix_resynchronises(itch_bytes):
    fs = frames(itch_bytes)
    bad = bytearray(fs[6000])
    bad[1] = 200                      # a length no ITCH message has
    damaged = b"".join(fs[:6000]) + bytes(bad) + b"".join(fs[6001:])
    got, reasons = counts(damaged)
    assert sum(got.values()) == 12_011          # only the damaged message is lost
    assert reasons["bad_frame"] == 1 and reasons["skipped_bytes"] == len(bad)


def test_wrong_length_for_its_type_resynchronises(itch_bytes):
    fs = frames(itch_bytes)
    bad = bytearray(fs[100])
    bad[1] -= 1                       # one byte short for its type
    damaged = b"".join(fs[:100]) + bytes(bad) + b"".join(fs[101:])
    got, reasons = counts(damaged)
    assert sum(got.values()) == 12_011
    assert reasons["bad_frame"] == 1


def test_unknown_message_type_is_counted_and_skipped(itch_bytes):
    fs = frames(itch_bytes)
    alien = b"\x00\x05Z1234"
    got, reasons = counts(b"".join(fs[:10]) + alien + b"".join(fs[10:]))
    assert got[b"Z"] == 1 and got[b"A"] == 4997
    assert reasons == {"unknown_type": 1}


def test_zero_padding_at_the_end(itch_bytes):
    got, reasons = counts(itch_bytes + b"\x00" * 10)
    assert sum(got.values()) == 12_012
    assert reasons["bad_frame"] == 1 and reasons["skipped_bytes"] == 10


def test_book_reasons_for_inconsistent_orders():
    data = b"".join([
        add(1), add(1),                       # duplicate reference
        add(2, shares=0),                     # zero shares
        add(3, side=b"?"),                    # neither B nor S
        add(4, price=0),                      # zero price
        execute(99, 10),                      # unknown order
        execute(1, 150),                      # more than the order has: removed
        delete(1),                            # already gone
        add(5), execute(5, 0),                # zero executed
    ])
    book, events = run(data)
    assert book.reasons() == {"duplicate_order": 1, "non_positive_size": 2, "bad_side": 1,
                              "non_positive_price": 1, "unknown_order": 2, "overfill": 1}
    assert book.depth(1, 1) == [(100_000, 100, 1)]     # order 5 is all that is left
    trades = events[events["kind"] == 2]
    assert trades["qty"].tolist() == [100]               # the overfill traded what there was


def test_crossed_and_locked_books_are_flagged():
    data = add(1, b"B", price=100_000) + add(2, b"S", price=100_000) + add(3, b"S", price=99_000)
    book, events = run(data)
    assert book.reasons() == {"locked": 1, "crossed": 1}
    flagged = events[(events["flags"] & 2) != 0]
    assert set(flagged["ref"][flagged["kind"] == 1].tolist()) == {2, 3}


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 12_000))
def test_random_bytes_never_crash(noise, where):
    base = ITCH_FILE.read_bytes()[:20_000] if ITCH_FILE.is_file() else add(1) * 50
    where = min(where, len(base))
    book, _ = run(base[:where] + noise + base[where:])
    assert book.frames >= 0
    src = ItchSource(capacity=16)
    for i in range(0, len(noise), 7):
        list(src.feed(noise[i:i + 7]))
    list(src.finish())


def soup(data: bytes) -> bytes:
    """The frames of `data` as SoupBinTCP sequenced-data packets, with heartbeats, a login
    accepted packet first and an end-of-session packet last."""
    out = [b"\x00\x1fA" + b"SESSION001" + b"41".rjust(20)]
    for i, f in enumerate(frames(data)):
        out.append((len(f) - 1).to_bytes(2, "big") + b"S" + f[2:])
        if i % 1000 == 0:
            out.append(b"\x00\x01H")
    out.append(b"\x00\x01Z")
    return b"".join(out)


def test_soupbintcp_framing(itch_bytes):
    plain = np.concatenate(list(ItchSource().feed(itch_bytes, final=True)))
    src = ItchSource(soup=True)
    packed = soup(itch_bytes)
    got = []
    for i in range(0, len(packed), 333):
        got.extend(src.feed(packed[i:i + 333]))
    got.extend(src.finish())
    events = np.concatenate(got)
    assert src.session == "SESSION001" and src.ended
    assert src.book.heartbeats == 13
    assert src.book.soup_seq == 41 + 12_012
    # Same events; only seq differs: the soup sequence number instead of the message number.
    assert events["seq"][0] >= 41
    cols = [c for c in plain.dtype.names if c != "seq"]
    assert all((events[c] == plain[c]).all() for c in cols)


def _serve(payload: bytes, expect_login: bool):
    received = []

    async def handle(reader, writer):
        if expect_login:
            received.append(await reader.readexactly(2 + 47))
        for i in range(0, len(payload), 4096):
            writer.write(payload[i:i + 4096])
            await writer.drain()
        writer.close()

    return handle, received


async def _stream(payload: bytes, soup_mode: bool):
    handle, received = _serve(payload, soup_mode)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    batches = []
    async with server:
        src = await connect_itch("127.0.0.1", port, batches.append, soup=soup_mode,
                                 username="ordex", password="secret", sequence=1)
    return src, np.concatenate(batches), received


def test_tcp_stream_plain_and_soup(itch_bytes):
    src, events, _ = asyncio.run(_stream(itch_bytes, False))
    assert src.counts()["P"] == 5000 and len(events) == 12_474
    assert (events["recv_ns"] > 0).all()
    src, events, received = asyncio.run(_stream(soup(itch_bytes), True))
    assert src.counts()["A"] == 4997 and src.ended
    assert received[0] == soup_login("ordex", "secret", "", 1)
    assert received[0][2:3] == b"L" and len(received[0]) == 49


def test_instrument_names_come_from_the_directory(itch_bytes):
    src = ItchSource()
    fs = frames(itch_bytes)
    list(src.feed(b"".join(fs[:2])))            # system event, then ALC's directory message
    assert src.instrument(1).symbol == "ALC" and src.instrument(0).symbol == "_SYSTEM"
    assert src.instrument(2).symbol == "LOCATE2"   # not yet named ...
    list(src.feed(b"".join(fs[2:]), final=True))
    assert src.instrument(2).symbol == "BOB"       # ... and not remembered before it was
    assert src.instrument(2).price_decimals == 4 and src.instrument(2).qty_decimals == 0
