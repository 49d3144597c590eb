"""The ITCH feed's edges: a subscriber that stops reading is disconnected once its unsent output
passes the bound (the others keep everything), and after a restart the snapshot is the book
recovered from the journal."""
import asyncio
import socket

from binary_helpers import PASSWORD, binary_config, itch, ouch, run, settle, start
from ordex.gateway.binary import soup
from test_itch_interop import ordex_books, rebuild


def test_slow_subscriber_is_disconnected_others_keep_up(tmp_path):
    cfg = binary_config(tmp_path, durability="none", binary="max_buffer_kb = 64")

    async def main():
        server, gw = await start(cfg)
        fast = await itch(gw)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gw.feed_port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(soup.login_request("MM2", PASSWORD))
        await writer.drain()
        await asyncio.sleep(0.3)                                 # logged in, then never reads
        assert len(gw.feed.subscribers) == 2
        mm1 = await ouch(gw, "MM1")                              # no position limit
        ref = 0
        for _ in range(60):
            burst = []
            for _ in range(1000):
                ref += 1
                burst.append(mm1.enter_bytes(ref, "B", 1, "MSFT", 100 + ref % 1000 * 100))
            mm1.send_raw(b"".join(burst))
            await asyncio.sleep(0.01)
        await settle(server, 0.5)
        for _ in range(100):
            if fast.messages >= gw.feed.published:
                break
            await asyncio.sleep(0.05)
        subscribers = len(gw.feed.subscribers)
        got, published = fast.messages, gw.feed.published
        writer.close()
        fast.close()
        mm1.close()
        await server.stop()
        return subscribers, got, published

    subscribers, got, published = run("uvloop", main())
    assert subscribers == 1                            # the slow one was cut off
    assert published >= 60000
    assert got >= published                            # snapshot + every live message


def test_snapshot_after_restart_is_the_recovered_book(tmp_path):
    cfg = binary_config(tmp_path)
    record = tmp_path / "after.itch"

    async def first():
        server, gw = await start(cfg)
        mm2 = await ouch(gw, "MM2")
        for ref in range(1, 21):
            mm2.enter(ref, "B" if ref % 2 else "S", ref, "MSFT",
                      1_500_000 + (-1 if ref % 2 else 1) * (ref % 7 + 1) * 100)
        mm2.enter(21, "S", 5, "MSFT", 1_499_000, tif="3")            # trades, rests nothing
        await mm2.expect("OrderAccepted", UserRefNum=21)
        await settle(server)
        mm2.close()
        await server.stop()

    async def second():
        server, gw = await start(cfg)
        sub = await itch(gw, record=str(record))
        await asyncio.sleep(0.3)
        books = ordex_books(server)
        sub.close()
        await server.stop()
        return books

    run("uvloop", first())
    books = run("uvloop", second())
    assert books["MSFT"][0] and books["MSFT"][1]
    assert rebuild(record) == books


def test_snapshot_taken_while_the_book_changes(tmp_path):
    """A subscriber logs in to a book large enough that its snapshot goes out over many loop
    iterations while trades reduce orders it contains: the snapshot shows the book as it was at
    login, the live stream the changes after it, and the two add up to ordex's book."""
    cfg = binary_config(tmp_path, durability="none")
    record = tmp_path / "late.itch"

    async def main():
        server, gw = await start(cfg)
        mm1, mm2 = await ouch(gw, "MM1"), await ouch(gw, "MM2")
        # the best offers are the last orders entered: at the end of the snapshot
        burst = [mm1.enter_bytes(ref, "S", 5, "MSFT", 1_500_000 + (ref % 400) * 100
                                 if ref <= 99_900 else 1_490_000) for ref in range(1, 100_001)]
        for k in range(0, len(burst), 1000):
            mm1.send_raw(b"".join(burst[k:k + 1000]))
        await settle(server, 0.3)
        sub = await itch(gw, record=str(record))
        sub.transport.pause_reading()              # the snapshot waits for room in the socket
        await asyncio.sleep(0.2)
        for ref in range(1, 41):                                   # trades during the snapshot
            mm2.enter(ref, "B", 7, "MSFT", 1_490_000, tif="3")
        mm1.cancel(99_990)
        mm1.cancel(99_995, 2)
        await settle(server, 0.5)
        assert not gw.feed.subscribers[next(iter(gw.feed.subscribers))].live
        sub.transport.resume_reading()
        for _ in range(100):
            if sub.messages >= 100000:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        books = ordex_books(server)
        for c in (sub, mm1, mm2):
            c.close()
        await server.stop()
        return books

    books = run("uvloop", main())
    assert len(books["MSFT"][1]) == 401
    assert rebuild(record) == books
