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
