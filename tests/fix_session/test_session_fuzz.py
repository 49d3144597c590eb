"""Hostile bytes on a live session while another session trades: no exception escapes, the other
session sees every one of its orders answered in order, and the acceptor keeps accepting."""
import asyncio
import logging
import random

import pytest

from fixclient import FixClient, serve_acceptor, settings

TAGS = [8, 9, 10, 11, 34, 35, 36, 38, 40, 43, 44, 49, 52, 54, 55, 56, 58, 60, 95, 96, 108, 112,
        122, 123, 141, 7, 16, 45, 371, 372, 373, 453, 448, 447, 452, 4999, 5001, 99999]
TYPES = [b"0", b"1", b"2", b"3", b"4", b"5", b"A", b"D", b"F", b"G", b"H", b"8", b"ZZ", b""]


def frame(body: bytes, begin=b"FIX.4.4") -> bytes:
    head = b"8=%s\x019=%d\x01" % (begin, len(body))
    return head + body + b"10=%03d\x01" % ((sum(head) + sum(body)) % 256)


def random_value(rng) -> bytes:
    kind = rng.random()
    if kind < 0.3:
        return str(rng.randint(-5, 100)).encode()
    if kind < 0.5:
        return rng.choice([b"Y", b"N", b"1", b"2", b"20240102-10:00:00.000", b"", b"\x01"])
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))


def hostile(rng, client: FixClient, good: bytes) -> bytes:
    """One chunk of trouble, built to reach past the framing into the session logic."""
    k = rng.randrange(8)
    if k == 0:                                          # raw noise
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
    if k == 1:                                          # a good frame with flipped bytes
        b = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if k == 2:                                          # truncated, then a fresh start
        return good[:rng.randrange(1, len(good))]
    if k == 3:                                          # huge or silly BodyLength
        return rng.choice([b"8=FIX.4.4\x019=99999999\x01", b"8=FIX.4.4\x019=-1\x01",
                           b"8=FIX.4.4\x019=\x01", b"8=FIX.4.4\x01" * 20])
    # Well-framed messages with random fields: exercises validation and sequencing.
    fields = [(35, rng.choice(TYPES)), (49, b"A"), (56, b"ORDEX")]
    if rng.random() < 0.9:
        fields.append((34, str(rng.choice([client.seq, client.seq + rng.randint(1, 5),
                                            rng.randint(-3, 10**6)])).encode()))
    if rng.random() < 0.8:
        fields.append((52, b"20240102-10:00:00.000" if rng.random() < 0.2
                       else client.encode("0", seq=0).split(b"\x0152=")[1].split(b"\x01")[0]))
    for _ in range(rng.randint(0, 8)):
        fields.append((rng.choice(TAGS), random_value(rng)))
    rng.shuffle(fields) if rng.random() < 0.2 else None
    body = b"".join(b"%d=%s\x01" % (t, v) for t, v in fields)
    return frame(body, rng.choice([b"FIX.4.4"] * 9 + [b"FIX.4.2"]))


async def drain_nowait(c: FixClient) -> None:
    """Read what the server sent so far (ignored); notice when it closed."""
    try:
        while True:
            data = await asyncio.wait_for(c.reader.read(65536), 0.001)
            if not data:
                return
    except (asyncio.TimeoutError, ConnectionError):
        return


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz_live_session_while_another_trades(run, tmp_path, app, seed, caplog):
    caplog.set_level(logging.INFO)
    rng = random.Random(seed)

    async def main():
        sessions = [settings("a", target="A"), settings("b", target="B")]
        async with serve_acceptor(tmp_path, app, sessions, max_queued=50) as (acceptor, port):
            a_session = acceptor.session("a")

            async def connect_a():
                c = await FixClient.connect(port, sender="A")
                c.seq = a_session.store.next_target
                await c.logon(hb=30)
                return c

            b = await FixClient.connect(port, sender="B")
            await b.logon()
            a = await connect_a()
            reconnects = 0
            for i in range(300):
                if a.reader.at_eof() or a.writer.is_closing() or a.reader.exception():
                    a.close()
                    a = await connect_a()
                    reconnects += 1
                good = a.encode("D", [(11, f"A{i}"), (54, "1"), (60, "20240102-10:00:00.000"),
                                      (40, "2"), (38, "1"), (44, "1")], seq=a.seq)
                try:
                    await a.send_raw(hostile(rng, a, good))
                except (ConnectionError, RuntimeError):
                    pass
                await drain_nowait(a)
                if i % 10 == 0:
                    await b.order(f"B{i}")
                    assert (await b.expect("8")).get(11) == f"B{i}".encode()
                await asyncio.sleep(0)
            a.close()
            # B never noticed; a brand-new connection still logs on.
            await b.order("B-last")
            assert (await b.expect("8")).get(11) == b"B-last"
            c = await FixClient.connect(port, sender="A")
            c.seq = a_session.store.next_target
            await asyncio.sleep(0.05)
            await c.logon()
            return reconnects

    reconnects = run(main(), timeout=60)
    b_orders = [cl for name, t, _, cl in app.messages if name == "b" and t == b"D"]
    assert b_orders == [f"B{i}".encode() for i in range(0, 300, 10)] + [b"B-last"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], \
        [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert reconnects >= 1          # the fuzz reached the session logic, not only the framing


def test_fuzz_before_logon(run, tmp_path, app, caplog):
    rng = random.Random(7)

    async def main():
        async with serve_acceptor(tmp_path, app, logon_timeout_s=1) as (acceptor, port):
            for i in range(40):
                c = await FixClient.connect(port, sender=rng.choice(["CLIENT", "X"]))
                good = c.encode("A", [(98, 0), (108, 30)])
                await c.send_raw(hostile(rng, c, good) + (good if i % 2 else b""))
                c.close()
            c = await FixClient.connect(port)
            c.seq = acceptor.session("s1").store.next_target
            await c.logon()

    caplog.set_level(logging.WARNING)
    run(main(), timeout=60)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
