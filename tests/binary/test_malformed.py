"""Hostile and broken input: bad logins, wrong lengths, unknown types, oversize packets, fields
the server cannot map.  Each is answered in the protocol's terms (Login Rejected, Debug, Order
Rejected, Cancel Reject), the connection is closed where the framing cannot be trusted, and the
server, the journal and another session trading meanwhile are unaffected."""
import asyncio
import struct

import pytest

from binary_helpers import LOOPS, PASSWORD, binary_config, journal_commands, ouch, run, settle, start
from ordex.gateway.binary import soup
from ordex.gateway.client import LoginRejected, OuchClient

REJ = {"INVALID_SIDE": 0x09, "PROCESSING_ERROR": 0x0A, "INVALID_SYMBOL": 0x17,
       "INVALID_PRICE": 0x1D, "DUPLICATE_USERREFNUM": 0x2B, "INVALID_QUANTITY": 0x13}


async def raw(gw, data: bytes, login: bool = False, user: str = "MM2"):
    """Send bytes on a fresh connection (after a login if asked); what came back, and whether the
    server closed the connection."""
    r, w = await asyncio.open_connection("127.0.0.1", gw.port)
    if login:
        w.write(soup.login_request(user, PASSWORD))
    w.write(data)
    await w.drain()
    got = b""
    closed = False
    try:
        while True:
            chunk = await asyncio.wait_for(r.read(65536), 0.5)
            if not chunk:
                closed = True
                break
            got += chunk
    except asyncio.TimeoutError:
        pass
    w.close()
    return packets(got), closed


def packets(data: bytes) -> list[tuple[bytes, bytes]]:
    out, i = [], 0
    while i + 2 <= len(data):
        n = struct.unpack_from(">H", data, i)[0]
        out.append((data[i + 2:i + 3], data[i + 3:i + 2 + n]))
        i += 2 + n
    return out


def types(pkts) -> list[bytes]:
    return [t for t, _ in pkts if t != b"H"]


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_login_failures_are_answered_in_soupbintcp_terms(tmp_path, loop_kind):
    cfg = binary_config(tmp_path)

    async def attempt(gw, user, password, session="", sequence=0):
        c = await OuchClient.connect("127.0.0.1", gw.port)
        try:
            await c.login(user, password, session=session, sequence=sequence)
        except LoginRejected as e:
            await asyncio.wait_for(c.closed, 5)
            return e.code
        finally:
            c.close()
        return b"ok"

    async def main():
        server, gw = await start(cfg)
        mm1 = await ouch(gw, "MM1")
        codes = [await attempt(gw, "MM2", "wrong"), await attempt(gw, "NOBODY", PASSWORD),
                 await attempt(gw, "MM2", PASSWORD, session="OLDSESSION"),
                 await attempt(gw, "MM1", PASSWORD)]          # MM1 is already logged in
        mm1.enter(1, "B", 1, "MSFT", 1_480_000)
        await mm1.expect("OrderAccepted", UserRefNum=1)       # the first MM1 session is fine
        mm1.close()
        await server.stop()
        return codes

    assert run(loop_kind, main()) == [b"A", b"A", b"S", b"S"]


@pytest.mark.parametrize("loop_kind", LOOPS)
def test_bad_frames_and_fields(tmp_path, loop_kind):
    cfg = binary_config(tmp_path, binary="max_packet = 1024")

    async def main():
        server, gw = await start(cfg)
        mm1 = await ouch(gw, "MM1")               # trades throughout, on its own connection
        results = {}
        results["pre_login_garbage"] = await raw(gw, b"\x00\x06Xhello")
        results["short_login"] = await raw(gw, b"\x00\x03Lab")
        results["oversize"] = await raw(gw, b"\xff\xff" + b"U" * 100, login=True)
        results["zero_length"] = await raw(gw, b"\x00\x00U", login=True)
        results["server_type"] = await raw(gw, soup.packet(b"S", b"A" * 10), login=True)
        mm1.enter(1, "B", 1, "MSFT", 1_480_000)
        await mm1.expect("OrderAccepted", UserRefNum=1)

        c = await ouch(gw, "MM2")
        c.send_raw(soup.packet(b"U", b"Z123"))                        # unknown OUCH type
        c.send_raw(soup.packet(b"U", b"X\x00\x00"))                    # Cancel Order too short
        c.send_raw(soup.packet(b"U", b"q" + struct.pack(">IH", 9, 3)))  # count without entries
        good = c.enter_bytes(1, "B", 1, "MSFT", 1_480_000)
        c.enter(2, "B", 1, "MSFT", 1_480_050)                         # off the 0.01 tick
        c.enter(3, "B", 1, "NOPE", 1_480_000)                         # unknown symbol
        c.enter(4, "X", 1, "MSFT", 1_480_000)                         # bad side
        c.enter(5, "B", 0, "MSFT", 1_480_000)                         # zero quantity
        c.enter(6, "B", 1, "MSFT", 1_480_000, tif="9")                # unsupported TIF
        lie = c.enter_bytes(7, "B", 1, "MSFT", 1_480_000)
        c.send_raw(lie[:-2] + b"\x00\x05")                            # appendage length lies
        c.send_raw(good)                                              # UserRefNum 1 again
        c.enter(8, "B", 1, "MSFT", 1_480_000)                         # fine
        c.cancel(99)                                                  # not an order
        replies = [await c.next() for _ in range(12)]
        alive = not c.closed.done()
        c.close()
        mm1.enter(2, "S", 1, "MSFT", 1_480_000)                       # still trading
        await mm1.expect("OrderExecuted", UserRefNum=2)
        await settle(server)
        accepting = server.accepting
        rows = journal_commands(server)
        mm1.close()
        await server.stop()
        return results, replies, alive, accepting, rows

    results, replies, alive, accepting, rows = run(loop_kind, main())
    for name, (pkts, closed) in results.items():
        assert closed, name
        assert types(pkts)[-1] == b"+", (name, pkts)                  # Debug says why
    assert b"length 65535" in results["oversize"][0][-1][1]
    assert types(results["server_type"][0])[0] == b"A"                # it had logged in
    kinds = [(m["type"], m.get("UserRefNum"), m.get("Reason")) for m in replies]
    assert kinds[0][0] == kinds[1][0] == "Debug"
    assert replies[2]["type"] == "MassQuoteAck" and replies[2]["Status"] == b"R"
    # gateway replies are immediate, the engine's wait for the journal: 8's accept may come last
    assert kinds[3:10] + sorted(kinds[10:], key=str) == [
        ("OrderRejected", 2, REJ["INVALID_PRICE"]), ("OrderRejected", 3, REJ["INVALID_SYMBOL"]),
        ("OrderRejected", 4, REJ["INVALID_SIDE"]), ("OrderRejected", 5, REJ["INVALID_QUANTITY"]),
        ("OrderRejected", 6, REJ["PROCESSING_ERROR"]),
        ("OrderRejected", 7, REJ["PROCESSING_ERROR"]),
        ("OrderRejected", 1, REJ["DUPLICATE_USERREFNUM"]),
        ("CancelReject", 99, None), ("OrderAccepted", 8, None)]
    assert alive and accepting
    # only the well-formed orders reached the journal
    mm2 = [r for r in rows if r["session"] == 2]
    assert [bytes(r["clordid"]) for r in mm2] == [b"0000000008"]
